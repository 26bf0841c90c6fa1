/**
 * Bad messages on the `dn` exchange, published with the real role
 * credentials (control may publish commands and status requests, the gateway
 * requests): garbage, wrong fields, a routing key that disagrees with the
 * body, names with `/` or `..`, forged reply-to queues, request envelopes with
 * a bad head. Hosts log "dropped" and keep serving; no container is created
 * for an invalid name, and a forged command cannot change what runs, because
 * hosts act on desired state in Redis, not on what a message says.
 *
 * Test vhost `dn-test` is shared with other test networks: this file's app
 * names are unique, so its messages can only reach queues of its own apps.
 */
import { AMQPClient } from "@cloudamqp/amqp-client";
import type { AMQPChannel, AMQPMessage, AMQPProperties } from "@cloudamqp/amqp-client";
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  infraConfig,
  ROOT,
  startNetwork,
  testHostNames,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { COMMAND_TYPE, decodeStatusReply, encodeCommand } from "../../lib/commands.ts";
import {
  decodeResponse,
  encodeEnvelope,
  REQUEST_TYPE,
  type RequestHead,
  RESPONSE_TYPE,
} from "../../lib/envelope.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const APP = `amqpin-${RUN}`;
const HOST = `${APP}.dn.test`;
const IDLE = `amqpin-idle-${RUN}`;
const REPLY_TO = "amq.rabbitmq.reply-to";
const encoder = new TextEncoder();
let net: TestNetwork;
let hosts: string[];
const clients: AMQPClient[] = [];

Deno.test.beforeAll(async () => {
  hosts = testHostNames(2);
  net = await startNetwork(hosts);
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOST);
  const idle = await net.api("POST", "/v1/apps", {
    name: IDLE,
    hostname: `${IDLE}.dn.test`,
    digest: `sha256:${"0".repeat(64)}`,
  });
  assertEquals(idle.status, 201, JSON.stringify(idle.body));
});
Deno.test.afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {});
  await net?.stop();
});

/** The RabbitMQ user each test channel logged in as. */
const users = new WeakMap<AMQPChannel, string>();

/** A confirmed channel as `role` (the credentials of the test configs). */
async function channelAs(role: "control" | "gateway"): Promise<AMQPChannel> {
  const { amqpUrl: url, amqpCaFile } = infraConfig(`test-${role}`);
  const client = new AMQPClient(url, { ca: [Deno.readTextFileSync(amqpCaFile)] }, null);
  await client.connect();
  clients.push(client);
  const ch = await client.channel();
  await ch.confirmSelect();
  users.set(ch, decodeURIComponent(new URL(url).username));
  return ch;
}

/**
 * Publishes on exchange `dn` stamped with the channel's own user as `user_id`
 * (as dn's services do; the broker refuses any other value), unless `props`
 * overrides it.
 */
function publish(
  ch: AMQPChannel,
  key: string,
  body: Uint8Array | null,
  props: AMQPProperties,
): Promise<unknown> {
  return ch.basicPublish("dn", key, body, { userId: users.get(ch), ...props });
}

interface LogLine {
  msg: string;
  routingKey?: string;
  app?: string;
  error?: string;
}

/** Every JSON log line of this network's hosts. */
function hostLogs(): LogLine[] {
  const lines: LogLine[] = [];
  for (const host of hosts) {
    for (const line of net.services.get(host)!.output.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        // a partial line
      }
    }
  }
  return lines;
}

/** Waits until `count(lines) >= want`; fails with the last count after `timeoutMs`. */
async function waitForLogs(
  what: string,
  count: (lines: LogLine[]) => number,
  want: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let got = 0;
  while (Date.now() < deadline) {
    got = count(hostLogs());
    if (got >= want) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: expected ${want} log lines, saw ${got}`);
}

/** The gateway still answers a normal request from the app; no host crashed. */
async function alive(): Promise<void> {
  const res = await net.gateway(HOST, "/echo");
  assertEquals(res.status, 200, "a normal request still works");
  await res.body?.cancel();
  for (const host of hosts) {
    const output = net.services.get(host)!.output;
    assert(!/panicked|Uncaught|converge failed/.test(output), `${host} did not crash or fail`);
  }
}

/** Containers of this network's hosts, as `app@host`. */
async function containers(): Promise<string[]> {
  const out: string[] = [];
  for (const host of hosts) {
    for (const c of await net.docker.listContainers({ "network.dn.host": host }, true)) {
      out.push(`${c.labels["network.dn.app"]}@${host}`);
    }
  }
  return out.sort();
}

const json = (value: unknown) => encoder.encode(JSON.stringify(value));
const command = { type: COMMAND_TYPE };

reliabilityTest("amqp input: malformed and mismatched commands are logged and dropped", {
  fault: "as dn-control on start|stop|remove|update.<app>: random bytes, invalid UTF-8, JSON " +
    "array, wrong version, unknown kind, extra and missing fields, no type, no user_id, a 10 KB " +
    "body, a " +
    "routing key that disagrees with the body, app names with '/', '..', upper case",
  expected: "every host logs 'dropped message' with the reason and keeps serving; no " +
    "container is created or removed",
}, async (note) => {
  const before = await containers();
  const ch = await channelAs("control");
  const garbage = crypto.getRandomValues(new Uint8Array(512));
  const cases: [string, Uint8Array, AMQPProperties, string][] = [
    [`start.${APP}`, garbage, command, "not UTF-8 JSON"],
    [`stop.${APP}`, new Uint8Array([0xff, 0xfe, 0x7b]), command, "not UTF-8 JSON"],
    [`remove.${APP}`, encoder.encode("[]"), command, "not a JSON object"],
    [`remove.${APP}`, encoder.encode("null"), command, "not a JSON object"],
    [`stop.${APP}`, json({ v: 2, kind: "stop", app: APP }), command, "unknown version 2"],
    [`stop.${APP}`, json({ kind: "stop", app: APP }), command, "unknown version undefined"],
    [`start.${APP}`, json({ v: 1, kind: "restart", app: APP }), command, "unknown command"],
    [`start.${APP}`, json({ v: 1, kind: "start" }), command, "not a valid app name"],
    [
      `start.${APP}`,
      json({ v: 1, kind: "start", app: APP, image: "evil" }),
      command,
      "unknown field image",
    ],
    [
      `start.${APP}`,
      encodeCommand({ kind: "start", app: APP }),
      {},
      "unexpected message type null",
    ],
    [
      `start.${APP}`,
      encodeCommand({ kind: "start", app: APP }),
      { ...command, userId: undefined },
      "not published by control's user",
    ],
    [
      `start.${APP}`,
      encodeCommand({ kind: "start", app: APP }),
      { type: "dn.command.v9" },
      "unexpected message type",
    ],
    [
      `update.${APP}`,
      json({ v: 1, kind: "update", app: APP, pad: "x".repeat(10_000) }),
      command,
      "too large",
    ],
    // The routing key and the body disagree.
    [`stop.${APP}`, encodeCommand({ kind: "remove", app: APP }), command, "does not match"],
    [`remove.${APP}`, encodeCommand({ kind: "remove", app: IDLE }), command, "does not match"],
    // Names that are not DNS labels, in the key and the body alike.
    ["start.a/b", json({ v: 1, kind: "start", app: "a/b" }), command, "not a valid app name"],
    ["start.%2e%2e", json({ v: 1, kind: "start", app: "%2e%2e" }), command, "not a valid app name"],
    ["remove.UPPER", json({ v: 1, kind: "remove", app: "UPPER" }), command, "not a valid app name"],
    ["start.-x", json({ v: 1, kind: "start", app: "-x" }), command, "not a valid app name"],
    [
      "stop.evil/%2e%2e/x",
      json({ v: 1, kind: "stop", app: "evil/%2e%2e/x" }),
      command,
      "not a valid app name",
    ],
  ];
  const want = new Map<string, number>();
  for (const [key, body, props, reason] of cases) {
    await publish(ch, key, body, props);
    const id = `${key}\n${reason}`;
    want.set(id, (want.get(id) ?? 0) + hosts.length); // every host has its own command queue
  }
  // Keys with empty words never match `start.*`: published, routed nowhere.
  for (const key of ["start.a..b", "start....", "start.a.b", "start.evil/../../containers"]) {
    await publish(ch, key, json({ v: 1, kind: "start", app: key.slice(6) }), command);
  }
  for (const [id, n] of want) {
    const [key, reason] = id.split("\n");
    await waitForLogs(
      `${key}: ${reason}`,
      (lines) =>
        lines.filter((l) =>
          l.msg === "dropped message" && l.routingKey === key && l.error?.includes(reason)
        ).length,
      n,
    );
  }
  await alive();
  assertEquals(await containers(), before, "no container created or removed");
  note(
    `${cases.length} bad commands × ${hosts.length} hosts each logged 'dropped message' ` +
      `with its reason; 4 unroutable keys ignored; containers unchanged: ${before.join(", ")}`,
  );
});

reliabilityTest("amqp input: well-formed forged commands cannot change what runs", {
  fault: "as dn-control: start.<app that is only created>, remove.<running app>, " +
    "stop.<running app>, start.<app that does not exist>",
  expected: "hosts converge on desired state in Redis: the created app gets no container, " +
    "the running app keeps serving, the unknown app gets nothing",
}, async (note) => {
  const before = await containers();
  const ch = await channelAs("control");
  const ghost = `amqpin-ghost-${RUN}`;
  const forged: [string, string][] = [
    ["start", IDLE],
    ["remove", APP],
    ["stop", APP],
    ["start", ghost],
    ["update", APP],
  ];
  const names = forged.map(([, app]) => app);
  const accepted = (lines: LogLine[]) =>
    lines.filter((l) => l.msg === "command" && names.includes(l.app ?? "")).length;
  const seen = accepted(hostLogs());
  for (const [kind, app] of forged) {
    await publish(ch, `${kind}.${app}`, encodeCommand({ kind, app } as never), command);
  }
  // Each host logs each command at debug level when it accepts it.
  await waitForLogs("accepted", accepted, seen + forged.length * hosts.length);
  await new Promise((r) => setTimeout(r, 1500)); // let convergence run
  await alive();
  assertEquals(await containers(), before, "containers unchanged");
  assert(!before.some((c) => c.startsWith(`${IDLE}@`)), "the created app has no container");
  assertEquals((await net.api("GET", `/v1/apps/${APP}`)).body.app.status, "running");
  note(`${forged.length} forged commands accepted and converged; containers unchanged: ${before}`);
});

reliabilityTest("amqp input: status requests with a forged reply-to are dropped", {
  fault: "as dn-control on status.<app>: reply-to an app's request queue, another host's " +
    "command queue, no reply-to, no correlation id, a body, a name with '/'",
  expected: "'dropped message' on every host, nothing published to those queues; " +
    "a real status request (and `GET /v1/apps/<app>/status`) still gets every host's report",
}, async (note) => {
  const ch = await channelAs("control");
  const replies: AMQPMessage[] = [];
  await ch.basicConsume(REPLY_TO, { noAck: true }, (msg) => void replies.push(msg));
  const base = { type: COMMAND_TYPE, correlationId: "probe-1", replyTo: REPLY_TO };
  const cases: [string, AMQPProperties, Uint8Array | null, string][] = [
    [`status.${APP}`, { ...base, replyTo: `dn.app.${APP}` }, null, "amq.rabbitmq.reply-to"],
    [`status.${APP}`, { ...base, replyTo: `dn.host.${hosts[1]}` }, null, "amq.rabbitmq.reply-to"],
    [
      `status.${APP}`,
      { type: COMMAND_TYPE, correlationId: "probe-2" },
      null,
      "amq.rabbitmq.reply-to",
    ],
    [`status.${APP}`, { type: COMMAND_TYPE, replyTo: REPLY_TO }, null, "correlation id"],
    [`status.${APP}`, base, json({ v: 1 }), "empty body"],
    ["status.a/b", base, null, "not a valid app name"],
  ];
  for (const [key, props, body] of cases) await publish(ch, key, body, props);
  for (const [key, , , reason] of cases) {
    await waitForLogs(
      `${key} ${reason}`,
      (lines) =>
        lines.filter((l) =>
          l.msg === "dropped message" && l.routingKey === key && l.error?.includes(reason)
        ).length,
      hosts.length * cases.filter((c) => c[0] === key && c[3] === reason).length,
    );
  }
  // The positive control: a well-formed status request gets one report per host.
  await publish(ch, `status.${APP}`, null, { ...base, correlationId: "probe-ok" });
  // Hosts of other test networks share the vhost and may answer too: only ours count.
  const ours = (id: (c: string | undefined) => boolean) =>
    replies.filter((m) => id(m.properties.correlationId))
      .map((m) => decodeStatusReply(m.body!).host)
      .filter((h) => hosts.includes(h));
  const deadline = Date.now() + 5000;
  while (ours((c) => c === "probe-ok").length < hosts.length) {
    assert(Date.now() < deadline, "every host answered the real status request");
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(ours((c) => c === "probe-ok").sort(), [...hosts].sort());
  assertEquals(ours((c) => c !== "probe-ok"), [], "no forged status request was answered");
  const status = await net.api("GET", `/v1/apps/${APP}/status`);
  const reported = status.body.hosts.map((h: { host: string }) => h.host);
  assert(hosts.every((h) => reported.includes(h)), `status reports ${reported}`);
  await alive();
  note(`${cases.length} forged status requests dropped on both hosts; the real one got 2 reports`);
});

reliabilityTest("amqp input: request envelopes with a bad head are logged and dropped", {
  fault: "as dn-gateway on request.<app>: random bytes, a short prefix, a length past the end, " +
    "head not JSON / not an object, wrong type, no reply-to, no user_id, bad method, absolute " +
    "URL, control " +
    "characters in URL and header values, header name with a space, long id, string timeoutMs, " +
    "bodyKey with '..', bodyKey naming control's app table, unknown field",
  expected: "a host logs 'dropped' for each and keeps serving; those with the gateway's " +
    "reply-to get a 502 at once (no gateway timeout), the others no answer; the app table is " +
    "untouched; a valid envelope published the same way is answered 200",
}, async (note) => {
  const ch = await channelAs("gateway");
  const replies = new Map<string, AMQPMessage>();
  await ch.basicConsume(REPLY_TO, { noAck: true }, (msg) => {
    replies.set(msg.properties.correlationId ?? "", msg);
  });
  const appsBefore = JSON.stringify((await net.api("GET", "/v1/apps")).body);
  const head: RequestHead = {
    method: "GET",
    url: "/echo",
    headers: [["host", HOST]],
    id: "amqp-input",
    deadline: Date.now() + 60_000,
  };
  const env = (patch: Record<string, unknown>, body = new Uint8Array()) =>
    encodeEnvelope({ ...head, ...patch } as RequestHead, body);
  const rawHead = (text: string) => {
    const bytes = encoder.encode(text);
    const out = new Uint8Array(4 + bytes.length);
    new DataView(out.buffer).setUint32(0, bytes.length);
    out.set(bytes, 4);
    return out;
  };
  const { deadline: _, ...wireHead } = head;
  const ok = { type: REQUEST_TYPE, replyTo: REPLY_TO };
  const cases: [Uint8Array, AMQPProperties, string][] = [
    [crypto.getRandomValues(new Uint8Array(256)), ok, "envelope"],
    [new Uint8Array([0, 0]), ok, "shorter than its length prefix"],
    [new Uint8Array([0, 0, 1, 0, 123]), ok, "head length out of range"],
    [rawHead("{not json"), ok, "not UTF-8 JSON"],
    [rawHead("[1,2]"), ok, "not an object"],
    [env({}), { ...ok, type: RESPONSE_TYPE }, "unexpected message type"],
    [env({}), { type: REQUEST_TYPE }, "reply-to"],
    [env({}), { ...ok, userId: undefined }, "not published by the gateway's user"],
    [env({ method: "GET /admin" }), ok, "method"],
    [env({ method: "" }), ok, "method"],
    [env({ url: "http://evil.test/" }), ok, "url"],
    [env({ url: "/a b" }), ok, "url"],
    [env({ url: "/a\u0001" }), ok, "url"],
    [env({ url: "/\r\nHost: evil" }), ok, "url"],
    [env({ headers: [["x", "a\r\nx-injected: 1"]] }), ok, "headers"],
    [env({ headers: [["x", "a\u0000"]] }), ok, "headers"],
    [env({ headers: [["bad name", "x"]] }), ok, "headers"],
    [env({ headers: { host: HOST } }), ok, "headers"],
    [env({ id: "x".repeat(65) }), ok, "id"],
    [rawHead(JSON.stringify({ ...wireHead, timeoutMs: "soon" })), ok, "timeoutMs"],
    [env({ bodyKey: "../../etc/passwd" }), ok, "bodyKey"],
    [env({ bodyKey: "k" }, new Uint8Array([1])), ok, "either inline or in Redis"],
    [env({ extra: true }), ok, "unknown field extra"],
  ];
  const dropped = (lines: LogLine[], reason: string) =>
    lines.filter((l) => /dropped/.test(l.msg) && l.app === APP && (l.error ?? "").includes(reason))
      .length;
  const start = new Map<string, number>();
  for (const [, , reason] of cases) start.set(reason, dropped(hostLogs(), reason));
  for (const [i, [body, props]] of cases.entries()) {
    await publish(ch, `request.${APP}`, body, { ...props, correlationId: `bad-${i}` });
  }
  for (const [reason, n] of start) {
    const more = cases.filter((c) => c[2] === reason).length;
    await waitForLogs(`request ${reason}`, (lines) => dropped(lines, reason), n + more);
  }
  // A body key inside the key space but naming control's app table: refused before Redis.
  await publish(ch, `request.${APP}`, env({ bodyKey: `${net.prefix}apps` }), {
    ...ok,
    correlationId: "foreign-key",
  });
  // The positive control: a valid envelope is answered by the app.
  await publish(ch, `request.${APP}`, env({}), { ...ok, correlationId: "valid" });
  const deadline = Date.now() + 10_000;
  while (!replies.has("valid")) {
    assert(Date.now() < deadline, "the valid envelope was answered");
    await new Promise((r) => setTimeout(r, 50));
  }
  const answer = decodeResponse(replies.get("valid")!.body!);
  assertEquals(answer.head.status, 200);
  assertEquals(JSON.parse(new TextDecoder().decode(answer.body)).path, "/echo");
  await new Promise((r) => setTimeout(r, 500));
  // Malformed requests the gateway could be waiting for are refused at once; the rest are not answered.
  const answerable = (props: AMQPProperties) => props.replyTo !== undefined && !("userId" in props);
  const expectRefused = cases.flatMap(([, props], i) => answerable(props) ? [`bad-${i}`] : []);
  const refused = [...replies.keys()].filter((id) => id.startsWith("bad-")).sort();
  assertEquals(refused, expectRefused.sort(), "exactly the answerable malformed requests answered");
  for (const id of refused) assertEquals(decodeResponse(replies.get(id)!.body!).head.status, 502);
  const foreign = replies.get("foreign-key");
  if (foreign) assert(decodeResponse(foreign.body!).head.status >= 400, "foreign key not served");
  assertEquals(JSON.stringify((await net.api("GET", "/v1/apps")).body), appsBefore, "apps intact");
  await alive();
  note(
    `${cases.length} bad envelopes dropped (${refused.length} with a reply-to answered 502 ` +
      `at once); a body key naming control's ` +
      `app table ${
        foreign ? `answered ${decodeResponse(foreign.body!).head.status}` : "not answered"
      }` +
      `, app table intact; a valid envelope answered 200`,
  );
});

reliabilityTest("amqp input: no container exists for an invalid or unknown name", {
  fault: "after every message above: Docker's containers of this network's hosts",
  expected: `only ${"<app>"} runs, one container per host; none for the created-only app, ` +
    "the unknown app or any invalid name",
}, async (note) => {
  const all = await containers();
  assertEquals(all, hosts.map((h) => `${APP}@${h}`).sort());
  // Across the whole engine: every container carrying this run's id is the app's.
  const everything = await net.docker.listContainers({}, true);
  const mine = everything.filter((c) => JSON.stringify([c.names, c.labels]).includes(RUN));
  assertEquals(mine.map((c) => c.labels["network.dn.app"]), [APP, APP]);
  note(`containers: ${all.join(", ")}`);
});
