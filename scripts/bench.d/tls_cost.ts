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
 * again at the end; the same network (control, gateway, two hosts) then runs
 * on configs that use them ("plain") and on the default TLS configs ("TLS"),
 * alternating, ROUNDS times each. Per side: the broker path with wrk (a
 * gateway without the request token: gateway → RabbitMQ → host → container),
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
import { reqPerSec, run, wrk, type WrkResult } from "./wrk.ts";
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

/** One side's figures of one round. */
interface Figures {
  brokerC1: WrkResult;
  brokerC16: WrkResult;
  statusMs: number;
  deployMs: number;
  redisOps: number;
  redisConnectMs: number;
  amqpConnectMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
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

/** Redis round trips per second (sequential GETs) and connection set-up time. */
async function redisFigures(url: string, caFile: string) {
  const redis = connectRedis({ url, caFile, log: quiet, name: "bench-tls" });
  await redisReady(redis, 10_000);
  const n = 3000;
  const started = performance.now();
  for (let i = 0; i < n; i++) await redis.get("bench-tls-probe");
  const ops = n / ((performance.now() - started) / 1000);
  redis.disconnect();
  const connectMs = await meanMs(20, async () => {
    const c = connectRedis({ url, caFile, log: quiet, name: "bench-tls" });
    await redisReady(c, 10_000);
    c.disconnect();
  });
  return { ops, connectMs };
}

/** One side: a network on its configs, measured. */
async function measure(side: Side, round: number): Promise<Figures> {
  const suffix = side === "plain" ? "-plain" : "";
  const host = JSON.parse(await Deno.readTextFile(`${CONFIG}/test-host${suffix}.json`));
  const net = new TestNetwork([`tc-${round}a`, `tc-${round}b`], {
    stateDir: infra.stateDir,
    configSuffix: suffix,
    env: { DN_LOG_LEVEL: "warn" },
  });
  const app = `tlscost-${side === "plain" ? "p" : "t"}${round}`;
  const hostname = `${app}.dn.test`;
  try {
    await net.start();
    const t0 = performance.now();
    await net.deploy(`${ROOT}/apps/echo`, app, hostname);
    const deployMs = performance.now() - t0;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const s = performance.now();
      const res = await net.api("GET", `/v1/apps/${app}/status`);
      if (res.status !== 200) throw new Error(`status answered ${res.status}`);
      statuses.push(performance.now() - s);
    }
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
    const url = `http://127.0.0.1:${port}/`;
    const id = `${side}-${round}`;
    await wrk(work, `warm-${id}`, url, hostname, 4, 1);
    const brokerC1 = await wrk(work, `c1-${id}`, url, hostname, 1, duration);
    const brokerC16 = await wrk(work, `c16-${id}`, url, hostname, 16, duration);
    const redis = await redisFigures(host.redisUrl, host.redisCaFile ?? "");
    const tls = host.amqpCaFile ? { ca: [await Deno.readTextFile(host.amqpCaFile)] } : undefined;
    const amqpConnectMs = await meanMs(10, async () => {
      const client = new AMQPClient(host.amqpUrl, tls, null);
      await client.connect();
      await client.close();
    });
    await net.api("DELETE", `/v1/apps/${app}`);
    return {
      brokerC1,
      brokerC16,
      statusMs: median(statuses),
      deployMs,
      redisOps: redis.ops,
      redisConnectMs: redis.connectMs,
      amqpConnectMs,
    };
  } finally {
    await net.stop();
  }
}

const results: Record<Side, Figures[]> = { plain: [], TLS: [] };
say(`private infrastructure in ${infra.stateDir}`);
await infra.up();
try {
  await rabbitEval(`rabbit_networking:start_tcp_listener({"127.0.0.1", ${PLAIN_AMQP}}, 10).`);
  await redisPlainPort(PLAIN_REDIS);
  await writePlainConfigs();
  for (let round = 1; round <= rounds; round++) {
    const order: Side[] = round % 2 === 1 ? ["plain", "TLS"] : ["TLS", "plain"];
    for (const side of order) {
      say(`round ${round}: ${side}`);
      results[side].push(await measure(side, round));
    }
  }
} finally {
  await rabbitEval(`rabbit_networking:stop_tcp_listener({"127.0.0.1", ${PLAIN_AMQP}}).`)
    .catch((e) => say(String(e)));
  await redisPlainPort(0).catch((e) => say(String(e)));
  await infra.down();
}

const rows: [string, (f: Figures) => number, number, boolean][] = [
  ["broker path, wrk c=1 (req/s)", (f) => reqPerSec(f.brokerC1), 0, true],
  ["broker path, wrk c=1, p50 (ms)", (f) => f.brokerC1.latency_us.p50 / 1000, 2, false],
  ["broker path, wrk c=16 (req/s)", (f) => reqPerSec(f.brokerC16), 0, true],
  ["broker path, wrk c=16, p99 (ms)", (f) => f.brokerC16.latency_us.p99 / 1000, 1, false],
  ["GET /v1/apps/NAME/status, median (ms)", (f) => f.statusMs, 1, false],
  ["deploy: create and start until the first 200 (ms)", (f) => f.deployMs, 0, false],
  ["Redis GET round trips, one client (ops/s)", (f) => f.redisOps, 0, true],
  ["Redis connect until ready (ms)", (f) => f.redisConnectMs, 1, false],
  ["RabbitMQ connect and close (ms)", (f) => f.amqpConnectMs, 1, false],
];
const cpus = (await run("nproc", [])).out.trim();
const lines = [
  "## TLS on the links",
  "",
  `\`${command}\` on ${new Date().toISOString().slice(0, 10)} (${cpus} cores, shared with ` +
  `other work while it ran, so under load; ${duration} s per wrk run; ${rounds} rounds per side, ` +
  `alternating; medians of the rounds, each round's figure in brackets). One private ` +
  `RabbitMQ and Redis (scripts/infra) serve both sides; for the run only they also listen ` +
  `plain on loopback, and the same network (control, gateway, 2 hosts, apps/echo) runs on ` +
  `configs that use those listeners ("plain") or on the default configs (AMQPS and Redis over ` +
  `TLS, verified). Broker path: wrk → a gateway without the request token → RabbitMQ → host → ` +
  `container. The registry is HTTPS on both sides. Raw output: ${work}.`,
  "",
  "| measure | plain | TLS | TLS / plain |",
  "| --- | --- | --- | --- |",
];
for (const [label, value, digits] of rows) {
  const p = results.plain.map(value);
  const t = results.TLS.map(value);
  const show = (xs: number[]) =>
    `${median(xs).toFixed(digits)} [${xs.map((x) => x.toFixed(digits)).join(", ")}]`;
  lines.push(`| ${label} | ${show(p)} | ${show(t)} | ${(median(t) / median(p)).toFixed(2)} |`);
}
const errors = [...results.plain, ...results.TLS].reduce(
  (n, f) =>
    n + Object.values(f.brokerC1.errors).reduce((a, b) => a + b, 0) +
    Object.values(f.brokerC16.errors).reduce((a, b) => a + b, 0),
  0,
);
lines.push("", `wrk errors over all runs: ${errors}.`);
await writeSection(out, "## TLS on the links", lines.join("\n") + "\n");
say(`wrote the "TLS on the links" section of ${out}`);
