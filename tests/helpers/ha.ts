/**
 * A private infrastructure without a single point (scripts/ha on top of a
 * {@link PrivateInfra}): a 3-node RabbitMQ cluster, a Redis primary with two
 * replicas and three Sentinels, with ways to kill any of them.
 *
 * @module
 */

import { type InfraPorts, PrivateInfra } from "./infra.ts";
import { assert, assertEquals } from "./assert.ts";
import { sleep } from "./load.ts";
import { ROOT, type TestNetwork } from "./network.ts";

/** Ports of the HA parts (three each; RabbitMQ node 1 is the PrivateInfra's). */
export interface HaPorts {
  /** AMQPS and dist ports of RabbitMQ nodes 2 and 3. */
  amqps: [number, number];
  dist: [number, number];
  redis: [number, number, number];
  sentinel: [number, number, number];
}

/** What scripts/ha status reports. */
export interface HaStatus {
  rabbitNodes: number;
  primary: string;
  replicas: number;
}

/** Runs a command, failing with its output. */
async function run(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Sends `signal` to the pid in `file` and waits until that process is gone. */
export async function killPidFile(file: string, signal: Deno.Signal = "SIGKILL"): Promise<void> {
  const pid = Number(Deno.readTextFileSync(file).trim());
  Deno.kill(pid, signal);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file}: process ${pid} did not stop`);
}

/**
 * The HA infrastructure of one test file. Worktrees of this repository
 * share the machine, so a run holds an exclusive lock from {@link upHa} to
 * {@link downHa}: a second run waits instead of killing the first one's nodes.
 */
export class HaInfra extends PrivateInfra {
  #lock: Deno.FsFile | null = null;

  /** Describes (does not start) the infrastructure. */
  constructor(name: string, ports: InfraPorts, readonly ha: HaPorts) {
    super(name, ports);
  }

  /** Environment of scripts/infra and scripts/ha. */
  override env(): Record<string, string> {
    return {
      ...super.env(),
      DN_HA_AMQPS_PORTS: this.ha.amqps.join(","),
      DN_HA_DIST_PORTS: this.ha.dist.join(","),
      DN_HA_REDIS_PORTS: this.ha.redis.join(","),
      DN_HA_SENTINEL_PORTS: this.ha.sentinel.join(","),
    };
  }

  /** Starts (or restarts what is down) and returns scripts/ha's status output. */
  async upHa(): Promise<string> {
    if (!this.#lock) {
      await Deno.mkdir(this.stateDir, { recursive: true });
      const file = await Deno.open(`${this.stateDir}.tests.lock`, { create: true, write: true });
      await file.lock(true);
      this.#lock = file;
    }
    return await run(`${ROOT}/scripts/ha`, ["up"], this.env());
  }

  /** Stops the HA parts and scripts/infra's, and lets the next run in. */
  async downHa(): Promise<void> {
    try {
      await run(`${ROOT}/scripts/ha`, ["down"], this.env());
      await this.down();
    } finally {
      this.#lock?.close();
      this.#lock = null;
    }
  }

  /** Cluster members running, the primary and its connected replicas. */
  async status(): Promise<HaStatus> {
    const text = await run("bash", ["-c", `"${ROOT}/scripts/ha" status || true`], this.env());
    return {
      rabbitNodes: Number(/rabbitmq: (\d+) of 3/.exec(text)?.[1] ?? 0),
      primary: /primary (\S+),/.exec(text)?.[1] ?? "",
      replicas: Number(/, (\d+) replicas/.exec(text)?.[1] ?? 0),
    };
  }

  /** SIGKILLs RabbitMQ node `k` (1-3). */
  async killRabbit(k: number): Promise<void> {
    const dir = k === 1 ? "rabbitmq" : `rabbitmq-${k}`;
    await killPidFile(`${this.stateDir}/${dir}/rabbitmq.pid`);
  }

  /**
   * Tries to reach RabbitMQ node `k` as an Erlang node with another cookie
   * (rabbitmqctl, itself an Erlang node, from a home of its own); returns
   * whether it was refused and the node's log line saying so ("" if none).
   */
  async foreignCookie(k: number): Promise<{ refused: boolean; logged: string }> {
    const home = await Deno.makeTempDir();
    const name = k === 1 ? this.env().DN_AMQP_NODE : this.env().DN_AMQP_NODE.replace("@", `${k}@`);
    const logFile = `${this.stateDir}/${k === 1 ? "rabbitmq" : `rabbitmq-${k}`}/log/${name}.log`;
    const logLength = (await Deno.readTextFile(logFile)).length;
    try {
      await Deno.writeTextFile(`${home}/.erlang.cookie`, crypto.randomUUID().replaceAll("-", ""), {
        mode: 0o400,
      });
      const out = await new Deno.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", {
        args: ["-n", name, "-q", "status"],
        env: {
          HOME: home,
          RABBITMQ_CTL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
          ERL_EPMD_ADDRESS: "127.0.0.1",
        },
        stdout: "null",
        stderr: "null",
      }).output();
      let logged = "";
      for (let i = 0; i < 50 && logged === ""; i++) { // the node writes its log a little later
        const added = (await Deno.readTextFile(logFile)).slice(logLength);
        logged = added.split("\n").find((line) => line.includes("Connection attempt")) ?? "";
        if (logged === "") await new Promise((r) => setTimeout(r, 100));
      }
      return { refused: !out.success, logged };
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  }

  /** SIGKILLs the Redis node listening on `port`; returns its node number (1-3). */
  async killRedis(port: number): Promise<number> {
    const k = this.ha.redis.indexOf(port as never) + 1;
    if (k === 0) throw new Error(`no redis node on port ${port}`);
    await killPidFile(`${this.stateDir}/ha-redis-${k}/redis.pid`);
    return k;
  }
}

/** One create control answered while a fault ran. */
export interface CreateAnswer {
  name: string;
  /** HTTP status, 0 when the request itself failed. */
  status: number;
  /** When the answer came (ms since the epoch). */
  at: number;
  /** How long it took, in ms. */
  ms: number;
}

/** What {@link createsAcross} saw. */
export interface CreatesAcross {
  answers: CreateAnswer[];
  /** When the fault was caused (ms since the epoch). */
  faultAt: number;
  /** Apps answered 201 that control does not list afterwards. */
  lost: string[];
  /** Answers other than 201 and the first 201 after them (ms after the fault; null: none). */
  failedFrom: number | null;
  failedUntil: number | null;
  backAfter: number | null;
  /** The longest create answered after the fault, in ms. */
  slowest: number;
}

/**
 * Creates an app (`<prefix><i>`, image `digest`) through `net`'s control every
 * 50 ms; after 1 s runs `fault`, and goes on until 5 creates after it were
 * answered 201 (at most 30 s). Then checks which acknowledged apps control lists.
 */
export async function createsAcross(
  net: TestNetwork,
  digest: string,
  prefix: string,
  fault: () => Promise<unknown>,
): Promise<CreatesAcross> {
  const answers: CreateAnswer[] = [];
  let running = true;
  const creating = (async () => {
    for (let i = 0; running; i++) {
      const name = `${prefix}${i}`;
      const sent = Date.now();
      const res = await net.api("POST", "/v1/apps", { name, hostname: `${name}.dn.test`, digest })
        .catch(() => ({ status: 0 }));
      answers.push({ name, status: res.status, at: Date.now(), ms: Date.now() - sent });
      await sleep(50);
    }
  })();
  await sleep(1000);
  const faultAt = Date.now();
  await fault();
  const deadline = Date.now() + 30_000;
  const after = () => answers.filter((a) => a.at > faultAt);
  while (Date.now() < deadline && after().filter((a) => a.status === 201).length < 5) {
    await sleep(100);
  }
  running = false;
  await creating;
  const failed = answers.filter((a) => a.status !== 201);
  const first = failed.find((a) => a.at > faultAt)?.at;
  const back = answers.find((a) => a.at > (first ?? faultAt) && a.status === 201)?.at;
  const listed = await net.api("GET", "/v1/apps");
  const names = new Set((listed.body?.apps as { name: string }[] ?? []).map((a) => a.name));
  return {
    answers,
    faultAt,
    lost: answers.filter((a) => a.status === 201 && !names.has(a.name)).map((a) => a.name),
    failedFrom: first === undefined ? null : first - faultAt,
    failedUntil: failed.length === 0 ? null : failed.at(-1)!.at - faultAt,
    backAfter: back === undefined ? null : back - faultAt,
    slowest: Math.max(0, ...after().map((a) => a.ms)),
  };
}

/** {@link createsAcross}'s findings in a sentence, for a RELIABILITY.md row. */
export function describeCreates(c: CreatesAcross): string {
  const counts: Record<string, number> = {};
  for (const a of c.answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  const failing = c.failedUntil === null
    ? "no 503"
    : `503 from ${c.failedFrom} to ${c.failedUntil} ms after the kill, first success after ` +
      `${c.backAfter} ms`;
  return `creates ${JSON.stringify(counts)}, ${failing}, the slowest create after the kill took ` +
    `${c.slowest} ms; ${c.lost.length} acknowledged creates lost`;
}

/**
 * Asserts what a failover must keep (see {@link createsAcross}): control
 * worked again, answered only 201 or 503 meanwhile, and lost no create it
 * acknowledged.
 */
export function assertCreatesHeld(c: CreatesAcross): void {
  assert(c.backAfter !== null, "control never worked again");
  assertEquals(
    c.answers.filter((a) => a.status !== 201 && a.status !== 503),
    [],
    "only 503 while failing over",
  );
  assertEquals(c.lost, [], "acknowledged creates lost");
}
