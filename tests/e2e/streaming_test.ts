/**
 * Streaming on the container route and the host route: bodies flow both ways
 * as they are written, full duplex, with the gateway's memory flat; Server-
 * Sent Events arrive as the app writes them; `Expect: 100-continue` works;
 * the body limit counts streamed bytes; an app's own stream idle timeout
 * (APP_STREAM_IDLE) cuts its stalled streams and no other app's. The app is
 * tests/apps/stream.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { deployOnEachRoute, type RoutePath } from "../helpers/each_route.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { checkPattern, patternBody, patternSum, rssBytes, sampleRss } from "../helpers/streams.ts";
import { connect, rawSend, readHead, readUntilClosed, writeAll } from "../helpers/raw_http.ts";
import { Http1Pool, latin1Decode, type StreamResponse } from "../../lib/http1.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const ID = crypto.randomUUID().slice(0, 6);
const MiB = 1024 * 1024;
/** APP_STREAM_IDLE of the `idle` apps (the network's streamIdleTimeoutMs stays 60 s). */
const APP_IDLE_MS = 2000;
/** Growth of the gateway's resident memory allowed while bodies stream. */
const FLAT_BYTES = 64 * MiB;

let net: TestNetwork;
let paths: RoutePath[] = [];
/** Apps with APP_STREAM_IDLE 2s, one on each route (same order as `paths`). */
let idlePaths: RoutePath[] = [];
let gatewayPid = 0;
const client = new Http1Pool({ maxHeadBytes: 65536, maxBodyBytes: 1 << 20, maxIdle: 0 });

/** Sends a streamed request through the gateway for `hostname`. */
function send(
  hostname: string,
  method: string,
  target: string,
  body: AsyncIterable<Uint8Array> | null = null,
  length: number | null = 0,
  headers: [string, string][] = [],
): Promise<StreamResponse> {
  return client.exchange("127.0.0.1", net.gatewayPort, {
    method,
    url: target,
    headers: [["host", hostname], ...headers],
    body,
    length: body === null ? 0 : length,
  }, { connectMs: 2000, headMs: 60_000, idleMs: 30_000 });
}

async function text(res: StreamResponse): Promise<string> {
  return res.body ? await new Response(res.body).text() : "";
}

Deno.test.beforeAll(async () => {
  const hosts = testHostNames(2);
  net = await startNetwork(hosts, { hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } } });
  gatewayPid = net.services.get("gateway")!.child.pid;
  const settings = { bodyLimit: 1024 * MiB, timeoutMs: 10_000 };
  paths = await deployOnEachRoute(net, APP_DIR, `stream-${ID}`, hosts, settings);
  idlePaths = await deployOnEachRoute(net, APP_DIR, `idle-${ID}`, hosts, {
    ...settings,
    streamIdleMs: APP_IDLE_MS,
  });
  // Routes loaded: the host route answers without the broker once the gateway has read them.
  await sleep(1000);
});
Deno.test.afterAll(async () => {
  client.close();
  await net?.stop();
});

reliabilityTest("streaming: a 30 MB streaming echo comes back byte-exact (full duplex)", {
  fault: "POST 30 MB, chunked, to an app answering `new Response(req.body)` (it writes the " +
    "answer while still reading), on the container route and the host route",
  expected: "200 and the same 30 MB back, byte for byte (no deadlock: the response is read " +
    "while the request is still being sent)",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const started = performance.now();
    const res = await send(path.hostname, "POST", "/echo", patternBody(30 * MiB), null);
    assertEquals(res.status, 200, path.name);
    const got = await checkPattern(res.body!);
    assertEquals([path.name, got.bytes, got.firstWrong], [path.name, 30 * MiB, -1]);
    out.push(`${path.name}: 30 MiB echoed in ${Math.round(performance.now() - started)} ms`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: five 200 MB uploads at once keep the gateway's memory flat", {
  fault: "five POSTs of 200 MB each at once (APP_BODY_LIMIT 1g), on the container route, " +
    "then on the host route",
  expected: `every upload counted whole by the app; the gateway's RSS grows by less than ` +
    `${FLAT_BYTES / MiB} MiB`,
}, async (note) => {
  const out: string[] = [];
  const size = 200 * 1000 * 1000;
  for (const path of paths) {
    const before = await rssBytes(gatewayPid);
    const sampler = sampleRss(gatewayPid);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 5 }, async () => {
      const res = await send(path.hostname, "POST", "/count", patternBody(size), size);
      return { status: res.status, body: await text(res) };
    }));
    const seconds = (performance.now() - started) / 1000;
    const peak = await sampler.stop();
    for (const a of answers) {
      assertEquals(a.status, 200, a.body);
      assertEquals(JSON.parse(a.body), { bytes: size, sum: patternSum(size) });
    }
    const grew = peak - before;
    out.push(
      `${path.name}: 5×200 MB in ${seconds.toFixed(1)} s, gateway RSS ${
        Math.round(before / MiB)
      } → peak ${Math.round(peak / MiB)} MiB (+${Math.round(grew / MiB)})`,
    );
    assert(grew < FLAT_BYTES, `${path.name}: gateway grew ${Math.round(grew / MiB)} MiB`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: a 1 GiB download keeps the gateway's memory flat", {
  fault: "GET of a 1 GiB chunked body the app makes as it is read, on the container route " +
    "and the host route",
  expected: `every byte arrives in order; the gateway's RSS grows by less than ` +
    `${FLAT_BYTES / MiB} MiB`,
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const before = await rssBytes(gatewayPid);
    const sampler = sampleRss(gatewayPid);
    const started = performance.now();
    const res = await send(path.hostname, "GET", `/download/${1024 * MiB}`);
    assertEquals(res.status, 200);
    const got = await checkPattern(res.body!);
    const seconds = (performance.now() - started) / 1000;
    const peak = await sampler.stop();
    assertEquals([path.name, got.bytes, got.firstWrong], [path.name, 1024 * MiB, -1]);
    const grew = peak - before;
    out.push(
      `${path.name}: 1 GiB in ${seconds.toFixed(1)} s (${Math.round(1024 / seconds)} MiB/s), ` +
        `gateway RSS +${Math.round(grew / MiB)} MiB`,
    );
    assert(grew < FLAT_BYTES, `${path.name}: gateway grew ${Math.round(grew / MiB)} MiB`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: Server-Sent Events reach the client as the app writes them", {
  fault: "GET text/event-stream of 6 events 300 ms apart, each stamped with the time the app " +
    "wrote it, on the container route and the host route",
  expected: "events arrive within 50 ms of the app's write (median), each before the next " +
    "is written (not all at the end)",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const res = await send(path.hostname, "GET", "/sse?n=6&ms=300");
    assertEquals(res.status, 200);
    const lags: number[] = [];
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const piece of res.body!) {
      const now = Date.now();
      buffered += decoder.decode(piece, { stream: true });
      for (const m of buffered.matchAll(/data: (\d+)\n\n/g)) lags.push(now - Number(m[1]));
      buffered = buffered.slice(buffered.lastIndexOf("\n\n") + 2);
    }
    assertEquals(lags.length, 6, path.name);
    const median = [...lags].sort((a, b) => a - b)[3];
    const worst = Math.max(...lags);
    out.push(`${path.name}: median lag ${median} ms, worst ${worst} ms (${lags.join(", ")})`);
    // On a loaded machine one event may wait for a CPU; none waits for the next write.
    assert(median < 50, `${path.name}: events arrived ${lags.join(", ")} ms after written`);
    assert(worst < 300, `${path.name}: an event waited ${worst} ms, past the next write`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: Expect: 100-continue works end to end", {
  fault: "POST with `Expect: 100-continue` on a raw socket; the body is sent only after the " +
    "100 Continue, on the container route and the host route",
  expected: "100 Continue, then 200 with the body counted whole",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const conn = await connect(net.gatewayPort);
    await writeAll(
      conn,
      `POST /count HTTP/1.1\r\nhost: ${path.hostname}\r\ncontent-length: 5\r\n` +
        "expect: 100-continue\r\nconnection: close\r\n\r\n",
    );
    const first = await readHead(conn);
    assert(first.head.startsWith("HTTP/1.1 100"), `${path.name}: ${first.head}`);
    await writeAll(conn, "hello");
    const answer = await readUntilClosed(conn, 30_000);
    const rest = latin1Decode(first.rest) + answer.text;
    assert(answer.closed, `${path.name}: the connection was not closed: ${rest}`);
    assert(rest.startsWith("HTTP/1.1 200"), `${path.name}: ${rest}`);
    assert(rest.includes('{"bytes":5,'), `${path.name}: ${rest}`);
    out.push(`${path.name}: 100 then 200`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: the body limit counts streamed bytes", {
  fault: "a 10 GB declared Content-Length; a chunked body that passes APP_BODY_LIMIT (1 GiB) " +
    "with no length declared is not sent (too long for a test): a 10 GB declared length on " +
    "a raw socket, on the container route and the host route",
  expected: "413 at once, before any byte of the body is read",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const started = performance.now();
    const answer = await rawSend(
      net.gatewayPort,
      `PUT /count HTTP/1.1\r\nhost: ${path.hostname}\r\ncontent-length: 10000000000\r\n\r\n`,
      1500,
    );
    assertEquals(answer.status, 413, answer.text);
    out.push(`${path.name}: 413 in ${Math.round(performance.now() - started)} ms`);
  }
  note(out.join("; "));
});

reliabilityTest("streaming: an app's APP_STREAM_IDLE cuts its stalled stream, not others'", {
  fault: "Server-Sent Events 4 s apart from an app with APP_STREAM_IDLE 2s and, at the same " +
    "time, from an app without it (the network's streamIdleTimeoutMs, 60 s), on the container " +
    "route and the host route",
  expected: `the APP_STREAM_IDLE app's stream is cut about ${APP_IDLE_MS} ms after its first ` +
    "event (no second event); the other app's stream lives on and brings its second event",
}, async (note) => {
  const out: string[] = [];
  for (const [i, path] of paths.entries()) {
    const request = (hostname: string) =>
      `GET /sse?n=3&ms=4000 HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`;
    /** The stream's text until the gateway cuts it or `waitMs` passes, and how long it lasted. */
    const watch = async (hostname: string, waitMs: number) => {
      const started = performance.now();
      const answer = await rawSend(net.gatewayPort, request(hostname), waitMs);
      return { ...answer, ms: Math.round(performance.now() - started) };
    };
    const [cut, kept] = await Promise.all([
      watch(idlePaths[i].hostname, 8000),
      watch(path.hostname, 5000),
    ]);
    assertEquals([path.name, cut.status, kept.status], [path.name, 200, 200]);
    assert(cut.text.includes("id: 0") && !cut.text.includes("id: 1"), `${path.name}: ${cut.text}`);
    assert(
      cut.ms >= APP_IDLE_MS - 100 && cut.ms < APP_IDLE_MS + 2000,
      `${path.name}: the APP_STREAM_IDLE app's stream was cut after ${cut.ms} ms`,
    );
    assert(!/\r\n0\r\n\r\n$/.test(cut.text), `${path.name}: the cut stream ended as if whole`);
    assert(kept.text.includes("id: 1"), `${path.name}: the default app's stream: ${kept.text}`);
    assert(kept.ms >= 4900, `${path.name}: the default app's stream ended after ${kept.ms} ms`);
    out.push(
      `${path.name}: APP_STREAM_IDLE 2s cut after ${cut.ms} ms; the other app's stream ` +
        `still open after ${kept.ms} ms with its second event`,
    );
  }
  note(out.join("; "));
});
