/**
 * The direct path: hosts announce routes in Redis and take requests from the
 * gateway over HTTP with the request token; anything else is refused, and
 * stopping an app withdraws its routes. Two hosts keep themselves in the path
 * (requestRoute "host"); the third announces its container, which the
 * gateway then reaches straight.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { makeImpostorCa } from "../helpers/tls.ts";
import {
  freePort,
  infraConfig,
  ROOT,
  startNetwork,
  STATE_DIR,
  testHostNames,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { connectTestRedis, type TestRedis } from "../helpers/redis.ts";
import { decodeResponse, encodeEnvelope, type RequestHead } from "../../lib/envelope.ts";
import { Http1Pool } from "../../lib/http1.ts";
import { type Route, RouteStore } from "../../lib/routes.ts";

const APP = `direct-${crypto.randomUUID().slice(0, 6)}`;
const HOSTNAME = `${APP}.dn.test`;
const hostConfig = infraConfig("test-host");
const TOKEN = hostConfig.requestToken;
const LIMITS = { maxHeadBytes: 65536, maxBodyBytes: 1 << 20, maxIdle: 4 };
const pool = new Http1Pool(LIMITS);
/** Hosts' request listeners serve HTTPS with scripts/infra's certificate: verified against its CA. */
const hostPool = new Http1Pool({
  ...LIMITS,
  caCerts: [Deno.readTextFileSync(`${STATE_DIR}/tls/ca.pem`)],
});
let net: TestNetwork;
let redis: TestRedis;
let routes: RouteStore;

Deno.test.beforeAll(async () => {
  const hosts = testHostNames();
  const viaHost = { DN_REQUEST_ROUTE: "host" };
  net = await startNetwork(hosts, { hostEnv: { [hosts[0]]: viaHost, [hosts[1]]: viaHost } });
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
  redis = await connectTestRedis();
  routes = new RouteStore(redis, net.prefix);
});
Deno.test.afterAll(async () => {
  pool.close();
  hostPool.close();
  redis?.disconnect();
  await net?.stop();
});

/** Polls the route table until `check` holds for the app's routes. */
async function routesOf(check: (list: Route[]) => boolean, what: string): Promise<Route[]> {
  const deadline = Date.now() + 15_000;
  let list: Route[] = [];
  while (Date.now() < deadline) {
    list = (await routes.load()).get(APP) ?? [];
    if (check(list)) return list;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: routes ${JSON.stringify(list)}`);
}

function envelope(patch: Partial<RequestHead> = {}): Uint8Array {
  const head: RequestHead = {
    method: "GET",
    url: "/whoami",
    headers: [["host", HOSTNAME]],
    id: "direct-test",
    deadline: Date.now() + 10_000,
    ...patch,
  };
  return encodeEnvelope(head, new Uint8Array());
}

/** A request envelope whose head is written by hand: `patch` on the wire fields. */
function wireEnvelope(patch: Record<string, unknown>): Uint8Array {
  const head = { method: "GET", url: "/whoami", headers: [["host", HOSTNAME]], id: "direct-test" };
  const json = new TextEncoder().encode(JSON.stringify({ ...head, timeoutMs: 10_000, ...patch }));
  const bytes = new Uint8Array(4 + json.length);
  new DataView(bytes.buffer).setUint32(0, json.length);
  bytes.set(json, 4);
  return bytes;
}

/** Sends `body` to a host's direct listener. */
async function send(
  route: Route,
  options: { method?: string; path?: string; token?: string | null; body?: Uint8Array },
  through = hostPool,
) {
  const headers: [string, string][] = [["host", route.endpoint]];
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.push(["authorization", `Bearer ${token}`]);
  return await through.request(route.address, route.port, {
    method: options.method ?? "POST",
    url: options.path ?? `/v1/requests/${APP}`,
    headers,
    body: options.body ?? envelope(),
  }, 10_000);
}

reliabilityTest("direct path: every host serving an app announces a route that answers", {
  fault: "a valid request envelope with the request token, sent to each announced route",
  expected: "three routes (one per host); each answers 200 from its own host's container",
}, async (note) => {
  const list = await routesOf((l) => l.length === 3, "three routes");
  assertEquals(list.map((r) => r.host), [...net.hostNames].sort());
  for (const route of list) {
    const res = await send(route, {});
    assertEquals(res.status, 200);
    const reply = decodeResponse(res.body);
    assertEquals(reply.head.status, 200);
    assertEquals(new TextDecoder().decode(reply.body).trim(), route.host);
  }
  note(`routes: ${list.map((r) => `${r.host}@${r.endpoint}`).join(", ")}`);
});

/** The value of one series on the gateway's /metrics (0 when absent). */
async function gatewayMetric(series: string): Promise<number> {
  const text = await (await fetch(`${await net.healthUrl("gateway")}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

reliabilityTest("direct path: the gateway goes straight to a container its host announces", {
  fault: "30 GETs through the gateway; one host announces its container (requestRoute " +
    '"container"), two announce themselves ("host")',
  expected: "only the third host's route names a container, which answers on its own; all 30 " +
    "GETs answer 200 from all three hosts, some straight to the container, the rest through hosts",
}, async (note) => {
  const list = await routesOf((l) => l.length === 3, "three routes");
  const straight = list.filter((r) => r.container !== undefined);
  assertEquals(straight.map((r) => r.host), [net.hostNames[2]]);
  const container = straight[0].container!;
  const own = await pool.request(container.address, container.port, {
    method: "GET",
    url: "/whoami",
    headers: [["host", HOSTNAME]],
    body: new Uint8Array(),
  }, 10_000);
  assertEquals(new TextDecoder().decode(own.body).trim(), net.hostNames[2]);
  const path = (p: string) => `dn_gateway_upstream_requests_total{path="${p}"}`;
  const before = {
    container: await gatewayMetric(path("container")),
    host: await gatewayMetric(path("host")),
  };
  const answeredBy = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const res = await net.gateway(HOSTNAME, "/whoami");
    assertEquals(res.status, 200);
    answeredBy.add((await res.text()).trim());
  }
  assertEquals([...answeredBy].sort(), [...net.hostNames].sort());
  const viaContainer = await gatewayMetric(path("container")) - before.container;
  const viaHost = await gatewayMetric(path("host")) - before.host;
  assertEquals(viaContainer + viaHost, 30);
  assert(viaContainer > 0 && viaHost > 0, `container ${viaContainer}, host ${viaHost}`);
  note(
    `container route ${container.endpoint}; ${viaContainer} GETs straight, ${viaHost} via hosts`,
  );
});

reliabilityTest("direct path: bad requests to a host's listener are refused", {
  fault: "no token, a wrong token, GET, another path, an invalid app name, an app not served " +
    "there, a malformed envelope, an envelope with no time left",
  expected: "401, 401, 405, 404, 404, 421, 400, 400; the host keeps serving",
}, async (note) => {
  const [route] = await routesOf((l) => l.length === 3, "three routes");
  const cases: [string, Parameters<typeof send>[1], number][] = [
    ["no token", { token: null }, 401],
    ["wrong token", { token: "x".repeat(48) }, 401],
    ["GET", { method: "GET" }, 405],
    ["other path", { path: "/v1/apps" }, 404],
    ["invalid app name", { path: "/v1/requests/Bad_Name" }, 404],
    ["app not served", { path: "/v1/requests/not-here" }, 421],
    ["malformed envelope", { body: new Uint8Array([0, 0, 0, 9, 1]) }, 400],
    ["no time left", { body: wireEnvelope({ timeoutMs: 0 }) }, 400],
  ];
  const got: string[] = [];
  for (const [what, options, status] of cases) {
    const res = await send(route, options);
    got.push(`${what} ${res.status}`);
    assertEquals(res.status, status, what);
  }
  assertEquals((await send(route, {})).status, 200, "still serving");
  note(got.join(", "));
});

reliabilityTest("direct path: a host's listener refuses plain HTTP and impostor certificates", {
  fault: "a valid envelope with the token sent to a host's listener over plain HTTP, and over " +
    "TLS trusting only an impostor CA (the local CA's subject, another key); 20 GETs through a " +
    "second gateway whose hostCaFile is that impostor CA",
  expected: "plain: no HTTP answer; impostor: the handshake fails, so the token is never sent; " +
    "that gateway sends no request to a host it cannot verify, and its GETs still answer 200",
}, async (note) => {
  const list = await routesOf((l) => l.length === 3, "three routes");
  const route = list.find((r) => r.container === undefined)!;
  const failure = async (through: Http1Pool) => {
    try {
      await send(route, {}, through);
    } catch (e) {
      return (e as Error).message;
    }
    return "answered";
  };
  const plain = await failure(pool);
  assert(plain !== "answered", "the listener answered plain HTTP");
  const dir = `${net.stateDir}/config/test-direct-${APP}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  const gatewayPort = freePort();
  const metricsPort = freePort();
  try {
    const impostorCa = await makeImpostorCa(dir, net.caFile);
    const impostorPool = new Http1Pool({
      ...LIMITS,
      caCerts: [await Deno.readTextFile(impostorCa.cert)],
    });
    const impostor = await failure(impostorPool);
    impostorPool.close();
    assertMatch(impostor, /certificate/i);
    const gateway = net.spawn("gateway", "gateway-impostor-ca", [], {
      DN_GATEWAY_LISTEN: `127.0.0.1:${gatewayPort}`,
      DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
      DN_HOST_CA_FILE: impostorCa.cert,
    });
    try {
      await gateway.waitFor("gateway listening");
      for (let i = 0; i < 20; i++) {
        const res = await net.gateway(HOSTNAME, "/whoami", {}, gatewayPort);
        assertEquals(res.status, 200, await res.text());
      }
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const toHosts = metrics.split("\n").find((l) =>
        l.startsWith('dn_gateway_upstream_requests_total{path="host"}')
      );
      assertEquals(toHosts?.split(" ")[1] ?? "0", "0", "requests went to an unverified host");
    } finally {
      await gateway.stop();
    }
    note(`plain: ${plain.slice(0, 90)}; impostor CA: ${impostor.slice(0, 120)}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

reliabilityTest("direct path: stopping an app withdraws its routes, starting brings them back", {
  fault: "dn stop, then dn start, while reading the route table",
  expected: "no route left after the stop (the gateway answers 503); three routes after the " +
    "start and the app answers again",
}, async (note) => {
  await routesOf((l) => l.length === 3, "three routes");
  assertEquals((await net.api("POST", `/v1/apps/${APP}/stop`)).status, 200);
  await routesOf((l) => l.length === 0, "no route after stop");
  const stopped = await net.gateway(HOSTNAME, "/");
  await stopped.body?.cancel();
  assertEquals(stopped.status, 503);
  assertEquals((await net.api("POST", `/v1/apps/${APP}/start`)).status, 200);
  await routesOf((l) => l.length === 3, "three routes after start");
  let answered = 0;
  const deadline = Date.now() + 15_000;
  while (answered === 0 && Date.now() < deadline) {
    const res = await net.gateway(HOSTNAME, "/");
    await res.body?.cancel();
    if (res.status === 200) answered++;
    else await new Promise((r) => setTimeout(r, 200));
  }
  assert(answered > 0, "the app answers after start");
  note("routes withdrawn on stop and announced again on start");
});

reliabilityTest("direct path: malformed, stale and dead routes in Redis are skipped", {
  fault: "route entries written straight into Redis: a bad app name, a bad host name, an " +
    "endpoint that is not address:port, a stale time, a bad container endpoint, and fresh " +
    "routes to a closed port (host and container)",
  expected: "the route table drops all but the two closed-port ones; 30 GETs through the " +
    "gateway all answer 200 (the dead endpoints are skipped)",
}, async (note) => {
  await routesOf((l) => l.length === 3, "three routes");
  const key = `${net.prefix}routes`;
  const now = Date.now();
  const closed = freePort();
  const bad: Record<string, string> = {
    [`Bad_App ghost-a`]: `127.0.0.1:1 ${now}`,
    [`${APP} Bad_Host`]: `127.0.0.1:1 ${now}`,
    [`${APP} ghost-b`]: `not-an-endpoint ${now}`,
    [`${APP} ghost-c`]: `127.0.0.1:1 ${now - 60_000}`,
    [`${APP} ghost-d`]: `127.0.0.1:${closed} ${now}`,
    [`${APP} ghost-e`]: `127.0.0.1:${closed} ${now} 127.0.0.1:${closed}`,
    [`${APP} ghost-f`]: `127.0.0.1:${closed} ${now} no-container`,
  };
  await redis.hset(key, bad);
  try {
    await redis.publish(routes.channel, "test");
    const list = await routesOf((l) => l.length === 5, "three routes and the dead ones");
    const ghosts = list.filter((r) => r.host.startsWith("ghost")).map((r) => r.host);
    assertEquals(ghosts, ["ghost-d", "ghost-e"]);
    await new Promise((r) => setTimeout(r, 300)); // the gateway reloads on the message
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await net.gateway(HOSTNAME, "/");
      await res.body?.cancel();
      statuses.push(res.status);
    }
    assertEquals(statuses.filter((s) => s !== 200), []);
    note(`5 of 7 bad entries ignored on load; 30 GETs all 200 with dead routes to :${closed}`);
  } finally {
    await redis.hdel(key, ...Object.keys(bad));
  }
});
