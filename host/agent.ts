/**
 * The host agent: converges this host on the desired state of every app.
 *
 * Desired state lives in Redis. The agent converges an app when a command
 * arrives on its own queue (`dn.host.<name>`, bound to `start|stop|remove|
 * update.*`; status requests, `status.*`, on the connection's own classic
 * queue `dn.host.<name>.status`), when control's change event arrives on Redis pub/sub,
 * after every (re)connect, and on a timer, so a host that missed anything
 * catches up. Work on one app is serialised; apps proceed independently.
 *
 * The command queue is a quorum queue: replicated on every node of a
 * RabbitMQ cluster, so a command survives the loss of the node it was on,
 * and acked only once handled, so one a host took but did not finish (it
 * died, or its node did) is delivered again. It outlives the host's
 * connection, so it is not exclusive; it is dropped after 30 min without a
 * consumer (a host gone for good), and commands older than 5 min are dropped
 * (a host back after longer converges from Redis anyway).
 *
 * @module
 */

import type { AMQPChannel, AMQPMessage } from "@cloudamqp/amqp-client";
import type { AppRecord, HostFailure, HostReport } from "../lib/apps.ts";
import {
  COMMAND_KINDS,
  COMMAND_TYPE,
  decodeCommand,
  decodeStatusRequest,
  encodeStatusReply,
  STATUS_REPLY_TYPE,
} from "../lib/commands.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName } from "../lib/names.ts";
import { AppNotFoundError, type AppStore } from "../lib/store.ts";
import { hostProblem } from "../lib/readiness.ts";
import { releaseOf } from "../lib/routes.ts";
import { type Containers, isCurrent } from "./containers.ts";
import type { RequestServer } from "./requests.ts";

/** Arguments of a host's command queue (fixed: RabbitMQ refuses a re-declare with others). */
export const COMMAND_QUEUE_ARGS = {
  "x-queue-type": "quorum",
  "x-single-active-consumer": true,
  "x-expires": 30 * 60_000,
  "x-message-ttl": 5 * 60_000,
} as const;

/** How soon a host tries an app again after a converge failed, in ms. */
export const CONVERGE_RETRY_MS = 5000;

/** Options of a {@link HostAgent}. */
export interface HostAgentOptions {
  hostName: string;
  exchange: string;
  store: AppStore;
  containers: Containers;
  requests: RequestServer;
  log: Logger;
  /** RabbitMQ user of control: commands from anyone else are dropped. */
  controlUser: string;
  /** Announces an app's route now, resolving once gateways can use it (before old containers go). */
  confirmRoute: (app: string) => Promise<void>;
  /**
   * How long a new container must stay up before it replaces a running older
   * one, in ms: one that crashes within it never gets traffic.
   */
  stableMs: number;
  /**
   * Hears why this host does not serve an app at all after a failed start
   * (`dn status`'s words), and when that no longer holds (host/unready.ts).
   */
  unready?: { note(app: string, reason: string): void; clear(app: string): void };
}

/** Converges containers and consumers on desired state. */
export class HostAgent {
  #chains = new Map<string, Promise<void>>();
  #waiting = new Map<string, Promise<void>>();
  #retries = new Map<string, ReturnType<typeof setTimeout>>();
  /** Why the last attempt to run each app's current release failed, until one succeeds. */
  #failures = new Map<string, HostFailure>();

  /** Creates the agent. */
  constructor(readonly options: HostAgentOptions) {}

  /** Declares and consumes this host's command queue on `channel`. */
  async attach(channel: AMQPChannel): Promise<void> {
    const { hostName, exchange } = this.options;
    const queue = `dn.host.${hostName}`;
    await channel.queueDeclare(queue, { durable: true }, { ...COMMAND_QUEUE_ARGS });
    for (const kind of COMMAND_KINDS) await channel.queueBind(queue, exchange, `${kind}.*`);
    // Status requests are RPCs nobody waits for past their expiry: a classic queue of this
    // connection's own, not the replicated (fsync per message) command queue, whose binding
    // from before is dropped. Control addresses each host (`status.<app>.<host>`), so no host
    // wakes for a request to others (hosts of another network on the vhost included);
    // `status.*` is what controls of earlier versions send to all.
    await channel.queueUnbind(queue, exchange, "status.*");
    const statusQueue = `${queue}.status`;
    await channel.queueDeclare(statusQueue, { durable: false, exclusive: true, autoDelete: true });
    await channel.queueBind(statusQueue, exchange, `status.*.${hostName}`);
    await channel.queueBind(statusQueue, exchange, "status.*");
    await channel.basicConsume(queue, { noAck: false }, async (msg) => {
      await this.#onMessage(channel, msg);
      await msg.ack().catch(() => {}); // a closed channel: the broker delivers it again
    });
    await channel.basicConsume(
      statusQueue,
      { noAck: true },
      (msg) => this.#onMessage(channel, msg),
    );
  }

  /** Converges every app known in Redis or present on this host. */
  async convergeAll(): Promise<void> {
    const { store, containers, requests, log } = this.options;
    try {
      const { apps } = await store.list();
      const names = new Set([...apps.map((a) => a.name), ...requests.apps]);
      for (const name of await containers.apps()) {
        // Labels come from Docker, not from dn's validation: only app names are converged.
        if (isAppName(name)) {
          names.add(name);
        } else {
          log.warn("ignored containers with an invalid app label", { app: String(name) });
        }
      }
      await Promise.all([...names].map((name) => this.converge(name)));
    } catch (e) {
      log.warn("converge all failed", { error: errorMessage(e) });
    }
  }

  /**
   * After a failed converge (a registry it cannot reach, an engine error),
   * tries the app again in {@link CONVERGE_RETRY_MS} rather than at the next
   * 30 s reconcile, once per failure.
   */
  #retryLater(app: string): void {
    if (this.#retries.has(app)) return;
    this.#retries.set(
      app,
      setTimeout(() => {
        this.#retries.delete(app);
        this.converge(app);
      }, CONVERGE_RETRY_MS),
    );
  }

  /**
   * Converges one app. Calls for the same app run one after another; a call
   * made while another is still waiting to start joins that one.
   */
  converge(app: string): Promise<void> {
    const waiting = this.#waiting.get(app);
    if (waiting) return waiting;
    const previous = this.#chains.get(app) ?? Promise.resolve();
    const next = previous.then(() => {
      this.#waiting.delete(app);
      return this.#converge(app);
    }).catch((e) => {
      this.options.log.error("converge failed", { app, error: errorMessage(e) });
      this.#retryLater(app);
    });
    this.#waiting.set(app, next);
    this.#chains.set(app, next);
    next.then(() => {
      if (this.#chains.get(app) === next) this.#chains.delete(app);
    });
    return next;
  }

  async #desired(app: string): Promise<AppRecord | null> {
    try {
      return (await this.options.store.get(app)).app;
    } catch (e) {
      if (e instanceof AppNotFoundError) return null;
      throw e;
    }
  }

  async #converge(app: string): Promise<void> {
    const { containers, requests, log } = this.options;
    const desired = await this.#desired(app);
    const existing = await containers.list(app);
    const placedHere = desired !== null &&
      (desired.placement.length === 0 || desired.placement.includes(this.options.hostName));
    if (desired?.status === "running" && placedHere) {
      const current = existing.find((c) => isCurrent(c, desired));
      const target = requests.target(app);
      if (!current?.running || target?.containerId !== current.id) {
        // An older container still serves: the new one must prove it stays up first.
        const replacing = existing.some((c) => c.running && !isCurrent(c, desired));
        let fresh;
        try {
          fresh = await containers.ensureRunning(desired, replacing ? this.options.stableMs : 0);
        } catch (e) {
          const { version, revision } = desired;
          const message = errorMessage(e).slice(0, 500);
          this.#failures.set(app, { version, revision, message });
          // Said only while nothing serves the app here (an older version may still).
          if (requests.target(app) === undefined) {
            this.options.unready?.note(app, await this.#problem(app, desired).catch(() => message));
          }
          throw e;
        }
        await requests.serve(app, fresh, releaseOf(desired)); // traffic switches here
        log.info("app serving", {
          app,
          version: desired.version,
          digest: desired.digest,
          address: `${fresh.address}:${fresh.port}`,
        });
      }
      this.#failures.delete(app);
      this.options.unready?.clear(app);
      const old = existing.filter((c) => !isCurrent(c, desired));
      // Gateways must be able to reach the new container before an old one goes.
      if (old.length > 0) await this.options.confirmRoute(app);
      for (const c of old) {
        await requests.drain(app, c.id); // requests already sent to it finish first
        await containers.remove(c.id);
      }
      if (old.length > 0) {
        log.info("old versions removed", { app, versions: old.map((c) => c.version) });
      }
      return;
    }
    this.#failures.delete(app);
    this.options.unready?.clear(app);
    if (requests.apps.includes(app)) {
      await requests.unserve(app);
      log.info("app no longer served", { app });
    }
    for (const c of existing) {
      const keep = desired?.status === "stopped" && placedHere && isCurrent(c, desired);
      if (keep) {
        if (c.running) await containers.stop(c.id);
      } else {
        await containers.remove(c.id);
      }
    }
  }

  /**
   * This host's report on `app`: its containers (`fresh`: asked of Docker now,
   * not taken from the state kept from its events) and its last failure to run it.
   */
  async #report(app: string, fresh = false): Promise<Omit<HostReport, "latencyMs">> {
    const { containers: all, requests } = this.options;
    const containers = await all.report(app, requests.target(app), fresh);
    const failure = this.#failures.get(app);
    return { host: this.options.hostName, containers, ...(failure ? { failure } : {}) };
  }

  /** Why this host does not serve `desired`'s current release, as `dn status` says it. */
  async #problem(app: string, desired: AppRecord): Promise<string> {
    // Just after a failed start: Docker's own word, not events that may still be on their way.
    const report = { ...await this.#report(app, true), latencyMs: 0 };
    return hostProblem(report, desired) ?? this.#failures.get(app)?.message ?? "not started";
  }

  /**
   * Handles one message of this host's queue. Everything is validated before
   * use (type, routing key, body, reply-to); anything else is logged as
   * "dropped message" and never reaches Docker. A command only names an app:
   * what to do is read from Redis, so a forged command cannot start, stop or
   * remove anything the desired state does not say.
   */
  async #onMessage(channel: AMQPChannel, msg: AMQPMessage): Promise<void> {
    const { log } = this.options;
    const key = msg.routingKey;
    try {
      const type = msg.properties.type;
      if (type !== COMMAND_TYPE) {
        throw new Error(`unexpected message type ${JSON.stringify(type ?? null).slice(0, 80)}`);
      }
      if (msg.properties.userId !== this.options.controlUser) {
        throw new Error("message not published by control's user");
      }
      const body = msg.body ?? new Uint8Array();
      if (key.startsWith("status.")) {
        const received = performance.now();
        const { app, host, replyTo, correlationId } = decodeStatusRequest(
          key,
          msg.properties.replyTo,
          msg.properties.correlationId,
          body,
        );
        if (host !== undefined && host !== this.options.hostName) {
          throw new Error(`status request for host ${host}`);
        }
        const reply = encodeStatusReply({
          ...await this.#report(app),
          handledMs: performance.now() - received,
        });
        await channel.basicPublish("", replyTo, reply, { type: STATUS_REPLY_TYPE, correlationId });
        return;
      }
      const command = decodeCommand(body, key);
      log.debug("command", { kind: command.kind, app: command.app });
      await this.converge(command.app);
    } catch (e) {
      log.warn("dropped message", { routingKey: key.slice(0, 300), error: errorMessage(e) });
    }
  }
}
