/**
 * Redis connection shared by the services: reconnects with backoff and jitter,
 * fails commands at once while disconnected (no offline queue) so callers can
 * answer 503 instead of hanging. With Sentinels it asks them for the primary
 * (and again after every loss, and when they announce a failover).
 *
 * @module
 */

import { Redis, type RedisOptions as IoRedisOptions } from "ioredis";
import { backoffDelay, redactUrl } from "./amqp.ts";
import type { DnConfig } from "./config.ts";
import { ConfigError, parseSentinels, type SentinelAddress } from "./config_values.ts";
import type { Logger } from "./log.ts";

/** Raised when Redis cannot be reached right now. */
export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/** Options of {@link connectRedis}. */
export interface RedisOptions {
  /**
   * Redis URL (`redis://:password@127.0.0.1:6389/0`); with `sentinels`, only
   * its user, password, database and scheme are used.
   */
  url: string;
  /**
   * CA certificate (PEM file) a `rediss://` server (and its Sentinels) must
   * verify against (none: the system roots); unused with `redis://`.
   */
  caFile?: string;
  /** Sentinels to ask for the primary (none: `url` is the one Redis). */
  sentinels?: readonly SentinelAddress[];
  /** Name the Sentinels know the primary by (default `dn`). */
  sentinelName?: string;
  /** Logger for connection events. */
  log: Logger;
  /** Client name shown by `CLIENT LIST`. */
  name: string;
  /** Called after every (re)connect, e.g. to reload a cache. */
  onReady?: () => void;
}

/**
 * The TLS options of a `rediss://` URL: certificates verified (name and
 * chain) against `caFile`'s CA, or the system roots without one; undefined
 * for `redis://`.
 */
export function redisTls(url: string, caFile = ""): { ca?: string[] } | undefined {
  if (!url.startsWith("rediss://")) return undefined;
  if (caFile === "") return {};
  try {
    return { ca: [Deno.readTextFileSync(caFile)] };
  } catch (e) {
    throw new ConfigError(`redisCaFile ${caFile}: ${(e as Error).message}`);
  }
}

/**
 * What ioredis connects with: the URL itself, or with Sentinels their
 * addresses and the URL's credentials, database and TLS (Sentinels take the
 * same password and TLS).
 */
export function redisConnection(options: RedisOptions): string | IoRedisOptions {
  const sentinels = options.sentinels ?? [];
  if (sentinels.length === 0) return options.url;
  let url: URL | undefined;
  try {
    url = new URL(options.url);
  } catch {
    // reported below, without the URL (it holds the password)
  }
  if (!url || (url.protocol !== "redis:" && url.protocol !== "rediss:")) {
    throw new ConfigError("redisUrl must be a redis:// or rediss:// URL");
  }
  const db = url.pathname.replace(/^\//, "") || "0";
  if (!/^\d{1,2}$/.test(db)) throw new ConfigError("redisUrl must name a database number");
  const password = decodeURIComponent(url.password) || undefined;
  const tls = url.protocol === "rediss:" ? redisTls("rediss://", options.caFile) : undefined;
  return {
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name: options.sentinelName ?? "dn",
    username: decodeURIComponent(url.username) || undefined,
    password,
    sentinelPassword: password,
    db: Number(db),
    tls,
    sentinelTLS: tls,
    enableTLSForSentinelMode: tls !== undefined,
    // No failoverDetector: in ioredis 5.9 a +switch-master that arrives while the client is
    // reconnecting ends the client for good. Retries every 100-500 ms find the new primary.
    sentinelRetryStrategy: (times) => backoffDelay(times - 1, 100, 1000),
  };
}

/** The `url`, `caFile`, `sentinels` and `sentinelName` options of a service's config. */
export function redisTarget(
  config: Pick<DnConfig, "redisUrl" | "redisCaFile" | "redisSentinels" | "redisSentinelName">,
): Pick<RedisOptions, "url" | "caFile" | "sentinels" | "sentinelName"> {
  return {
    url: config.redisUrl,
    caFile: config.redisCaFile,
    sentinels: parseSentinels(config.redisSentinels),
    sentinelName: config.redisSentinelName,
  };
}

/** How often a client on Sentinels checks that its primary answers, in ms. */
export const PRIMARY_CHECK_MS = 500;
/** How long the primary may take to answer that check before the client looks again, in ms. */
export const PRIMARY_SILENT_MS = 1500;

/**
 * A primary whose machine died neither answers nor refuses: its connection
 * stays open and every command waits for its timeout. Every
 * {@link PRIMARY_CHECK_MS} the client PINGs it; one silent for
 * {@link PRIMARY_SILENT_MS} is dropped, and ioredis asks the Sentinels again.
 */
function watchPrimary(client: Redis, log: Logger): void {
  let checking = false;
  const timer = setInterval(async () => {
    if (checking || client.status !== "ready") return;
    checking = true;
    let silent: ReturnType<typeof setTimeout> | undefined;
    const answered = await Promise.race([
      client.ping().then(() => true, () => true),
      new Promise<boolean>((resolve) =>
        silent = setTimeout(() => resolve(false), PRIMARY_SILENT_MS)
      ),
    ]);
    clearTimeout(silent);
    checking = false;
    if (answered || client.status !== "ready") return;
    log.warn("redis primary silent, asking the sentinels again", { ms: PRIMARY_SILENT_MS });
    client.disconnect(true);
  }, PRIMARY_CHECK_MS);
  Deno.unrefTimer(timer);
  client.on("end", () => clearInterval(timer));
}

/** Creates a Redis client that keeps reconnecting forever. */
export function connectRedis(options: RedisOptions): Redis {
  const where = redisConnection(options);
  const shown = typeof where === "string"
    ? redactUrl(where)
    : `sentinels ${(options.sentinels ?? []).map((s) => `${s.host}:${s.port}`).join(",")}`;
  const common: IoRedisOptions = {
    connectionName: options.name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
    retryStrategy: (times) => backoffDelay(times - 1, 100, typeof where === "string" ? 2000 : 500),
    // A primary demoted to replica (after a failover) refuses writes: find the new one.
    reconnectOnError: (e) => /^READONLY/.test(e.message) ? 1 : false,
  };
  if (typeof where === "string") common.tls = redisTls(where, options.caFile);
  const client = typeof where === "string"
    ? new Redis(where, common)
    : new Redis({ ...where, ...common });
  let up = false;
  // While down, each error is logged once until it changes (a wrong CA or
  // password says so at start, without a line per retry).
  let lastError = "";
  client.on("ready", () => {
    up = true;
    lastError = "";
    options.log.info("redis connected", { url: shown });
    options.onReady?.();
  });
  client.on("end", () => options.log.warn("redis connection ended"));
  if (typeof where !== "string") watchPrimary(client, options.log);
  client.on("error", (e: Error) => {
    if (up || e.message !== lastError) {
      options.log.warn("redis error", { url: shown, error: e.message });
    }
    lastError = e.message;
    up = false;
  });
  return client;
}

/**
 * Messages of a command that failed because Redis went away (ioredis throws
 * "Stream isn't writeable and enableOfflineQueue options is false" when the
 * socket died under a command) or is failing over (a replica refusing writes).
 */
const UNAVAILABLE =
  /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|offline ?queue|Stream isn't writeable|timed out|^READONLY|^LOADING|^MASTERDOWN/i;

/** Runs `fn`, turning connection failures into {@link RedisUnavailableError}. */
export async function withRedis<T>(client: Redis, fn: () => Promise<T>): Promise<T> {
  if (client.status !== "ready") throw new RedisUnavailableError(`redis is ${client.status}`);
  try {
    return await fn();
  } catch (e) {
    const message = (e as Error).message ?? "";
    if (
      client.status !== "ready" ||
      UNAVAILABLE.test(message)
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
