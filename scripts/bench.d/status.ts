/**
 * Status latency benchmark for scripts/bench-status: what `dn status`
 * reports as each host's LATENCY (the bus round trip control → host →
 * control without the host's own handling time) and that handling time
 * (`dockerMs`), side by side with a bare AMQP RPC over the same broker,
 * library and path (control's user publishes `status.<key>` on the `dn`
 * exchange with direct reply-to; a responder process with the hosts' user
 * answers from an exclusive classic queue), rounds interleaved so both see
 * the same load.
 *
 * It starts a private network of this tree's code (tests/helpers/network.ts:
 * control, gateway, three hosts on the test vhost, logging at info) and
 * deploys apps/hello-world on all three. Prints the markdown section on
 * stdout, progress on stderr.
 *
 *   deno run -A scripts/bench.d/status.ts [--runs N] [--gap MS]   (default 40 runs, 250 ms)
 *   deno run -A scripts/bench.d/status.ts --respond KEY/NAME  (a baseline responder)
 *
 * @module
 */

import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { parseArgs } from "node:util";
import { infraConfig, ROOT, STATE_DIR, TestNetwork } from "../../tests/helpers/network.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string" }, gap: { type: "string" }, respond: { type: "string" } },
});
const EXCHANGE = "dn";
const REPLY_TO = "amq.rabbitmq.reply-to";
const APP = "status-bench";

function say(text: string): void {
  console.error(`bench-status: ${text}`);
}

/** Opens an AMQP connection with TCP_NODELAY, as lib/amqp.ts does. */
async function connect(role: string): Promise<AMQPClient> {
  const { amqpUrl, amqpCaFile } = infraConfig(`test-${role}`);
  const tls = amqpCaFile ? { ca: [Deno.readTextFileSync(amqpCaFile)] } : undefined;
  const client = new AMQPClient(amqpUrl, tls, null);
  await client.connect();
  (client as unknown as { socket?: { setNoDelay(v: boolean): void } }).socket?.setNoDelay(true);
  return client;
}

/** A baseline responder `name`: answers each request on `status.bench.<key>` with a small JSON body. */
async function respond(key: string, name: string): Promise<void> {
  const client = await connect("host");
  const channel = await client.channel();
  const queue = `dn.host.bench-${key}-${name}.status`;
  await channel.queueDeclare(queue, { durable: false, exclusive: true, autoDelete: true });
  await channel.queueBind(queue, EXCHANGE, `status.bench.${key}`);
  const encoder = new TextEncoder();
  await channel.basicConsume(queue, { noAck: true }, async (msg: AMQPMessage) => {
    const received = performance.now();
    const reply = JSON.stringify({
      host: name,
      containers: [],
      handledMs: performance.now() - received,
    });
    await channel.basicPublish("", msg.properties.replyTo!, encoder.encode(reply), {
      correlationId: msg.properties.correlationId,
    });
  });
  console.log("responding");
}

if (values.respond !== undefined) {
  const [key, name] = values.respond.split("/");
  await respond(key, name);
  await new Promise(() => {}); // until killed
}

/** What `dn status --json` says of each host. */
interface HostFigures {
  host: string;
  latencyMs: number;
  dockerMs?: number;
}

/** Round trips over the same path without dn's code on either side. */
class BaselineRpc {
  #pending = new Map<string, (reply: { host: string; handledMs: number }) => void>();
  #next = 0;
  private constructor(
    readonly client: AMQPClient,
    readonly channel: Awaited<ReturnType<AMQPClient["channel"]>>,
    readonly key: string,
    readonly user: string,
  ) {}

  static async open(key: string): Promise<BaselineRpc> {
    const client = await connect("control");
    const channel = await client.channel();
    const user = decodeURIComponent(new URL(infraConfig("test-control").amqpUrl).username);
    const rpc = new BaselineRpc(client, channel, key, user);
    await channel.basicConsume(REPLY_TO, { noAck: true }, (msg) => {
      const id = msg.properties.correlationId ?? "";
      rpc.#pending.get(id)?.(JSON.parse(new TextDecoder().decode(msg.body!)));
    });
    return rpc;
  }

  /**
   * One request to every responder: each one's round trip in ms without its
   * handling time, like dn's LATENCY, by responder.
   */
  async roundTrip(responders: number): Promise<Map<string, number>> {
    const id = `b${++this.#next}`;
    const started = performance.now();
    const times = new Map<string, number>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("baseline round trip timed out")), 5000);
      this.#pending.set(id, (reply) => {
        times.set(reply.host, performance.now() - started - reply.handledMs);
        if (times.size < responders) return;
        clearTimeout(timer);
        resolve();
      });
      this.channel.basicPublish(EXCHANGE, `status.bench.${this.key}`, null, {
        replyTo: REPLY_TO,
        correlationId: id,
        expiration: "5000",
        userId: this.user,
      }).catch(reject);
    });
    this.#pending.delete(id);
    return times;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function stats(values: number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    n: sorted.length,
  };
}

const ms = (v: number) => Number.isFinite(v) ? v.toFixed(2) : "-";

async function text(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

const runs = Number(values.runs ?? "40");
const gapMs = Number(values.gap ?? "250");
const RESPONDERS = ["r1", "r2", "r3"];
const key = crypto.randomUUID().slice(0, 8);
const loadBefore = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const responders = RESPONDERS.map((name) =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--respond", `${key}/${name}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
    env: { DN_STATE_DIR: STATE_DIR },
  }).spawn()
);
const net = new TestNetwork(["bench-a", "bench-b", "bench-c"], { env: { DN_LOG_LEVEL: "info" } });
const idle = () => new Promise((resolve) => setTimeout(resolve, gapMs));
/** Adds `value` to the series `name` of `into`. */
const add = (into: Map<string, number[]>, name: string, value: number) =>
  into.set(name, [...into.get(name) ?? [], value]);
try {
  for (const child of responders) {
    const ready = await child.stdout.getReader().read();
    if (!new TextDecoder().decode(ready.value).includes("responding")) {
      throw new Error("baseline responder did not start");
    }
  }
  const baseline = await BaselineRpc.open(key);
  say("starting a private network and deploying hello-world on three hosts");
  await net.start();
  await net.deploy(`${ROOT}/apps/hello-world`, APP, `${APP}.localhost`);
  for (let i = 0; i < 10; i++) await baseline.roundTrip(RESPONDERS.length); // warm-up
  for (let i = 0; i < 3; i++) await net.cli(["status", "--app", APP, "--json"]);
  const bus = new Map<string, number[]>();
  const docker = new Map<string, number[]>();
  const base = new Map<string, number[]>();
  const direct = new Map<string, number[]>();
  const directWarm = new Map<string, number[]>();
  const baseWarm = new Map<string, number[]>();
  say(`${runs} x (${gapMs} ms idle, bare RPC, ${gapMs} ms idle, dn status --json)`);
  for (let i = 0; i < runs; i++) {
    await idle();
    for (const [name, ms] of await baseline.roundTrip(RESPONDERS.length)) add(base, name, ms);
    // Right after: every process on the path is awake.
    for (const [name, ms] of await baseline.roundTrip(RESPONDERS.length)) add(baseWarm, name, ms);
    await idle();
    const out = await net.cli(["status", "--app", APP, "--json"]);
    if (out.code !== 0) throw new Error(`dn status failed: ${out.stderr}`);
    const report = JSON.parse(out.stdout) as { hosts: HostFigures[] };
    for (const h of report.hosts) {
      add(bus, h.host, h.latencyMs);
      add(docker, h.host, h.dockerMs ?? NaN);
    }
    await idle();
    const api = await net.api("GET", `/v1/apps/${APP}/status`);
    if (api.status !== 200) throw new Error(`status answered ${api.status}`);
    for (const h of api.body.hosts as HostFigures[]) add(direct, h.host, h.latencyMs);
    const again = await net.api("GET", `/v1/apps/${APP}/status`);
    for (const h of again.body.hosts as HostFigures[]) add(directWarm, h.host, h.latencyMs);
  }
  const loadAfter = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  await baseline.client.close();
  const commit = await text("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]);
  const when = new Date().toISOString().slice(0, 16).replace("T", " ");
  const row = (name: string, series: number[], handled?: number[]) => {
    const b = stats(series), d = handled ? stats(handled) : null;
    return `| ${name} | ${b.n} | ${ms(b.p50)} | ${ms(b.p99)} | ${ms(b.max)} | ${
      d ? ms(d.p50) : ""
    } | ${d ? ms(d.p99) : ""} |`;
  };
  console.log([
    `Written by \`scripts/bench-status --runs ${runs} --gap ${gapMs}\` on ${when} UTC ` +
    `(commit ${commit}); load average ${loadBefore} before, ${loadAfter} after (2 cores ` +
    `shared with other work). A private network of this tree's code (control, gateway, three ` +
    `hosts, logging at info) runs apps/hello-world on all three hosts. ${runs} times: ` +
    `${gapMs} ms idle, one bare AMQP RPC to three responder processes (the same library and ` +
    `broker: control's user publishes \`status.<key>\` on the \`dn\` exchange with direct ` +
    `reply-to; each responder, with the hosts' user, answers from its exclusive classic queue ` +
    `and its own handling time is subtracted, as dn does), ${gapMs} ms idle, one ` +
    `\`dn status --json\`, ${gapMs} ms idle, one \`GET /v1/apps/<app>/status\` from the ` +
    `benchmark process (rows "(API)": control's same answer without a CLI starting beside it). ` +
    `Rows "warm": a second request right after the first (API) or the bare RPC, every process ` +
    `on the path still awake. LATENCY and dockerMs are what dn reported. The bare RPC rows are ` +
    `the floor on this machine: the same broker hops and the same wake-ups of idle processes, ` +
    `without dn's code.`,
    "",
    "| host | runs | LATENCY p50 (ms) | p99 | max | dockerMs p50 (host's handling) | p99 |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...[...bus.keys()].sort().map((host) => row(host, bus.get(host)!, docker.get(host)!)),
    ...[...direct.keys()].sort().map((host) => row(`${host} (API)`, direct.get(host)!)),
    ...[...base.keys()].sort().map((name) => row(`*bare RPC, ${name}*`, base.get(name)!)),
    ...[...directWarm.keys()].sort().map((host) =>
      row(`${host} (API, warm)`, directWarm.get(host)!)
    ),
    ...[...baseWarm.keys()].sort().map((name) =>
      row(`*bare RPC, ${name}, warm*`, baseWarm.get(name)!)
    ),
  ].join("\n"));
} finally {
  await net.stop().catch(() => {});
  for (const child of responders) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}
