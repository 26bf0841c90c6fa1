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

/** Options of {@link runWrk}. */
export interface WrkOptions {
  /** Request headers, `Name: value`. */
  headers?: string[];
  /** Where wrk-json.lua writes the figures (default: a temp file, removed after). */
  json?: string;
  /** Where wrk's own output is kept (default: not kept). */
  output?: string;
}

/**
 * Runs wrk (1 thread for 1 connection, else 2; 10 s timeout; figures from
 * scripts/bench.d/wrk-json.lua) against `url` at `conc` connections for
 * `secs` seconds; returns its figures.
 */
export async function runWrk(
  url: string,
  conc: number,
  secs: number,
  options: WrkOptions = {},
): Promise<WrkResult> {
  const json = options.json ?? await Deno.makeTempFile({ prefix: "dn-bench-wrk-" });
  try {
    const args = [`-t${conc < 2 ? 1 : 2}`, `-c${conc}`, `-d${secs}s`, "--timeout", "10s"];
    args.push("--latency", "-s", `${ROOT}/scripts/bench.d/wrk-json.lua`);
    for (const header of options.headers ?? []) args.push("-H", header);
    const res = await run("wrk", [...args, url], { BENCH_WRK_JSON: json });
    if (options.output) await Deno.writeTextFile(options.output, res.out + res.err);
    if (!res.ok) throw new Error(`wrk ${url} failed: ${res.err.slice(-500)}`);
    return JSON.parse(await Deno.readTextFile(json));
  } finally {
    if (options.json === undefined) await Deno.remove(json).catch(() => {});
  }
}

/**
 * Runs wrk against `url` with Host `host` for `secs` seconds at `conc`
 * connections, keeping its output as `<work>/<id>.txt`; returns its summary.
 */
export function wrk(
  work: string,
  id: string,
  url: string,
  host: string,
  conc: number,
  secs: number,
): Promise<WrkResult> {
  return runWrk(url, conc, secs, {
    headers: [`Host: ${host}`],
    json: `${work}/${id}.json`,
    output: `${work}/${id}.txt`,
  });
}

/** Errors of any kind in a wrk run. */
export function wrkErrors(r: WrkResult): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}

/** Requests per second of a wrk run. */
export function reqPerSec(r: WrkResult): number {
  return r.requests / (r.duration_us / 1e6);
}
