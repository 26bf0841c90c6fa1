/**
 * Control's side of RabbitMQ: declares the `dn` exchange, broadcasts
 * commands with publisher confirms, and runs `status.<app>` as an RPC over
 * direct reply-to, collecting one reply per live host with its round trip.
 *
 * @module
 */

import type { AMQPChannel } from "@cloudamqp/amqp-client";
import {
  Broker,
  consumeDirectReplies,
  DIRECT_REPLY_TO,
  inOneWrite,
  openChannel,
} from "../lib/amqp.ts";
import type { HostReport } from "../lib/apps.ts";
import {
  type Command,
  COMMAND_TYPE,
  decodeStatusReply,
  encodeCommand,
  type StatusReply,
} from "../lib/commands.ts";
import { EnvelopeError } from "../lib/envelope.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { compareNames, isHostName } from "../lib/names.ts";

/** How long a command waits for a lost broker connection to come back (on another node). */
const RECONNECT_WAIT_MS = 2000;
/** How long control keeps publishing a command the broker did not confirm, in ms. */
const RETRY_FOR_MS = 60_000;
/** Pause before publishing an unconfirmed command again, in ms. */
const RETRY_DELAY_MS = 250;

/** Raised when the broker cannot take a message right now. */
export class BrokerUnavailableError extends Error {
  override name = "BrokerUnavailableError";
}

interface Collector {
  started: number;
  expected: Set<string>;
  reports: Map<string, HostReport>;
  done: () => void;
  members: Set<string>;
}

/** Publishes commands and collects status reports. */
export class ControlBroker {
  readonly broker: Broker;
  #commands: AMQPChannel | null = null;
  #rpc: AMQPChannel | null = null;
  #collectors = new Map<string, Collector>();
  #nextId = 0;

  /** Creates control's broker connection (call {@link start}). */
  constructor(url: string, caFile: string, readonly exchange: string, readonly log: Logger) {
    this.broker = new Broker({
      url,
      caFile,
      name: "dn-control",
      log,
      onConnect: async (client) => {
        const commands = await openChannel(this.broker, client);
        await commands.exchangeDeclare(exchange, "topic", { durable: true });
        await commands.confirmSelect();
        const rpc = await openChannel(this.broker, client);
        await consumeDirectReplies(rpc, (msg) => {
          this.#onReply(msg.properties.correlationId, msg.body ?? new Uint8Array());
        });
        this.#commands = commands;
        this.#rpc = rpc;
      },
    });
  }

  /** Connects (in the background, retrying). */
  start(): void {
    this.broker.start();
  }

  /**
   * Publishes a command to every host and waits for the broker's confirm
   * (given once the hosts' quorum queues hold it); waits up to 2 s for a
   * reconnect when not connected, then throws BrokerUnavailableError. A
   * publish the broker did not confirm (its node died meanwhile: the
   * connection closed, or the broker nacked it while the quorum queues of
   * that node elected new leaders, which took over 5 s on a loaded cluster)
   * returns, and is sent again in the background every {@link RETRY_DELAY_MS}
   * until confirmed, for up to {@link RETRY_FOR_MS}: a command is idempotent,
   * and a lost one would wait for the hosts' next converge.
   */
  async publish(command: Command): Promise<void> {
    try {
      await this.#publishOnce(command);
    } catch (e) {
      if (e instanceof BrokerUnavailableError) throw e;
      const { kind, app } = command;
      this.log.warn("command not confirmed, sending it again", {
        kind,
        app,
        error: errorMessage(e),
      });
      this.#publishAgain(command);
    }
  }

  async #publishAgain(command: Command): Promise<void> {
    const { kind, app } = command;
    const started = performance.now();
    let error = "";
    for (let attempt = 2; performance.now() - started < RETRY_FOR_MS; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
      if (this.broker.stopped) return;
      try {
        await this.#publishOnce(command);
        this.log.info("command confirmed", { kind, app, attempt });
        return;
      } catch (e) {
        error = errorMessage(e);
      }
    }
    this.log.warn("command not broadcast", { kind, app, error });
  }

  async #publishOnce(command: Command): Promise<void> {
    await this.broker.whenReady(RECONNECT_WAIT_MS);
    const channel = this.#commands;
    if (!this.broker.ready || channel === null || channel.closed) {
      throw new BrokerUnavailableError("message broker unavailable");
    }
    await channel.basicPublish(
      this.exchange,
      `${command.kind}.${command.app}`,
      encodeCommand(command),
      {
        type: COMMAND_TYPE,
        deliveryMode: 2,
        contentType: "application/json",
        userId: this.broker.user,
      },
    );
  }

  /**
   * Asks every host in `members` about `app` (one `status.<app>.<host>`
   * message each, in one write: no host of another network sharing the vhost
   * is woken) and returns one report per host that answered within
   * `timeoutMs`; returns early once every host in `expected` answered.
   * Replies from hosts not in `members` are ignored.
   */
  async status(
    app: string,
    expected: string[],
    timeoutMs: number,
    members: readonly string[] = expected,
  ): Promise<HostReport[]> {
    const channel = this.#rpc;
    if (!this.broker.ready || channel === null || channel.closed) {
      throw new BrokerUnavailableError("message broker unavailable");
    }
    const id = `s${++this.#nextId}`;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const collector: Collector = {
      started: performance.now(),
      expected: new Set(expected),
      members: new Set(members),
      reports: new Map(),
      done,
    };
    this.#collectors.set(id, collector);
    const timer = setTimeout(done, expected.length === 0 ? Math.min(300, timeoutMs) : timeoutMs);
    try {
      const properties = {
        replyTo: DIRECT_REPLY_TO,
        correlationId: id,
        expiration: String(timeoutMs),
        type: COMMAND_TYPE,
        userId: this.broker.user,
      };
      // Host names come from Redis: only valid ones make a routing key.
      const asked = [...new Set([...members, ...expected])].filter(isHostName);
      const publish = (host: string) =>
        channel.basicPublish(this.exchange, `status.${app}.${host}`, null, properties);
      await Promise.all(inOneWrite(channel, () => asked.map(publish)));
      await finished;
    } finally {
      clearTimeout(timer);
      this.#collectors.delete(id);
    }
    return [...collector.reports.values()].sort((a, b) => compareNames(a.host, b.host));
  }

  #onReply(correlationId: string | undefined, body: Uint8Array): void {
    const collector = correlationId ? this.#collectors.get(correlationId) : undefined;
    if (!collector) return;
    try {
      const reply = decodeStatusReply(body);
      if (!collector.members.has(reply.host)) return;
      collector.reports.set(reply.host, busRoundTrip(reply, performance.now() - collector.started));
      collector.expected.delete(reply.host);
      if (collector.expected.size === 0) collector.done();
    } catch (e) {
      const error = e instanceof EnvelopeError ? e.message : errorMessage(e);
      this.log.warn("dropped invalid status reply", { error });
    }
  }
}

/**
 * A host's report from its status reply and the round trip control measured
 * (`elapsedMs`): `latencyMs` is the bus's share, without the time the host
 * said it spent answering (`dockerMs`). Both by monotonic clocks, each on its
 * own machine; rounded to 0.01 ms.
 */
export function busRoundTrip(reply: StatusReply, elapsedMs: number): HostReport {
  const round = (ms: number) => Math.round(ms * 100) / 100;
  const failure = reply.failure === undefined ? {} : { failure: reply.failure };
  if (reply.handledMs === undefined) {
    return {
      host: reply.host,
      latencyMs: round(elapsedMs),
      containers: reply.containers,
      ...failure,
    };
  }
  const handled = Math.min(reply.handledMs, elapsedMs);
  return {
    host: reply.host,
    latencyMs: round(Math.max(0.01, elapsedMs - handled)),
    dockerMs: round(handled),
    containers: reply.containers,
    ...failure,
  };
}
