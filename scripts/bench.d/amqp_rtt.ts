/**
 * AMQP RPC round trips with amqp-client, side by side in one run: the bus
 * part of `dn status`'s LATENCY without dn's code. A requester (control's test
 * user) publishes `status.bench.<key>` on the `dn` exchange with direct
 * reply-to; a responder in its own process (the hosts' test user, an
 * exclusive classic queue) answers at once. The socket both sides use:
 *
 *   - `node:tls`: amqp-client's own (`tls.connect`), then `setNoDelay(true)`
 *     on it, as lib/amqp.ts does.
 *   - `Deno TLS`: ./deno_tls_socket.ts (`Deno.connect` with TCP_NODELAY, then
 *     `Deno.startTls`), to see whether node:tls is the slow part.
 *   - `plain` (with `--private` only): plain TCP with `setNoDelay(true)`, to a
 *     plain listener opened for the run.
 *
 * And a baseline without a broker: `TCP echo`, the requester's 200 bytes sent
 * back by a Deno process over plain loopback TCP (TCP_NODELAY both sides).
 *
 * Each round asks once per kind, in an order that rotates each round, so load
 * from elsewhere falls on all alike. Three series: `--gap` idle ms before each
 * request (a `dn status` finds control, RabbitMQ and the hosts idle); the same
 * gap, then two requests of which the second is recorded; back to back. The
 * legs come from wall clocks (`performance.timeOrigin + now()`) of the two
 * processes: out = requester's publish → responder's consumer, back =
 * responder's publish → requester's consumer. On the shared infra by default;
 * `--private` starts a private RabbitMQ (scripts/infra, state in
 * /var/lib/dn-amqprtt) with a plain listener beside the TLS one and stops it
 * at the end. Prints the markdown section on stdout (with `--write`, also
 * into BENCHMARKS.md as "## AMQP round trip"), progress on stderr.
 *
 *   deno run -A scripts/bench.d/amqp_rtt.ts [--rounds N] [--gap MS] [--private] [--write]
 *
 * (default 60 rounds with a 100 ms gap per series, 300 back to back; under
 * a minute.)
 *
 * @module
 */

import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { parseArgs } from "node:util";
import { amqpClient } from "./deno_tls_socket.ts";
import { writeSection } from "./section.ts";
import { PrivateInfra } from "../../tests/helpers/infra.ts";
import { infraConfig, ROOT, STATE_DIR } from "../../tests/helpers/network.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "60" },
    gap: { type: "string", default: "100" },
    private: { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    respond: { type: "string" },
  },
});
const EXCHANGE = "dn";
const REPLY_TO = "amq.rabbitmq.reply-to";
const PLAIN_PORT = 6681;
const HOT_ROUNDS = 300;
const ECHO_BYTES = 200;

/** How requester and responder talk: a socket kind and the broker URLs and CA for it. */
interface Side {
  name: "node:tls" | "Deno TLS" | "plain" | "TCP echo";
  control: string;
  host: string;
  ca: string;
}

/** One round trip: total, and the two legs by wall clock (NaN when not known). */
interface Trip {
  totalMs: number;
  outMs: number;
  backMs: number;
}

/** Wall clock in ms with sub-ms digits, comparable between processes. */
const wallMs = () => performance.timeOrigin + performance.now();

function say(text: string): void {
  console.error(`bench-amqp-rtt: ${text}`);
}

/** Opens a connection of `side`'s kind to `url`. */
async function connect(side: Side, url: string): Promise<AMQPClient> {
  const caCerts = side.ca ? [Deno.readTextFileSync(side.ca)] : undefined;
  const client = side.name === "Deno TLS"
    ? amqpClient(url, caCerts)
    : new AMQPClient(url, caCerts ? { ca: caCerts } : undefined, null);
  await client.connect();
  if (side.name !== "Deno TLS") {
    (client as unknown as { socket?: { setNoDelay(v: boolean): void } }).socket?.setNoDelay(true);
  }
  return client;
}

/** The responder process: answers each request on `status.bench.<key>` with its clock readings. */
async function respond(side: Side, key: string): Promise<never> {
  if (side.name === "TCP echo") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    console.log(JSON.stringify({ port: listener.addr.port }));
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const buffer = new Uint8Array(4096);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        await conn.write(buffer.subarray(0, n));
      }
    }
    Deno.exit(0);
  }
  const client = await connect(side, side.host);
  const channel = await client.channel();
  const queue = `dn.host.bench-${key}.status`;
  await channel.queueDeclare(queue, { durable: false, exclusive: true, autoDelete: true });
  await channel.queueBind(queue, EXCHANGE, `status.bench.${key}`);
  await channel.basicConsume(queue, { noAck: true }, (msg: AMQPMessage) => {
    const received = wallMs();
    const reply = JSON.stringify({ received, replied: wallMs() });
    channel.basicPublish("", msg.properties.replyTo!, reply, {
      correlationId: msg.properties.correlationId,
    }).catch((e) => say(`reply failed: ${e}`));
  });
  console.log("{}");
  return await new Promise<never>(() => {});
}

if (values.respond !== undefined) {
  const [key, ...rest] = values.respond.split("/");
  await respond(JSON.parse(decodeURIComponent(rest.join("/"))), key);
}

/** A requester and its responder process for one side. */
class Pair {
  #request: (() => Promise<Trip>) | null = null;
  #close: () => Promise<void> = () => Promise.resolve();

  private constructor(readonly side: Side, readonly responder: Deno.ChildProcess) {}

  static async open(side: Side, index: number): Promise<Pair> {
    const key = `rtt${Deno.pid}x${index}`;
    const responder = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        "--respond",
        `${key}/${encodeURIComponent(JSON.stringify(side))}`,
      ],
      cwd: ROOT,
      stdout: "piped",
    }).spawn();
    const pair = new Pair(side, responder);
    const reader = responder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    reader.releaseLock();
    if (first.done) throw new Error(`${side.name} responder did not start`);
    const hello = JSON.parse(first.value) as { port?: number };
    if (hello.port) await pair.#openEcho(hello.port);
    else await pair.#openAmqp(key);
    return pair;
  }

  async #openEcho(port: number): Promise<void> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const message = new Uint8Array(ECHO_BYTES);
    const buffer = new Uint8Array(4096);
    this.#request = async () => {
      const started = performance.now();
      await conn.write(message);
      for (let got = 0; got < ECHO_BYTES;) got += (await conn.read(buffer)) ?? ECHO_BYTES;
      return { totalMs: performance.now() - started, outMs: NaN, backMs: NaN };
    };
    this.#close = () => Promise.resolve(conn.close());
  }

  async #openAmqp(key: string): Promise<void> {
    const client = await connect(this.side, this.side.control);
    const channel = await client.channel();
    const user = decodeURIComponent(new URL(this.side.control).username);
    let pending: ((reply: { received: number; replied: number }) => void) | null = null;
    await channel.basicConsume(REPLY_TO, { noAck: true }, (msg) => {
      pending?.(JSON.parse(new TextDecoder().decode(msg.body!)));
    });
    let next = 0;
    this.#request = () =>
      new Promise<Trip>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${this.side.name}: no reply in 5 s`)),
          5000,
        );
        const sentAt = wallMs();
        const started = performance.now();
        pending = ({ received, replied }) => {
          const totalMs = performance.now() - started;
          clearTimeout(timer);
          resolve({ totalMs, outMs: received - sentAt, backMs: wallMs() - replied });
        };
        channel.basicPublish(EXCHANGE, `status.bench.${key}`, "{}", {
          replyTo: REPLY_TO,
          correlationId: `r${++next}`,
          userId: user,
        }).catch(reject);
      });
    this.#close = () => client.close().catch(() => {});
  }

  /** One request and its reply. */
  roundTrip(): Promise<Trip> {
    return this.#request!();
  }

  async close(): Promise<void> {
    await this.#close();
    this.responder.kill();
    await this.responder.status;
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Rounds of one request per pair, the order rotating; `gapMs` idle before
 * each request; with `warm`, an unrecorded request goes first, right before
 * the recorded one.
 */
async function measure(
  pairs: Pair[],
  rounds: number,
  gapMs: number,
  warm = false,
): Promise<Trip[][]> {
  const trips = pairs.map(() => [] as Trip[]);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < pairs.length; i++) {
      const at = (round + i) % pairs.length;
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      if (warm) await pairs[at].roundTrip();
      trips[at].push(await pairs[at].roundTrip());
    }
  }
  return trips;
}

/** The sides to compare: on the shared infra, or on a private one with a plain listener too. */
function sides(stateDir: string, plainPort?: number): Side[] {
  const control = infraConfig("test-control", stateDir).amqpUrl;
  const host = infraConfig("test-host", stateDir).amqpUrl;
  const ca = infraConfig("test-control", stateDir).amqpCaFile;
  const plain = (url: string) => {
    const u = new URL(url);
    u.protocol = "amqp:";
    u.port = String(plainPort);
    return u.toString();
  };
  return [
    { name: "node:tls", control, host, ca },
    { name: "Deno TLS", control, host, ca },
    ...(plainPort === undefined
      ? []
      : [{ name: "plain" as const, control: plain(control), host: plain(host), ca: "" }]),
    { name: "TCP echo", control: "", host: "", ca: "" },
  ];
}

async function rabbitEval(infra: PrivateInfra, expr: string): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `source ${ROOT}/scripts/infra && rabbit_env && rabbitmqctl -q eval '${expr}'`],
    env: infra.env(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`rabbitmqctl eval ${expr}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** One table row: p50/p90/p99/min of the totals, p50 of each leg. */
function row(side: Side, label: string, trips: Trip[]): string {
  const totals = trips.map((t) => t.totalMs);
  const f = (v: number) => Number.isNaN(v) ? "" : v.toFixed(2);
  const leg = (pick: (t: Trip) => number) => f(percentile(trips.map(pick), 50));
  return `| ${side.name} | ${label} | ${trips.length} | ${f(percentile(totals, 50))} | ` +
    `${f(percentile(totals, 90))} | ${f(percentile(totals, 99))} | ${f(Math.min(...totals))} | ` +
    `${leg((t) => t.outMs)} | ${leg((t) => t.backMs)} |`;
}

const rounds = Number(values.rounds);
const gap = Number(values.gap);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(gap) || gap < 0) {
  say("usage: amqp_rtt.ts [--rounds N] [--gap MS] [--private] [--write]");
  Deno.exit(2);
}
const loadAverage = async () =>
  (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const loadBefore = await loadAverage();
const infra = values.private
  ? new PrivateInfra("amqprtt", { amqps: 6680, dist: 26680, redis: 6689, registry: 6643 })
  : null;
const pairs: Pair[] = [];
const table = [
  "| socket | requests | n | p50 | p90 | p99 | min | out p50 | back p50 |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
try {
  if (infra) {
    say(`private RabbitMQ in ${infra.stateDir}`);
    await infra.up("rabbitmq");
    await rabbitEval(
      infra,
      `rabbit_networking:start_tcp_listener({"127.0.0.1", ${PLAIN_PORT}}, 10).`,
    );
  }
  for (
    const [i, side] of sides(infra?.stateDir ?? STATE_DIR, infra ? PLAIN_PORT : undefined).entries()
  ) {
    pairs.push(await Pair.open(side, i));
  }
  await measure(pairs, 20, 0); // warm-up
  const series: [string, number, number, boolean][] = [
    [`${gap} ms idle before each`, rounds, gap, false],
    [`${gap} ms idle, then 2: the 2nd`, rounds, gap, true],
    ["back to back", HOT_ROUNDS, 0, false],
  ];
  for (const [label, n, gapMs, warm] of series) {
    say(`${n} rounds: ${label}`);
    const trips = await measure(pairs, n, gapMs, warm);
    table.push(...pairs.map((p, i) => row(p.side, label, trips[i])));
  }
} finally {
  for (const pair of pairs) await pair.close();
  if (infra) await infra.down().catch((e) => say(String(e)));
}
const commit = new TextDecoder().decode(
  (await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: ROOT }).output())
    .stdout,
).trim();
const broker = infra
  ? "a private RabbitMQ (scripts/infra, state in /var/lib/dn-amqprtt) with a plain listener opened beside " +
    "its AMQPS one for the run"
  : "the shared RabbitMQ (scripts/infra, AMQPS only)";
const section = [
  "## AMQP round trip",
  "",
  `Written by \`scripts/bench-amqp-rtt ${Deno.args.join(" ")}\` on ` +
  `${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC (commit ${commit}); load average ` +
  `${loadBefore} before, ${await loadAverage()} after (2 cores shared with other work, so under load). ` +
  `Broker: ${broker}, one node, vhost dn-test. A requester (control's test user) publishes on the \`dn\` ` +
  `exchange with direct reply-to; a responder process (the hosts' test user, an exclusive classic queue) ` +
  `answers at once; both use the socket of the row. "TCP echo": no broker, 200 bytes sent back by a ` +
  `Deno process over loopback TCP. Rounds ask once per socket kind, the order rotating. Series: ` +
  `${gap} ms idle before each request (as a \`dn status\` typed by hand finds every process), the same ` +
  `idle then two requests of which the second is recorded, and back to back. out / back: requester's ` +
  `publish → responder's consumer, responder's publish → requester's consumer (wall clocks of the two ` +
  `processes). Times in ms.`,
  "",
  ...table,
].join("\n");
console.log(section);
if (values.write) await writeSection(`${ROOT}/BENCHMARKS.md`, "## AMQP round trip", section);
