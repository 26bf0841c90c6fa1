/**
 * dn gateway service: the public HTTP front door.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { BodyStore } from "../lib/bodies.ts";
import { CertStore } from "../lib/certs.ts";
import { ChallengeStore } from "../lib/acme_challenges.ts";
import { loadConfig, parseListen, requireKeys } from "../lib/config.ts";
import { addServiceMetrics, type HealthOptions, serveHealth } from "../lib/health.ts";
import { errorMessage, Logger } from "../lib/log.ts";
import { Registry } from "../lib/metrics.ts";
import { Http1Pool } from "../lib/http1.ts";
import { Http1Server } from "../lib/http1/server.ts";
import { connectRedis, redisReady, redisTarget } from "../lib/redis.ts";
import { type Endpoint, RouteStore } from "../lib/routes.ts";
import { UnreadyStore } from "../lib/unready.ts";
import { AppStore } from "../lib/store.ts";
import { DirectClient, DirectRoutes } from "./direct.ts";
import { HostLiveness } from "./liveness.ts";
import { DomainTable } from "./domains.ts";
import { GatewayMetrics } from "./metrics.ts";
import { GatewayRpc } from "./rpc.ts";
import { createGatewayHandler, GATEWAY_ANSWERS } from "./server.ts";
import { startHttps } from "./https.ts";
import { UnreadyReasons } from "./unready.ts";

const { values } = parseArgs({ args: Deno.args, options: { config: { type: "string" } } });
const config = loadConfig({ file: values.config });
requireKeys(config, ["amqpUrl", "redisUrl"], "gateway");
const hostCa = readHostCa(config.hostCaFile);
const log = new Logger("gateway", config.logLevel);
const redis = connectRedis({ ...redisTarget(config), log, name: "dn-gateway" });
const subscriber = connectRedis({ ...redisTarget(config), log, name: "dn-gateway-events" });
const domains = new DomainTable(new AppStore(redis, config.redisPrefix), log);
const rpc = new GatewayRpc(config.amqpUrl, config.amqpCaFile, config.exchange, log);
rpc.start();
await redisReady(redis, 10_000).catch((e) =>
  log.warn("starting without redis", { error: errorMessage(e) })
);
await domains.start(subscriber);
// Why hosts do not serve an app, for its 503 (gateway/unready.ts).
const unready = new UnreadyReasons(new UnreadyStore(redis, config.redisPrefix), log);
await unready.start(subscriber);
// The direct path to containers or hosts, when hosts and gateway share a request token (gateway/direct.ts).
const upstreamPool = new Http1Pool({
  maxHeadBytes: 64 * 1024,
  maxBodyBytes: config.bodyLimit + 1024 * 1024,
  maxIdle: 256,
});
// Hosts' request listeners over TLS, verified against hostCaFile, when it is set.
const hostPool = config.hostCaFile === "" ? upstreamPool : new Http1Pool({
  ...upstreamPool.limits,
  caCerts: [hostCa],
});
const routes = config.requestToken === "" ? null : new DirectRoutes(
  new RouteStore(redis, config.redisPrefix),
  log,
  (gone) => {
    upstreamPool.forget(gone.address, gone.port);
    hostPool.forget(gone.address, gone.port);
  },
);
await routes?.start(subscriber);
const direct = routes &&
  new DirectClient(
    routes,
    { containers: upstreamPool, hosts: hostPool },
    config.requestToken,
    log,
    {
      idleMs: config.streamIdleTimeoutMs,
    },
  );
// A host whose machine went silent, and its containers, get no more requests within a second
// (gateway/liveness.ts).
const liveness = routes && new HostLiveness({
  endpoints: () => routes.hostEndpoints(),
  onSilent: (host, reason) => {
    if (!routes.isDown(host.endpoint)) log.warn("host silent", { host: host.endpoint, reason });
    for (const upstream of [host, ...routes.upstreamsOf(host.endpoint)]) {
      routes.markDown(upstream.endpoint);
      upstreamPool.abort(upstream.address, upstream.port);
      hostPool.abort(upstream.address, upstream.port);
    }
  },
  onStalled: (host, stallMs) =>
    log.debug("host probe not counted: the gateway stalled", { host: host.endpoint, stallMs }),
  // The gateway's own listener (started before the first round).
  self: () => reachableEndpoint(server.addr),
});

const handler = createGatewayHandler({
  domains,
  rpc,
  direct: direct ?? undefined,
  onUpstream: (path) => metrics.upstream(path),
  onUpgrade: (open, protocol) => {
    if (protocol.toLowerCase() === "websocket") metrics.webSocket(open);
  },
  bodies: new BodyStore(redis, config.redisPrefix),
  log,
  inlineBodyLimit: config.inlineBodyLimit,
  bodyLimit: config.bodyLimit,
  requestTimeoutMs: config.requestTimeoutMs,
  bodyTimeoutMs: config.bodyTimeoutMs,
  challenges: new ChallengeStore(redis, config.redisPrefix),
  unready,
  httpsPort: config.gatewayHttpsListen === ""
    ? undefined
    : parseListen(config.gatewayHttpsListen, "gatewayHttpsListen").port,
});
// Health and metrics (lib/health.ts, gateway/metrics.ts) on their own listener.
const health: HealthOptions = {
  service: "gateway",
  registry: new Registry(),
  checks: {
    amqp: () => rpc.ready,
    redis: () => redis.status === "ready",
    redisEvents: () => subscriber.status === "ready",
  },
};
addServiceMetrics(health);
const metrics = new GatewayMetrics(health.registry, {
  lookup: (hostname) => domains.lookup(hostname),
  hasApp: (name) => domains.hasApp(name),
  get domainCount() {
    return domains.size;
  },
  get rpcInFlight() {
    return rpc.inFlight;
  },
  isGatewayAnswer: (res) => GATEWAY_ANSWERS.has(res),
});
const healthServer = serveHealth({
  ...health,
  listen: config.gatewayMetricsListen,
  key: "gatewayMetricsListen",
  log,
});
const { hostname, port } = parseListen(config.gatewayListen, "gatewayListen");
// The gateway's own HTTP/1.1 server (lib/http1/server.ts): bodies of every method, upgrades as
// byte tunnels, header-read timeout.
const server = new Http1Server(Deno.listen({ hostname, port }), metrics.instrument(handler), {
  onError: (e) => log.error("request handler failed", { error: errorMessage(e) }),
});
log.info("gateway listening", { addr: `${server.addr.hostname}:${server.addr.port}` });
liveness?.start();
const https = config.gatewayHttpsListen === "" ? null : await startHttps({
  listen: parseListen(config.gatewayHttpsListen, "gatewayHttpsListen"),
  store: new CertStore(redis, config.redisPrefix),
  subscriber,
  handler: metrics.instrument(handler),
  registry: health.registry,
  log,
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    https?.stop();
    await server.shutdown();
    await healthServer?.shutdown();
    domains.stop();
    unready.stop();
    routes?.stop();
    liveness?.stop();
    upstreamPool.close();
    await rpc.broker.stop();
    redis.disconnect();
    subscriber.disconnect();
    log.flush();
    Deno.exit(0);
  });
}

/** The CA of `hostCaFile` (`""` when none); a file that cannot be read stops the gateway with one line. */
function readHostCa(file: string): string {
  if (file === "") return "";
  try {
    const pem = Deno.readTextFileSync(file);
    if (pem.includes("-----BEGIN CERTIFICATE-----")) return pem;
    console.error(`gateway: hostCaFile: ${file} holds no PEM certificate`);
  } catch (e) {
    const why = e instanceof Deno.errors.NotCapable
      ? "outside what the gateway may read ($DN_STATE_DIR/config, /etc/dn, the local CA)"
      : (e as Error).message;
    console.error(`gateway: hostCaFile: cannot read ${file}: ${why}`);
  }
  Deno.exit(1);
}

/** Where this machine reaches a listener bound to `addr` (a wildcard address means loopback). */
function reachableEndpoint(addr: Deno.NetAddr): Endpoint {
  const address = addr.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : addr.hostname === "::"
    ? "::1"
    : addr.hostname;
  const endpoint = address.includes(":") ? `[${address}]:${addr.port}` : `${address}:${addr.port}`;
  return { endpoint, address, port: addr.port };
}
