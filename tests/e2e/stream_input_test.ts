/**
 * Bad streaming input on the container route and the host route: truncated
 * chunked bodies, and clients that go away mid-upload and mid-download. The
 * app sees each cut, and nothing leaks in the gateway (open descriptors and
 * memory back where they were). The app is tests/apps/stream.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { openFds, rssBytes } from "../helpers/streams.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const ID = crypto.randomUUID().slice(0, 6);
const MiB = 1024 * 1024;
const encoder = new TextEncoder();

interface Path {
  name: "container" | "host";
  hostname: string;
}

let net: TestNetwork;
let paths: Path[] = [];
let gatewayPid = 0;

/** The app's upload counts behind `path`. */
async function stats(path: Path): Promise<{ completed: number; cut: number }> {
  const res = await net.gateway(path.hostname, "/stats");
  return await res.json();
}

/** Writes `head` and `bytes` of body on a new connection, then closes it without reading. */
async function cutUpload(path: Path, head: string, bytes: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: net.gatewayPort });
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
async function cutDownload(path: Path): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: net.gatewayPort });
  try {
    await conn.write(encoder.encode(
      `GET /download/${100 * MiB} HTTP/1.1\r\nhost: ${path.hostname}\r\n\r\n`,
    ));
    const buf = new Uint8Array(64 * 1024);
    let read = 0;
    while (read < MiB) {
      const n = await conn.read(buf);
      if (n === null) break;
      read += n;
    }
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
  net = await startNetwork(hosts, { hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } } });
  gatewayPid = net.services.get("gateway")!.child.pid;
  const placed = new Map<string, Path>();
  for (const name of ["a", "b"]) {
    const app = `cut-${ID}-${name}`;
    const record = await net.deploy(APP_DIR, app, `${app}.dn.test`, 8000, {
      replicas: 1,
      bodyLimit: 1024 * MiB,
    });
    const route = record.placement[0] === hosts[0] ? "container" : "host";
    placed.set(record.placement[0], { name: route, hostname: `${app}.dn.test` });
  }
  assertEquals([...placed.keys()].sort(), [...hosts].sort(), "one app on each host");
  paths = [placed.get(hosts[0])!, placed.get(hosts[1])!];
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
