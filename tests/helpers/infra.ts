/**
 * A private copy of the infrastructure (RabbitMQ, Redis, registry) for tests
 * that break it on purpose, so they never disturb the shared one. Started by
 * `scripts/infra up` with its own state dir, ports and node name.
 *
 * @module
 */

import { ROOT } from "./network.ts";

/** Ports of a private infrastructure. */
export interface InfraPorts {
  amqps: number;
  dist: number;
  redis: number;
  registry: number;
}

/** RabbitMQ, Redis and a registry of one test file's own. */
export class PrivateInfra {
  /** State dir holding data, secrets and config files. */
  readonly stateDir: string;

  /** Describes (does not start) an infrastructure named `name`. */
  constructor(readonly name: string, readonly ports: InfraPorts) {
    this.stateDir = `/var/lib/dn-${name}`;
  }

  /** The environment scripts/infra (and scripts/ha) run with. */
  env(): Record<string, string> {
    return {
      DN_STATE_DIR: this.stateDir,
      DN_AMQPS_PORT: String(this.ports.amqps),
      DN_AMQP_DIST_PORT: String(this.ports.dist),
      DN_AMQP_NODE: `dn${this.name.replace(/[^a-z0-9]/g, "")}@localhost`,
      DN_REDIS_PORT: String(this.ports.redis),
      DN_REGISTRY_TLS_PORT: String(this.ports.registry),
    };
  }

  async #infra(...args: string[]): Promise<void> {
    const out = await new Deno.Command(`${ROOT}/scripts/infra`, {
      args,
      env: this.env(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      throw new Error(`scripts/infra ${args.join(" ")} failed:\n${text}`);
    }
  }

  /** Starts the named parts (default: RabbitMQ, Redis, registry). */
  async up(...parts: string[]): Promise<this> {
    await this.#infra("up", ...(parts.length ? parts : ["rabbitmq", "redis", "registry"]));
    return this;
  }

  /** Stops everything. */
  async down(): Promise<void> {
    await this.#infra("down");
  }

  async #kill(pidFile: string, signal: Deno.Signal): Promise<void> {
    const pid = Number(Deno.readTextFileSync(`${this.stateDir}/${pidFile}`).trim());
    Deno.kill(pid, signal);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        Deno.kill(pid, "SIGCONT"); // still alive?
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${pidFile} did not stop`);
  }

  /** Stops RabbitMQ (SIGTERM to the node) and waits until it is gone. */
  async stopRabbit(): Promise<void> {
    await this.#kill("rabbitmq/rabbitmq.pid", "SIGTERM");
  }

  /** Stops Redis and waits until it is gone. */
  async stopRedis(): Promise<void> {
    await this.#kill("redis/redis.pid", "SIGTERM");
  }
}
