/**
 * Machines for end-to-end tests: network namespaces with their own dockerd on
 * a bridge, made by `scripts/machines` (what `scripts/up --machines N` runs),
 * on their own bridge, address range and names (net `dnt`, 10.78.0.0/24), so
 * tests and a local `scripts/up --machines` network coexist. The tests start
 * each machine's host themselves ({@link Machines.place}), so they own its
 * process and logs.
 *
 * @module
 */

import { type HostPlace, ROOT, STATE_DIR } from "./network.ts";

/** Where the claims on nets are (one lock per net for the whole box). */
const LOCK_DIR = "/run/lock";

/** Output of a `scripts/machines` run. */
export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `scripts/machines ha-status` reports. */
export interface HaMachinesStatus {
  /** RabbitMQ cluster members running. */
  rabbitNodes: number;
  /** The Redis primary as the Sentinels name it (`address:port`). */
  primary: string;
  /** Replicas the Sentinels see up and the primary has in sync. */
  replicas: number;
}

/**
 * The test machines of one net. Test runs on one box (several worktrees, a
 * bench) share the net's names and range: each claims the net with an
 * exclusive lock from {@link up} to {@link down}, so a second run waits for
 * the first instead of tearing its machines down.
 */
export class Machines {
  #lock: Deno.FsFile | null = null;

  /** Creates the handle (nothing is started). */
  constructor(readonly net = "dnt", readonly subnet = "10.78.0") {}

  async #claim(): Promise<void> {
    if (this.#lock) return;
    // Namespaces and bridges are the box's, whatever the state dir: so is the lock.
    await Deno.mkdir(LOCK_DIR, { recursive: true });
    const file = await Deno.open(`${LOCK_DIR}/dn-machines-${this.net}.tests.lock`, {
      create: true,
      write: true,
    });
    await file.lock(true);
    this.#lock = file;
  }

  /** The edge's address on the bridge. */
  get edge(): string {
    return `${this.subnet}.1`;
  }

  /** Name of machine `i` (1-based): its namespace and host name. */
  name(i: number): string {
    return `${this.net}-m${i}`;
  }

  /** Address of machine `name` on the bridge. */
  address(name: string): string {
    return `${this.subnet}.${this.#index(name) + 1}`;
  }

  #index(name: string): number {
    const i = Number(name.slice(`${this.net}-m`.length));
    if (!name.startsWith(`${this.net}-m`) || !Number.isInteger(i) || i < 1) {
      throw new Error(`${name} is not a machine of ${this.net}`);
    }
    return i;
  }

  /** Runs `scripts/machines ARGS...`. */
  async script(...args: string[]): Promise<ScriptResult> {
    const out = await new Deno.Command(`${ROOT}/scripts/machines`, { args, cwd: ROOT }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  }

  /**
   * Brings up machines 1..`count` (running ones are kept, unless this run is
   * the first to claim the net: then leftovers of an interrupted run go
   * first), with no hosts; with `ha`, a RabbitMQ node, a Redis and a Sentinel
   * on each of machines 1-3 (`scripts/machines up --ha`).
   */
  async up(count: number, { ha = false } = {}): Promise<string[]> {
    if (!this.#lock) {
      await this.#claim();
      await this.#down();
    }
    const res = await this.script(
      "up",
      String(count),
      "--net",
      this.net,
      "--subnet",
      this.subnet,
      "--test",
      "--no-hosts",
      ...(ha ? ["--ha"] : []),
    );
    if (res.code !== 0) throw new Error(`machines up failed: ${res.stderr}${res.stdout}`);
    return Array.from({ length: count }, (_, i) => this.name(i + 1));
  }

  /** Removes every machine of this net, the bridge and their data, and frees the net. */
  async down(): Promise<void> {
    if (!this.#lock) return; // not ours
    try {
      await this.#down();
    } finally {
      this.#lock.close();
      this.#lock = null;
    }
  }

  async #down(): Promise<void> {
    const res = await this.script("down", "--net", this.net);
    if (res.code !== 0) throw new Error(`machines down failed: ${res.stderr}`);
  }

  /** SIGKILLs every process of machine `name` at once. */
  async kill(name: string): Promise<void> {
    await this.#fault("kill", name);
  }

  /** Drops every packet in and out of machine `name`. */
  async cut(name: string): Promise<void> {
    await this.#fault("cut", name);
  }

  /** Undoes {@link cut}. */
  async heal(name: string): Promise<void> {
    await this.#fault("heal", name);
  }

  async #fault(what: string, name: string): Promise<void> {
    this.#index(name);
    const res = await this.script(what, name);
    if (res.code !== 0) throw new Error(`machines ${what} ${name} failed: ${res.stderr}`);
  }

  /** RabbitMQ nodes running, the Redis primary and its replicas in sync (`--ha` machines). */
  async haStatus(): Promise<HaMachinesStatus> {
    const res = await this.script("ha-status", "--net", this.net, "--subnet", this.subnet);
    return {
      rabbitNodes: Number(/rabbitmq: (\d+) of/.exec(res.stdout)?.[1] ?? 0),
      primary: /primary (\S+),/.exec(res.stdout)?.[1] ?? "",
      replicas: Number(/, (\d+) replicas/.exec(res.stdout)?.[1] ?? 0),
    };
  }

  /** SIGKILLs one daemon of the HA set on machine `name`. */
  async killPart(name: string, part: "rabbitmq" | "redis" | "sentinel"): Promise<void> {
    this.#index(name);
    const res = await this.script("kill-part", name, part);
    if (res.code !== 0) throw new Error(`machines kill-part ${name} ${part} failed: ${res.stderr}`);
  }

  /** Runs `args` inside machine `name` (its network namespace and /etc/netns files). */
  async exec(name: string, args: string[]): Promise<ScriptResult> {
    const out = await new Deno.Command("ip", { args: ["netns", "exec", name, ...args] }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  }

  /**
   * Starts a hidden Erlang node inside machine `name` (`--ha` machines) with
   * the cluster's cookie, from a home of its own, that pings RabbitMQ `node`
   * once over the Erlang distribution and stops; returns the answer, `pong` or
   * `pang`. With `optFile` (an `-ssl_dist_optfile`) it speaks TLS, else plain.
   */
  async distPing(name: string, node: string, optFile?: string): Promise<string> {
    const home = await Deno.makeTempDir({ prefix: "dn-dist-probe-" });
    try {
      await Deno.copyFile(`${STATE_DIR}/machines/${this.net}.cookie`, `${home}/.erlang.cookie`);
      await Deno.chmod(`${home}/.erlang.cookie`, 0o400);
      const tls = optFile ? ["-proto_dist", "inet_tls", "-ssl_dist_optfile", optFile] : [];
      const probe = `probe${crypto.randomUUID().slice(0, 8)}@${this.address(name)}`;
      const res = await this.exec(name, [
        ..."env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin".split(" "),
        `HOME=${home}`,
        ..."erl -noshell -hidden -name".split(" "),
        probe,
        ...tls,
        "-eval",
        `io:format("~s~n", [net_adm:ping('${node}')]), halt().`,
      ]);
      // OTP's TLS notices ("TLS client: ... Unknown CA") go to stdout too, before or after.
      const lines = res.stdout.trim().split("\n");
      return lines.find((line) => line === "pong" || line === "pang") ?? lines.at(-1) ?? "";
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  }

  /** Where the host of machine `name` runs (for `TestNetworkOptions.hostPlace`). */
  place(name: string): HostPlace | undefined {
    if (!name.startsWith(`${this.net}-m`)) return undefined;
    return {
      enter: ["ip", "netns", "exec", name],
      config: this.configFile(name),
      dockerSocket: this.dockerSocket(name),
    };
  }

  /**
   * Where machine `name`'s gateway runs (`--ha`: machines 1 and 2), for
   * {@link TestNetwork.spawn}; it listens on the machine's address.
   */
  gatewayPlace(name: string): HostPlace {
    this.#index(name);
    return {
      enter: ["ip", "netns", "exec", name],
      config: `${STATE_DIR}/config/test-gateway-${name}.json`,
      dockerSocket: this.dockerSocket(name),
    };
  }

  /** The host config file `scripts/machines` wrote for machine `name`. */
  configFile(name: string): string {
    return `${STATE_DIR}/config/machine-${name}.json`;
  }

  /** Machine `name`'s Docker socket. */
  dockerSocket(name: string): string {
    return `${STATE_DIR}/machines/${name}/docker.sock`;
  }
}
