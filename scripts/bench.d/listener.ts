/**
 * The "Gateway listener" section of BENCHMARKS.md (`scripts/bench --listener
 * REV`): small responses (hello-world's `GET /`) through two dn gateways
 * side by side in the same run, the one of the working tree and the one of
 * commit REV (the baseline, run from a `git archive` of it), and through
 * nginx, all three in front of the same app container (container route).
 * wrk at 1, 16 and 64 connections, the three targets taking turns within
 * each round, three rounds; the table has each target's median round.
 *
 *   deno run -A scripts/bench.d/listener.ts NGINX_BIN OUT_FILE REV SECONDS
 *
 * It starts its own test network (tests/helpers/network.ts) on free ports
 * and stops it at the end; the shared infra must be up. Both gateways get
 * the same configuration (an older tree only the keys it knows), log level
 * `warn`.
 *
 * @module
 */

import { freePort, ROOT, startNetwork, testHostNames } from "../../tests/helpers/network.ts";
import { Http1Pool } from "../../lib/http1.ts";
import { containerOf, type Nginx, startNginx, writeSection } from "./section.ts";
import { checkout, medianRun, wrk, type WrkRun } from "./wrk_run.ts";

const [nginxBin, outFile, baseRev, secondsArg] = Deno.args;
const seconds = Number(secondsArg || "6");
const LEVELS = [1, 16, 64];
const ROUNDS = 5;
const STATE_DIR = Deno.env.get("DN_STATE_DIR") ?? "/var/lib/dn";

interface Target {
  name: string;
  port: number;
}

async function run(command: string, args: string[], cwd = ROOT): Promise<string> {
  const out = await new Deno.Command(command, { args, cwd, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * Starts a gateway from the tree in `cwd` on a free port, configured as
 * `net`'s: the test gateway config, less the keys that tree does not know
 * (an older tree refuses unknown keys), with the local CA in `DENO_CERT` for
 * a tree that takes no `redisCaFile`.
 */
async function startGateway(
  cwd: string,
  env: Record<string, string>,
): Promise<{ port: number; stop(): void }> {
  const port = freePort();
  const known = await Deno.readTextFile(`${cwd}/lib/config.ts`);
  const base = JSON.parse(await Deno.readTextFile(`${STATE_DIR}/config/test-gateway.json`));
  const config = Object.fromEntries(
    Object.entries(base).filter(([key]) => known.includes(`${key}:`)),
  );
  const file = await Deno.makeTempFile({ prefix: "dn-bench-gateway-", suffix: ".json" });
  await Deno.writeTextFile(file, JSON.stringify(config));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "gateway/main.ts", "--config", file],
    cwd,
    env: {
      ...env,
      DENO_CERT: `${STATE_DIR}/tls/ca.pem`,
      DN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
      DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
      DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
      DN_LOG_LEVEL: "warn",
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return {
    port,
    stop: () => {
      child.kill("SIGTERM");
      Deno.remove(file).catch(() => {});
    },
  };
}

function proxyTo(upstream: string): Promise<Nginx> {
  return startNginx(
    nginxBin,
    (dir, port) =>
      `# nginx as a reverse proxy (scripts/bench.d/listener.ts)
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  upstream app { server ${upstream}; keepalive 128; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
}

/** Waits until `GET /` for `host` answers 200 on `port` (fetch would not send that Host). */
async function ready(port: number, host: string): Promise<void> {
  const client = new Http1Pool({ maxHeadBytes: 65536, maxBodyBytes: 1 << 20, maxIdle: 0 });
  const until = Date.now() + 60_000;
  try {
    while (Date.now() < until) {
      const request = { method: "GET", url: "/", headers: [["host", host]] as [string, string][] };
      const ok = await client.request(
        "127.0.0.1",
        port,
        { ...request, body: new Uint8Array() },
        5000,
      )
        .then((res) => res.status === 200, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`nothing answers 200 on port ${port}`);
  } finally {
    client.close();
  }
}

const baseline = await checkout(baseRev);
const baseCommit = (await run("git", ["rev-parse", "--short", baseRev])).trim();
const headCommit = (await run("git", ["rev-parse", "--short", "HEAD"])).trim();
const dirty = (await run("git", ["status", "--porcelain", "--untracked-files=no"])).trim() !== "";
const net = await startNetwork(testHostNames(1));
const stops: (() => void)[] = [];
try {
  const app = `bench-listen-${crypto.randomUUID().slice(0, 6)}`;
  const hostname = `${app}.dn.test`;
  await net.deploy(`${ROOT}/apps/hello-world`, app, hostname);
  const container = await containerOf(net, app);
  const env = { DN_REDIS_PREFIX: net.prefix, DN_TOKEN: net.token };
  const nginx = await proxyTo(`${container.address}:${container.port}`);
  const before = await startGateway(baseline, env);
  const after = await startGateway(ROOT, env);
  stops.push(nginx.stop, before.stop, after.stop);
  const targets: Target[] = [
    { name: "nginx", port: nginx.port },
    { name: `dn gateway, baseline ${baseCommit}`, port: before.port },
    { name: `dn gateway, ${headCommit}${dirty ? "+changes" : ""}`, port: after.port },
  ];
  for (const target of targets) await ready(target.port, hostname);
  const runs = new Map<string, WrkRun[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const connections of LEVELS) {
      // Each round starts with another target, so none always runs first.
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + round) % targets.length];
        const result = await wrk(target.port, hostname, connections, seconds);
        const key = `${target.name}|${connections}`;
        runs.set(key, [...(runs.get(key) ?? []), result]);
        console.error(
          `bench listener: round ${round + 1} c=${connections} ${target.name}: ` +
            `${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(2)} ms`,
        );
      }
    }
  }
  const rows: string[] = [];
  for (const connections of LEVELS) {
    const nginxRun = medianRun(runs.get(`${targets[0].name}|${connections}`)!);
    for (const target of targets) {
      const m = medianRun(runs.get(`${target.name}|${connections}`)!);
      const errors = runs.get(`${target.name}|${connections}`)!.reduce((n, r) => n + r.errors, 0);
      const all = runs.get(`${target.name}|${connections}`)!.map((r) => Math.round(r.rps));
      rows.push(
        `| ${connections} | ${target.name} | ${Math.round(m.rps)} | ${m.p50Ms.toFixed(2)} | ${
          (m.rps / nginxRun.rps).toFixed(2)
        }× | ${errors} | ${all.join(" / ")} |`,
      );
    }
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const section = [
    "## Gateway listener",
    "",
    `\`scripts/bench --listener ${baseRev}\` (written by scripts/bench.d/listener.ts; ${
      new Date().toISOString().slice(0, 16)
    } UTC, ${seconds} s runs, load average ${load} at the end: other engineers' tests ran on`,
    "this 2-core machine meanwhile, so figures are noisy and only comparable within this table).",
    "Small responses (hello-world's `GET /`, 13 bytes) from one app container through nginx",
    "(`worker_processes auto`, upstream keepalive), the dn gateway of the baseline commit and",
    "the dn gateway of this tree, both on the container route with the same configuration;",
    `wrk \`-c\` connections, the targets taking turns, ${ROUNDS} rounds: each row is the target's`,
    "median round (by req/s); errors summed over the rounds; every round's req/s in turn order.",
    "nginx as scripts/bench sets it up (`keepalive_requests 100000`, upstream keepalive 128).",
    "",
    "| connections | target | req/s | p50 ms | vs nginx | errors | rounds req/s |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
  await writeSection(outFile, "## Gateway listener", section);
  console.error(`bench listener: section written to ${outFile}`);
} finally {
  for (const stop of stops) stop();
  await net.stop();
  await Deno.remove(baseline, { recursive: true }).catch(() => {});
}
