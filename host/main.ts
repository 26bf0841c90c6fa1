/**
 * dn host service: runs app containers through the Docker Engine API and
 * serves their requests from RabbitMQ and, with a `requestToken`, straight
 * from the gateway (host/direct.ts).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Broker, openChannel } from "../lib/amqp.ts";
import { BodyStore } from "../lib/bodies.ts";
import { ConfigError, loadConfig, parseCidrList, parseListen, requireKeys } from "../lib/config.ts";
import { DockerClient } from "../lib/docker/mod.ts";
import { addServiceMetrics, type HealthOptions, serveHealth } from "../lib/health.ts";
import { Http1Pool } from "../lib/http1.ts";
import { errorMessage, Logger } from "../lib/log.ts";
import { Registry } from "../lib/metrics.ts";
import { isHostName } from "../lib/names.ts";
import { connectRedis, redisReady, redisTarget } from "../lib/redis.ts";
import { RouteStore } from "../lib/routes.ts";
import { AppStore, parseStoreEvent } from "../lib/store.ts";
import { UnreadyStore } from "../lib/unready.ts";
import { HostAgent } from "./agent.ts";
import { followContainerEvents, LastExits } from "./events.ts";
import { HealthMonitor } from "./health.ts";
import { Containers, LABEL } from "./containers.ts";
import { ContainerStates } from "./container_states.ts";
import { APP_NETWORK, isolateApps } from "./isolation.ts";
import { HostLogs } from "./logs.ts";
import { HostMetrics } from "./metrics.ts";
import { RequestServer } from "./requests.ts";
import { serveDirectRequests } from "./direct.ts";
import { tlsFilesOrExit } from "../lib/tls_server.ts";
import { preflight, PreflightError } from "./preflight.ts";
import { ensurePublishFirewall } from "./publish_firewall.ts";
import { Staleness } from "./staleness.ts";
import { containerEndpoint, ROUTE_GRACE_MS, RouteAnnouncer } from "./routes.ts";
import { startingReason, UnreadyAnnouncer } from "./unready.ts";

/**
 * How long a new container must stay up before it replaces an older one that
 * serves (an update, a rollback, an environment change), in ms.
 */
const READY_STABLE_MS = 8000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string" },
    name: { type: "string" },
    "host-listen": { type: "string" },
  },
});
const config = loadConfig({
  file: values.config,
  flags: { hostName: values.name, hostListen: values["host-listen"] },
});
requireKeys(config, ["amqpUrl", "redisUrl", "hostName", "registry"], "host");
if (!isHostName(config.hostName)) {
  throw new ConfigError(`hostName ${config.hostName} must be a lower-case DNS label`);
}
const tls = tlsFilesOrExit(config, `host ${config.hostName}`);
const log = new Logger(`host ${config.hostName}`, config.logLevel);
// Nothing is touched before these checks pass (host/preflight.ts).
try {
  for (const warning of await preflight(config)) log.warn("preflight", { warning });
} catch (e) {
  if (!(e instanceof PreflightError)) throw e;
  console.error(`host ${config.hostName}: ${e.message}`);
  Deno.exit(1);
}
const redis = connectRedis({ ...redisTarget(config), log, name: `dn-host-${config.hostName}` });
const subscriber = connectRedis({
  ...redisTarget(config),
  log,
  name: `dn-host-${config.hostName}-events`,
});
const store = new AppStore(redis, config.redisPrefix);
// Gateways send requests straight to this host's containers (lib/routes.ts).
const containerRoutes = config.requestRoute === "container";
if (containerRoutes && config.requestToken === "") {
  throw new ConfigError('requestRoute "container" needs requestToken (the direct path)');
}
// Published on the machine address for gateways elsewhere, which alone may connect there.
const publishAddress = config.containerPublishAddress || undefined;
const gateways = parseCidrList(config.gatewayAddresses, "gatewayAddresses");
if (publishAddress !== undefined && (!containerRoutes || gateways.length === 0)) {
  throw new ConfigError(
    'containerPublishAddress needs requestRoute "container" and gatewayAddresses (DN_GATEWAY_ADDRESSES)',
  );
}
const pool = new Http1Pool({
  maxHeadBytes: 64 * 1024,
  maxBodyBytes: config.bodyLimit,
  maxIdle: 64,
});
const dockerClient = new DockerClient({ socketPath: config.dockerSocket });
// No app container starts before apps are fenced off from each other and from this machine.
// Published ports only for gateways (host/publish_firewall.ts).
await isolateApps(dockerClient).then(async () => {
  if (publishAddress !== undefined) await ensurePublishFirewall(publishAddress, gateways);
}).catch((e) => {
  log.error("cannot isolate app containers", { error: errorMessage(e) });
  log.flush();
  Deno.exit(1);
});
const exits = new LastExits();
// Why an app is not served here, for gateways' 503s (host/unready.ts).
const unready = new UnreadyAnnouncer(
  new UnreadyStore(redis, config.redisPrefix),
  config.hostName,
  log,
);
// Status requests are answered from this, kept from Docker's events (host/container_states.ts).
const states = new ContainerStates({
  docker: dockerClient,
  hostLabel: LABEL.host,
  hostName: config.hostName,
  appLabel: LABEL.app,
  log,
});
const containers = new Containers({
  docker: dockerClient,
  hostName: config.hostName,
  registryAuth: {
    username: config.registryUser,
    password: config.registryPassword,
    serverAddress: config.registry,
  },
  pool,
  readyTimeoutMs: 30_000,
  network: APP_NETWORK,
  lastExit: (id) => exits.get(id),
  publishAddress,
  // Only while no older container serves the app here.
  onProbeFailed: (app, problem, tries) => {
    if (requests.target(app) === undefined) unready.note(app, startingReason(problem, tries));
  },
  states,
});
const requests = new RequestServer({
  exchange: config.exchange,
  pool,
  bodies: new BodyStore(redis, config.redisPrefix),
  log,
  inlineBodyLimit: config.inlineBodyLimit,
  prefetch: 64,
  refreshTarget: async (app, target) =>
    await containers.locate(target.containerId, (await store.get(app)).app.port),
  onUnreachable: (app) => agent.converge(app),
  gatewayUser: config.gatewayUser,
  onServing: (app, serving) => {
    routes.serving(app, serving);
    staleness.changed(app);
  },
  routeGraceMs: containerRoutes ? ROUTE_GRACE_MS : 0,
  onServed: (app, status, ms) => metrics.served(app, status, ms),
});
const routes = new RouteAnnouncer(
  new RouteStore(redis, config.redisPrefix),
  config.hostName,
  () => requests.live,
  (app) => requests.release(app),
  containerRoutes
    ? (app) => containerEndpoint(requests.target(app), publishAddress !== undefined)
    : null,
  log,
);
// Health and metrics (below); the request listener's certificate expiry is one of them.
const metricsRegistry = new Registry();
const direct = startDirectRequests();

/** The direct request listener, when a request token is configured. */
function startDirectRequests(): { shutdown(): Promise<void> } | null {
  if (config.requestToken === "") return null;
  const { hostname, port } = parseListen(config.hostRequestListen, "hostRequestListen");
  if (hostname === "0.0.0.0" || hostname === "::") {
    throw new ConfigError(
      "hostRequestListen must name the address the gateway reaches, not a wildcard",
    );
  }
  return serveDirectRequests({
    hostname,
    port,
    token: config.requestToken,
    requests,
    headTimeoutMs: config.bodyTimeoutMs,
    idleTimeoutMs: config.streamIdleTimeoutMs,
    log,
    onListen: (endpoint) => routes.listening(endpoint),
    current: (app) => staleness.current(app),
    tls: tls ?? undefined,
    registry: metricsRegistry,
  });
}
const agent = new HostAgent({
  hostName: config.hostName,
  controlUser: config.controlUser,
  exchange: config.exchange,
  store,
  containers,
  requests,
  log,
  confirmRoute: (app) => routes.confirm(app),
  stableMs: READY_STABLE_MS,
  unready,
});
const staleness = new Staleness({
  hostName: config.hostName,
  store,
  containers,
  requests,
  log,
  converge: (app) => agent.converge(app),
});
const broker = new Broker({
  url: config.amqpUrl,
  caFile: config.amqpCaFile,
  name: `dn-host-${config.hostName}`,
  log,
  onConnect: async (client) => {
    // Side by side: after a cluster node's loss, each may wait for a queue's new leader.
    const [forRequests, forCommands, forLogs] = await Promise.all(
      [1, 2, 3].map(() => openChannel(broker, client)),
    );
    await Promise.all([
      requests.attach(forRequests),
      agent.attach(forCommands),
      logs.attach(forLogs),
    ]);
    agent.convergeAll();
  },
  onDisconnect: () => requests.detach(),
});

// `logs.<app>` (host/logs.ts); health and metrics (lib/health.ts, host/metrics.ts).
const docker = containers.options.docker;
// A container that dies loses its route at once, not at the next heartbeat (host/events.ts).
const containerEvents = new AbortController();
followContainerEvents({
  docker,
  hostName: config.hostName,
  log,
  exits,
  signal: containerEvents.signal,
  onEnded: (app, id) => requests.suspend(app, id),
  onResync: () => void requests.refreshTargets(),
  onChanged: (id) => states.changed(id),
  onOpening: () => void states.resync(),
  onLost: () => states.lost(),
});
states.start();
const logs = new HostLogs({
  hostName: config.hostName,
  exchange: config.exchange,
  list: (app) => containers.list(app),
  docker,
  log,
  controlUser: config.controlUser,
});
const health: HealthOptions = {
  service: `host ${config.hostName}`,
  registry: metricsRegistry,
  checks: {
    amqp: () => broker.ready,
    redis: () => redis.status === "ready",
    redisEvents: () => subscriber.status === "ready",
    docker: () => docker.ping(),
  },
};
addServiceMetrics(health);
const metrics = new HostMetrics(health.registry, {
  containers: () => docker.listContainers({ [LABEL.host]: config.hostName }, true),
  servedApps: () => requests.apps,
  inFlight: () => requests.inFlight,
  client: () => broker.client,
});
const healthServer = serveHealth({ ...health, listen: config.hostListen, key: "hostListen", log });

subscriber.on("message", (_channel: string, message: string) => {
  const event = parseStoreEvent(message);
  if (event) agent.converge(event.app);
});
subscriber.on("ready", () => {
  subscriber.subscribe(store.eventsChannel).catch((e) =>
    log.warn("subscribe failed", { error: errorMessage(e) })
  );
  if (broker.ready) agent.convergeAll(); // Redis came back: catch up on what we missed
});

async function beat(): Promise<void> {
  const beaten = await store.heartbeat(config.hostName).then(() => true, (e) => {
    log.warn("heartbeat failed", { error: errorMessage(e) });
    return false;
  });
  if (beaten) await staleness.regained();
  else staleness.lost();
  if (containerRoutes) await requests.refreshTargets();
  routes.refresh();
  unready.refresh();
}
const healthMonitor = new HealthMonitor({
  requests,
  containers,
  store,
  log,
  recover: (app) => agent.converge(app),
  intervalMs: 3000,
  threshold: 2,
});
healthMonitor.start();
const heartbeat = setInterval(beat, 5000);
const reconcile = setInterval(() => agent.convergeAll(), 30_000);
await redisReady(redis, 10_000).catch((e) =>
  log.warn("starting without redis", { error: errorMessage(e) })
);
await beat();
broker.start();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    clearInterval(heartbeat);
    containerEvents.abort();
    states.stop();
    healthMonitor.stop();
    clearInterval(reconcile);
    await store.forgetHost(config.hostName).catch(() => {});
    await routes.withdrawAll();
    await unready.clearAll();
    await direct?.shutdown();
    await healthServer?.shutdown();
    await broker.stop();
    pool.close();
    redis.disconnect();
    subscriber.disconnect();
    log.flush();
    Deno.exit(0);
  });
}
