/**
 * Readiness reads a status line and headers, not a whole body: an app whose
 * health path streams for ever (Server-Sent Events) becomes ready and
 * serves. The app is tests/apps/stream.
 */
import { assertEquals } from "../helpers/assert.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

let net: TestNetwork;

Deno.test.beforeAll(async () => {
  net = await startNetwork(testHostNames(1));
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

reliabilityTest("readiness: a health path that streams for ever is ready once its head is in", {
  fault: "APP_HEALTH /sse?n=1000000&ms=1000: an event stream that never ends (before, the " +
    "probe waited for the whole body and the app never became ready, silently)",
  expected: "the container becomes ready and the app answers through the gateway",
}, async (note) => {
  const app = `ready-${crypto.randomUUID().slice(0, 6)}`;
  const started = performance.now();
  await net.deploy(`${ROOT}/tests/apps/stream`, app, `${app}.dn.test`, 8000, {
    healthPath: "/sse?n=1000000&ms=1000",
  });
  const res = await net.gateway(`${app}.dn.test`, "/stats");
  assertEquals(res.status, 200, await res.text());
  note(`ready and serving ${((performance.now() - started) / 1000).toFixed(1)} s after create`);
});
