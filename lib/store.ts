/**
 * App state in Redis: the one source of truth for desired state.
 *
 * Keys (under the configured prefix): `apps` hash name → app JSON, `domains`
 * hash hostname → name (keeps hostnames unique), `hosts` hash host → last seen
 * (ms, Redis's clock: see lib/redis_clock.ts). Every change is one Lua script that also publishes on the `events`
 * channel, so the gateway's domain table and the hosts hear of it at once.
 *
 * @module
 */

import type { Redis } from "ioredis";
import {
  APP_DEFAULTS,
  APP_STATUSES,
  type AppRecord,
  isAppMemory,
  isAppMilliCpus,
  isEnvKey,
  isEnvValue,
  isHealthPath,
  isHstsSeconds,
  isHttpsMode,
  isStreamIdleMs,
} from "./apps.ts";
import {
  compareNames,
  isAppName,
  isDigest,
  isHostName,
  isHostname,
  isPort,
  isVersion,
} from "./names.ts";
import { RedisUnavailableError, withRedis } from "./redis.ts";
import { LUA_NOW_MS, readHashWithTime } from "./redis_clock.ts";

/** Raised when a stored value does not validate. */
export class StoreDataError extends Error {
  override name = "StoreDataError";
}

/** Raised when a name or hostname is already taken, or a write lost a race. */
export class StoreConflictError extends Error {
  override name = "StoreConflictError";
}

/** Raised when the app does not exist. */
export class AppNotFoundError extends Error {
  override name = "AppNotFoundError";
  /** Creates the error for `app`, with the seed's message. */
  constructor(readonly app: string) {
    super(`${app} not found`);
  }
}

/** A change event published on the events channel. */
export interface StoreEvent {
  /** App that changed. */
  app: string;
}

const HEARTBEAT = `${LUA_NOW_MS}redis.call('HSET', KEYS[1], ARGV[1], now)
return 'ok'`;

/**
 * The writes below are safe to run twice: ioredis sends a command again after
 * a reconnect (a Sentinel failover), and the first may have been applied and
 * replicated. A record already equal to the one written (timestamps included,
 * so the same attempt's) is our own write: 'ok', not a conflict.
 */
const CREATE = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  if existing == ARGV[3] then return 'ok' end
  return 'name'
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'hostname' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[4])
return 'ok'`;

const REPLACE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 'missing' end
if current == ARGV[3] then return 'ok' end
if current ~= ARGV[2] then return 'conflict' end
if ARGV[4] ~= ARGV[5] then
  local owner = redis.call('HGET', KEYS[2], ARGV[5])
  if owner and owner ~= ARGV[1] then return 'hostname' end
  redis.call('HDEL', KEYS[2], ARGV[4])
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', KEYS[3], ARGV[6])
return 'ok'`;

const REMOVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 'missing' end
if current ~= ARGV[2] then return 'conflict' end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[3]) end
redis.call('PUBLISH', KEYS[3], ARGV[4])
return 'ok'`;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Validates an app record from any untrusted source; fields added later get defaults. */
export function parseAppRecord(json: string): AppRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new StoreDataError("app record is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StoreDataError("app record not an object");
  }
  const r = { ...APP_DEFAULTS, ...(value as Record<string, unknown>) } as Record<string, unknown>;
  const env = r.env as Record<string, unknown>;
  const digests = r.digests as Record<string, unknown>;
  const ok = isAppName(r.name) && isHostname(r.hostname) && isPort(r.port) &&
    APP_STATUSES.includes(r.status as AppRecord["status"]) && isVersion(r.version) &&
    typeof r.image === "string" && (r.digest === "" || isDigest(r.digest)) &&
    typeof digests === "object" && digests !== null && !Array.isArray(digests) &&
    Object.entries(digests).every(([k, v]) =>
      String(Number(k)) === k && isVersion(Number(k)) && isDigest(v)
    ) &&
    typeof r.createdAt === "string" && ISO.test(r.createdAt) &&
    typeof r.updatedAt === "string" && ISO.test(r.updatedAt) &&
    isCount(r.replicas) && Array.isArray(r.placement) && r.placement.every(isHostName) &&
    isHealthPath(r.healthPath) && isCount(r.timeoutMs) && isCount(r.bodyLimit) &&
    isStreamIdleMs(r.streamIdleMs) &&
    isAppMemory(r.memory) && isAppMilliCpus(r.milliCpus) &&
    isHttpsMode(r.https) && isHstsSeconds(r.hstsSeconds) &&
    typeof env === "object" && env !== null && !Array.isArray(env) &&
    Object.entries(env).every(([k, v]) => isEnvKey(k) && isEnvValue(v)) &&
    isCount(r.revision) && (r.latestVersion === undefined || isVersion(r.latestVersion));
  if (!ok) throw new StoreDataError(`app record ${String(r.name)} does not validate`);
  return {
    name: r.name as string,
    hostname: r.hostname as string,
    port: r.port as number,
    status: r.status as AppRecord["status"],
    version: r.version as number,
    image: r.image as string,
    digest: r.digest as string,
    digests: digests as Record<string, string>,
    createdAt: r.createdAt as string,
    updatedAt: r.updatedAt as string,
    replicas: r.replicas as number,
    placement: r.placement as string[],
    healthPath: r.healthPath as string,
    timeoutMs: r.timeoutMs as number,
    bodyLimit: r.bodyLimit as number,
    streamIdleMs: r.streamIdleMs as number,
    memory: r.memory as number,
    milliCpus: r.milliCpus as number,
    https: r.https as AppRecord["https"],
    hstsSeconds: r.hstsSeconds as number,
    env: env as Record<string, string>,
    revision: r.revision as number,
    latestVersion: (r.latestVersion as number | undefined) ?? (r.version as number),
  };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** How many replicas must hold each change before it counts as made (Redis `WAIT`). */
export interface Durability {
  /** Replicas that must acknowledge (0 = none). */
  replicas: number;
  /** Longest wait for them, in milliseconds. */
  timeoutMs: number;
}

/** Reads and changes app state in Redis. */
export class AppStore {
  readonly #apps: string;
  readonly #domains: string;
  readonly #hosts: string;
  /** Name of the pub/sub channel change events go to. */
  readonly eventsChannel: string;

  /**
   * Creates a store over `redis` with key `prefix`. With `durability`, each
   * app change returns only once that many replicas hold it, else throws
   * RedisUnavailableError (the change may or may not survive a failover).
   */
  constructor(
    readonly redis: Redis,
    prefix: string,
    readonly durability: Durability = { replicas: 0, timeoutMs: 0 },
  ) {
    this.#apps = `${prefix}apps`;
    this.#domains = `${prefix}domains`;
    this.#hosts = `${prefix}hosts`;
    this.eventsChannel = `${prefix}events`;
  }

  /** All apps, sorted by name; records that fail validation are skipped and returned apart. */
  async list(): Promise<{ apps: AppRecord[]; invalid: string[] }> {
    const all = await withRedis(this.redis, () => this.redis.hgetall(this.#apps));
    const apps: AppRecord[] = [];
    const invalid: string[] = [];
    for (const [name, json] of Object.entries(all)) {
      try {
        apps.push(parseAppRecord(json));
      } catch {
        invalid.push(name);
      }
    }
    apps.sort((a, b) => compareNames(a.name, b.name));
    return { apps, invalid };
  }

  /** The app named `name` with its raw JSON (for compare-and-set), or throws AppNotFoundError. */
  async get(name: string): Promise<{ app: AppRecord; raw: string }> {
    const raw = await withRedis(this.redis, () => this.redis.hget(this.#apps, name));
    if (raw === null) throw new AppNotFoundError(name);
    return { app: parseAppRecord(raw), raw };
  }

  /** Stores a new app; throws StoreConflictError when the name or hostname is taken. */
  async create(app: AppRecord): Promise<void> {
    const result = await withRedis(this.redis, () =>
      this.redis.eval(
        CREATE,
        3,
        this.#apps,
        this.#domains,
        this.eventsChannel,
        app.name,
        app.hostname,
        JSON.stringify(app),
        this.#event(app.name),
      ));
    if (result === "name") throw new StoreConflictError(`${app.name} already exists`);
    if (result === "hostname") {
      throw new StoreConflictError(`hostname ${app.hostname} is already used by another app`);
    }
    await this.#replicated();
  }

  /** Replaces `previous` (raw JSON from {@link get}) with `next`, atomically. */
  async replace(previous: { app: AppRecord; raw: string }, next: AppRecord): Promise<void> {
    const result = await withRedis(this.redis, () =>
      this.redis.eval(
        REPLACE,
        3,
        this.#apps,
        this.#domains,
        this.eventsChannel,
        next.name,
        previous.raw,
        JSON.stringify(next),
        previous.app.hostname,
        next.hostname,
        this.#event(next.name),
      ));
    this.#check(result, next);
    await this.#replicated();
  }

  /** Removes the app if it is still `previous`. */
  async remove(previous: { app: AppRecord; raw: string }): Promise<void> {
    const result = await withRedis(this.redis, () =>
      this.redis.eval(
        REMOVE,
        3,
        this.#apps,
        this.#domains,
        this.eventsChannel,
        previous.app.name,
        previous.raw,
        previous.app.hostname,
        this.#event(previous.app.name),
      ));
    this.#check(result, previous.app);
    await this.#replicated();
  }

  /** Records that host `name` is alive now, by Redis's clock. */
  async heartbeat(name: string): Promise<void> {
    await withRedis(this.redis, () => this.redis.eval(HEARTBEAT, 1, this.#hosts, name));
  }

  /** Hosts seen within `maxAgeMs` by Redis's clock, sorted by name. */
  async liveHosts(maxAgeMs: number): Promise<string[]> {
    const { now, fields: all } = await readHashWithTime(this.redis, this.#hosts);
    return Object.entries(all)
      .filter(([name, seen]) => isAppName(name) && now - Number(seen) <= maxAgeMs)
      .map(([name]) => name)
      .sort();
  }

  /** Every host that sent a heartbeat and has not left, with its age by Redis's clock, by name. */
  async hostsSeen(): Promise<{ name: string; ageMs: number }[]> {
    const { now, fields } = await readHashWithTime(this.redis, this.#hosts);
    return Object.entries(fields)
      .filter(([name]) => isAppName(name))
      .map(([name, seen]) => ({ name, ageMs: Math.max(0, now - Number(seen)) }))
      .sort((a, b) => compareNames(a.name, b.name));
  }

  /** Forgets host `name` (on clean shutdown). */
  async forgetHost(name: string): Promise<void> {
    await withRedis(this.redis, () => this.redis.hdel(this.#hosts, name));
  }

  /** Waits until the replicas {@link durability} asks for hold every write made so far. */
  async #replicated(): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    if (replicas === 0) return;
    const acked = await withRedis(this.redis, () => this.redis.wait(replicas, timeoutMs));
    if (acked < replicas) {
      throw new RedisUnavailableError(
        `change acknowledged by ${acked} of ${replicas} replicas in ${timeoutMs} ms`,
      );
    }
  }

  #event(app: string): string {
    return JSON.stringify({ app } satisfies StoreEvent);
  }

  #check(result: unknown, app: AppRecord): void {
    if (result === "missing") throw new AppNotFoundError(app.name);
    if (result === "conflict") {
      throw new StoreConflictError(`${app.name} was changed by someone else; try again`);
    }
    if (result === "hostname") {
      throw new StoreConflictError(`hostname ${app.hostname} is already used by another app`);
    }
  }
}

/** Parses an event from the events channel; null when it does not validate. */
export function parseStoreEvent(message: string): StoreEvent | null {
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    return isAppName(value?.app) ? { app: value.app } : null;
  } catch {
    return null;
  }
}
