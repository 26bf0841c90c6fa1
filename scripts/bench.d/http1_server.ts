/**
 * Micro-benchmark of the HTTP/1.1 server alone (lib/http1/server.ts), with a
 * trivial handler, side by side in one run with `Deno.serve` (same handler)
 * and with the server of commit REV (run from a `git archive` of it):
 *
 *   deno run -A scripts/bench.d/http1_server.ts REV [SECONDS] [ROUNDS]
 *
 * Targets, each in its own Deno process on a free port:
 * - `Deno.serve`, the handler returning `new Response(BODY, {headers})`;
 * - the server of REV, the same handler;
 * - the server of this tree, the same handler;
 * - the server of this tree, the handler returning a `FixedResponse` of the
 *   same status, headers and bytes (written with its head in one write).
 * wrk at 1, 16 and 64 connections, the targets taking turns, ROUNDS rounds
 * (default 3) of SECONDS (default 4); prints a Markdown table of each
 * target's median round (req/s, p50) on stdout.
 *
 * With `serve KIND TREE PORT` it is one target's process (used by itself).
 *
 * @module
 */

import { freePort, ROOT } from "../../tests/helpers/network.ts";
import { checkout, medianRun, wrk, type WrkRun } from "./wrk_run.ts";

const BODY = new TextEncoder().encode("Hello, world\n");
const HEADERS: [string, string][] = [["content-type", "text/plain; charset=utf-8"]];
const LEVELS = [1, 16, 64];

/** Kinds of target: which server, which answer. */
type Kind = "deno-serve" | "own-response" | "own-fixed";

/** Serves `kind` on `port` with the server of the tree at `tree`, until killed. */
async function serve(kind: Kind, tree: string, port: number): Promise<void> {
  const response = () => new Response(BODY, { headers: HEADERS });
  if (kind === "deno-serve") {
    Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, response);
    return;
  }
  const server = await import(`${tree}/lib/http1/server.ts`);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  if (kind === "own-response") new server.Http1Server(listener, () => Promise.resolve(response()));
  else {
    new server.Http1Server(
      listener,
      () => Promise.resolve(new server.FixedResponse(200, HEADERS, BODY)),
    );
  }
}

/** Starts a target's process; resolves once it answers. */
async function start(kind: Kind, tree: string): Promise<{ port: number; stop(): void }> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/scripts/bench.d/http1_server.ts`, "serve", kind, tree, `${port}`],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.body?.cancel();
      if (res.ok) return { port, stop: () => child.kill("SIGTERM") };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  throw new Error(`${kind} on ${port} never answered`);
}

async function compare(rev: string, seconds: number, rounds: number): Promise<void> {
  const baseline = await checkout(rev);
  const stops: (() => void)[] = [];
  try {
    const targets = [
      { name: "Deno.serve, Response", ...await start("deno-serve", ROOT) },
      { name: `own server ${rev}, Response`, ...await start("own-response", baseline) },
      { name: "own server this tree, Response", ...await start("own-response", ROOT) },
      { name: "own server this tree, FixedResponse", ...await start("own-fixed", ROOT) },
    ];
    for (const t of targets) stops.push(t.stop);
    const runs = new Map<string, WrkRun[]>();
    for (let round = 0; round < rounds; round++) {
      for (const connections of LEVELS) {
        for (let i = 0; i < targets.length; i++) {
          const target = targets[(i + round) % targets.length];
          const result = await wrk(target.port, "bench", connections, seconds);
          const key = `${target.name}|${connections}`;
          runs.set(key, [...(runs.get(key) ?? []), result]);
          console.error(
            `round ${round + 1} c=${connections} ${target.name}: ${Math.round(result.rps)} req/s`,
          );
        }
      }
    }
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    console.log(`${new Date().toISOString().slice(0, 16)} UTC, load average ${load} at the end\n`);
    console.log("| connections | target | req/s | p50 ms | errors | rounds req/s |");
    console.log("| --- | --- | --- | --- | --- | --- |");
    for (const connections of LEVELS) {
      for (const target of targets) {
        const list = runs.get(`${target.name}|${connections}`)!;
        const m = medianRun(list);
        const errors = list.reduce((n, r) => n + r.errors, 0);
        const all = list.map((r) => Math.round(r.rps)).join(" / ");
        console.log(
          `| ${connections} | ${target.name} | ${Math.round(m.rps)} | ${
            m.p50Ms.toFixed(3)
          } | ${errors} | ${all} |`,
        );
      }
    }
  } finally {
    for (const stop of stops) stop();
    await Deno.remove(baseline, { recursive: true }).catch(() => {});
  }
}

if (Deno.args[0] === "serve") {
  await serve(Deno.args[1] as Kind, Deno.args[2], Number(Deno.args[3]));
} else {
  await compare(Deno.args[0] ?? "main", Number(Deno.args[1] ?? 4), Number(Deno.args[2] ?? 3));
}
