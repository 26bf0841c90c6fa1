/**
 * Delivery on every path a request can take (straight to the container, over
 * a host's direct listener, through RabbitMQ): a request that times out is
 * answered 504 within the app's timeout and never sent again, whatever its
 * method; a malformed answer is a 502 naming the flaw, once; a POST the app
 * dropped is a 502, once; a kept-alive connection the app closed while idle
 * is replaced without the request failing or running twice.
 *
 * The app (tests/apps/raw-http) counts every request it receives, closes
 * connections idle for 1 s, and misbehaves on request.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import {
  freePort,
  ROOT,
  startNetwork,
  testHostNames,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const APP_DIR = `${ROOT}/tests/apps/raw-http`;
const ID = crypto.randomUUID().slice(0, 6);
/** The apps' APP_TIMEOUT. */
const TIMEOUT_MS = 1000;
/** How late after the timeout a 504 may come. */
const LATE_MS = 750;
/** How long the slow endpoints sleep: a resend after the timeout would arrive well before. */
const SLOW_MS = 3000;

/** One way through the network to one app's container. */
interface Path {
  name: "container" | "host" | "broker";
  hostname: string;
  /** The gateway's port. */
  port: number;
}

let net: TestNetwork;
let paths: Path[] = [];
/** Config of the broker-only gateway: where gateways may read config (scripts/permissions.sh). */
let brokerOnlyConfig = "";

/** The value of one series on the main gateway's /metrics (0 when absent). */
async function gatewayMetric(series: string): Promise<number> {
  const text = await (await fetch(`${await net.healthUrl("gateway")}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
const upstream = (path: string) => `dn_gateway_upstream_requests_total{path="${path}"}`;

/** Sends one request on `path`: status, body and how long it took. */
async function send(path: Path, method: string, target: string) {
  const started = performance.now();
  const res = await net.gateway(path.hostname, target, { method }, path.port);
  const body = (await res.text()).trim();
  return { status: res.status, body, ms: Math.round(performance.now() - started) };
}

/** How many times the app behind `path` received `METHOD target`. */
async function calls(path: Path, method: string, target: string): Promise<number> {
  const res = await send(path, "GET", "/calls");
  assertEquals(res.status, 200, res.body);
  return JSON.parse(res.body)[`${method} ${target}`] ?? 0;
}

/** Sends GETs to `hostname` until the main gateway sends them on `path` (its routes loaded). */
async function waitForPath(hostname: string, path: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const before = await gatewayMetric(upstream(path));
    await (await net.gateway(hostname, "/")).body?.cancel();
    if (await gatewayMetric(upstream(path)) > before) return;
    await sleep(200);
  }
  throw new Error(`the gateway never sent ${hostname}'s requests on the ${path} path`);
}

Deno.test.beforeAll(async () => {
  const hosts = testHostNames(2);
  // hosts[0] announces its container (the test config's requestRoute); hosts[1] itself.
  net = await startNetwork(hosts, { hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } } });
  const settings = { replicas: 1, timeoutMs: TIMEOUT_MS };
  const placed = new Map<string, string>();
  for (const name of ["a", "b"]) {
    const app = `delivery-${ID}-${name}`;
    const record = await net.deploy(APP_DIR, app, `${app}.dn.test`, 8000, settings);
    placed.set(record.placement[0], `${app}.dn.test`);
  }
  assertEquals([...placed.keys()].sort(), [...hosts].sort(), "one app on each host");
  const onContainerHost = placed.get(hosts[0])!;
  const onHostHost = placed.get(hosts[1])!;
  // A second gateway without the request token: every request goes through the broker.
  const config = JSON.parse(await Deno.readTextFile(`${net.stateDir}/config/test-gateway.json`));
  delete config.requestToken;
  brokerOnlyConfig = `${net.stateDir}/config/test-gateway-broker-only-${ID}.json`;
  await Deno.writeTextFile(brokerOnlyConfig, JSON.stringify(config), { mode: 0o600 });
  const brokerPort = freePort();
  const gateway = net.spawn("gateway", "gateway-broker-only", ["--config", brokerOnlyConfig], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${brokerPort}`,
    DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
  });
  await Promise.all([gateway.waitFor("gateway listening"), gateway.waitFor("amqp connected")]);
  await waitForPath(onContainerHost, "container");
  await waitForPath(onHostHost, "host");
  paths = [
    { name: "container", hostname: onContainerHost, port: net.gatewayPort },
    { name: "host", hostname: onHostHost, port: net.gatewayPort },
    { name: "broker", hostname: onContainerHost, port: brokerPort },
  ];
});
Deno.test.afterAll(async () => {
  await net?.stop();
  if (brokerOnlyConfig) await Deno.remove(brokerOnlyConfig).catch(() => {});
});

/**
 * On every path at once: warms up kept-alive connections, sends `method` to
 * a slow endpoint, and checks each path answered 504 in time and the app
 * received the request once.
 */
for (const method of ["POST", "GET"]) {
  reliabilityTest(`delivery: a slow ${method} on a kept-alive connection runs once, answers 504`, {
    fault: `${method} /slow/${SLOW_MS} to an app with APP_TIMEOUT ${TIMEOUT_MS / 1000}s, right ` +
      "after 3 GETs (connections kept alive), on the container route, the host route and the " +
      "broker path",
    expected: `504 within the timeout + ${LATE_MS} ms on every path; the app receives the ` +
      `${method} exactly once (no layer sends a request that timed out again)`,
  }, async (note) => {
    const brokerBefore = await gatewayMetric(upstream("broker"));
    const results = await Promise.all(paths.map(async (path) => {
      const target = `/slow/${SLOW_MS}?path=${path.name}&method=${method}`;
      for (let i = 0; i < 3; i++) assertEquals((await send(path, "GET", "/warm")).status, 200);
      const started = performance.now();
      const answer = await send(path, method, target);
      await sleep(SLOW_MS + 1000 - (performance.now() - started)); // any resend has arrived
      return { path: path.name, ...answer, calls: await calls(path, method, target) };
    }));
    note(
      results.map((r) => `${r.path}: ${r.status} after ${r.ms} ms, ran ${r.calls}×`).join("; "),
    );
    for (const r of results) {
      assertEquals([r.path, r.status, r.calls], [r.path, 504, 1], r.body);
      assert(r.ms >= TIMEOUT_MS - 50 && r.ms < TIMEOUT_MS + LATE_MS, `${r.path}: ${r.ms} ms`);
    }
    // The direct paths answered on their own, without falling back to the broker.
    assertEquals(await gatewayMetric(upstream("broker")), brokerBefore);
  });
}

reliabilityTest("delivery: a kept-alive connection the app closed while idle is replaced", {
  fault: "a GET, then 1.5 s idle (the app closes connections idle for 1 s), then a GET and a " +
    "POST, on the container route, the host route and the broker path",
  expected: "both answer 200 on every path and the app receives each exactly once",
}, async (note) => {
  const results = await Promise.all(paths.map(async (path) => {
    assertEquals((await send(path, "GET", "/warm")).status, 200);
    await sleep(1500);
    const out: string[] = [];
    for (const method of ["GET", "POST"]) {
      const target = `/after-idle?path=${path.name}`;
      const answer = await send(path, method, target);
      const count = await calls(path, method, target);
      assertEquals([path.name, method, answer.status, count], [path.name, method, 200, 1]);
      out.push(`${method} ${answer.status} ran ${count}×`);
    }
    return `${path.name}: ${out.join(", ")}`;
  }));
  note(results.join("; "));
});

reliabilityTest("delivery: a malformed or dropped answer is a 502 naming it, once", {
  fault: "GET answered with an invalid status line, GET answered with a 70 000-byte header " +
    "(limit 64 KiB), POST whose connection the app closes unanswered, on the container route, " +
    "the host route and the broker path",
  expected: "502 naming the flaw ('invalid status line', 'response head over 65536 bytes', " +
    "'failed during the request'); the app receives each request exactly once (no other host " +
    "or path is tried)",
}, async (note) => {
  const cases = [
    ["GET", "/bad-status", "sent an invalid response: invalid status line"],
    ["GET", "/big-head", "sent an invalid response: response head over 65536 bytes"],
    ["POST", "/drop", "failed during the request"],
  ];
  const brokerBefore = await gatewayMetric(upstream("broker"));
  const results = await Promise.all(paths.map(async (path) => {
    const out: string[] = [];
    for (const [method, endpoint, message] of cases) {
      const target = `${endpoint}?path=${path.name}`;
      const answer = await send(path, method, target);
      const count = await calls(path, method, target);
      assertEquals([path.name, target, answer.status, count], [path.name, target, 502, 1]);
      assert(answer.body.endsWith(message), `${path.name} ${target}: ${answer.body}`);
      out.push(`${method} ${endpoint} 502 ran ${count}×`);
    }
    return `${path.name}: ${out.join(", ")}`;
  }));
  assertEquals(await gatewayMetric(upstream("broker")), brokerBefore);
  note(results.join("; "));
});
