/**
 * Bad streaming input on the container route and the host route: truncated
 * chunked bodies, and clients that go away mid-upload and mid-download (the
 * app sees each cut, and nothing leaks in the gateway: open descriptors and
 * memory back where they were); a chunked body over APP_BODY_LIMIT; a stream
 * that goes quiet (streamIdleTimeoutMs, 2 s here). The app is
 * tests/apps/stream.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { deployOnEachRoute, type RoutePath } from "../helpers/each_route.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { openFds, rssBytes } from "../helpers/streams.ts";
import {
  closeQuietly,
  connect,
  readBytes,
  readHead,
  readUntilClosed,
  writeAll,
} from "../helpers/raw_http.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const ID = crypto.randomUUID().slice(0, 6);
const MiB = 1024 * 1024;
const encoder = new TextEncoder();
/** The network's streamIdleTimeoutMs in this file. */
const IDLE_MS = 2000;

let net: TestNetwork;
let paths: RoutePath[] = [];
/** An app with APP_BODY_LIMIT 1m (on either route). */
let small: RoutePath;
let gatewayPid = 0;

/** The app's upload counts behind `path`. */
async function stats(path: RoutePath): Promise<{ completed: number; cut: number }> {
  const res = await net.gateway(path.hostname, "/stats");
  return await res.json();
}

/** Writes `head` and `bytes` of body on a new connection, then closes it without reading. */
async function cutUpload(path: RoutePath, head: string, bytes: number): Promise<void> {
  const conn = await connect(net.gatewayPort);
  try {
    await conn.write(encoder.encode(head.replace("HOST", path.hostname)));
    const piece = new Uint8Array(64 * 1024);
    for (let sent = 0; sent < bytes; sent += piece.length) await conn.write(piece);
    await sleep(50); // the gateway has passed it on
  } finally {
    conn.close();
  }
}

/** Starts a download of 100 MiB, reads about 1 MiB of it, then closes the connection. */
async function cutDownload(path: RoutePath): Promise<void> {
  const conn = await connect(net.gatewayPort);
  try {
    await conn.write(encoder.encode(
      `GET /download/${100 * MiB} HTTP/1.1\r\nhost: ${path.hostname}\r\n\r\n`,
    ));
    await readBytes(conn, MiB);
  } finally {
    conn.close();
  }
}

/** Waits until the gateway holds at most `fds` descriptors (up to 10 s); how many it holds. */
async function settledFds(fds: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let now = await openFds(gatewayPid);
  while (now > fds && Date.now() < deadline) {
    await sleep(200);
    now = await openFds(gatewayPid);
  }
  return now;
}

Deno.test.beforeAll(async () => {
  const hosts = testHostNames(2);
  net = await startNetwork(hosts, {
    hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } },
    env: { DN_STREAM_IDLE_TIMEOUT_MS: String(IDLE_MS) },
  });
  gatewayPid = net.services.get("gateway")!.child.pid;
  paths = await deployOnEachRoute(net, APP_DIR, `cut-${ID}`, hosts, { bodyLimit: 1024 * MiB });
  const smallApp = `cut-${ID}-small`;
  const record = await net.deploy(APP_DIR, smallApp, `${smallApp}.dn.test`, 8000, {
    replicas: 1,
    bodyLimit: MiB,
  });
  const route = record.placement[0] === hosts[0] ? "container" : "host";
  small = { name: route, app: smallApp, hostname: `${smallApp}.dn.test` };
  await sleep(1000); // the gateway has read the routes
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

reliabilityTest("stream input: a truncated chunked body is cut at the app too", {
  fault: "10 POSTs with a chunked body whose connection closes inside a chunk (after 1 MiB of " +
    "a 16 MiB chunk), and 10 whose chunk size line is garbage, on the container route and the " +
    "host route",
  expected: "the app sees every truncated upload cut (its body read fails), none completed; " +
    "the garbage ones are refused before or at the app; the gateway answers other requests",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const before = await stats(path);
    const head = "POST /count HTTP/1.1\r\nhost: HOST\r\ntransfer-encoding: chunked\r\n\r\n";
    await Promise.all(
      Array.from({ length: 10 }, () => cutUpload(path, head + "1000000\r\n", MiB)),
    );
    await Promise.all(
      Array.from({ length: 10 }, () => cutUpload(path, head + "zz\r\nhello\r\n", 0)),
    );
    let after = await stats(path);
    for (let i = 0; i < 50 && after.cut - before.cut < 10; i++) {
      await sleep(100);
      after = await stats(path);
    }
    assert(
      after.cut - before.cut >= 10,
      `${path.name}: the app saw ${after.cut - before.cut} cuts`,
    );
    assertEquals(after.completed, before.completed, `${path.name}: none completed`);
    out.push(`${path.name}: the app saw ${after.cut - before.cut} cut uploads, 0 completed`);
  }
  note(out.join("; "));
});

reliabilityTest("stream input: 100 clients gone mid-upload and mid-download leak nothing", {
  fault: "50 uploads that close after 1 MiB of a declared 10 MiB, and 50 downloads of 100 MiB " +
    "closed after about 1 MiB, 10 at a time, on the container route and the host route",
  expected: "the app sees each upload cut; within 10 s the gateway's open descriptors are back " +
    "to within 5 of before, and its RSS grew by less than 64 MiB",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const before = await stats(path);
    const fdsBefore = await openFds(gatewayPid);
    const rssBefore = await rssBytes(gatewayPid);
    const head = `PUT /count HTTP/1.1\r\nhost: HOST\r\ncontent-length: ${10 * MiB}\r\n\r\n`;
    const started = performance.now();
    for (let round = 0; round < 5; round++) {
      await Promise.all([
        ...Array.from({ length: 10 }, () => cutUpload(path, head, MiB)),
        ...Array.from({ length: 10 }, () => cutDownload(path)),
      ]);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const fdsAfter = await settledFds(fdsBefore + 5);
    const rssAfter = await rssBytes(gatewayPid);
    let after = await stats(path);
    for (let i = 0; i < 50 && after.cut - before.cut < 50; i++) {
      await sleep(100);
      after = await stats(path);
    }
    const grew = Math.round((rssAfter - rssBefore) / MiB);
    out.push(
      `${path.name}: 100 clients in ${seconds} s; the app saw ${after.cut - before.cut} cuts; ` +
        `gateway fds ${fdsBefore} → ${fdsAfter}, RSS +${grew} MiB`,
    );
    assertEquals(after.cut - before.cut, 50, `${path.name}: cuts the app saw`);
    assert(fdsAfter <= fdsBefore + 5, `${path.name}: fds ${fdsBefore} → ${fdsAfter}`);
    assert(grew < 64, `${path.name}: RSS grew ${grew} MiB`);
  }
  note(out.join("; "));
});

/**
 * Sends a chunked body of `total` bytes on a raw socket while reading the
 * answer: its first 64 KiB piece, then (after `pauseMs`) the rest. Stops
 * reading at the end of the head when `headOnly`, else when the gateway
 * closes the connection.
 */
async function chunkedUpload(
  path: RoutePath,
  target: string,
  total: number,
  pauseMs: number,
  headOnly: boolean,
) {
  const conn = await connect(net.gatewayPort);
  const piece = new Uint8Array(64 * 1024);
  const chunk = new Uint8Array([...encoder.encode("10000\r\n"), ...piece, 13, 10]);
  const writing = (async () => {
    await conn.write(encoder.encode(
      `POST ${target} HTTP/1.1\r\nhost: ${path.hostname}\r\ntransfer-encoding: chunked\r\n\r\n`,
    ));
    for (let sent = 0; sent < total; sent += piece.length) {
      if (sent === piece.length) await sleep(pauseMs);
      await writeAll(conn, chunk);
    }
    await conn.write(encoder.encode("0\r\n\r\n"));
  })().catch(() => "write failed");
  const text = headOnly
    ? (await readHead(conn, 10_000)).head
    : (await readUntilClosed(conn, 10_000)).text;
  closeQuietly(conn);
  await writing;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

reliabilityTest("stream input: a chunked body over APP_BODY_LIMIT is refused or cut", {
  fault: "a 4 MiB chunked POST (no length declared) to an app with APP_BODY_LIMIT 1m: to " +
    "/count, which answers after the whole body, and to /echo, which answers at once (the " +
    "client pauses 500 ms after its first 64 KiB, so the echo's head comes first)",
  expected: "/count: 413 (the limit crossed before the response began), the app sees its " +
    "upload cut; /echo: the response began, so the connection is cut (no second status)",
}, async (note) => {
  const before = await stats(small);
  const counted = await chunkedUpload(small, "/count", 4 * MiB, 0, true);
  assertEquals(counted.status, 413, counted.text.slice(0, 4096));
  // The echo's head comes back during the pause, before the limit is crossed.
  const echoed = await chunkedUpload(small, "/echo", 4 * MiB, 500, false);
  assertEquals(echoed.status, 200, echoed.text.slice(0, 4096));
  assert(!/\r\n0\r\n\r\n$/.test(echoed.text), "the echo ended as if complete");
  let after = await stats(small);
  for (let i = 0; i < 30 && after.cut === before.cut; i++) {
    await sleep(100);
    after = await stats(small);
  }
  assert(after.cut > before.cut, "the app did not see the upload cut");
  note(
    `${small.name} route: /count: 413; /echo: 200 then cut; the app saw ${
      after.cut - before.cut
    } cut upload(s)`,
  );
});

reliabilityTest("stream input: a stream with no byte either way is cut after the idle timeout", {
  fault: `Server-Sent Events 10 s apart with streamIdleTimeoutMs ${IDLE_MS} ms, on the ` +
    "container route and the host route",
  expected: `the first event arrives, then the connection is cut about ${IDLE_MS} ms later ` +
    "(a chunked answer without its last chunk)",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const conn = await connect(net.gatewayPort);
    await conn.write(encoder.encode(
      `GET /sse?n=3&ms=10000 HTTP/1.1\r\nhost: ${path.hostname}\r\n\r\n`,
    ));
    const started = performance.now();
    const { text } = await readUntilClosed(conn, 8000);
    const ms = Math.round(performance.now() - started);
    assert(text.includes("id: 0"), `${path.name}: ${text}`);
    assert(!text.includes("id: 1"), `${path.name}: a second event came`);
    assert(ms >= IDLE_MS - 100 && ms < IDLE_MS + 2500, `${path.name}: cut after ${ms} ms`);
    out.push(`${path.name}: cut ${ms} ms after the request`);
  }
  note(out.join("; "));
});
