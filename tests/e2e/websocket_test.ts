/**
 * WebSockets through the gateway, on the container route and the host route:
 * the upgrade reaches the app, messages flow both ways, the relay is counted
 * in the gateway's metrics, an app that refuses the upgrade is answered as
 * it answered, the broker path says it cannot carry one, and stopping the
 * app closes its sockets. The app is tests/apps/stream.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { deployOnEachRoute, type RoutePath } from "../helpers/each_route.ts";
import { sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { rawSend } from "../helpers/raw_http.ts";
import { TestWebSocket } from "../helpers/ws_client.ts";
import { createGatewayHandler } from "../../gateway/server.ts";
import type { DomainTable } from "../../gateway/domains.ts";
import type { GatewayRpc } from "../../gateway/rpc.ts";
import { APP_DEFAULTS, type AppRecord } from "../../lib/apps.ts";
import type { BodyStore } from "../../lib/bodies.ts";
import { Logger } from "../../lib/log.ts";

const APP_DIR = `${ROOT}/tests/apps/stream`;
const ID = crypto.randomUUID().slice(0, 6);

let net: TestNetwork;
let paths: RoutePath[] = [];

/** Opens a WebSocket through the gateway for `hostname`. */
async function open(hostname: string, target = "/ws"): Promise<TestWebSocket> {
  const ws = await TestWebSocket.open(net.gatewayPort, hostname, target);
  if (!(ws instanceof TestWebSocket)) throw new Error(`no WebSocket: ${ws.text}`);
  return ws;
}

async function gatewayMetric(series: string): Promise<number> {
  const text = await (await fetch(`${await net.healthUrl("gateway")}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

Deno.test.beforeAll(async () => {
  const hosts = testHostNames(2);
  net = await startNetwork(hosts, { hostEnv: { [hosts[1]]: { DN_REQUEST_ROUTE: "host" } } });
  paths = await deployOnEachRoute(net, APP_DIR, `ws-${ID}`, hosts);
  await sleep(1000); // the gateway has read the routes
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

reliabilityTest("websocket: messages flow both ways, counted in metrics", {
  fault: "a WebSocket to an echo app on the container route and the host route: a text " +
    "message, a 200 KB binary message, 50 round trips, then the client closes with 4000",
  expected: "every message comes back unchanged; dn_gateway_websockets_total counts each " +
    "socket and _open returns to where it was; the close code reaches the app and back",
}, async (note) => {
  const out: string[] = [];
  const totalBefore = await gatewayMetric("dn_gateway_websockets_total");
  const openBefore = await gatewayMetric("dn_gateway_websockets_open");
  for (const path of paths) {
    const ws = await open(path.hostname);
    await ws.send("héllo");
    assertEquals(await ws.next(), { kind: "text", data: "héllo" });
    const binary = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 256);
    await ws.send(binary);
    assertEquals(await ws.next(), { kind: "binary", data: binary });
    const started = performance.now();
    for (let i = 0; i < 50; i++) {
      await ws.send(`ping ${i}`);
      assertEquals(await ws.next(), { kind: "text", data: `ping ${i}` });
    }
    const rtt = (performance.now() - started) / 50;
    await ws.close(4000, "done");
    const end = await ws.next();
    ws.drop();
    assertEquals([path.name, end.kind, end.kind === "close" && end.code], [
      path.name,
      "close",
      4000,
    ]);
    out.push(`${path.name}: echo RTT ${rtt.toFixed(2)} ms`);
  }
  // A tunnel ends once both sides have closed their connections: give a loaded machine time.
  let openNow = NaN;
  for (let i = 0; i < 50 && openNow !== openBefore; i++) {
    await sleep(100);
    openNow = await gatewayMetric("dn_gateway_websockets_open");
  }
  assertEquals(await gatewayMetric("dn_gateway_websockets_total"), totalBefore + 2);
  assertEquals(openNow, openBefore, "every tunnel ended within 5 s of its close");
  note(out.join("; "));
});

reliabilityTest("websocket: an app that refuses the upgrade is answered as it answered", {
  fault: "Upgrade: websocket to a path where the app answers 403, on a raw socket, on the " +
    "container route and the host route",
  expected: "the app's 403 and its body, no 101",
}, async (note) => {
  const out: string[] = [];
  for (const path of paths) {
    const answer = await rawSend(
      net.gatewayPort,
      `GET /ws-refused HTTP/1.1\r\nhost: ${path.hostname}\r\nupgrade: websocket\r\n` +
        "connection: upgrade\r\nsec-websocket-version: 13\r\n" +
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      1500,
    );
    assertEquals(answer.status, 403, answer.text);
    assert(answer.text.includes("no WebSockets here"), answer.text);
    out.push(`${path.name}: 403`);
  }
  note(out.join("; "));
});

reliabilityTest("websocket: the broker path answers an upgrade 503 saying why", {
  fault: "Upgrade: websocket to a gateway with no direct path (the broker only)",
  expected: "503 naming the reason (an upgrade cannot take the broker path)",
}, async (note) => {
  const handler = createGatewayHandler({
    domains: {
      lookup: () => ({ name: "ws-app", status: "running", ...APP_DEFAULTS }) as AppRecord,
    } as unknown as DomainTable,
    rpc: { ready: true } as unknown as GatewayRpc,
    bodies: {} as BodyStore,
    log: new Logger("gateway-under-test", "error"),
    inlineBodyLimit: 1 << 20,
    bodyLimit: 1 << 20,
    requestTimeoutMs: 5000,
  });
  const res = await handler({
    method: "GET",
    target: "/ws",
    minor: 1,
    headers: [["host", "ws.dn.test"], ["upgrade", "websocket"], ["connection", "upgrade"]],
    body: null,
    length: 0,
    upgrade: "websocket",
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    secure: false,
  });
  assert(res instanceof Response, "an answer, not a switch");
  const text = await res.text();
  assertEquals(res.status, 503, text);
  assert(text.includes("an upgrade cannot take the broker path"), text);
  note(`503: ${text.trim()}`);
});

reliabilityTest(
  "websocket: stopping the app closes its sockets; frames sent meanwhile go nowhere",
  {
    fault: "a WebSocket open on the container route and the host route, a message sent every " +
      "50 ms, then `stop` of both apps",
    expected: "each socket is closed (the app's own close frame, or the connection closed when " +
      "the app's ends: 1006) within 15 s of the stop; the gateway keeps serving; a new " +
      "upgrade then gets 503 (not running)",
  },
  async (note) => {
    const sockets = await Promise.all(paths.map((path) => open(path.hostname)));
    let sent = 0;
    const senders = sockets.map((ws) =>
      setInterval(() => {
        ws.send("tick").then(() => sent++, () => {});
      }, 50)
    );
    // Every echo is read; what ends each socket is its close (or the connection's end, 1006).
    const ends = sockets.map(async (ws) => {
      while (true) {
        const got = await ws.next(20_000);
        if (got.kind === "close") return got;
      }
    });
    const started = performance.now();
    for (const path of paths) {
      const stopped = await net.api("POST", `/v1/apps/${path.app}/stop`);
      assertEquals(stopped.status, 200, JSON.stringify(stopped.body));
    }
    const events = await Promise.all(ends);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    for (const timer of senders) clearInterval(timer);
    for (const ws of sockets) ws.drop();
    // The gateway tunnels bytes: the app's own close frame (1000, 1001), or, from an app that
    // exits without one, the connection's end (1006, no close frame).
    for (const event of events) {
      assert([1000, 1001, 1006].includes(event.code), `closed ${event.code}`);
    }
    const again = await rawSend(
      net.gatewayPort,
      `GET /ws HTTP/1.1\r\nhost: ${paths[0].hostname}\r\nupgrade: websocket\r\n` +
        "connection: upgrade\r\nsec-websocket-version: 13\r\n" +
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      1500,
    );
    assertEquals(again.status, 503, again.text);
    note(
      `closed within ${seconds} s of the stops: ` +
        events.map((e, i) => `${paths[i].name} ${e.code} ${e.reason}`).join("; ") +
        `; ${sent} frames sent meanwhile; a new upgrade: 503`,
    );
  },
);
