/**
 * What the side-by-side bench scripts share: a tree of another commit to run
 * as the baseline, and one wrk run with its exact figures
 * (scripts/bench.d/wrk-json.lua).
 *
 * @module
 */

import { ROOT } from "../../tests/helpers/network.ts";
import { reqPerSec, runWrk, wrkErrors } from "./wrk.ts";

/** One wrk run's figures. */
export interface WrkRun {
  rps: number;
  p50Ms: number;
  errors: number;
}

/** The tree of `rev` in a temp dir, sharing the working tree's node_modules. */
export async function checkout(rev: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dn-bench-base-" });
  const archive = await new Deno.Command("git", {
    args: ["archive", rev],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  if (!archive.success) throw new Error(`git archive ${rev} failed`);
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  const writer = tar.stdin.getWriter();
  await writer.write(archive.stdout);
  await writer.close();
  if (!(await tar.status).success) throw new Error("tar failed");
  await Deno.symlink(`${ROOT}/node_modules`, `${dir}/node_modules`);
  return dir;
}

/** `GET /` with `Host: host` on 127.0.0.1:`port` from wrk at `connections` for `seconds`. */
export async function wrk(
  port: number,
  host: string,
  connections: number,
  seconds: number,
): Promise<WrkRun> {
  const result = await runWrk(`http://127.0.0.1:${port}/`, connections, seconds, {
    headers: [`Host: ${host}`],
  });
  return {
    rps: reqPerSec(result),
    p50Ms: result.latency_us.p50 / 1000,
    errors: wrkErrors(result),
  };
}

/** The run with the median req/s of `list`. */
export function medianRun(list: WrkRun[]): WrkRun {
  return [...list].sort((a, b) => a.rps - b.rps)[list.length >> 1];
}
