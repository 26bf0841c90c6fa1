/**
 * End to end through the real path: control → RabbitMQ → hosts → Docker →
 * container, and HTTP clients → gateway → RabbitMQ → host → container.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";

const HELLO = "hello-e2e.dn.test";
const ECHO = "echo-e2e.dn.test";
const opts = { sanitizeOps: false, sanitizeResources: false };
let net: TestNetwork;

Deno.test.beforeAll(async () => {
  net = await startNetwork();
  await net.deploy(`${ROOT}/apps/hello-world`, "hello-e2e", HELLO);
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("GET through the gateway answers from the app", opts, async () => {
  const res = await net.gateway(HELLO, "/");
  assertEquals(res.status, 200);
  assert((await res.text()).includes("Hello"), "hello-world greets");
});

Deno.test("query strings and custom request headers reach the app unchanged", opts, async () => {
  const res = await net.gateway(HELLO, "/echo?a=1&b=two%20words&a=3", {
    headers: { "x-custom-thing": "Value With  Spaces", "accept-encoding": "identity" },
  });
  assertEquals(res.status, 200);
  const echo = await res.json();
  assertEquals(echo.method, "GET");
  assertEquals(echo.path, "/echo");
  assertEquals(echo.query, "?a=1&b=two%20words&a=3");
  assertEquals(echo.headers["x-custom-thing"], "Value With  Spaces");
  assert(echo.headers["x-request-id"], "a request id is passed to the app");
});

Deno.test("POST with a body arrives intact", opts, async () => {
  const body = new TextEncoder().encode("name=dn&kind=serverless");
  const res = await net.gateway(HELLO, "/echo", { method: "POST", body });
  const echo = await res.json();
  assertEquals(echo.method, "POST");
  assertEquals(echo.bodyLength, body.length);
  assertEquals(echo.bodySha256, await sha256(body));
});

Deno.test("a binary body of several MB travels both ways byte for byte", opts, async () => {
  const body = new Uint8Array(5 * 1024 * 1024 + 17);
  for (let i = 0; i < body.length; i += 65536) crypto.getRandomValues(body.subarray(i, i + 65536));
  const res = await net.gateway(HELLO, "/echo-body", {
    method: "POST",
    body,
    headers: { "content-type": "application/octet-stream" },
  });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/octet-stream");
  const back = new Uint8Array(await res.arrayBuffer());
  assertEquals(back.length, body.length);
  assertEquals(await sha256(back), await sha256(body));
});

Deno.test(
  "custom response headers, repeated set-cookie and non-200 statuses pass through",
  opts,
  async () => {
    const res = await net.gateway(HELLO, "/headers");
    await res.body?.cancel();
    assertEquals(res.headers.get("x-custom"), "yes");
    assertEquals(res.headers.getSetCookie().length, 2);
    for (const code of [201, 204, 302, 404, 418, 500, 503]) {
      const r = await net.gateway(HELLO, `/status/${code}`, { redirect: "manual" });
      await r.body?.cancel();
      assertEquals(r.status, code);
    }
  },
);

Deno.test("requests are spread over all three hosts", opts, async () => {
  // Each host logs the requests it serves at debug level? Use the app: it reports its hostname.
  const seen = new Set<string>();
  await Promise.all(Array.from({ length: 60 }, async () => {
    const res = await net.gateway(HELLO, "/whoami");
    seen.add((await res.text()).trim());
  }));
  assertEquals(seen.size, 3, `served by ${[...seen].join(", ")}`);
});

Deno.test("two apps on different hostnames answer independently", opts, async () => {
  await net.deploy(`${ROOT}/apps/echo`, "echo-e2e", ECHO);
  const [a, b] = await Promise.all([net.gateway(HELLO, "/"), net.gateway(ECHO, "/")]);
  const [ta, tb] = [await a.text(), await b.text()];
  assert(ta !== tb, "different apps answer differently");
  assertEquals(a.status, 200);
  assertEquals(b.status, 200);
});

Deno.test("unknown Host gets 404, missing Host gets 400", opts, async () => {
  const res = await net.gateway("nobody.dn.test", "/");
  await res.body?.cancel();
  assertEquals(res.status, 404);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: net.gatewayPort });
  await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  conn.close();
  assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.[01] 400 /);
});

Deno.test("body over the limit gets 413", opts, async () => {
  const res = await net.gateway(HELLO, "/echo", {
    method: "POST",
    body: new Uint8Array(17 * 1024 * 1024),
  });
  await res.body?.cancel();
  assertEquals(res.status, 413);
});

Deno.test("a stopped app gets 503, and answers again once started", opts, async () => {
  assertEquals((await net.api("POST", "/v1/apps/echo-e2e/stop")).status, 200);
  await net.waitForApp(ECHO, (res) => res.status === 503, 20_000);
  // Let the hosts finish stopping: a request published while the last host
  // cancels its consumer can be lost with the auto-deleted queue (see README).
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { body } = await net.api("GET", "/v1/apps/echo-e2e/status");
    const states = body.hosts.flatMap((h: { containers: { state: string }[] }) =>
      h.containers.map((c) => c.state)
    );
    if (states.length === 3 && states.every((s: string) => s === "exited")) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assertEquals((await net.api("POST", "/v1/apps/echo-e2e/start")).status, 200);
  await net.waitForApp(ECHO, (res) => res.status === 200, 30_000);
});

Deno.test("an app whose request outlives its timeout (APP_TIMEOUT) gets 504", opts, async () => {
  await net.deploy(`${ROOT}/apps/hello-world`, "hello-slow", "slow-e2e.dn.test", 8000, {
    timeoutMs: 1500,
  });
  const started = performance.now();
  const res = await net.gateway("slow-e2e.dn.test", "/sleep/5000");
  await res.body?.cancel();
  assertEquals(res.status, 504);
  const ms = performance.now() - started;
  assert(ms >= 1400 && ms < 4000, `answered after ${Math.round(ms)} ms`);
  const fast = await net.gateway("slow-e2e.dn.test", "/sleep/100");
  assertEquals(await fast.text(), "slept\n");
});
