/**
 * The probe sections of BENCHMARKS.md: deploy, update and remove times, and
 * failover when a host dies.
 *
 * @module
 */

import type { Results } from "./report_results.ts";
import { type Emit, int, table } from "./report_format.ts";

/** Writes "Deploy, update, remove" from deploy.json, update.json and remove.json. */
export function deploySection(results: Results, p: Emit) {
  const { readJson } = results;
  const deploy = readJson("deploy.json"),
    update = readJson("update.json"),
    remove = readJson("remove.json");
  const sec = (
    v: number | null | undefined,
  ) => (v === null || v === undefined ? "–" : `${(v / 1000).toFixed(1)} s`);
  p("## Deploy, update, remove", "");
  if (deploy && update) {
    p(
      "On a copy of hello-world named `bench-hello` (hostname `bench-hello.dn.local`), with the image layers " +
        "cached: an untimed `dn build` and `dn push` of the same code ran first, so the build cache is warm and " +
        "the registry has the layers; times from the start of the CLI command. The update adds a " +
        "route `/bench-marker` answering `<host> v2` (v1 answers 404 there); four pollers ask for it every 10 ms " +
        "through the gateway while `dn update` runs.",
      "",
      table(["step", "CLI returned", "first 200 / first new answer", "all 3 hosts", "notes"], [
        [
          "`dn run` (build, push, create, start)",
          `${sec(deploy.cliMs)} (exit ${deploy.cliExit})`,
          sec(deploy.first200Ms),
          sec(deploy.allHostsMs),
          `polls: ${Object.entries(deploy.statuses).map(([k, v]) => `${v}× ${k}`).join(", ")}`,
        ],
        [
          "`dn update` (build, push, v2 rollout)",
          `${sec(update.cliMs)} (exit ${update.cliExit})`,
          sec(update.firstNewMs),
          sec(update.allNewMs),
          `last v1 answer at ${
            sec(update.lastOldMs)
          }; ${update.requests} requests, ${update.failed} failed` +
          (update.failed
            ? ` (${update.failures.slice(0, 3).map((f: { what: string }) => f.what).join("; ")})`
            : ""),
        ],
        [
          "`dn remove`",
          sec(remove?.cliMs),
          "–",
          `containers gone: ${sec(remove?.containersGoneMs)}`,
          "",
        ],
      ]),
      "",
    );
  } else {
    p("(no result)", "");
  }
}

/** Writes "Failover" from failover.json and restart.json. */
export function failoverSection(results: Results, p: Emit) {
  const { readJson } = results;
  const fo = readJson("failover.json"), restart = readJson("restart.json");
  p("## Failover", "");
  if (fo) {
    p(
      `${fo.concurrency} keep-alive clients send \`GET /whoami\` through the gateway for ${
        fo.durationMs / 1000
      } s; ` +
        `at ${(fo.killedAtMs / 1000).toFixed(1)} s the script SIGKILLs the host process \`${
          restart?.host ?? "?"
        }\` ` +
        "and `docker kill`s its containers at the same moment, as when its machine dies: its queue " +
        "consumer is gone, its container's bridge IP stops answering, and gateways skip its route " +
        "after the first refused or timed-out connect until the route goes stale.",
      "",
      table(["what", "value"], [
        ["requests", int(fo.requests)],
        [
          "failed (non-200 or error)",
          `${fo.failed}${
            fo.failed
              ? ": " +
                fo.failures.slice(0, 4).map((f: { atMs: number; what: string }) =>
                  `${f.what} at +${f.atMs} ms`
                ).join("; ")
              : ""
          }`,
        ],
        ["in flight at the kill", fo.inFlightAtKill],
        [
          "all requests succeed again after",
          `${fo.allSucceedAfterMs} ms (end of the last failed or in-flight request)`,
        ],
        ["slowest request that ended after the kill", `${fo.slowestAfterKillMs} ms`],
        ["req/s before / after", `${fo.rpsBefore} / ${fo.rpsAfter}`],
        ["p50 / p99 before (ms)", `${fo.p50Before} / ${fo.p99Before}`],
        ["p50 / p99 after (ms)", `${fo.p50After} / ${fo.p99After}`],
        ["served before", Object.entries(fo.servedBefore).map(([h, n]) => `${h} ${n}`).join(", ")],
        ["served after", Object.entries(fo.servedAfter).map(([h, n]) => `${h} ${n}`).join(", ")],
        [
          "restart (like scripts/up)",
          restart
            ? `${restart.host}: AMQP connected after ${restart.connectedMs} ms, serving through the gateway after ${
              restart.servingMs ?? "–"
            } ms`
            : "–",
        ],
      ]),
      "",
      "Requests per 500 ms around the kill (ok/failed): " +
        fo.bins.map((b: { fromMs: number; ok: number; failed: number }) =>
          `${b.fromMs >= 0 ? "+" : ""}${b.fromMs}: ${b.ok}/${b.failed}`
        ).join(", "),
      "",
    );
  } else {
    p("(no result)", "");
  }
}
