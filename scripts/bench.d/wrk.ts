/**
 * Running a command, and running wrk with scripts/bench.d/wrk-json.lua
 * (exact counts and latency percentiles), for the Deno parts of scripts/bench.
 *
 * @module
 */

import { ROOT } from "../../tests/helpers/network.ts";

/** One wrk result (scripts/bench.d/wrk-json.lua). */
export interface WrkResult {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { p50: number; p99: number; max: number };
}

/** Runs `cmd`; whether it succeeded, and its output. */
export async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const res = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  return { ok: res.success, out: text.decode(res.stdout), err: text.decode(res.stderr) };
}

/**
 * Runs wrk against `url` with Host `host` for `secs` seconds at `conc`
 * connections, keeping its output as `<work>/<id>.txt`; returns its summary.
 */
export async function wrk(
  work: string,
  id: string,
  url: string,
  host: string,
  conc: number,
  secs: number,
): Promise<WrkResult> {
  const json = `${work}/${id}.json`;
  const args = [`-t${conc < 2 ? 1 : 2}`, `-c${conc}`, `-d${secs}s`, "--timeout", "10s"];
  args.push("-s", `${ROOT}/scripts/bench.d/wrk-json.lua`, "-H", `Host: ${host}`, url);
  const res = await run("wrk", args, { BENCH_WRK_JSON: json });
  await Deno.writeTextFile(`${work}/${id}.txt`, res.out + res.err);
  return JSON.parse(await Deno.readTextFile(json));
}

/** Requests per second of a wrk run. */
export function reqPerSec(r: WrkResult): number {
  return r.requests / (r.duration_us / 1e6);
}
