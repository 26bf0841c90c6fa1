/**
 * The broker and the state store restart under load, on a private copy of
 * the infrastructure so other tests are not disturbed.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { PrivateInfra } from "../helpers/infra.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { freePort, ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

/** A well-formed image digest for apps that are created, never run. */
const DIGEST = `sha256:${"0".repeat(64)}`;

const HOSTNAME = "restart.dn.test";
const OTHER = "restart-other.dn.test";
const infra = new PrivateInfra("faults", {
  amqps: 5780,
  dist: 25779,
  redis: 6489,
  registry: 5155,
});
let net: TestNetwork;
/** A second gateway without the request token: every request goes through the broker. */
const brokerOnlyPort = freePort();

Deno.test.beforeAll(async () => {
  await infra.up();
  net = await startNetwork(undefined, { stateDir: infra.stateDir });
  await net.deploy(`${ROOT}/apps/hello-world`, "restart", HOSTNAME);
  await net.deploy(`${ROOT}/apps/echo`, "restart-other", OTHER);
  const config = JSON.parse(Deno.readTextFileSync(`${infra.stateDir}/config/test-gateway.json`));
  delete config.requestToken;
  const brokerOnly = `${infra.stateDir}/config/test-gateway-broker-only.json`;
  Deno.writeTextFileSync(brokerOnly, JSON.stringify(config), { mode: 0o600 });
  const gateway = net.spawn("gateway", "gateway-broker-only", ["--config", brokerOnly], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${brokerOnlyPort}`,
    DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
  });
  await gateway.waitFor("gateway listening");
  await gateway.waitFor("amqp connected");
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await infra.down();
});

/** Time from `since` (ms on the load's clock) until the last non-200 outcome. */
function lastFailureAfter(load: Load, since: number): number {
  const failures = load.outcomes.filter((o) => o.at >= since && o.status !== 200);
  return failures.length === 0 ? 0 : Math.round(failures.at(-1)!.at - since);
}

reliabilityTest("restart RabbitMQ under load", {
  fault: "stop RabbitMQ for ~10 s while 8 clients send GETs; stop an app meanwhile",
  expected: "running apps keep answering over the direct path while it is down; a gateway " +
    "without it answers 503 at once; all requests succeed a few seconds after it is back; the " +
    "stop is not lost",
}, async (note) => {
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(1000);
  await infra.stopRabbit();
  const down = performance.now() - load.started;
  await sleep(1500);
  // While the broker is down: answers are quick 503s, never hangs.
  const t0 = performance.now();
  const during = await net.gateway(HOSTNAME, "/", {}, brokerOnlyPort);
  const answeredMs = performance.now() - t0;
  await during.body?.cancel();
  const direct = await net.gateway(HOSTNAME, "/");
  await direct.body?.cancel();
  // A command issued while the broker is down is kept in Redis and applied later.
  const stopped = await net.api("POST", "/v1/apps/restart-other/stop");
  assertEquals(stopped.status, 200);
  await infra.up("rabbitmq");
  const back = performance.now() - load.started;
  await sleep(8000);
  const outcomes = await load.stop();
  const afterBack = outcomes.filter((o) => o.at >= back);
  const recoveredMs = lastFailureAfter(load, back);
  const lastSecond = outcomes.filter((o) => o.at >= outcomes.at(-1)!.at - 2000);
  note(
    `down ${Math.round(back - down)} ms: ${JSON.stringify(byStatus(outcomes))}; direct path ` +
      `answered ${direct.status}; broker-only gateway answered 503 in ` +
      `${Math.round(answeredMs)} ms; all OK ${recoveredMs} ms after broker back`,
  );
  assertEquals(direct.status, 200);
  assertEquals(during.status, 503);
  assert(answeredMs < 1000, `503 took ${answeredMs} ms`);
  assert(outcomes.every((o) => o.status === 200 || o.status === 503), "only 200 or 503");
  assert(afterBack.length > 0 && recoveredMs < 5000, `recovered after ${recoveredMs} ms`);
  assert(lastSecond.every((o) => o.status === 200), "100% success at the end");
  // The stop sent while the broker was down reached every host.
  const deadline = Date.now() + 30_000;
  let states: string[] = [];
  while (Date.now() < deadline) {
    const status = await net.api("GET", "/v1/apps/restart-other/status");
    states = status.body.hosts.flatMap((h: { containers: { state: string }[] }) =>
      h.containers.map((c) => c.state)
    );
    if (states.length === 3 && states.every((s) => s === "exited")) break;
    await sleep(500);
  }
  assertEquals(states, ["exited", "exited", "exited"]);
});

reliabilityTest("restart Redis under load", {
  fault: "stop Redis for ~3 s while 8 clients send GETs, then start it again",
  expected:
    "control answers 503 while down; running apps keep answering; state survives (AOF); control works after",
}, async (note) => {
  const before = (await net.api("GET", "/v1/apps")).body.apps;
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(500);
  await infra.stopRedis();
  await sleep(500);
  const t0 = performance.now();
  const list = await net.api("GET", "/v1/apps");
  const create = await net.api("POST", "/v1/apps", {
    name: "during",
    hostname: "during.dn.test",
    digest: DIGEST,
  });
  const controlMs = Math.round(performance.now() - t0);
  await sleep(2000);
  await infra.up("redis");
  const back = performance.now();
  let listed = await net.api("GET", "/v1/apps");
  while (listed.status !== 200 && performance.now() - back < 15_000) {
    await sleep(200);
    listed = await net.api("GET", "/v1/apps");
  }
  const reconnectMs = Math.round(performance.now() - back);
  await sleep(1000);
  const outcomes = await load.stop();
  const after = listed.body.apps;
  const created = await net.api("POST", "/v1/apps", {
    name: "after",
    hostname: "after.dn.test",
    digest: DIGEST,
  });
  note(
    `control ${list.status}/${create.status} in ${controlMs} ms while down; GETs ${
      JSON.stringify(byStatus(outcomes))
    }; control back ${reconnectMs} ms after Redis; ${after?.length} apps after restart`,
  );
  assertEquals(list.status, 503);
  assertEquals(create.status, 503);
  assert(controlMs < 2000, `control answered in ${controlMs} ms`);
  assertEquals(outcomes.filter((o) => o.status !== 200), []);
  assertEquals(listed.status, 200);
  assert(reconnectMs < 5000, `control reconnected after ${reconnectMs} ms`);
  assertEquals(after, before);
  assertEquals(created.status, 201);
});
