/**
 * dn control service: reads configuration and wires the API to Redis and
 * RabbitMQ.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadConfig, parseListen, parseUrlList, requireKeys } from "../lib/config.ts";
import {
  addServiceMetrics,
  type HealthOptions,
  healthResponse,
  serveHealth,
} from "../lib/health.ts";
import { Logger } from "../lib/log.ts";
import { Registry } from "../lib/metrics.ts";
import { connectRedis, redisTarget } from "../lib/redis.ts";
import { AppStore } from "../lib/store.ts";
import { CertStore } from "../lib/certs.ts";
import { ChallengeStore } from "../lib/acme_challenges.ts";
import { AcmeIssuer } from "./acme.ts";
import { createApi } from "./api.ts";
import { tokenChecker } from "../lib/token.ts";
import { ControlBroker } from "./broker.ts";
import { Rebalancer } from "./placement.ts";
import { withLogs } from "./logs.ts";
import { LogsRpc } from "./logs_rpc.ts";
import { ControlMetrics } from "./metrics.ts";
import { withDashboard } from "./dashboard/routes.ts";
import { Sessions } from "./dashboard/session.ts";
import { Traffic } from "./dashboard/traffic.ts";
import { tlsFilesOrExit, TlsServer } from "../lib/tls_server.ts";

const { values } = parseArgs({ args: Deno.args, options: { config: { type: "string" } } });
const config = loadConfig({ file: values.config });
requireKeys(config, ["token", "amqpUrl", "redisUrl", "registry"], "control");
const tls = tlsFilesOrExit(config, "control");
const log = new Logger("control", config.logLevel);
const redis = connectRedis({ ...redisTarget(config), log, name: "dn-control" });
const broker = new ControlBroker(config.amqpUrl, config.amqpCaFile, config.exchange, log);
broker.start();
const store = new AppStore(redis, config.redisPrefix, {
  replicas: config.redisWaitReplicas,
  timeoutMs: config.redisWaitMs,
});
const rebalancer = new Rebalancer(
  store,
  (app) => broker.publish({ kind: "update", app }).catch(() => {}), // hosts also converge from Redis
  log,
);
rebalancer.start();
const checkToken = tokenChecker(config.token);
const certs = new CertStore(redis, config.redisPrefix);
const acme = config.acmeDirectoryUrl === "" ? null : new AcmeIssuer({
  directoryUrl: config.acmeDirectoryUrl,
  email: config.acmeEmail,
  caPem: config.acmeCaFile === "" ? null : Deno.readTextFileSync(config.acmeCaFile),
  certs,
  challenges: new ChallengeStore(redis, config.redisPrefix),
  prefix: config.redisPrefix,
  log,
});
acme?.startRenewals();
const api = createApi({
  store,
  certs,
  acme,
  broker,
  registry: config.registry,
  checkToken,
  log,
  statusTimeoutMs: 1500,
});
// Health and metrics (lib/health.ts, control/metrics.ts) and `GET /v1/apps/:name/logs`.
const health: HealthOptions = {
  service: "control",
  registry: new Registry(),
  checks: { amqp: () => broker.broker.ready, redis: () => redis.status === "ready" },
};
addServiceMetrics(health);
const metrics = new ControlMetrics(health.registry, {
  appStatuses: async () => (await store.list()).apps.map((app) => app.status),
  liveHosts: () => store.liveHosts(15_000),
});
const withLogsRoute = withLogs(api, {
  store,
  rpc: new LogsRpc(broker.broker, config.exchange, log),
  brokerReady: () => broker.broker.ready,
  checkToken,
  log,
  streams: metrics.logsStreams,
});
// The web dashboard at /ui/ (control/dashboard/), its charts from the gateways' metrics.
const traffic = new Traffic({
  urls: parseUrlList(config.gatewayMetricsUrls, "gatewayMetricsUrls"),
  log,
});
traffic.start();
const withUi = withDashboard(withLogsRoute, {
  token: config.token,
  checkToken,
  sessions: new Sessions(config.dashboardSessionMs),
  traffic,
  store,
  log,
});
const handler = metrics.instrument((req) =>
  new URL(req.url).pathname === "/healthz"
    ? healthResponse(health, req.method === "HEAD")
    : withUi(req)
);
const healthServer = serveHealth({
  ...health,
  listen: config.controlMetricsListen,
  key: "controlMetricsListen",
  log,
});
const { hostname, port } = parseListen(config.controlListen, "controlListen");
const listening = (addr: Deno.NetAddr, scheme: string) =>
  log.info("control listening", { addr: `${addr.hostname}:${addr.port}`, scheme });
// HTTPS with tlsCertFile, reloaded when the files change (lib/tls_server.ts).
let server: { shutdown(): Promise<void> };
if (tls) {
  const https = new TlsServer({
    hostname,
    port,
    ...tls,
    serve: (pair) => Deno.serve({ ...pair, onListen: () => {} }, handler),
    service: "control",
    log,
    registry: health.registry,
  });
  listening(https.addr, "https");
  server = https;
} else {
  log.warn("control serves plain HTTP: set tlsCertFile and tlsKeyFile for HTTPS");
  server = Deno.serve({ hostname, port, onListen: (addr) => listening(addr, "http") }, handler);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    rebalancer.stop();
    acme?.stop();
    traffic.stop();
    await server.shutdown();
    await healthServer?.shutdown();
    await broker.broker.stop();
    redis.disconnect();
    log.flush();
    Deno.exit(0);
  });
}
