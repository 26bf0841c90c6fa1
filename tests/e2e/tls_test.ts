/**
 * AMQPS: RabbitMQ's TLS listener (scripts/infra, 127.0.0.1:$DN_AMQPS_PORT)
 * with a certificate from the local CA, and services that connect with
 * `amqps://` and verify it. A whole network runs on the `test-<role>.json`
 * configs (TLS by default) and serves an app; a gateway given another CA
 * never connects.
 */
import { AMQPClient } from "@cloudamqp/amqp-client";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { makeImpostor } from "../helpers/impostor.ts";
import { infraConfig, ROOT, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const ECHO = "echo-tls.dn.test";
const CONFIG = infraConfig("test-gateway");
const CA = Deno.readTextFileSync(CONFIG.amqpCaFile);
let net: TestNetwork;
/** What to delete after the tests. */
const cleanup: (() => Promise<void>)[] = [];

Deno.test.beforeAll(async () => {
  net = new TestNetwork(["tls-a", "tls-b"]);
  await net.start();
});
Deno.test.afterAll(async () => {
  await net?.stop();
  for (const remove of cleanup) await remove();
});

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** An impostor CA where services may read it (deleted after the tests). */
async function impostorCa(): Promise<string> {
  const impostor = await makeImpostor();
  cleanup.push(impostor.remove);
  return impostor.caFile;
}

/** Connects one client; resolves to the negotiated protocol or the error message. */
async function tryConnect(
  url: string,
  tls: Record<string, unknown> | undefined,
): Promise<{ ok: boolean; detail: string }> {
  // deno-lint-ignore no-explicit-any
  const client = new AMQPClient(url, tls as any, null);
  try {
    await client.connect();
    const socket = (client as unknown as { socket?: { getProtocol?(): string } }).socket;
    const detail = socket?.getProtocol?.() ?? "connected";
    await client.close();
    return { ok: true, detail };
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
}

/** The `amqp connected` record a service logged. */
function connectedRecord(output: string): Record<string, string> | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes('"amqp connected"')) continue;
    try {
      return JSON.parse(line);
    } catch {
      // a partial line
    }
  }
  return undefined;
}

/** Connections RabbitMQ reports: user, ssl, protocol (needs root, like scripts/infra). */
async function brokerConnections(): Promise<{ user: string; ssl: boolean; protocol: string }[]> {
  const text = await run("bash", [
    "-c",
    `source ${ROOT}/scripts/infra && rabbit_env && ` +
    "rabbitmqctl -q list_connections user ssl ssl_protocol",
  ]);
  return text.split("\n").filter((l) => l.includes("\t")).map((l) => {
    const [user, ssl, protocol] = l.split("\t");
    return { user, ssl: ssl === "true", protocol };
  }).filter((c) => c.user !== "user");
}

/** One HTTP/1.1 request to a gateway port for `hostname`; returns status and time. */
async function httpStatus(port: number, hostname: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const match = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
    assert(match, `an HTTP status line: ${JSON.stringify(text.slice(0, 80))}`);
    return { status: Number(match[1]), ms: performance.now() - started };
  } finally {
    conn.close();
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

reliabilityTest("AMQPS: the client verifies the broker certificate", {
  fault: "amqp-client connects to the TLS listener with the local CA, an impostor CA " +
    "(same subject, other key), the system roots, and a name not in the certificate",
  expected: "only the local CA with a certified name (localhost, 127.0.0.1) connects",
}, async (note) => {
  const url = CONFIG.amqpUrl;
  assertMatch(url, /^amqps:\/\/dn-gateway:[^@]+@localhost:\d+\/dn-test$/);
  const good = await tryConnect(url, { ca: [CA] });
  assert(good.ok, `local CA: ${good.detail}`);
  assertMatch(good.detail, /^TLSv1\.[23]$/);
  const byIp = await tryConnect(url.replace("@localhost:", "@127.0.0.1:"), { ca: [CA] });
  assert(byIp.ok, `127.0.0.1: ${byIp.detail}`);

  const impostor = Deno.readTextFileSync(await impostorCa());
  const refused = {
    impostor: await tryConnect(url, { ca: [impostor] }),
    systemRoots: await tryConnect(url, undefined),
    wrongName: await tryConnect(url, { ca: [CA], servername: "broker.dn.invalid" }),
  };
  for (const [label, result] of Object.entries(refused)) {
    assert(!result.ok, `${label} must be refused, got ${result.detail}`);
    assertMatch(result.detail, /certificate|altnames/i, label);
  }
  note(
    `local CA: ${good.detail}; impostor: "${refused.impostor.detail}"; ` +
      `wrong name: "${refused.wrongName.detail.split(":")[0]}"`,
  );
});

reliabilityTest("AMQPS: a whole network runs over verified TLS", {
  fault: "control, gateway and two hosts on test-<role>.json (amqps://localhost, local CA)",
  expected: "every service connects over TLS (broker agrees); apps/echo deploys and answers 200",
}, async (note) => {
  for (const service of net.services.values()) {
    const record = connectedRecord(service.output);
    assert(record, `${service.label} logged amqp connected`);
    assertMatch(record.url, /^amqps:\/\/[^:]+:\*\*\*@localhost:\d+\//, service.label);
  }
  await net.deploy(`${ROOT}/apps/echo`, "echo-tls", ECHO);
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await net.gateway(ECHO, `/tls?i=${i}`);
    const body = await res.text();
    statuses.push(res.status);
    assertEquals(res.status, 200);
    assertEquals(body, `echo GET /tls?i=${i}\n`);
  }
  let detail = "";
  if (Deno.uid() === 0) {
    const tlsUsers = new Set(
      (await brokerConnections()).filter((c) => c.ssl && /^tlsv1\.[23]$/.test(c.protocol))
        .map((c) => c.user),
    );
    for (const user of ["dn-control", "dn-gateway", "dn-host"]) {
      assert(tlsUsers.has(user), `RabbitMQ lists a TLS connection of ${user}`);
    }
    detail = `; RabbitMQ lists TLS connections of ${[...tlsUsers].sort().join(", ")}`;
  }
  note(`${statuses.length}/20 GETs answered 200 over AMQPS${detail}`);
});

reliabilityTest("AMQPS: a gateway with the wrong CA never connects", {
  fault: "a gateway whose amqpCaFile is an impostor CA (same subject, other key)",
  expected: "it logs the certificate error and never connects to the broker; requests are " +
    "answered at once, over the direct path to the hosts (which needs no broker)",
}, async (note) => {
  // Deployed by the test before unless it ran alone (--filter).
  if ((await net.api("GET", "/v1/apps/echo-tls")).status !== 200) {
    await net.deploy(`${ROOT}/apps/echo`, "echo-tls", ECHO);
  }
  const port = freePort();
  const gateway = net.spawn("gateway", "gateway-impostor-ca", [], {
    DN_AMQP_CA_FILE: await impostorCa(),
    DN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
    DN_GATEWAY_METRICS_LISTEN: "127.0.0.1:0", // beside the network's own gateway
    DN_GATEWAY_HTTPS_LISTEN: "127.0.0.1:0",
  });
  await gateway.waitFor("gateway listening");
  await gateway.waitFor("amqp connect failed");
  const failure = gateway.output.split("\n").find((l) => l.includes('"amqp connect failed"'))!;
  const error = String(JSON.parse(failure).error);
  assertMatch(error, /certificate/i);
  // The domain table and the routes are loaded from Redis, so the app answers without the broker.
  const answers: { status: number; ms: number }[] = [];
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    answers.push(await httpStatus(port, ECHO));
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const a of answers) assertEquals(a.status, 200);
  const slowest = Math.max(...answers.map((a) => a.ms));
  assert(slowest < 1000, `answered at once, slowest took ${slowest} ms`);
  assert(!gateway.output.includes('"amqp connected"'), "the gateway never connected");
  await gateway.stop();
  note(
    `${answers.length} requests over 3 s: all 200 over the direct path (slowest ` +
      `${Math.round(slowest)} ms); ` +
      `logged "${error}"`,
  );
});
