/**
 * Clocks are not shared: two hosts run with their wall clocks minutes off
 * (one behind, one ahead, under faketime), beside one with the right time.
 * Liveness and route freshness go by Redis's clock and request envelopes
 * carry the time left, so the skewed hosts are placed, routed and answer on
 * the broker path like any other, and a dead one drops out as fast.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  freePort,
  infraConfig,
  ROOT,
  startNetwork,
  STATE_DIR,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { connectTestRedis, type TestRedis } from "../helpers/redis.ts";
import { ROUTE_MAX_AGE_MS, RouteStore } from "../../lib/routes.ts";
import { AppStore } from "../../lib/store.ts";

const suffix = crypto.randomUUID().slice(0, 4);
const BEHIND = `behind-${suffix}`;
const AHEAD = `ahead-${suffix}`;
const RIGHT = `right-${suffix}`;
const APP = `clock-${suffix}`;
const HOSTNAME = `${APP}.dn.test`;
const OFF = { [BEHIND]: "-3m", [AHEAD]: "+3m" };
let net: TestNetwork;
let redis: TestRedis;

Deno.test.beforeAll(async () => {
  net = await startNetwork([BEHIND, AHEAD, RIGHT], { hostClock: OFF });
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
  redis = await connectTestRedis();
});
Deno.test.afterAll(async () => {
  redis?.disconnect();
  await net?.stop();
});

/** Hosts that answered `count` GETs of /whoami through the gateway (on `port`). */
async function answering(count: number, port?: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const res = await net.gateway(HOSTNAME, "/whoami", {}, port);
    const host = (await res.text()).trim();
    assertEquals(res.status, 200, `GET ${i}: ${res.status} ${host}`);
    seen.set(host, (seen.get(host) ?? 0) + 1);
  }
  return seen;
}

/** Polls until `check` holds, up to `ms`; returns how long it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await check()) return Math.round(performance.now() - start);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not within ${ms} ms`);
}

reliabilityTest("clocks: hosts 3 minutes behind and ahead are live, routed and answer", {
  fault: "two of three hosts run with their wall clock 3 min behind and 3 min ahead (faketime)",
  expected: "control counts all three live and places the app on each; every host's route is " +
    "fresh; 60 GETs through the gateway are all 200 and every host answers some",
}, async (note) => {
  const store = new AppStore(redis, net.prefix);
  const routes = new RouteStore(redis, net.prefix);
  await within(
    15_000,
    "three live hosts",
    async () => (await store.liveHosts(15_000)).length === 3,
  );
  await net.waitForRunning(APP, 3);
  await within(
    15_000,
    "three fresh routes",
    async () => ((await routes.load()).get(APP) ?? []).length === 3,
  );
  const seen = await answering(60);
  assertEquals([...seen.keys()].sort(), [AHEAD, BEHIND, RIGHT].sort(), JSON.stringify([...seen]));
  note(`answers by host: ${JSON.stringify(Object.fromEntries(seen))}`);
});

reliabilityTest("clocks: hosts 3 minutes ahead and behind answer on the broker path", {
  fault: "a second gateway without the request token: every request it takes is an envelope " +
    "on RabbitMQ, taken by hosts whose clocks are 3 min off",
  expected: "60 GETs all 200, hosts ahead and behind among those answering (an envelope " +
    "carries the time left, not a deadline by the gateway's clock)",
}, async (note) => {
  const config = infraConfig("test-gateway");
  delete config.requestToken;
  const file = `${STATE_DIR}/config/test-gateway-broker-only-${suffix}.json`;
  Deno.writeTextFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const port = freePort();
  const gateway = net.spawn("gateway", "gateway-broker-only", ["--config", file], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
    DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_HTTPS_LISTEN: "127.0.0.1:0", // beside the network's own gateway
  });
  try {
    await gateway.waitFor("gateway listening");
    await gateway.waitFor("amqp connected");
    const seen = await answering(60, port);
    assert(seen.has(AHEAD) && seen.has(BEHIND), JSON.stringify([...seen]));
    note(`answers over RabbitMQ by host: ${JSON.stringify(Object.fromEntries(seen))}`);
  } finally {
    await gateway.stop();
    Deno.removeSync(file);
  }
});

reliabilityTest("clocks: a dead host whose clock is ahead drops out as fast as any", {
  fault: "SIGKILL the host 3 min ahead and remove its container (as when its machine goes)",
  expected: `its route is stale within ${ROUTE_MAX_AGE_MS / 1000} s + 5 s and control stops ` +
    "counting it live as fast; GETs through the gateway keep answering 200 from the others",
}, async (note) => {
  const store = new AppStore(redis, net.prefix);
  const routes = new RouteStore(redis, net.prefix);
  await net.services.get(AHEAD)!.stop("SIGKILL");
  for (const c of await net.docker.listContainers({ "network.dn.host": AHEAD }, true)) {
    await net.docker.removeContainer(c.id, { force: true });
  }
  const limit = ROUTE_MAX_AGE_MS + 5000;
  const routeGone = await within(
    limit,
    "the dead host's route dropped",
    async () => !((await routes.load()).get(APP) ?? []).some((r) => r.host === AHEAD),
  );
  const notLive = await within(
    limit,
    "the dead host no longer live",
    async () => !(await store.liveHosts(15_000)).includes(AHEAD),
  );
  const seen = await answering(20);
  assert(!seen.has(AHEAD), JSON.stringify([...seen]));
  note(
    `route dropped after ${routeGone} ms, not live after ${notLive} ms more; ` +
      `answers ${JSON.stringify(Object.fromEntries(seen))}`,
  );
});
