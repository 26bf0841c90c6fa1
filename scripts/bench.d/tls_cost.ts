/**
 * `scripts/bench --tls-cost`: what TLS on the links to RabbitMQ and Redis
 * costs on one machine, side by side in one run:
 *
 *   tls_cost.ts ROUNDS DURATION_S OUT_FILE COMMAND_LINE
 *
 * A private infrastructure (scripts/infra with its own state dir and ports)
 * serves both sides. For the length of the run only, its RabbitMQ and Redis
 * also get a plain listener on loopback beside their TLS one (RabbitMQ:
 * `rabbit_networking:start_tcp_listener`; Redis: `CONFIG SET port`), closed
 * again at the end. Two networks (control, gateway, two hosts each) run
 * side by side, one on configs that use those listeners ("plain"), one on
 * the default TLS configs ("TLS"), and are measured in turn, ROUNDS times
 * each, the order alternating, so load from elsewhere falls on both alike.
 * Per side and round: the broker path with wrk (a gateway without the
 * request token: gateway → RabbitMQ → host → container),
 * `GET /v1/apps/NAME/status` (control → RabbitMQ → hosts and back), a deploy
 * (create and start until the first 200), Redis round trips from one client
 * and connection set-up times for Redis and RabbitMQ. The registry is HTTPS
 * on both sides (dockerd pushes the same way). Writes the section "TLS on the
 * links" of OUT_FILE.
 *
 * @module
 */

import { AMQPClient } from "@cloudamqp/amqp-client";
import { PrivateInfra } from "../../tests/helpers/infra.ts";
import { freePort, ROOT, TestNetwork } from "../../tests/helpers/network.ts";
import { connectRedis, redisReady } from "../../lib/redis.ts";
import { Logger } from "../../lib/log.ts";
import { reqPerSec, run, wrk } from "./wrk.ts";
import { writeSection } from "./section.ts";

const [roundsArg, durationArg, out, command] = Deno.args;
const rounds = Number(roundsArg);
const duration = Number(durationArg);
if (!Number.isInteger(rounds) || rounds < 1 || !(duration >= 1) || !out) {
  console.error("usage: tls_cost.ts ROUNDS DURATION_S OUT_FILE COMMAND_LINE");
  Deno.exit(2);
}
const PLAIN_AMQP = 6881;
const PLAIN_REDIS = 6990;
const infra = new PrivateInfra("benchtls", {
  amqps: 6880,
  dist: 26880,
  redis: 6989,
  registry: 6943,
});
const CONFIG = `${infra.stateDir}/config`;
const work = await Deno.makeTempDir({ prefix: "dn-bench-tls-" });
const say = (line: string) => console.error(`bench: ${line}`);
const quiet = new Logger("bench", "error");
type Side = "plain" | "TLS";

/** Each measure's figures by side, one per round. */
const figures = new Map<string, Record<Side, number[]>>();
function record(label: string, side: Side, value: number): void {
  if (!figures.has(label)) figures.set(label, { plain: [], TLS: [] });
  figures.get(label)![side].push(value);
}
let wrkErrors = 0;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** rabbitmqctl eval on the private broker. */
async function rabbitEval(expr: string): Promise<void> {
  const res = await run("bash", [
    "-c",
    `source ${ROOT}/scripts/infra && rabbit_env && rabbitmqctl -q eval '${expr}'`,
  ], infra.env());
  if (!res.ok) throw new Error(`rabbitmqctl eval ${expr}: ${res.err}`);
}

/** Sets Redis's plain port (0: closed) over the TLS link. */
async function redisPlainPort(port: number): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(`${CONFIG}/test-host.json`));
  const redis = connectRedis({
    url: config.redisUrl,
    caFile: config.redisCaFile,
    log: quiet,
    name: "b",
  });
  try {
    await redisReady(redis, 10_000);
    await redis.config("SET", "port", String(port));
  } finally {
    redis.disconnect();
  }
}

/** Writes test-<role>-plain.json: the TLS config with the plain listeners' URLs. */
async function writePlainConfigs(): Promise<void> {
  for (const role of ["control", "gateway", "host", "cli"]) {
    const config = JSON.parse(await Deno.readTextFile(`${CONFIG}/test-${role}.json`));
    if (config.amqpUrl) {
      const url = new URL(config.amqpUrl);
      url.protocol = "amqp:";
      url.hostname = "127.0.0.1";
      url.port = String(PLAIN_AMQP);
      config.amqpUrl = url.toString();
      delete config.amqpCaFile;
    }
    if (config.redisUrl) {
      const url = new URL(config.redisUrl);
      url.protocol = "redis:";
      url.port = String(PLAIN_REDIS);
      config.redisUrl = url.toString();
      delete config.redisCaFile;
    }
    await Deno.writeTextFile(`${CONFIG}/test-${role}-plain.json`, JSON.stringify(config), {
      mode: 0o600,
    });
  }
}

/** Mean milliseconds of `times` runs of `fn`. */
async function meanMs(times: number, fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < times; i++) await fn();
  return (performance.now() - started) / times;
}

/** One side's network, with apps/echo deployed and a broker-only gateway. */
interface SideNet {
  side: Side;
  tag: string;
  net: TestNetwork;
  /** The broker-only gateway's URL. */
  url: string;
  /** The side's host config (its broker and Redis URLs and CA files). */
  host: Record<string, string>;
  redis: ReturnType<typeof connectRedis>;
}

/** Starts one side: control, gateway, 2 hosts, apps/echo (not timed: the first push). */
async function startSide(side: Side): Promise<SideNet> {
  const suffix = side === "plain" ? "-plain" : "";
  const tag = side === "plain" ? "p" : "t";
  const host = JSON.parse(await Deno.readTextFile(`${CONFIG}/test-host${suffix}.json`));
  const net = new TestNetwork([`tc-${tag}a`, `tc-${tag}b`], {
    stateDir: infra.stateDir,
    configSuffix: suffix,
  });
  await net.start();
  await net.deploy(`${ROOT}/apps/echo`, `tlscost-${tag}`, `tlscost-${tag}.dn.test`);
  const gatewayConfig = JSON.parse(
    await Deno.readTextFile(`${CONFIG}/test-gateway${suffix}.json`),
  );
  delete gatewayConfig.requestToken;
  const brokerConfig = `${CONFIG}/test-gateway-bench-broker${suffix}.json`;
  await Deno.writeTextFile(brokerConfig, JSON.stringify(gatewayConfig), { mode: 0o600 });
  const port = freePort();
  const gateway = net.spawn("gateway", "gateway-broker", ["--config", brokerConfig], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
    DN_GATEWAY_METRICS_LISTEN: "127.0.0.1:0",
    DN_GATEWAY_HTTPS_LISTEN: "127.0.0.1:0",
  });
  await gateway.waitFor("amqp connected");
  await gateway.waitFor("gateway listening");
  const redis = redisClient(host);
  await redisReady(redis, 10_000);
  return { side, tag, net, url: `http://127.0.0.1:${port}/`, host, redis };
}

function redisClient(host: Record<string, string>) {
  return connectRedis({
    url: host.redisUrl,
    caFile: host.redisCaFile ?? "",
    log: quiet,
    name: "b",
  });
}

/** One round of every measure on one side. */
async function measure(s: SideNet, round: number): Promise<void> {
  const { side, net, host, tag } = s;
  const app = `tlscost-${tag}${round}`;
  const t0 = performance.now();
  await net.deploy(`${ROOT}/apps/echo`, app, `${app}.dn.test`);
  record("deploy: create and start until the first 200 (ms)", side, performance.now() - t0);
  await net.api("DELETE", `/v1/apps/${app}`);
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    const res = await net.api("GET", `/v1/apps/tlscost-${tag}/status`);
    if (res.status !== 200) throw new Error(`status answered ${res.status}`);
    statuses.push(performance.now() - started);
  }
  record("GET /v1/apps/NAME/status, median of 20 (ms)", side, median(statuses));
  const hostname = `tlscost-${tag}.dn.test`;
  const c1 = await wrk(work, `c1-${side}-${round}`, s.url, hostname, 1, duration);
  const c16 = await wrk(work, `c16-${side}-${round}`, s.url, hostname, 16, duration);
  record("broker path, wrk c=1 (req/s)", side, reqPerSec(c1));
  record("broker path, wrk c=1, p50 (ms)", side, c1.latency_us.p50 / 1000);
  record("broker path, wrk c=16 (req/s)", side, reqPerSec(c16));
  record("broker path, wrk c=16, p99 (ms)", side, c16.latency_us.p99 / 1000);
  for (const r of [c1, c16]) wrkErrors += Object.values(r.errors).reduce((a, b) => a + b, 0);
  const n = 1000;
  const started = performance.now();
  for (let i = 0; i < n; i++) await s.redis.get("bench-tls-probe");
  record(
    "Redis GET round trips, one client (ops/s)",
    side,
    n / ((performance.now() - started) / 1000),
  );
  const redisConnect = await meanMs(5, async () => {
    const c = redisClient(host);
    await redisReady(c, 10_000);
    c.disconnect();
  });
  record("Redis connect until ready (ms)", side, redisConnect);
  const tls = host.amqpCaFile ? { ca: [await Deno.readTextFile(host.amqpCaFile)] } : undefined;
  const amqpConnect = await meanMs(3, async () => {
    const client = new AMQPClient(host.amqpUrl, tls, null);
    await client.connect();
    await client.close();
  });
  record("RabbitMQ connect and close (ms)", side, amqpConnect);
}

say(`private infrastructure in ${infra.stateDir}`);
await infra.up();
const sides: SideNet[] = [];
try {
  await rabbitEval(`rabbit_networking:start_tcp_listener({"127.0.0.1", ${PLAIN_AMQP}}, 10).`);
  await redisPlainPort(PLAIN_REDIS);
  await writePlainConfigs();
  for (const side of ["plain", "TLS"] as const) sides.push(await startSide(side));
  for (let round = 1; round <= rounds; round++) {
    say(`round ${round} of ${rounds}`);
    for (const s of round % 2 === 1 ? sides : [...sides].reverse()) await measure(s, round);
  }
} finally {
  for (const s of sides) {
    s.redis.disconnect();
    await s.net.stop();
  }
  await rabbitEval(`rabbit_networking:stop_tcp_listener({"127.0.0.1", ${PLAIN_AMQP}}).`)
    .catch((e) => say(String(e)));
  await redisPlainPort(0).catch((e) => say(String(e)));
  await infra.down();
}

const cpus = (await run("nproc", [])).out.trim();
const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(", ");
const lines = [
  "## TLS on the links",
  "",
  `\`${command}\` on ${new Date().toISOString().slice(0, 10)} (${cpus} cores, shared with ` +
  `other work while it ran, so under load: load average ${load} at the end; ${duration} s per ` +
  `wrk run; ${rounds} rounds). One private RabbitMQ and Redis (scripts/infra) serve both sides; ` +
  `for the run only they also listen plain on loopback. Two networks (control, gateway, 2 hosts, ` +
  `apps/echo each) run side by side throughout, one on configs that use those plain listeners ` +
  `("plain"), one on the default configs (AMQPS and Redis over TLS, verified), and are measured ` +
  `in turn, the order alternating each round, so load from elsewhere falls on both alike. ` +
  `Broker path: wrk → a gateway without the request token → RabbitMQ → host → container. The ` +
  `registry is HTTPS on both sides. Each cell: the median of the rounds (lowest-highest). Raw ` +
  `output: ${work}.`,
  "",
  "| measure | plain | TLS | TLS / plain |",
  "| --- | --- | --- | --- |",
];
for (const [label, { plain, TLS }] of figures) {
  const d = /req\/s|ops\/s|deploy/.test(label) ? 0 : 1;
  const show = (xs: number[]) =>
    `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  const ratio = (median(TLS) / median(plain)).toFixed(2);
  lines.push(`| ${label} | ${show(plain)} | ${show(TLS)} | ${ratio} |`);
}
lines.push("", `wrk errors over all runs: ${wrkErrors}.`);
await writeSection(out, "## TLS on the links", lines.join("\n") + "\n");
say(`wrote the "TLS on the links" section of ${out}`);
