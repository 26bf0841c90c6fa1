/**
 * Writes BENCHMARKS.md from the raw results of one scripts/bench run:
 *
 *   report.ts WORKDIR OUT.md
 *
 * WORKDIR holds facts.tsv, roles.tsv, runs.tsv and per run <id>.json (wrk
 * Lua summary), <id>.txt (wrk output), <id>.before/.after (/proc snapshots
 * with .ps), <id>.rss (VmRSS samples), plus idle.*, after.rss and the probe
 * results deploy.json, update.json, remove.json, failover.json, restart.json.
 */

import { loadResults } from "./report_results.ts";
import { table } from "./report_format.ts";
import { rawOutputSection, sideBySideSection } from "./report_throughput.ts";
import { cpuSection, limitsSection, memorySection } from "./report_resources.ts";
import { deploySection, failoverSection } from "./report_probes.ts";

const [dir, out] = Deno.args;
const results = loadResults(dir);
const { fact } = results;

const md: string[] = [];
const p = (...lines: string[]) => md.push(...lines);

p(
  "# Benchmarks",
  "",
  `Written by \`${fact("command")}\` on ${fact("date")} (commit ${
    fact("commit")
  }); the whole run took ` +
    `${
      fact("elapsed")
    } s. Every figure below comes from that one run on one machine, loopback only: ` +
    "load generator, proxies, the dn services, RabbitMQ, Redis and the app containers all share the same cores, " +
    "so the numbers compare the three paths with each other, not with other machines.",
  "",
  table(["fact", "value"], [
    ["CPU", `${fact("nproc")} × ${fact("cpu")}`],
    ["memory", fact("memory")],
    ["kernel / OS", `${fact("kernel")} / ${fact("os")}`],
    ["deno", fact("deno")],
    ["docker engine", fact("docker")],
    ["RabbitMQ", fact("rabbitmq")],
    ["Redis", fact("redis")],
    ["nginx", `${fact("nginx")}, worker_processes ${fact("nginx_workers")}`],
    ["wrk", fact("wrk")],
    ["load average at start", fact("loadavg")],
    ["`deno test` processes running at start", fact("concurrent")],
    ["dn gateway process running since", fact("services_since")],
  ]),
  "",
  "## What is measured",
  "",
  "The app is `apps/hello-world` (a `Deno.serve` app in a container); five ways to reach it:",
  "",
  `- **direct**: wrk → the app container's bridge IP and port (${fact("direct")}), the address ` +
    "the dn hosts use too, so no path pays Docker's `docker-proxy`. This is the limit: no proxy at all.",
  `- **nginx**: wrk → nginx on 127.0.0.1:8090 → the same three hello-world containers dn serves from ` +
    `(${fact("nginx_upstreams")}, round-robin), so both proxies balance over the same backends. ` +
    "**nginx, 1 container** is the same nginx on 127.0.0.1:8092 in front of the one container " +
    "of **direct** alone. Config written by the script: " +
    `\`worker_processes ${
      fact("nginx_workers")
    }\`, \`access_log off\`, \`proxy_http_version 1.1\`, ` +
    '`proxy_set_header Connection ""`, upstream `keepalive 128`, `keepalive_requests 100000` both sides, ' +
    "`proxy_max_temp_file_size 0` (no disk buffering of large responses), everything else default.",
  `- **dn**: wrk → the dn gateway (${
    fact("gateway")
  }, \`Host: hello-world.dn.local\`) → the hello-world container of one of the three hosts ` +
    "(vaermina, sanguine, meridia), straight to its bridge IP over HTTP keep-alive: the hosts run " +
    'with `requestRoute: "container"` and announce their containers in Redis, and the gateway picks ' +
    "the one with the fewest requests in flight (RabbitMQ only when no route is left). With " +
    '`requestRoute: "host"` the gateway would send an envelope to the host, which forwards it.',
  "- **dn broker path**: the same through a second gateway (127.0.0.1:8091) whose config lacks the " +
    "request token, so every request takes the broker path: gateway → RabbitMQ (`request.hello-world`, " +
    "mandatory publish, direct reply-to) → a host consuming the shared app queue → container, the reply " +
    "back through RabbitMQ; bodies over the inline limit go through Redis. What dn did before the direct path.",
  "",
  `Each cell is one \`wrk --latency -d${
    fact("duration")
  }s --timeout 10s\` run (1 thread for 1 connection, ` +
    "2 threads otherwise), after a 2 s warm-up per target; the targets run one after another for each case. " +
    "Latencies come from wrk's own histogram (a Lua `done` hook writes exact percentiles).",
  "",
);

sideBySideSection(results, p);
cpuSection(results, p);
memorySection(results, p);
deploySection(results, p);
failoverSection(results, p);
limitsSection(results, p);
rawOutputSection(results, p);

// Sections written by their own runs (--machines, --streaming, scripts/bench-https) follow the
// raw output: kept as they were.
let previous = "";
try {
  previous = Deno.readTextFileSync(out);
} catch {
  // no report yet
}
const rawAt = previous.indexOf("\n## Raw wrk output");
const rawEnd = rawAt === -1 ? -1 : previous.indexOf("</details>", rawAt);
const others = rawEnd === -1 ? "" : previous.slice(rawEnd + "</details>".length).trim();
if (others) p(others, "");

Deno.writeTextFileSync(out, md.join("\n"));
