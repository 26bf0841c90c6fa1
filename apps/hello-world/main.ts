/**
 * hello-world: the example dn app. Answers `GET /` with a greeting, plus a few
 * endpoints the tests and benchmarks use. No dependencies.
 *
 *   GET  /               Hello, world!
 *   GET  /healthz        200 ok (503 after POST /health/toggle)
 *   GET  /whoami         the dn host serving the request (env DN_HOST)
 *   GET  /version        env APP_VERSION (set by the host), else VERSION below
 *   ANY  /echo           JSON: method, path, query, headers, body length and sha256
 *   POST /echo-body      the request body back, with the request's content-type
 *   GET  /headers        x-custom: yes and two set-cookie headers
 *   GET  /status/:code   that status
 *   GET  /bytes/:n       n bytes of a-z repeated (n <= 64 MiB), for benchmarks
 *   GET  /sleep/:ms      answers after ms milliseconds
 *   GET  /env/:KEY       the value of environment variable KEY (404 when unset), for the
 *                        tests of `dn env`: do not give this example app real secrets
 *   POST /health/toggle  flips this container's /healthz between 200 and 503 (a restart
 *                        makes it healthy again); answers the host and the new state
 */

/** Version reported when the host does not set APP_VERSION. */
const VERSION = "1";
/** Largest /bytes/:n answer. */
const MAX_BYTES = 64 * 1024 * 1024;

const port = Number(Deno.env.get("PORT") ?? "8000");
const host = Deno.env.get("DN_HOST") ?? "unknown";
const blocks = new Map<number, Uint8Array>();
let healthy = true;

/** n bytes of `abc...z` repeated, deterministic; small sizes are cached. */
function bytes(n: number): Uint8Array {
  let block = blocks.get(n);
  if (!block) {
    block = new Uint8Array(n);
    for (let i = 0; i < Math.min(n, 26); i++) block[i] = 97 + i;
    for (let filled = 26; filled < n; filled *= 2) block.copyWithin(filled, 0, filled);
    if (blocks.size < 16 && n <= 1024 * 1024) blocks.set(n, block);
  }
  return block;
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function handle(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const path = url.pathname;
  if (path === "/") return new Response("Hello, world!\n");
  if (path === "/healthz" && !healthy) return new Response("unhealthy\n", { status: 503 });
  if (path === "/healthz") return new Response("ok\n");
  if (path === "/health/toggle" && req.method === "POST") {
    healthy = !healthy;
    return new Response(`${host} ${healthy ? "healthy" : "unhealthy"}\n`);
  }
  if (path === "/whoami") return new Response(host + "\n");
  if (path === "/version") return new Response((Deno.env.get("APP_VERSION") ?? VERSION) + "\n");
  if (path === "/echo") {
    const body = new Uint8Array(await req.arrayBuffer());
    return Response.json({
      method: req.method,
      path,
      query: url.search,
      headers: Object.fromEntries(req.headers),
      bodyLength: body.length,
      bodySha256: await sha256(body),
    });
  }
  if (path === "/echo-body") {
    const type = req.headers.get("content-type") ?? "application/octet-stream";
    return new Response(await req.arrayBuffer(), { headers: { "content-type": type } });
  }
  if (path === "/headers") {
    const headers = new Headers({ "x-custom": "yes", "content-type": "text/plain" });
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2; Path=/");
    return new Response("headers\n", { headers });
  }
  const status = /^\/status\/(\d{3})$/.exec(path);
  if (status) {
    const code = Number(status[1]);
    const empty = code === 204 || code === 304;
    const headers = code >= 300 && code < 400 ? { location: "/" } : undefined;
    return new Response(empty ? null : `status ${code}\n`, { status: code, headers });
  }
  const size = /^\/bytes\/(\d{1,8})$/.exec(path);
  if (size) {
    const n = Number(size[1]);
    if (n > MAX_BYTES) return new Response(`at most ${MAX_BYTES} bytes\n`, { status: 400 });
    return new Response(bytes(n) as Uint8Array<ArrayBuffer>);
  }
  const env = /^\/env\/([A-Za-z_][A-Za-z0-9_]{0,127})$/.exec(path);
  if (env) {
    const value = Deno.env.get(env[1]);
    return value === undefined
      ? new Response(`${env[1]} is not set\n`, { status: 404 })
      : new Response(value);
  }
  const sleep = /^\/sleep\/(\d{1,6})$/.exec(path);
  if (sleep) {
    await new Promise((resolve) => setTimeout(resolve, Number(sleep[1])));
    return new Response("slept\n");
  }
  return new Response("not found\n", { status: 404 });
}

const server = Deno.serve({ hostname: "0.0.0.0", port, onListen: () => {} }, handle);
Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  Deno.exit(0);
});
console.log(JSON.stringify({ msg: "hello-world listening", port, host }));
