/**
 * Readiness reads a status line and headers, not a whole body: an app whose
 * health path streams for ever (Server-Sent Events) becomes ready and
 * serves (the app is tests/apps/stream). An app no host can serve gets a 503
 * naming why, as the host said: its probe failing, or crash-looping.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { originApp, type OriginMode } from "../helpers/origin_app.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

let net: TestNetwork;
const dirs: string[] = [];

/** Creates and starts an origin app that behaves as `mode` (it never serves); its hostname. */
async function unservable(mode: OriginMode): Promise<string> {
  const name = `${mode}-${crypto.randomUUID().slice(0, 6)}`;
  const hostname = `${name}.dn.test`;
  const dir = await originApp({ name, hostname, origin: name, mode });
  dirs.push(dir);
  const digest = await net.buildAndPush(dir, name, 1);
  const created = await net.api("POST", "/v1/apps", { name, hostname, port: 8000, digest });
  assertEquals(created.status, 201, JSON.stringify(created.body));
  assertEquals((await net.api("POST", `/v1/apps/${name}/start`)).status, 200);
  return hostname;
}

/**
 * The gateway's first 503 for `hostname` whose reason matches `pattern`
 * (within `timeoutMs`), and how long after `started` it came.
 */
async function reasoned(hostname: string, pattern: RegExp, started: number, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await net.gateway(hostname, "/");
    const body = await res.text();
    const reason = res.headers.get("x-dn-reason") ?? "";
    last = `${res.status} ${reason} ${body}`;
    if (res.status === 503 && pattern.test(reason)) {
      return { body: body.trim(), reason, ms: Math.round(performance.now() - started) };
    }
    assert(res.status === 503, `answered ${last}`);
    await sleep(250);
  }
  throw new Error(`no 503 naming ${pattern} for ${hostname}; last: ${last}`);
}

Deno.test.beforeAll(async () => {
  net = await startNetwork(testHostNames(1));
});
Deno.test.afterAll(async () => {
  await net?.stop();
  for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
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

reliabilityTest("readiness: the 503 for an app whose container never listens names the probe", {
  fault: "an app whose container runs but never listens on its port (it never becomes ready)",
  expected: "503 `no host is serving <app>: <host>: starting: GET /: <why>, N tries`, the " +
    "reason also in x-dn-reason, within seconds of the start (the host publishes it in Redis, " +
    "the gateway's copy names it; nothing is asked while the request waits)",
}, async (note) => {
  const started = performance.now();
  const hostname = await unservable("silent");
  const host = net.hostNames[0];
  const got = await reasoned(hostname, /^\S+: starting: GET \/: .+, \d+ tries?$/, started);
  assertEquals(got.body, `no host is serving ${hostname.split(".")[0]}: ${got.reason}`);
  assert(got.reason.startsWith(`${host}: starting: GET /`), got.reason);
  note(`${Math.round(got.ms / 100) / 10} s after create: "${got.body}"`);
});

reliabilityTest("readiness: the 503 for an app that exits at once says it is crash-looping", {
  fault: "an app that exits with code 3 as soon as it starts (the engine restarts it)",
  expected: "503 naming the host, `crash-looping (exit 3), N restarts` and the host's failure " +
    "to start it, in the body and x-dn-reason",
}, async (note) => {
  const started = performance.now();
  const hostname = await unservable("exit");
  const got = await reasoned(hostname, /crash-looping \(exit 3\), \d+ restarts?/, started);
  assertMatch(got.body, /^no host is serving exit-\w+: \S+: crash-looping \(exit 3\)/);
  assert(got.reason.includes("exit"), got.reason);
  note(`${Math.round(got.ms / 100) / 10} s after create: "${got.body}"`);
});
