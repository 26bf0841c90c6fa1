/**
 * An update whose new route cannot be announced (Redis down mid-rollout)
 * keeps the old version serving, on a private copy of the infrastructure so
 * other tests are not disturbed: hosts remove an old container only after
 * Redis has the new container's route.
 */
import { assertEquals } from "../helpers/assert.ts";
import { PrivateInfra } from "../helpers/infra.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { startNetwork, type TestNetwork } from "../helpers/network.ts";
import { originApp, settled, writeOriginApp } from "../helpers/origin_app.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const APP = { name: "rr-app", hostname: "app.rollout-redis.test" };
const infra = new PrivateInfra("rollout", {
  amqps: 6080,
  dist: 26079,
  redis: 6789,
  registry: 5455,
});
let net: TestNetwork;
let dir: string;

Deno.test.beforeAll(async () => {
  await infra.up();
  net = await startNetwork(undefined, { stateDir: infra.stateDir });
  dir = await originApp({ ...APP, origin: "old" });
  const run = await net.cli(["run"], dir);
  assertEquals(run.code, 0, run.stderr);
  await settled(net, APP.name, net.hostNames);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await infra.down();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

/** Running containers of the app's `version` on this network's hosts. */
async function running(version: number): Promise<number> {
  let n = 0;
  for (const host of net.hostNames) {
    const found = await net.docker.listContainers({
      "network.dn.host": host,
      "network.dn.app": APP.name,
      "network.dn.version": String(version),
    }, false);
    n += found.length;
  }
  return n;
}

reliabilityTest("Redis down while an update announces its route", {
  fault: "dn update under GETs; Redis stopped once the new containers run (before any route " +
    "of theirs is announced) and started again 8 s later",
  expected: "no host removes its old container while the new route cannot be announced: every " +
    "GET answers 200 from the old or the new code; once Redis is back the update completes " +
    "(dn update exits 0) and every host runs the new digest",
}, async (note) => {
  await writeOriginApp(dir, { ...APP, origin: "new" });
  const load = new Load(net, APP.hostname, "/", 2);
  const update = net.cli(["update"], dir);
  const deadline = Date.now() + 60_000;
  while (await running(2) < 3 && Date.now() < deadline) await sleep(100);
  await infra.stopRedis();
  await sleep(8000);
  const oldDuringOutage = await running(1);
  await infra.up("redis");
  const result = await update;
  const digest = await settled(net, APP.name, net.hostNames);
  await sleep(1000);
  const outcomes = await load.stop();
  const wrong = outcomes.filter((o) =>
    o.status !== 200 || !(o.body.startsWith("old ") || o.body.startsWith("new "))
  );
  const fromNew = outcomes.filter((o) => o.body.startsWith("new ")).length;
  note(
    `old containers running after 8 s without Redis: ${oldDuringOutage}/3; ${outcomes.length} ` +
      `GETs ${JSON.stringify(byStatus(outcomes))}, ${fromNew} from the new code; dn update ` +
      `exit ${result.code}; every host on ${digest.slice(7, 19)}`,
  );
  assertEquals(oldDuringOutage, 3);
  assertEquals(wrong.slice(0, 5), []);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(await running(1), 0);
});
