/**
 * Redis connection shared by the services: reconnects with backoff and jitter,
 * fails commands at once while disconnected (no offline queue) so callers can
 * answer 503 instead of hanging.
 *
 * @module
 */

import { Redis } from "ioredis";
import { backoffDelay, redactUrl } from "./amqp.ts";
import type { Logger } from "./log.ts";

/** Raised when Redis cannot be reached right now. */
export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/** Options of {@link connectRedis}. */
export interface RedisOptions {
  /** Redis URL (`redis://:password@127.0.0.1:6389/0`). */
  url: string;
  /** Logger for connection events. */
  log: Logger;
  /** Client name shown by `CLIENT LIST`. */
  name: string;
  /** Called after every (re)connect, e.g. to reload a cache. */
  onReady?: () => void;
}

/** Creates a Redis client that keeps reconnecting forever. */
export function connectRedis(options: RedisOptions): Redis {
  const client = new Redis(options.url, {
    connectionName: options.name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
    retryStrategy: (times) => backoffDelay(times - 1, 100, 2000),
    reconnectOnError: () => false,
  });
  let up = false;
  client.on("ready", () => {
    up = true;
    options.log.info("redis connected", { url: redactUrl(options.url) });
    options.onReady?.();
  });
  client.on("end", () => options.log.warn("redis connection ended"));
  client.on("error", (e: Error) => {
    if (up) options.log.warn("redis error", { error: e.message });
    up = false;
  });
  return client;
}

/** Runs `fn`, turning connection failures into {@link RedisUnavailableError}. */
export async function withRedis<T>(client: Redis, fn: () => Promise<T>): Promise<T> {
  if (client.status !== "ready") throw new RedisUnavailableError(`redis is ${client.status}`);
  try {
    return await fn();
  } catch (e) {
    const message = (e as Error).message ?? "";
    if (
      client.status !== "ready" || /Connection is closed|ECONNREFUSED|offline queue|timed out/i
        .test(message)
    ) {
      throw new RedisUnavailableError(message);
    }
    throw e;
  }
}

/** Waits until the client is ready, up to `timeoutMs`. */
export function redisReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new RedisUnavailableError(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}

/**
 * Keeps `subscriber` subscribed to `channel` (now and after every
 * reconnect) and calls `reload` for each message on it and after each
 * (re)subscription, since messages sent while disconnected are lost.
 */
export function followChannel(
  subscriber: Redis,
  channel: string,
  reload: () => void,
  log: Logger,
): void {
  const subscribe = () => {
    subscriber.subscribe(channel).catch((e) =>
      log.warn("subscribe failed", { channel, error: (e as Error).message })
    );
    reload();
  };
  subscriber.on("message", (from: string) => {
    if (from === channel) reload();
  });
  subscriber.on("ready", subscribe);
  if (subscriber.status === "ready") subscribe();
}

/**
 * Runs `load` one at a time. A call while a load runs makes exactly one more
 * load run after it (however many calls came), so a change announced while
 * Redis was being read is never missed. The returned promise settles when a
 * load that began after the call has ended. `load` reports its own errors.
 */
function coalesced(load: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const run = (): Promise<void> => {
    if (running === null) {
      running = load().catch(() => {}).finally(() => (running = null));
      return running;
    }
    next ??= running.then(() => {
      next = null;
      return run();
    });
    return next;
  };
  return run;
}

/**
 * An in-memory copy of Redis state, kept fresh: reloaded for every message
 * on `channel`, after each (re)subscription, and every `refreshMs` as a
 * safety net. Subclasses say how to load it (and log their own failures).
 */
export abstract class RedisMirror {
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Reloads now; calls during a load coalesce into one more load. */
  readonly reload: () => Promise<void> = coalesced(() => this.load());

  /** Creates a mirror following `channel`; call {@link start}. */
  constructor(readonly channel: string, readonly refreshMs: number, readonly log: Logger) {}

  /** Subscribes on `subscriber`, starts the timer and loads once (awaited). */
  async start(subscriber: Redis): Promise<void> {
    followChannel(subscriber, this.channel, () => void this.reload(), this.log);
    this.#timer = setInterval(() => void this.reload(), this.refreshMs);
    await this.reload();
  }

  /** Stops the refresh timer. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Reads the state from Redis into memory. */
  protected abstract load(): Promise<void>;
}
