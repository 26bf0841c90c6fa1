/**
 * Every link to the infrastructure is TLS only, and verified: RabbitMQ has no
 * plain AMQP listener, Redis none for plain RESP, the registry none for plain
 * HTTP (scripts/infra). A server that presents a certificate from another CA
 * (a man in the middle carrying the real certificate's names, relaying to the
 * real daemons) is refused by the services, which say why in their logs.
 */
import { AMQPClient } from "@cloudamqp/amqp-client";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ImpostorRelay, makeImpostor } from "../helpers/impostor.ts";
import { freePort, infraConfig, ROOT, type Service, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { connectRedis, redisReady } from "../../lib/redis.ts";
import { Logger } from "../../lib/log.ts";

const GATEWAY = infraConfig("test-gateway");
const HOST = infraConfig("test-host");
const CA = Deno.readTextFileSync(GATEWAY.amqpCaFile);
const AMQP = new URL(GATEWAY.amqpUrl);
const REDIS = new URL(GATEWAY.redisUrl);
const REGISTRY_PORT = Number(HOST.registry.slice(HOST.registry.lastIndexOf(":") + 1));
const cleanup: (() => unknown)[] = [];

Deno.test.afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

/** `url` with its port (and, for AMQP, its host: the name in the certificate) changed. */
function withPort(url: URL, port: number): string {
  const copy = new URL(url);
  copy.port = String(port);
  return copy.toString();
}

/** Connects amqp-client with `tls`; the negotiated protocol, or the error. */
async function amqpConnect(url: string, tls?: { ca: string[] }): Promise<string> {
  const client = new AMQPClient(url, tls, null);
  try {
    await client.connect();
    await client.close();
    return "connected";
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
}

/** PINGs Redis at `url` (verified against `caFile`); "PONG", or the error. */
async function redisPing(url: string, caFile = ""): Promise<string> {
  const errors: string[] = [];
  const log = new Logger("test", "error");
  const client = connectRedis({ url, caFile, log, name: "links-tls-test" });
  client.on("error", (e: Error) => errors.push(e.message));
  try {
    await redisReady(client, 3000);
    return await client.ping();
  } catch (e) {
    return `refused: ${errors[0] ?? (e as Error).message}`;
  } finally {
    client.disconnect();
  }
}

/** What a plain TCP client gets back for `bytes` (up to 4 KiB, 3 s). */
async function plainExchange(port: number, bytes: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(bytes));
    const buf = new Uint8Array(4096);
    const timer = setTimeout(() => conn.close(), 3000);
    try {
      const n = await conn.read(buf);
      return n === null ? "" : new TextDecoder("latin1").decode(buf.subarray(0, n));
    } catch {
      return "";
    } finally {
      clearTimeout(timer);
    }
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

/** The protocols of RabbitMQ's listeners (rabbitmqctl, as root like scripts/infra). */
async function brokerListeners(): Promise<string[]> {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      `source ${ROOT}/scripts/infra && rabbit_env && rabbitmqctl -q status --formatter json`,
    ],
    stdin: "null",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const status = JSON.parse(new TextDecoder().decode(out.stdout));
  return (status.listeners as { protocol: string; port: number }[])
    .map((l) => `${l.protocol}:${l.port}`);
}

/** Waits until `service` has ended; its output lines. */
async function exitLines(service: Service, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  while (!service.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert(service.exited, `${service.label} did not stop:\n${service.output}`);
  return service.output.split("\n").filter((l) => l.trim() !== "");
}

/** The `error` of the first JSON log line of `output` whose msg is `msg`. */
function loggedError(output: string, msg: string): string {
  const line = output.split("\n").find((l) => l.includes(`"msg":"${msg}"`));
  return line ? String(JSON.parse(line).error) : "";
}

reliabilityTest("TLS links: RabbitMQ, Redis and the registry refuse plain connections", {
  fault: "plain AMQP 0-9-1, plain RESP and plain HTTP, with the right credentials, to the " +
    "broker's, Redis's and the registry's ports; the broker's listener list",
  expected: "RabbitMQ runs no plain AMQP listener and drops a plain handshake; Redis has " +
    "port 0 and closes a plain client unanswered; the registry answers plain HTTP with 400 only",
}, async (note) => {
  const listeners = await brokerListeners();
  assert(listeners.includes(`amqp/ssl:${AMQP.port}`), listeners.join(", "));
  for (const l of listeners) assertMatch(l, /^(amqp\/ssl|clustering):/, "no plain listener");
  const plainUrl = new URL(AMQP);
  plainUrl.protocol = "amqp:";
  const amqp = await amqpConnect(plainUrl.toString());
  assertMatch(amqp, /^refused/);
  // The AMQP 0-9-1 protocol header gets no Connection.Start, only a TLS alert or a close.
  const header = await plainExchange(Number(AMQP.port), "AMQP\x00\x00\x09\x01");
  assert(!header.includes("AMQP") && !header.includes("PLAIN"), JSON.stringify(header));

  const plainRedis = new URL(REDIS);
  plainRedis.protocol = "redis:";
  const redis = await redisPing(plainRedis.toString());
  assertMatch(redis, /^refused/);
  const password = decodeURIComponent(REDIS.password);
  const resp = await plainExchange(Number(REDIS.port), `AUTH ${password}\r\nPING\r\n`);
  assert(!resp.includes("+OK") && !resp.includes("+PONG"), JSON.stringify(resp));
  const port = await new Deno.Command("redis-cli", {
    args: ["--tls", "--cacert", GATEWAY.redisCaFile, "-p", REDIS.port, "config", "get", "port"],
    env: { REDISCLI_AUTH: password },
    stdin: "null",
  }).output();
  assertEquals(new TextDecoder().decode(port.stdout).trim().split("\n"), ["port", "0"]);
  assertEquals(await redisPing(GATEWAY.redisUrl, GATEWAY.redisCaFile), "PONG");

  const auth = btoa(`${HOST.registryUser}:${HOST.registryPassword}`);
  const http = await fetch(`http://${HOST.registry}/v2/`, {
    headers: { authorization: `Basic ${auth}` },
  });
  const body = await http.text();
  assertEquals(http.status, 400);
  assertMatch(body, /HTTP request to an HTTPS server/);
  note(
    `broker listeners ${listeners.join(", ")}; plain AMQP: "${amqp}"; plain Redis: ` +
      `"${redis}", raw RESP got ${resp.length} bytes, CONFIG GET port = 0; ` +
      `registry over plain HTTP: ${http.status} "${body.trim()}"`,
  );
});

reliabilityTest("TLS links: services refuse a server certificate from another CA", {
  fault: "a man in the middle presents a certificate for localhost and 127.0.0.1 from a CA " +
    "with the local CA's subject but another key, relaying to the real RabbitMQ, Redis and " +
    "registry; a gateway is given it as broker and Redis, a host as registry",
  expected: "clients that trust the impostor CA get through the relay (it works), yet the " +
    "gateway logs certificate errors for the broker and Redis and never connects, and the " +
    "host stops at start with one line naming registryCaFile",
}, async (note) => {
  const impostor = await makeImpostor();
  cleanup.push(impostor.remove);
  const relay = (port: number) => {
    const r = new ImpostorRelay(impostor, port, CA);
    cleanup.push(() => r.close());
    return r;
  };
  const broker = relay(Number(AMQP.port));
  const redis = relay(Number(REDIS.port));
  const registry = relay(REGISTRY_PORT);
  // The relays work for a client that trusts the impostor: only the certificate is wrong.
  assertEquals(
    await amqpConnect(withPort(AMQP, broker.port), { ca: [impostor.caPem] }),
    "connected",
  );
  assertEquals(await redisPing(withPort(REDIS, redis.port), impostor.caFile), "PONG");
  const viaImpostor = Deno.createHttpClient({ caCerts: [impostor.caPem] });
  const v2 = await fetch(`https://127.0.0.1:${registry.port}/v2/`, { client: viaImpostor });
  await v2.body?.cancel();
  viaImpostor.close();
  assertEquals(v2.status, 401, "the registry answers through the relay");

  const net = new TestNetwork([]);
  cleanup.push(() => net.stop());
  const gateway = net.spawn("gateway", "gateway-impostor", [], {
    DN_AMQP_URL: withPort(AMQP, broker.port),
    DN_REDIS_URL: withPort(REDIS, redis.port),
    DN_GATEWAY_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_METRICS_LISTEN: "127.0.0.1:0",
    DN_GATEWAY_HTTPS_LISTEN: "127.0.0.1:0",
  });
  await gateway.waitFor('"amqp connect failed"');
  await gateway.waitFor('"redis error"');
  const amqpError = loggedError(gateway.output, "amqp connect failed");
  const redisError = loggedError(gateway.output, "redis error");
  assertMatch(amqpError, /certificate/i);
  assertMatch(redisError, /certificate/i);
  await new Promise((r) => setTimeout(r, 1000)); // retries meanwhile
  assert(!gateway.output.includes('"amqp connected"'), "the gateway never reached the broker");
  assert(!gateway.output.includes('"redis connected"'), "the gateway never reached Redis");
  await gateway.stop();

  const host = net.spawn("host", "host-impostor-registry", ["--name", "impostor-registry"], {
    DN_REGISTRY: `127.0.0.1:${registry.port}`,
  });
  const lines = await exitLines(host);
  const stopped = lines.at(-1) ?? "";
  assertMatch(stopped, /registryCaFile .* does not verify/);
  assert(registry.refused >= 1 && broker.refused >= 1 && redis.refused >= 1, "handshakes refused");
  note(
    `gateway: broker "${amqpError}", Redis "${redisError}"; host: "${stopped}"; ` +
      `refused handshakes at the relays: broker ${broker.refused}, Redis ${redis.refused}, ` +
      `registry ${registry.refused}`,
  );
});
