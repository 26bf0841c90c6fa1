/**
 * `dn status` through the real stack: each host's LATENCY (the bus round
 * trip) comes apart from the time the host took to answer (`dockerMs` in
 * `--json`), only this network's hosts are asked (`status.<app>.<host>`;
 * no host of another network on the vhost wakes), and the containers it shows come from the state each host keeps
 * from Docker's events (host/container_states.ts), so it must never show a
 * container as it was: a container killed outside dn, one whose process
 * crashed (Docker restarts it), and an app stopped with `dn stop` show so
 * within a second or two, far inside the state's 30 s backstop.
 *
 * No timing bound on LATENCY itself here (a loaded machine makes it
 * anything): `scripts/bench-status` is where its figure comes from.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { infraConfig, ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const APP = "stat";
const HOSTNAME = "stat.dn.test";
const opts = { sanitizeOps: false, sanitizeResources: false };
/** How soon a change must show, in ms: well under the 30 s backstop, generous for a loaded box. */
const PROMPTLY_MS = 3000;

let net: TestNetwork;
let dir: string;

interface Row {
  id: string;
  state: string;
  version: number;
  startedAt: string;
  finishedAt: string;
  restartCount?: number;
  exitCode: number;
}

interface HostRow {
  host: string;
  latencyMs: number;
  dockerMs?: number;
  containers: Row[];
}

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-status-" });
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/apps/hello-world/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME ${APP}\nAPP_HOSTNAME ${HOSTNAME}\nAPP_PORT 8000\n`,
  );
  net = await startNetwork();
  await net.deploy(dir, APP, HOSTNAME);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

/** `dn status --json`'s hosts. */
async function statusJson(): Promise<HostRow[]> {
  const r = await net.cli(["status", "--json"], dir);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).hosts;
}

/** Polls control's status (what `dn status` prints) until `done` holds; returns how long it took. */
async function shows(what: string, done: (hosts: HostRow[]) => boolean): Promise<number> {
  const started = performance.now();
  let hosts: HostRow[] = [];
  while (performance.now() - started < PROMPTLY_MS) {
    hosts = (await net.api("GET", `/v1/apps/${APP}/status`)).body.hosts;
    if (done(hosts)) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what}: not shown within ${PROMPTLY_MS} ms: ${JSON.stringify(hosts)}`);
}

/** The container `id` in `hosts`. */
function row(hosts: HostRow[], id: string): Row | undefined {
  return hosts.flatMap((h) => h.containers).find((c) => c.id === id);
}

async function docker(...args: string[]): Promise<string> {
  const out = await new Deno.Command("docker", { args, stdout: "piped", stderr: "piped" })
    .output();
  assert(out.success, `docker ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** A running container of the app on host `host`, as status shows it. */
async function runningOn(host: string): Promise<Row> {
  const hosts = await statusJson();
  const found = hosts.find((h) => h.host === host)?.containers.find((c) => c.state === "running");
  assert(found, `${host} runs ${APP}: ${JSON.stringify(hosts)}`);
  return found;
}

Deno.test("dn status: LATENCY per host, the host's own answering time apart", opts, async () => {
  const hosts = await statusJson();
  assertEquals(hosts.map((h) => h.host), [...net.hostNames].sort());
  for (const h of hosts) {
    assert(h.latencyMs > 0, `${h.host}: a bus round trip (${h.latencyMs} ms)`);
    assert(typeof h.dockerMs === "number" && h.dockerMs >= 0, `${h.host}: dockerMs apart`);
    assertEquals(h.containers.map((c) => c.state), ["running"]);
  }
  const table = await net.cli(["status"], dir);
  assertEquals(table.code, 0, table.stderr);
  const header = table.stdout.split("\n").find((l) => l.startsWith("HOST "));
  assertMatch(header ?? "", /LATENCY$/);
  for (const host of net.hostNames) {
    const line = table.stdout.split("\n").find((l) => l.startsWith(`${host} `));
    assertMatch(line ?? "", /\d+(\.\d+)? ms$/, `${host}'s row ends with its latency`);
  }
});

Deno.test(
  "dn status asks this network's hosts only, not a host of another network",
  opts,
  async () => {
    // A host of another network on the same vhost: its status queue, bound as a host binds it.
    const { amqpUrl, amqpCaFile } = infraConfig("test-host");
    const client = new AMQPClient(amqpUrl, { ca: [Deno.readTextFileSync(amqpCaFile)] }, null);
    await client.connect();
    try {
      const ch = await client.channel();
      const stranger = `stranger-${crypto.randomUUID().slice(0, 8)}`;
      const queue = `dn.host.${stranger}.status`;
      await ch.queueDeclare(queue, { durable: false, exclusive: true, autoDelete: true });
      await ch.queueBind(queue, "dn", `status.*.${stranger}`);
      await ch.queueBind(queue, "dn", "status.*");
      const heard: string[] = [];
      await ch.basicConsume(queue, { noAck: true }, (msg) => void heard.push(msg.routingKey));
      const hosts = await statusJson();
      assertEquals(hosts.length, 3);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Other test networks' controls may be asking about their own apps meanwhile.
      const ours = heard.filter((key) => key.split(".")[1] === APP);
      assertEquals(ours, [], "the other network's host was not asked");
    } finally {
      await client.close();
    }
  },
);

reliabilityTest("dn status shows a container killed outside dn at once", {
  fault: "docker kill of an app container (SIGKILL, outside dn) on one of three hosts",
  expected: `dn status shows that container's run ended (exit 137) within ${PROMPTLY_MS} ms`,
}, async (note) => {
  const host = net.hostNames[0];
  const before = await runningOn(host);
  await docker("kill", before.id);
  const took = await shows("the kill", (hosts) => {
    const now = row(hosts, before.id);
    return now !== undefined && now.finishedAt !== before.finishedAt && now.exitCode === 137;
  });
  note(`shown after ${took.toFixed(0)} ms (polling every 50 ms)`);
  // dn runs it again (its own converge); status shows that too.
  await net.waitForRunning(APP, 3);
});

reliabilityTest("dn status shows a crashed container's restart at once", {
  fault: "SIGKILL of an app container's first process from outside Docker (a crash)",
  expected:
    `dn status shows the restart (a new start time, one restart more) within ${PROMPTLY_MS} ms`,
}, async (note) => {
  const host = net.hostNames[1];
  const before = await runningOn(host);
  const pid = Number(await docker("inspect", "--format", "{{.State.Pid}}", before.id));
  assert(pid > 0, "the container has a process");
  Deno.kill(pid, "SIGKILL");
  const took = await shows("the restart", (hosts) => {
    const now = row(hosts, before.id);
    return now?.state === "running" && now.startedAt !== before.startedAt &&
      (now.restartCount ?? 0) === (before.restartCount ?? 0) + 1;
  });
  note(`shown after ${took.toFixed(0)} ms (polling every 50 ms)`);
});

Deno.test(
  "dn stop returns once status shows every container exited; dn start again",
  opts,
  async () => {
    // `dn stop` waits until status shows no container of the app running: a stale state never would.
    const started = performance.now();
    const stop = await net.cli(["stop"], dir);
    assertEquals(stop.code, 0, stop.stderr);
    console.log(`dn stop returned after ${(performance.now() - started).toFixed(0)} ms`);
    for (const h of await statusJson()) {
      assertEquals(h.containers.map((c) => c.state), ["exited"], h.host);
    }
    const start = await net.cli(["start"], dir);
    assertEquals(start.code, 0, start.stderr);
    for (const h of await statusJson()) {
      assertEquals(h.containers.map((c) => c.state), ["running"], h.host);
    }
  },
);
