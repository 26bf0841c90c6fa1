/**
 * The gateway's request RPC over RabbitMQ: publishes `request.<app>` as a
 * mandatory message with direct reply-to and a correlation id, and resolves
 * each pending request with its reply, a return (no host consumes), a
 * timeout, or a broker failure — never a hang.
 *
 * @module
 */

import type { AMQPChannel, AMQPMessage } from "@cloudamqp/amqp-client";
import { Broker, consumeDirectReplies, DIRECT_REPLY_TO, openChannel } from "../lib/amqp.ts";
import { REQUEST_TYPE, RESPONSE_TYPE } from "../lib/envelope.ts";
import type { Logger } from "../lib/log.ts";

/**
 * How a request ended without a reply: broker down, no host consuming, no
 * reply in time, or (direct path) its host failed after it may have run.
 */
export type RpcFailure = "unavailable" | "unroutable" | "timeout" | "lost";

/** Outcome of one RPC. */
export type RpcResult = { ok: true; body: Uint8Array } | { ok: false; failure: RpcFailure };

interface Pending {
  resolve: (result: RpcResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Request/reply over the `dn` exchange. */
export class GatewayRpc {
  readonly broker: Broker;
  #channel: AMQPChannel | null = null;
  #pending = new Map<string, Pending>();
  #next = 0;

  /** Creates the RPC client (call {@link start}). */
  constructor(url: string, caFile: string, readonly exchange: string, readonly log: Logger) {
    this.broker = new Broker({
      url,
      caFile,
      name: "dn-gateway",
      log,
      onConnect: async (client) => {
        const channel = await openChannel(this.broker, client);
        channel.onReturn = (msg: AMQPMessage) =>
          this.#settle(msg.properties.correlationId, {
            ok: false,
            failure: "unroutable",
          });
        await consumeDirectReplies(channel, (msg) => {
          if (msg.properties.type !== RESPONSE_TYPE) return;
          this.#settle(msg.properties.correlationId, {
            ok: true,
            body: msg.body ?? new Uint8Array(),
          });
        });
        this.#channel = channel;
      },
      onDisconnect: () => this.#failAll(),
    });
  }

  /** Connects in the background, retrying with backoff. */
  start(): void {
    this.broker.start();
  }

  /** True when a request can be published now. */
  get ready(): boolean {
    return this.broker.ready && this.#channel !== null && !this.#channel.closed;
  }

  /** Number of requests waiting for a reply. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Publishes `envelope` to `request.<app>` and waits up to `timeoutMs` for the reply. */
  call(
    app: string,
    envelope: Uint8Array,
    timeoutMs: number,
    requestId: string,
  ): Promise<RpcResult> {
    const channel = this.#channel;
    if (!this.ready || channel === null) {
      return Promise.resolve({ ok: false, failure: "unavailable" });
    }
    const id = (++this.#next).toString(36);
    return new Promise<RpcResult>((resolve) => {
      const timer = setTimeout(
        () => this.#settle(id, { ok: false, failure: "timeout" }),
        timeoutMs,
      );
      this.#pending.set(id, { resolve, timer });
      channel.basicPublish(this.exchange, `request.${app}`, envelope, {
        type: REQUEST_TYPE,
        replyTo: DIRECT_REPLY_TO,
        correlationId: id,
        messageId: requestId,
        expiration: String(timeoutMs),
        userId: this.broker.user,
      }, true).catch(() => this.#settle(id, { ok: false, failure: "unavailable" }));
    });
  }

  #settle(id: string | undefined, result: RpcResult): void {
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id!);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  #failAll(): void {
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, { ok: false, failure: "unavailable" });
    }
  }
}
