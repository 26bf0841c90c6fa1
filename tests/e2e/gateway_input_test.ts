/**
 * Bad input to the gateway, over raw TCP where a normal client would not send
 * it: unknown and missing Host, oversized heads and bodies, slow clients,
 * hop-by-hop headers, request smuggling, many connections at once.
 *
 * Two gateways are attacked: the real one of a test network (a separate
 * process, RabbitMQ, hosts, the hello-world app), and the same handler under
 * Deno.serve in this process with a recording RPC, which shows exactly which
 * requests would have been forwarded to an app.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import {
  closeQuietly,
  connect,
  connectMany,
  parseResponses,
  type RawResponse,
  rawSend,
  readUntilClosed,
  writeAll,
} from "../helpers/raw_http.ts";
import { createGatewayHandler } from "../../gateway/server.ts";
import { Http1Server } from "../../lib/http1/server.ts";
import type { DomainTable } from "../../gateway/domains.ts";
import type { GatewayRpc, RpcResult } from "../../gateway/rpc.ts";
import type { BodyStore } from "../../lib/bodies.ts";
import { APP_DEFAULTS, type AppRecord } from "../../lib/apps.ts";
import { decodeRequest, encodeEnvelope, type RequestHead } from "../../lib/envelope.ts";
import { Logger } from "../../lib/log.ts";

const APP = `gwin-${crypto.randomUUID().slice(0, 6)}`;
const HOST = `${APP}.dn.test`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
let net: TestNetwork;

// ---------------------------------------------------------------- in-process gateway

/** Requests the in-process gateway forwarded, in order. */
const forwarded: RequestHead[] = [];
let rpcDelayMs = 0;
const fakeApp: AppRecord = {
  name: APP,
  hostname: HOST,
  port: 8000,
  status: "running",
  version: 1,
  image: `127.0.0.1:5055/${APP}:v1`,
  digest: "",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  ...APP_DEFAULTS,
  latestVersion: 1,
};
const fakeRpc = {
  ready: true,
  async call(_app: string, envelope: Uint8Array): Promise<RpcResult> {
    forwarded.push(decodeRequest(envelope).head);
    if (rpcDelayMs > 0) await new Promise((r) => setTimeout(r, rpcDelayMs));
    const head = { status: 200, headers: [["content-type", "text/plain"]] as [string, string][] };
    return { ok: true, body: encodeEnvelope(head, encoder.encode("forwarded\n")) };
  },
};
let local: Http1Server;
let localPort = 0;
const LOCAL_BODY_TIMEOUT_MS = 1000;
const LOCAL_HEAD_TIMEOUT_MS = 1000;
const LOCAL_MAX_IN_FLIGHT = 5;

Deno.test.beforeAll(async () => {
  local = new Http1Server(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    createGatewayHandler({
      domains: {
        lookup: (h: string) => h === HOST ? fakeApp : undefined,
      } as unknown as DomainTable,
      rpc: fakeRpc as unknown as GatewayRpc,
      bodies: {} as BodyStore,
      log: new Logger("gateway-under-test", "error"),
      inlineBodyLimit: 1 << 20,
      bodyLimit: 1 << 20,
      requestTimeoutMs: 5000,
      bodyTimeoutMs: LOCAL_BODY_TIMEOUT_MS,
      maxInFlight: LOCAL_MAX_IN_FLIGHT,
    }),
    { headTimeoutMs: LOCAL_HEAD_TIMEOUT_MS },
  );
  localPort = local.addr.port;
  net = await startNetwork(testHostNames(2));
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOST);
});
Deno.test.afterAll(async () => {
  await local?.shutdown();
  await net?.stop();
});

// ---------------------------------------------------------------- raw HTTP

interface RawResult {
  responses: RawResponse[];
  /** The server closed (or reset) the connection before `waitMs`. */
  closed: boolean;
  /** Milliseconds until the first response byte, or -1. */
  firstByteMs: number;
}

/** Writes `data` on a new connection and reads until the server closes it or `waitMs` passes. */
async function raw(port: number, data: string | Uint8Array, waitMs = 2500): Promise<RawResult> {
  const { text, closed, firstByteMs } = await rawSend(port, data, waitMs);
  return { responses: parseResponses(text), closed, firstByteMs };
}

/** A normal request through the real gateway answers 200 from the app. */
async function alive(): Promise<number> {
  const started = performance.now();
  const res = await net.gateway(HOST, "/echo");
  assertEquals(res.status, 200, "a normal request still works");
  assertEquals((await res.json()).path, "/echo");
  const gateway = net.services.get("gateway")!;
  assert(!/panicked|Uncaught/.test(gateway.output), "the gateway did not crash");
  return performance.now() - started;
}

const get = (host: string | null, path = "/echo", extra = "") =>
  `GET ${path} HTTP/1.1\r\n${
    host === null ? "" : `Host: ${host}\r\n`
  }${extra}Connection: close\r\n\r\n`;

// ---------------------------------------------------------------- Host

reliabilityTest("gateway input: unknown Host gets 404, missing or malformed Host 400", {
  fault: "Host of no app; no Host (HTTP/1.0 and 1.1); empty Host; two Host headers; " +
    "Host with userinfo, path, space or comma",
  expected: "404 / 400 with a plain-text reason; an app's Host in any case, with a trailing " +
    "dot or a port, still routes; gateway keeps serving",
}, async (note) => {
  const cases: [string, number][] = [
    [get("nobody.dn.test"), 404],
    [get(`other-${HOST}`), 404],
    [get("127.0.0.1"), 404],
    ["GET /echo HTTP/1.0\r\n\r\n", 400],
    [get(null), 400],
    [get(""), 400],
    [
      `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nHost: nobody.dn.test\r\nConnection: close\r\n\r\n`,
      400,
    ],
    [get(`user@${HOST}`), 400],
    [get(`${HOST}/x`), 400],
    [get(`${HOST}, nobody.dn.test`), 400],
    [get(HOST.toUpperCase()), 200],
    [get(`${HOST}.`), 200],
    [get(`${HOST}:8080`), 200],
  ];
  for (const [request, status] of cases) {
    const result = await raw(net.gatewayPort, request);
    assertEquals(result.responses.length, 1, `${JSON.stringify(request)}: one response`);
    assertEquals(result.responses[0].status, status, JSON.stringify(request));
    if (status === 404) assertMatch(result.responses[0].body, /^no app at /);
  }
  await alive();
  note(`${cases.length} Host variants answered as expected; a normal request still answered 200`);
});

// ---------------------------------------------------------------- sizes

reliabilityTest("gateway input: oversized request lines and headers get 414 / 431", {
  fault: "40 KB header, 110 headers, 20 KB URL (gateway limits: 32 KiB / 100 / 16 KiB); " +
    "100 KB and 1 MB header, 2000 headers, 100 KB URL (over the server's 64 KiB head)",
  expected: "431 / 414 from the gateway; beyond the 64 KiB head the connection is closed " +
    "after the answer; no crash, no hang, nothing forwarded",
}, async (note) => {
  const big = (n: number) => `X-Big: ${"a".repeat(n)}\r\n`;
  const many = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join("");
  const cases: [string, number, string][] = [
    [get(HOST, "/echo", big(40_000)), 431, "40 KB header"],
    [get(HOST, "/echo", many(110)), 431, "110 headers"],
    [get(HOST, `/echo?q=${"a".repeat(20_000)}`), 414, "20 KB URL"],
    [get(HOST, "/echo", big(100_000)), 431, "100 KB header"],
    [get(HOST, "/echo", big(1_000_000)), 431, "1 MB header"],
    [get(HOST, "/echo", many(2000)), 431, "2000 headers"],
    [get(HOST, `/echo?q=${"a".repeat(100_000)}`), 414, "100 KB URL"],
  ];
  const closing = new Set(["100 KB header", "1 MB header", "2000 headers", "100 KB URL"]);
  const seen: string[] = [];
  for (const port of [net.gatewayPort, localPort]) {
    const before = forwarded.length;
    for (const [request, status, what] of cases) {
      const result = await raw(port, request);
      assertEquals(result.responses.length, 1, `${what}: one response`);
      assertEquals(result.responses[0].status, status, what);
      if (closing.has(what)) assert(result.closed, `${what}: connection closed`);
      if (port === net.gatewayPort) {
        seen.push(`${what} → ${status}${result.closed ? " (closed)" : ""}`);
      }
    }
    assertEquals(forwarded.length, before, "nothing forwarded");
  }
  // Just under the limits still passes.
  const ok = await net.gateway(HOST, "/echo", { headers: { "x-big": "a".repeat(30_000) } });
  assertEquals(ok.status, 200);
  assertEquals((await ok.json()).headers["x-big"].length, 30_000);
  await alive();
  note(seen.join("; ") + "; 30 KB header still forwarded");
});

reliabilityTest("gateway input: oversized bodies get 413, with and without Content-Length", {
  fault: "POST declaring Content-Length 17 MB and 10 GB (limit 16 MiB) without sending it; " +
    "a chunked body streamed past 16 MiB; a 17 MB body sent in full",
  expected: "413 at once for a declared length, 413 as soon as the limit is crossed when " +
    "chunked; nothing forwarded; gateway keeps serving",
}, async (note) => {
  const observed: string[] = [];
  for (const declared of [17 * 1024 * 1024, 10_000_000_000]) {
    const result = await raw(
      net.gatewayPort,
      `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${declared}\r\n\r\nabc`,
      1500,
    );
    assertEquals(result.responses[0]?.status, 413, `declared ${declared}`);
    assertMatch(result.responses[0].body, /body larger than/);
    observed.push(`declared ${declared} → 413 in ${Math.round(result.firstByteMs)} ms`);
  }
  // Chunked: stream 1 MiB chunks until the gateway answers.
  const conn = await connect(net.gatewayPort);
  await conn.write(
    encoder.encode(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`),
  );
  const answer = (async () => {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return decoder.decode(buf.subarray(0, n ?? 0));
  })();
  let answered = "";
  answer.then((text) => answered = text, () => answered = "closed");
  const chunk = encoder.encode(`100000\r\n${"x".repeat(0x100000)}\r\n`);
  let sent = 0;
  for (let i = 0; i < 40 && !answered; i++) {
    try {
      await writeAll(conn, chunk);
      sent++;
    } catch {
      break; // reset after the answer
    }
  }
  const text = await Promise.race([
    answer,
    new Promise<string>((r) => setTimeout(() => r(""), 5000)),
  ]);
  conn.close();
  assertMatch(text, /^HTTP\/1\.1 413 /, "chunked body over the limit");
  assert(sent < 40, `the gateway answered before the client sent 40 MiB (sent ${sent} MiB)`);
  observed.push(`chunked → 413 after ${sent} MiB sent`);
  const full = await net.gateway(HOST, "/echo", {
    method: "POST",
    body: new Uint8Array(17 * 1024 * 1024),
  });
  await full.body?.cancel();
  assertEquals(full.status, 413);
  await alive();
  note(observed.join("; ") + "; full 17 MB body → 413");
});

// ---------------------------------------------------------------- slow clients

reliabilityTest("gateway input: slow headers (slowloris) do not block other clients", {
  fault: "200 connections each sending a request head one byte every 500 ms for 6 s, " +
    "while normal requests run",
  expected: "every normal request answered 200 quickly meanwhile; no crash (the gateway's " +
    "header-read timeout, 10 s, is longer than the drip: the next test shows it cutting heads)",
}, async (note) => {
  const slow = await connectMany(net.gatewayPort, 200);
  const open = new Set(slow);
  const dripping = (async () => {
    for (const c of slow) {
      await c.write(encoder.encode(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `)).catch(() =>
        open.delete(c)
      );
    }
    for (let round = 0; round < 12; round++) {
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(
        [...open].map((c) => c.write(encoder.encode("a")).catch(() => open.delete(c))),
      );
    }
  })();
  let worst = 0;
  let served = 0;
  const until = performance.now() + 5500;
  while (performance.now() < until) {
    worst = Math.max(worst, await alive());
    served++;
    await new Promise((r) => setTimeout(r, 100));
  }
  await dripping;
  // Did the gateway close any of them? (Not yet: its header-read timeout is 10 s.)
  let closedByGateway = 0;
  await Promise.all(slow.map(async (c) => {
    const timer = setTimeout(() => c.close(), 300);
    try {
      if (await c.read(new Uint8Array(1024)) === null) closedByGateway++;
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionReset) closedByGateway++;
    }
    clearTimeout(timer);
    closeQuietly(c);
  }));
  assert(served >= 10, `normal requests kept flowing (${served})`);
  assert(worst < 2000, `normal requests stayed fast (worst ${Math.round(worst)} ms)`);
  await alive();
  note(
    `${served} normal requests answered meanwhile, worst ${Math.round(worst)} ms; ` +
      `after 6 s the gateway had closed ${closedByGateway} of 200 unfinished heads ` +
      `(its header-read timeout is 10 s)`,
  );
});

reliabilityTest("gateway input: a head not complete in time gets 408 and is closed", {
  fault: `50 connections each dripping a request head, one byte every 200 ms, to a gateway ` +
    `whose header-read timeout is ${LOCAL_HEAD_TIMEOUT_MS} ms; 50 that send nothing at all`,
  expected: "each dripping connection answered 408 and closed soon after the timeout; the " +
    "silent ones are left to the keep-alive idle timeout; normal requests answered meanwhile; " +
    "nothing forwarded",
}, async (note) => {
  const before = forwarded.length;
  const silent = await connectMany(localPort, 50);
  const started = performance.now();
  const dripped = await Promise.all(Array.from({ length: 50 }, async () => {
    const conn = await connect(localPort);
    const head = encoder.encode(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: aaaaaaaaaaaaaaa`);
    let at = 0;
    const drip = setInterval(() => {
      if (at < head.length) conn.write(head.subarray(at, ++at)).catch(() => {});
    }, 200);
    const { text } = await readUntilClosed(conn, 5000);
    clearInterval(drip);
    return { text, ms: performance.now() - started };
  }));
  const ok = await raw(localPort, get(HOST));
  for (const c of silent) c.close();
  const answered = dripped.filter((d) => /^HTTP\/1\.1 408 /.test(d.text)).length;
  const slowest = Math.max(...dripped.map((d) => d.ms));
  assertEquals(answered, 50, dripped.map((d) => d.text.slice(0, 20)).join(" | "));
  assert(slowest < LOCAL_HEAD_TIMEOUT_MS + 1500, `closed within ${Math.round(slowest)} ms`);
  assertEquals(ok.responses[0]?.status, 200, "a normal request still answered");
  assertEquals(forwarded.length, before + 1, "only the normal request forwarded");
  note(
    `50 dripping heads: 50 × 408 and closed, the last ${Math.round(slowest)} ms after the ` +
      `start (timeout ${LOCAL_HEAD_TIMEOUT_MS} ms); a normal request meanwhile: 200`,
  );
});

reliabilityTest("gateway input: a chunked body cut mid-chunk is never forwarded whole", {
  fault: "POST /echo with `Transfer-Encoding: chunked`: a 100-byte chunk of which 10 bytes " +
    "come before the client half-closes; a chunk size line of 20 hex digits; a chunk without " +
    "its CRLF",
  expected: "no 200: the broker path (in-process gateway) forwards nothing, the real gateway " +
    "answers 400 or cuts the connection; the gateway keeps serving",
}, async (note) => {
  const head = `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const cases: [string, string][] = [
    ["cut mid-chunk", `${head}64\r\n0123456789`],
    ["size overflow", `${head}${"f".repeat(20)}\r\nabc\r\n0\r\n\r\n`],
    ["no CRLF after a chunk", `${head}3\r\nabcXY0\r\n\r\n`],
  ];
  const seen: string[] = [];
  for (const port of [localPort, net.gatewayPort]) {
    const before = forwarded.length;
    for (const [what, request] of cases) {
      const conn = await connect(port);
      await conn.write(encoder.encode(request));
      await conn.closeWrite();
      const { text } = await readUntilClosed(conn, 3000);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "cut";
      assert(status !== "200", `${what}: ${text}`);
      if (port === net.gatewayPort) seen.push(`${what}: ${status}`);
    }
    assertEquals(forwarded.length, before, "nothing forwarded on the broker path");
  }
  await alive();
  note(seen.join("; ") + "; in-process: nothing forwarded");
});

reliabilityTest("gateway input: request lines the gateway does not speak get 400 / 505", {
  fault: "HTTP/2.0 and HTTP/3.0 request lines, the HTTP/2 preface, `FOO/1.1`, a double space, " +
    "a tab in the target, a lower-case `http/1.1`, a header with no colon, a NUL in a value, " +
    "a bare LF inside a value",
  expected: "505 for another HTTP version, else 400 naming the flaw; each connection closed; " +
    "nothing forwarded",
}, async (note) => {
  const cases: [string, string, number][] = [
    ["HTTP/2.0", `GET /echo HTTP/2.0\r\nHost: ${HOST}\r\n\r\n`, 505],
    ["HTTP/3.0", `GET /echo HTTP/3.0\r\nHost: ${HOST}\r\n\r\n`, 505],
    ["h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505],
    ["FOO/1.1", `GET /echo FOO/1.1\r\nHost: ${HOST}\r\n\r\n`, 400],
    ["double space", `GET  /echo HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 400],
    ["tab in target", `GET /ec\tho HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 400],
    ["lower-case version", `GET /echo http/1.1\r\nHost: ${HOST}\r\n\r\n`, 400],
    ["no colon", `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Broken\r\n\r\n`, 400],
    ["NUL in value", `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-A: a\x00b\r\n\r\n`, 400],
    ["bare LF", `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-A: a\nX-B: b\r\n\r\n`, 400],
  ];
  const before = forwarded.length;
  const seen: string[] = [];
  for (const port of [net.gatewayPort, localPort]) {
    for (const [what, request, status] of cases) {
      const result = await raw(port, request, 1500);
      assertEquals(result.responses[0]?.status, status, `${what}: ${JSON.stringify(result)}`);
      assert(result.closed, `${what}: connection closed`);
      if (port === localPort) seen.push(`${what} ${status}`);
    }
  }
  assertEquals(forwarded.length, before, "nothing forwarded");
  await alive();
  note(seen.join(", "));
});

/** Sends a request head, then the body one piece every `everyMs`; resolves with the answer. */
async function dripBody(
  port: number,
  head: string,
  piece: string,
  everyMs: number,
  maxMs: number,
): Promise<{ status: number; afterMs: number; pieces: number }> {
  const conn = await connect(port);
  await conn.write(encoder.encode(head));
  const started = performance.now();
  let answer = "";
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf).catch(() => null);
    answer = n === null ? "closed" : decoder.decode(buf.subarray(0, n));
  })();
  let pieces = 0;
  while (!answer && performance.now() - started < maxMs) {
    await conn.write(encoder.encode(piece)).catch(() => {});
    pieces++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const afterMs = performance.now() - started;
  closeQuietly(conn);
  await reading;
  const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
  return { status: m ? Number(m[1]) : 0, afterMs, pieces };
}

reliabilityTest("gateway input: a body sent slowly is cut off with 408", {
  fault: "POST with Content-Length 1000 sending 1 byte every 250 ms, and a chunked body " +
    "sending one 1-byte chunk every 250 ms, while normal requests run",
  expected: "408 once the body timeout (bodyTimeoutMs, 5 s in tests) passes; " +
    "nothing forwarded; others served meanwhile",
}, async (note) => {
  const observed: string[] = [];
  const heads: [string, string, string][] = [
    ["content-length", `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000\r\n\r\n`, "a"],
    [
      "chunked",
      `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      "1\r\na\r\n",
    ],
  ];
  // The in-process gateway (1 s body timeout): nothing reaches the RPC.
  for (const [what, head, piece] of heads) {
    const before = forwarded.length;
    const result = await dripBody(localPort, head, piece, 100, 5000);
    assertEquals(result.status, 408, `${what} (in-process)`);
    assert(result.afterMs >= LOCAL_BODY_TIMEOUT_MS - 50, `${what}: not before the timeout`);
    assert(result.afterMs < LOCAL_BODY_TIMEOUT_MS + 1500, `${what}: soon after the timeout`);
    assertEquals(forwarded.length, before, `${what}: nothing forwarded`);
  }
  // The real gateway (5 s body timeout), with normal requests alongside.
  for (const [what, head, piece] of heads) {
    let others = 0;
    let done = false;
    const traffic = (async () => {
      while (!done) {
        await alive();
        others++;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const result = await dripBody(net.gatewayPort, head, piece, 250, 12_000);
    done = true;
    await traffic;
    assertEquals(result.status, 408, what);
    assert(
      result.afterMs > 4500 && result.afterMs < 7500,
      `${what}: 408 after ${result.afterMs} ms`,
    );
    assert(others >= 10, `${what}: others served meanwhile (${others})`);
    observed.push(
      `${what}: 408 after ${(result.afterMs / 1000).toFixed(1)} s, ${others} others served`,
    );
  }
  await alive();
  note(observed.join("; "));
});

// ---------------------------------------------------------------- headers

reliabilityTest("gateway input: hop-by-hop and gateway-owned headers never reach the app", {
  fault: "Connection: x-foo, x-bar, close + X-Foo/X-Bar, Keep-Alive, TE, Upgrade, Trailer, " +
    "Proxy, Proxy-Authorization, Proxy-Connection, Proxy-Foo, spoofed X-Forwarded-Host/Proto, " +
    "Forwarded, X-Forwarded-For",
  expected: "the app (via /echo) sees none of them; X-Forwarded-* are the gateway's, " +
    "X-Forwarded-For is appended to; end-to-end headers pass unchanged",
}, async (note) => {
  const result = await raw(
    net.gatewayPort,
    `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\n` +
      "Connection: x-foo, X-Bar, close\r\nX-Foo: 1\r\nX-Bar: 2\r\n" +
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nTrailer: x-late\r\n" +
      "Proxy: http://evil.test:3128\r\nProxy-Authorization: Basic ZXZpbDpldmls\r\n" +
      "Proxy-Connection: keep-alive\r\nProxy-Foo: bar\r\n" +
      "X-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\n" +
      "Forwarded: for=6.6.6.6;host=evil.test;proto=https\r\nX-Forwarded-For: 1.2.3.4\r\n" +
      "X-Custom: kept\r\nAccept: text/plain\r\n\r\n",
  );
  assertEquals(result.responses.length, 1);
  assertEquals(result.responses[0].status, 200, result.responses[0].body);
  const headers = JSON.parse(result.responses[0].body).headers as Record<string, string>;
  // The host opens its own keep-alive connection to the app; the client's Connection is gone.
  assert(
    headers["connection"] === undefined || headers["connection"] === "keep-alive",
    `the client's Connection header reached the app: ${headers["connection"]}`,
  );
  const banned = [
    "x-foo",
    "x-bar",
    "keep-alive",
    "te",
    "upgrade",
    "trailer",
    "proxy",
    "proxy-authorization",
    "proxy-connection",
    "proxy-foo",
    "forwarded",
    "transfer-encoding",
  ];
  const leaked = banned.filter((name) => name in headers);
  assertEquals(leaked, [], `hop-by-hop headers reached the app: ${JSON.stringify(headers)}`);
  assertEquals(headers["x-forwarded-host"], HOST);
  assertEquals(headers["x-forwarded-proto"], "http");
  assertEquals(headers["x-forwarded-for"], "1.2.3.4, 127.0.0.1");
  assertEquals(headers["x-custom"], "kept");
  assertEquals(headers["accept"], "text/plain");
  assert(result.closed, "Connection: close was honoured");
  await alive();
  note(
    `none of ${banned.length} hop-by-hop headers reached the app; X-Forwarded-* set by the gateway`,
  );
});

// ---------------------------------------------------------------- smuggling

const SMUGGLED = `GET /echo?smuggled=1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
const SMUGGLING: [string, string][] = [
  ["CL + TE", `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ["TE + CL", `Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ["two Content-Length", `Content-Length: 0\r\nContent-Length: 60\r\n\r\n${SMUGGLED}`],
  ["Content-Length list", `Content-Length: 0, 60\r\n\r\n${SMUGGLED}`],
  ["TE: xchunked", `Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc${SMUGGLED}`],
  ["TE: chunked, identity", `Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  [
    "two TE headers",
    `Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ["space before colon", `Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc${SMUGGLED}`],
  ["TE folded", `X-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc${SMUGGLED}`],
  ["negative length", `Content-Length: -1\r\n\r\n${SMUGGLED}`],
  ["length with sign", `Content-Length: +3\r\n\r\nabc${SMUGGLED}`],
  [
    "chunk size overflow",
    `Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ["bad chunk size", `Transfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n${SMUGGLED}`],
];

reliabilityTest("gateway input: request smuggling attempts are refused, nothing smuggled through", {
  fault: "POST /echo with a second request hidden in its body, framed ambiguously: " +
    SMUGGLING.map(([what]) => what).join(", ") + "; HTTP/1.0 with Transfer-Encoding",
  expected: "400 and the connection closed, or exactly one request handled; the hidden " +
    "request is never forwarded to the app",
}, async (note) => {
  const cases = [
    ...SMUGGLING.map(([what, rest]) => [what, `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\n${rest}`]),
    [
      "TE in HTTP/1.0",
      `POST /echo HTTP/1.0\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    ],
  ];
  const outcomes = new Map<string, number>();
  for (const port of [net.gatewayPort, localPort]) {
    for (const [what, request] of cases) {
      const before = forwarded.length;
      const result = await raw(port, request, 1500);
      assert(result.responses.length <= 1, `${what}: at most one response`);
      if (result.responses.length === 0) {
        // A connection whose chunked framing breaks may be closed without an answer.
        assert(result.closed, `${what}: no answer, so the connection must be closed`);
        if (port !== localPort) outcomes.set("closed", (outcomes.get("closed") ?? 0) + 1);
        assertEquals(forwarded.length, before, `${what}: nothing forwarded`);
        continue;
      }
      const { status, body } = result.responses[0];
      assert(!body.includes("smuggled"), `${what}: the hidden request was not answered`);
      if (status === 400) assert(result.closed, `${what}: connection closed after 400`);
      if (port === localPort) {
        const sent = forwarded.slice(before);
        assert(sent.length <= 1, `${what}: at most one request forwarded`);
        assert(sent.every((h) => !h.url.includes("smuggled")), `${what}: hidden request forwarded`);
      } else {
        outcomes.set(String(status), (outcomes.get(String(status)) ?? 0) + 1);
      }
    }
  }
  await alive();
  note(
    `${cases.length} attempts: ` + [...outcomes].map(([s, n]) => `${n} × ${s}`).join(", ") +
      "; the hidden request never forwarded",
  );
});

// ---------------------------------------------------------------- many connections

reliabilityTest("gateway input: 500 connections at once are all answered or refused cleanly", {
  fault: "500 TCP connections opened at once, each sending GET /echo, plus 500 idle " +
    "connections that send nothing; in-process: 20 requests against a 5-request bound",
  expected: "every request answered (200, or 503 when over the bound) within the request " +
    "timeout; idle connections do not block; the gateway keeps serving",
}, async (note) => {
  const idle = await connectMany(net.gatewayPort, 500);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, i) => raw(net.gatewayPort, get(HOST, `/echo?n=${i}`), 20_000)),
  );
  const elapsed = performance.now() - started;
  for (const c of idle) c.close();
  const statuses = new Map<number, number>();
  for (const r of results) {
    const status = r.responses[0]?.status ?? 0;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  const summary = [...statuses].map(([s, n]) => `${n} × ${s || "no answer"}`).join(", ");
  assert([...statuses.keys()].every((s) => s === 200 || s === 503), `statuses: ${summary}`);
  assert(elapsed < 20_000, `all answered in ${elapsed} ms`);

  // The bound: 20 at once against maxInFlight 5 with a slow RPC.
  rpcDelayMs = 500;
  const bounded = await Promise.all(
    Array.from({ length: 20 }, () => raw(localPort, get(HOST, "/echo"), 5000)),
  );
  rpcDelayMs = 0;
  const codes = bounded.map((r) => r.responses[0]?.status ?? 0);
  assertEquals(codes.filter((s) => s === 200).length, LOCAL_MAX_IN_FLIGHT, `codes ${codes}`);
  assertEquals(codes.filter((s) => s === 503).length, 20 - LOCAL_MAX_IN_FLIGHT, `codes ${codes}`);
  assert(
    bounded.filter((r) => r.responses[0]?.status === 503).every((r) =>
      /retry-after: 1/i.test(r.responses[0].head)
    ),
    "503 says when to retry",
  );
  await alive();
  note(
    `500 at once (+500 idle): ${summary} in ${(elapsed / 1000).toFixed(1)} s; ` +
      `bound of 5: 5 × 200, 15 × 503 with Retry-After`,
  );
});
