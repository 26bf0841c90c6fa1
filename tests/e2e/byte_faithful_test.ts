/**
 * Byte for byte through the gateway, on raw sockets (a client library would
 * normalise what is sent), on the container route and the host route:
 * header values with bytes over 0x7F pass both ways unchanged, the request
 * target reaches the app as sent, HEAD keeps the app's length (or its
 * absence), a GET's body reaches the app, any upgrade is a byte tunnel. The
 * apps are tests/apps/stream and tests/apps/raw-http (which speaks HTTP/1.1
 * itself: Deno.serve would drop a GET's body and take no custom upgrade).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { deployOnEachRoute, type RoutePath } from "../helpers/each_route.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { connect, rawSend, readBytes, readHead, utf8Of, writeAll } from "../helpers/raw_http.ts";
import { latin1Encode } from "../../lib/http1.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const RAW_DIR = `${ROOT}/tests/apps/raw-http`;
const ID = crypto.randomUUID().slice(0, 6);

let net: TestNetwork;
let paths: RoutePath[] = [];
/** The raw-http app on each route. */
let rawPaths: RoutePath[] = [];

/** Hex of a string's characters taken as bytes (ISO-8859-1). */
function hex(text: string): string {
  return [...text].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

/** Sends `head` (a string whose characters are bytes) and returns the answer's text and JSON body. */
async function send(head: string) {
  const answer = await rawSend(net.gatewayPort, latin1Encode(head), 3000);
  const body = answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4);
  return { ...answer, body };
}

Deno.test.beforeAll(async () => {
  const hosts = testHostNames(2);
  net = await startNetwork(hosts, { hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } } });
  paths = await deployOnEachRoute(net, APP_DIR, `bytes-${ID}`, hosts, {}, 6);
  rawPaths = await deployOnEachRoute(net, RAW_DIR, `bytes-raw-${ID}`, hosts, {}, 6);
  await sleep(1000); // the gateway has read the routes
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

reliabilityTest("bytes: header values over 0x7F pass unchanged both ways", {
  fault: 'a response header `content-disposition: attachment; filename="café.txt"` in UTF-8 ' +
    "(bytes C3 A9), and a request header `x-name: café` in UTF-8 and `x-latin: caf\\xE9`, on " +
    "the container route and the host route",
  expected: "the response header arrives as the app wrote its bytes (not 502); the app sees the " +
    "request headers' bytes unchanged (not encoded twice)",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const response = await send(
      `GET /utf8-header HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    assertEquals(response.status, 200, response.text);
    assert(
      response.text.includes('filename="caf\xc3\xa9.txt"'),
      `${path.name}: ${JSON.stringify(response.text)}`,
    );
    const request = await send(
      `GET /headers HTTP/1.1\r\nhost: ${path.hostname}\r\nx-name: caf\xc3\xa9\r\n` +
        "x-latin: caf\xe9\r\nconnection: close\r\n\r\n",
    );
    assertEquals(request.status, 200, request.text);
    const seen = JSON.parse(request.body);
    assertEquals([path.name, seen["x-name"], seen["x-latin"]], [
      path.name,
      hex("caf\xc3\xa9"),
      hex("caf\xe9"),
    ]);
    out.push(`${path.name}: response C3 A9 kept; request C3 A9 and E9 kept`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: the request target reaches the app as the client sent it", {
  fault: "GET /a/../b//c/%7e/%ZZ/caf\\xC3\\xA9/\\xC2\\x85?q='\"<>{}&show-target on a raw socket " +
    "(\\xC2\\x85: U+0085, a C1 control, in UTF-8), on the container route and the host route",
  expected: "the app receives exactly those bytes: no dot segment resolved, `//` kept, nothing " +
    "percent-encoded or decoded, raw UTF-8 kept (U+0085 too: the host route answered 502 before)",
}, async (note) => {
  const out: string[] = [];
  const target = "/a/../b//c/%7e/%ZZ/caf\xc3\xa9/\xc2\x85?q='\"<>{}&show-target";
  for (const path of paths) {
    const answer = await send(
      `GET ${target} HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    assertEquals(answer.status, 200, answer.text);
    // The app (Deno) reads the target's bytes as UTF-8, as it would straight from the client.
    assertEquals([path.name, JSON.parse(answer.body).target], [path.name, hex(utf8Of(target))]);
    out.push(`${path.name}: target unchanged`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: a request target that is not UTF-8 reaches the app byte for byte", {
  fault: "GET /raw-target/caf\\xE9/\\x85\\xFF\\xFE?q=\\xC3 (bytes over 0x7F that are not UTF-8) " +
    "on a raw socket, on the container route and the host route, to an app that reads the " +
    "request line's bytes itself",
  expected: "the app receives exactly those bytes (not refused, not replaced by U+FFFD, not " +
    "percent-encoded); before the gateway's own HTTP/1.1 server, Deno.serve refused them: 400, " +
    "empty body",
}, async (note) => {
  const out: string[] = [];
  const target = "/raw-target/caf\xe9/\x85\xff\xfe?q=\xc3";
  for (const path of rawPaths) {
    const answer = await send(
      `GET ${target} HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    assertEquals([path.name, answer.status, answer.body], [path.name, 200, hex(target)]);
    out.push(`${path.name}: the app saw ${answer.body}`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: HEAD keeps the app's length, or its absence", {
  fault: "HEAD of a path whose GET the app streams (no length), and of one it sizes, on the " +
    "container route and the host route",
  expected: "the streamed one has no content-length (not `content-length: 0`); the sized one " +
    "the same content-length as its GET; no body either way",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const streamed = await send(
      `HEAD /download/1000 HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    assertEquals(streamed.status, 200, streamed.text);
    assert(!/\r\ncontent-length:/i.test(streamed.text), `${path.name}: ${streamed.text}`);
    assertEquals(streamed.body, "");
    const sized = await send(
      `HEAD /stats HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    const get = await send(
      `GET /stats HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    const length = (text: string) => /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
    assertEquals([path.name, length(sized.text)], [path.name, length(get.text)]);
    assertEquals(sized.body, "");
    out.push(`${path.name}: streamed HEAD no length, sized HEAD ${length(sized.text)}`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: a GET or DELETE with a body reaches the app with its body", {
  fault: "GET, DELETE and OPTIONS /body with `content-length: 5` and the body `hello`, on a raw " +
    "socket, on the container route and the host route (the app reads HTTP/1.1 itself)",
  expected: "the app receives the method, `content-length: 5` and the 5 bytes `hello`",
}, async (note) => {
  const out: string[] = [];
  for (const path of rawPaths) {
    for (const method of ["GET", "DELETE", "OPTIONS"]) {
      const answer = await send(
        `${method} /body HTTP/1.1\r\nhost: ${path.hostname}\r\ncontent-length: 5\r\n` +
          "connection: close\r\n\r\nhello",
      );
      assertEquals(answer.status, 200, answer.text);
      assertEquals(JSON.parse(answer.body), { method, length: 5, body: "hello" }, path.name);
    }
    out.push(`${path.name}: GET, DELETE, OPTIONS bodies seen by the app`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: any upgrade is a byte tunnel after the app's 101", {
  fault: "`Upgrade: foo` (not a WebSocket) to an app that switches to it and echoes bytes, on a " +
    "raw socket: bytes sent with the head, then 1 MiB in 64 KiB writes, on the container route " +
    "and the host route",
  expected: "the app's 101 naming foo, then every byte echoed back in order; the client's close " +
    "ends the tunnel",
}, async (note) => {
  const out: string[] = [];
  for (const path of rawPaths) {
    const conn = await connect(net.gatewayPort);
    const early = "early bytes|";
    await writeAll(
      conn,
      latin1Encode(
        `GET /upgrade HTTP/1.1\r\nhost: ${path.hostname}\r\nupgrade: foo\r\n` +
          `connection: upgrade\r\n\r\n${early}`,
      ),
    );
    const payload = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) % 251);
    const writing = writeAll(conn, payload, 64 * 1024);
    const wanted = early.length + payload.length;
    const { head, rest } = await readHead(conn);
    const echoed = await readBytes(conn, wanted, rest);
    const total = echoed.length;
    await writing;
    conn.close();
    assert(/^HTTP\/1\.1 101 /.test(head), `${path.name}: ${head}`);
    assert(/\r\nupgrade: foo/i.test(head), `${path.name}: ${head}`);
    assertEquals(total, wanted, `${path.name}: every byte back`);
    assertEquals(String.fromCharCode(...echoed.subarray(0, early.length)), early);
    assert(
      echoed.subarray(early.length).every((b, i) => b === payload[i]),
      `${path.name}: bytes in order`,
    );
    out.push(`${path.name}: 101 foo, ${total} bytes echoed`);
  }
  note(out.join("; "));
});

reliabilityTest("bytes: an upgrade the app refuses gets the app's answer", {
  fault: "`Upgrade: foo` to a path where the app answers 403, and to one where it answers 426, " +
    "on a raw socket, on the container route and the host route",
  expected: "the app's 403 / 426 and body, no 101; the connection serves the next request",
}, async (note) => {
  const out: string[] = [];
  for (const path of rawPaths) {
    const answer = await send(
      `GET /no-upgrade HTTP/1.1\r\nhost: ${path.hostname}\r\nupgrade: foo\r\n` +
        `connection: upgrade\r\n\r\nGET /body HTTP/1.1\r\nhost: ${path.hostname}\r\n` +
        "connection: close\r\n\r\n",
    );
    assertEquals(answer.status, 403, answer.text);
    assert(answer.text.includes("no upgrade here"), answer.text);
    assert(answer.text.includes('{"method":"GET","length":0,"body":""}'), answer.text);
    const required = await send(
      `GET /upgrade HTTP/1.1\r\nhost: ${path.hostname}\r\nconnection: close\r\n\r\n`,
    );
    assertEquals(required.status, 426, required.text);
    out.push(`${path.name}: 403 passed on, next request answered; 426 passed on`);
  }
  note(out.join("; "));
});
