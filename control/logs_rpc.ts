/**
 * The `logs.<app>` RPC that control's logs endpoint (control/logs.ts) asks
 * hosts with: one broadcast over direct reply-to, one reply per host.
 *
 * @module
 */

import type { AMQPChannel, AMQPClient, AMQPMessage } from "@cloudamqp/amqp-client";
import { errorMessage, type Logger } from "../lib/log.ts";
import {
  decodeLogsReply,
  encodeLogsRequest,
  LOGS_REPLY_TYPE,
  LOGS_REQUEST_TYPE,
  type LogsReply,
  type LogsRequest,
} from "../lib/logs.ts";
import { type Broker, consumeDirectReplies, DIRECT_REPLY_TO } from "../lib/amqp.ts";
import { BrokerUnavailableError } from "./broker.ts";

/**
 * The `logs.<app>` RPC: one broadcast, one reply per host. It opens its own
 * channel on control's broker connection when first used (and again after a
 * reconnect), so it shares nothing with the command and status channels.
 */
export class LogsRpc {
  #client: AMQPClient | null = null;
  #channel: AMQPChannel | null = null;
  #opening: Promise<AMQPChannel> | null = null;
  #collectors = new Map<string, { expected: Set<string>; replies: LogsReply[]; done(): void }>();
  #next = 0;

  /** Creates the RPC over `broker` (control's connection) and `exchange`. */
  constructor(readonly broker: Broker, readonly exchange: string, readonly log: Logger) {}

  /**
   * Broadcasts `request` about `app` and returns the replies that came within
   * `timeoutMs`, early once every host in `expected` answered.
   */
  async call(
    app: string,
    request: LogsRequest,
    expected: readonly string[],
    timeoutMs: number,
  ): Promise<LogsReply[]> {
    const channel = await this.#channelNow();
    const id = `l${++this.#next}`;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const collector = { expected: new Set(expected), replies: [] as LogsReply[], done };
    if (collector.expected.size === 0) done();
    this.#collectors.set(id, collector);
    const timer = setTimeout(done, timeoutMs);
    try {
      await channel.basicPublish(this.exchange, `logs.${app}`, encodeLogsRequest(request), {
        type: LOGS_REQUEST_TYPE,
        replyTo: DIRECT_REPLY_TO,
        correlationId: id,
        expiration: String(timeoutMs),
        contentType: "application/json",
        userId: this.broker.user,
      });
      await finished;
    } catch (e) {
      if (e instanceof BrokerUnavailableError) throw e;
      throw new BrokerUnavailableError(`message broker unavailable: ${errorMessage(e)}`);
    } finally {
      clearTimeout(timer);
      this.#collectors.delete(id);
    }
    return collector.replies;
  }

  async #channelNow(): Promise<AMQPChannel> {
    const client = this.broker.client;
    if (client === null) throw new BrokerUnavailableError("message broker unavailable");
    if (this.#client === client && this.#channel && !this.#channel.closed) return this.#channel;
    if (this.#client !== client || this.#opening === null) {
      this.#client = client;
      this.#channel = null;
      this.#opening = (async () => {
        const channel = await client.channel();
        channel.onerror = (reason: string) => this.log.warn("logs channel closed", { reason });
        await consumeDirectReplies(channel, (msg) => this.#onReply(msg));
        return channel;
      })();
    }
    const opening = this.#opening;
    try {
      this.#channel = await opening;
      return this.#channel;
    } catch (e) {
      throw new BrokerUnavailableError(`message broker unavailable: ${errorMessage(e)}`);
    } finally {
      if (this.#opening === opening) this.#opening = null;
    }
  }

  #onReply(msg: AMQPMessage): void {
    const id = msg.properties.correlationId;
    const collector = id ? this.#collectors.get(id) : undefined;
    if (!collector || msg.properties.type !== LOGS_REPLY_TYPE) return;
    try {
      const reply = decodeLogsReply(msg.body ?? new Uint8Array());
      if (collector.replies.some((r) => r.host === reply.host)) return;
      collector.replies.push(reply);
      collector.expected.delete(reply.host);
      if (collector.expected.size === 0) collector.done();
    } catch (e) {
      this.log.warn("dropped invalid logs reply", { error: errorMessage(e) });
    }
  }
}
