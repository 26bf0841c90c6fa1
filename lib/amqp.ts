/**
 * A connection to RabbitMQ that stays up: given the nodes of a cluster, it
 * moves to the next node at once when its own is lost or refuses it, backs
 * off (exponential, with jitter) only once every node refused, runs the
 * service's set-up (exchanges, queues, consumers) after every connect, sets
 * TCP_NODELAY, and tells whether it is usable now so callers can fail fast
 * instead of waiting on a dead broker.
 *
 * @module
 */

import { AMQPClient } from "@cloudamqp/amqp-client";
import type { AMQPChannel, AMQPMessage } from "@cloudamqp/amqp-client";
import { ConfigError, parseAmqpUrls } from "./config_values.ts";
import { errorMessage, type Logger } from "./log.ts";

/** Options of a {@link Broker}. */
export interface BrokerOptions {
  /**
   * `amqp://` or `amqps://` URL with user, password and vhost, or several
   * separated by commas (one per cluster node, all with the same user).
   */
  url: string;
  /** PEM CA file to verify the broker's certificate for `amqps://` ("" = system roots). */
  caFile?: string;
  /** Connection name shown by RabbitMQ. */
  name: string;
  /** Logger for connection events. */
  log: Logger;
  /** Set-up run after every connect; a throw closes the connection and retries. */
  onConnect: (client: AMQPClient) => Promise<void>;
  /** Called when an established connection is lost. */
  onDisconnect?: () => void;
  /** First retry delay in ms (default 200). */
  minDelayMs?: number;
  /** Longest retry delay in ms (default 2000): a broker back after an outage is used within about 2 s. */
  maxDelayMs?: number;
}

/** Delay before retry `attempt` (0-based): exponential, capped, with full jitter on the upper half. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
}

/** Adds a heartbeat to an AMQP URL unless it sets one. */
function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has("heartbeat")) parsed.searchParams.set("heartbeat", "5");
  return parsed.toString();
}

/**
 * The user name in an AMQP URL (the first of a comma-separated list);
 * messages are stamped with it as `user_id`.
 */
function amqpUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url.split(",")[0].trim()).username) || "guest";
  } catch {
    return "";
  }
}

/**
 * The URLs of a `url` option, validated: amqp(s) URLs that all name the same
 * user (messages are stamped with it, whichever node takes them).
 */
export function brokerUrls(url: string): string[] {
  const urls = parseAmqpUrls(url);
  if (new Set(urls.map(amqpUser)).size > 1) {
    throw new ConfigError("amqpUrl: every broker URL must name the same user");
  }
  return urls;
}

/** Removes the password from a URL for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid url)";
  }
}

/** RabbitMQ's direct reply-to pseudo-queue: where an RPC's caller takes its replies. */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to";

/** A self-healing RabbitMQ connection. */
export class Broker {
  /**
   * Our RabbitMQ user: stamped on every message as `user_id` (RabbitMQ checks
   * it), so the receiver knows which service sent it.
   */
  readonly user: string;
  readonly #urls: string[];
  /** Index in #urls of the node connected to, or tried next. */
  #node = 0;
  #client: AMQPClient | null = null;
  #ready = false;
  #stopped = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #firstReady: Promise<void>;
  /** Called at the next successful set-up. */
  #readyWaiters = new Set<() => void>();
  #resolveFirstReady!: () => void;

  /** Creates a broker connection; call {@link start} to connect. */
  constructor(readonly options: BrokerOptions) {
    this.#urls = brokerUrls(options.url);
    this.user = amqpUser(options.url);
    this.#firstReady = new Promise((resolve) => this.#resolveFirstReady = resolve);
  }

  /** True while connected and set up. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The connected client, or null between connections. */
  get client(): AMQPClient | null {
    return this.#ready ? this.#client : null;
  }

  /**
   * True once connected and set up, waiting up to `timeoutMs` for a
   * reconnect (to another node after this one was lost) if not now.
   */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.#ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.#readyWaiters.delete(onReady);
        resolve(ready);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#readyWaiters.add(onReady);
    });
  }

  /** True once {@link stop} ran. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Starts the connect loop; resolves after the first successful set-up. */
  start(): Promise<void> {
    this.#loop ??= this.#run();
    return this.#firstReady;
  }

  /** Drops the connection on purpose (after a channel error); the loop reconnects. */
  reset(reason: string): void {
    if (!this.#client) return;
    this.options.log.warn("amqp reset", { reason });
    this.#client.close(reason).catch(() => {});
    this.#markDown();
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    const client = this.#client;
    this.#ready = false;
    if (client && !client.closed) await client.close().catch(() => {});
    await this.#loop;
  }

  #markDown(): void {
    const wasReady = this.#ready;
    this.#ready = false;
    if (wasReady) this.options.onDisconnect?.();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const { log, minDelayMs = 200, maxDelayMs = 2_000 } = this.options;
    const nodes = this.#urls.length;
    let failed = 0; // connect attempts failed in a row
    while (!this.#stopped) {
      const url = this.#urls[this.#node];
      let lost = false;
      try {
        await this.#connectOnce(url);
        failed = 0;
        // stop() may have run while the set-up finished: then nobody would wake us.
        if (this.#stopped) break;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = null;
        if (this.#stopped) break;
        lost = true;
        log.warn("amqp connection lost, reconnecting", { url: redactUrl(url) });
      } catch (e) {
        this.#ready = false;
        if (this.#client && !this.#client.closed) this.#client.close().catch(() => {});
        failed++;
        log.warn("amqp connect failed", { url: redactUrl(url), error: errorMessage(e), failed });
      }
      if (this.#stopped) break;
      this.#node = (this.#node + 1) % nodes;
      // Another node at once; the same one, or a new round of all, after a backoff.
      const delay = nodes > 1 && (lost || failed % nodes !== 0)
        ? 0
        : backoffDelay(Math.max(0, Math.ceil(failed / nodes) - 1), minDelayMs, maxDelayMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  async #connectOnce(url: string): Promise<void> {
    const { caFile, name, log } = this.options;
    const tls = caFile ? { ca: [Deno.readTextFileSync(caFile)] } : undefined;
    const client = new AMQPClient(withHeartbeat(url), tls, null);
    this.#client = client;
    client.ondisconnect = () => {
      if (this.#client === client) this.#markDown();
    };
    client.onerror = (error) => log.warn("amqp connection error", { error: error.message });
    await client.connect();
    (client as unknown as { socket?: { setNoDelay(v: boolean): void } }).socket?.setNoDelay(true);
    log.info("amqp connection open, setting up", { url: redactUrl(url) });
    await this.options.onConnect(client);
    if (client.closed) throw new Error("connection closed during set-up");
    this.#ready = true;
    log.info("amqp connected", { url: redactUrl(url), name });
    this.#resolveFirstReady();
    for (const waiter of [...this.#readyWaiters]) waiter();
  }
}

/** Opens a channel whose broker-side closure resets the whole connection. */
export async function openChannel(broker: Broker, client: AMQPClient): Promise<AMQPChannel> {
  const channel = await client.channel();
  channel.onerror = (reason: string) => broker.reset(`channel closed: ${reason}`);
  return channel;
}

/**
 * Consumes the replies to `channel`'s requests sent with `replyTo:
 * DIRECT_REPLY_TO` (without acks: RabbitMQ takes no others there); call it
 * before the first such request.
 */
export async function consumeDirectReplies(
  channel: AMQPChannel,
  onReply: (msg: AMQPMessage) => void,
): Promise<void> {
  await channel.basicConsume(DIRECT_REPLY_TO, { noAck: true }, onReply);
}

/** The part of a Node socket that batches writes. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Runs `send` with the channel's socket corked, so the frames of the AMQP
 * methods it calls (a publish and an ack: each writes at once, before its
 * first await) leave in one `writev` instead of one send each.
 */
export function inOneWrite<T>(channel: AMQPChannel, send: () => T): T {
  const socket = (channel.connection as { socket?: Corkable }).socket;
  socket?.cork();
  try {
    return send();
  } finally {
    socket?.uncork();
  }
}
