/**
 * Byte for byte through the gateway, on raw sockets (a client library would
 * normalise what is sent), on the container route and the host route:
 * header values with bytes over 0x7F pass both ways unchanged, the request
 * target reaches the app as sent, HEAD keeps the app's length (or its
 * absence). The app is tests/apps/stream.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { rawSend, utf8Of } from "../helpers/streams.ts";
import { latin1Encode } from "../../lib/http1.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const ID = crypto.randomUUID().slice(0, 6);

interface Path {
  name: "container" | "host";
  hostname: string;
}

let net: TestNetwork;
let paths: Path[] = [];

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
  const placed = new Map<string, Path>();
  for (const name of ["a", "b"]) {
    const app = `bytes-${ID}-${name}`;
    const record = await net.deploy(APP_DIR, app, `${app}.dn.test`, 8000, { replicas: 1 });
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

reliabilityTest("bytes: a GET with a body is answered, its body documented as dropped", {
  fault: "GET ...?show-target with `content-length: 5` and a body, on the container route and " +
    "the host route",
  expected: "answered 200 without hanging; the app sees no body (Deno.serve, the gateway's " +
    "HTTP server, drops a GET's body: README, Byte for byte)",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const answer = await send(
      `GET /g?show-target HTTP/1.1\r\nhost: ${path.hostname}\r\ncontent-length: 5\r\n` +
        "connection: close\r\n\r\nhello",
    );
    assertEquals(answer.status, 200, answer.text);
    const seen = JSON.parse(answer.body);
    out.push(`${path.name}: 200, the app saw ${seen.length} body bytes`);
  }
  note(out.join("; "));
});
