/**
 * Redis's clock as the one clock of a network: hosts, gateways and control
 * run on machines whose clocks need not agree, so every "last seen" stamp is
 * written with Redis's `TIME` (inside the script that writes it) and read
 * against Redis's `TIME` (in the transaction that reads it). A machine whose
 * clock is minutes off neither keeps a dead entry alive nor has a live one
 * dropped.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { withRedis } from "./redis.ts";

/**
 * Lua that sets local `now` to Redis's time in whole milliseconds, as a
 * decimal string. Scripts are replicated by their effects (Redis 5+), so a
 * script may call `TIME` before it writes.
 */
export const LUA_NOW_MS =
  "local t = redis.call('TIME')\nlocal now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))\n";

/** Redis `TIME` reply (`[seconds, microseconds]`) as milliseconds. */
export function timeReplyMs(reply: unknown): number {
  if (!Array.isArray(reply) || reply.length !== 2) {
    throw new TypeError("redis TIME reply is not [seconds, microseconds]");
  }
  const ms = Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
  if (!Number.isSafeInteger(ms)) throw new TypeError("redis TIME reply is not a number");
  return ms;
}

/** A hash read at one instant of Redis's clock. */
export interface TimedHash {
  /** Redis's time when the hash was read, in ms. */
  now: number;
  /** The hash's fields and values. */
  fields: Record<string, string>;
}

/** Reads hash `key` and Redis's time in one transaction. */
export async function readHashWithTime(redis: Redis, key: string): Promise<TimedHash> {
  const replies = await withRedis(redis, () => redis.multi().time().hgetall(key).exec());
  if (!replies || replies.length !== 2) throw new TypeError(`redis transaction on ${key} aborted`);
  for (const [error] of replies) if (error) throw error;
  const fields = replies[1][1];
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    throw new TypeError(`redis HGETALL ${key} reply is not a hash`);
  }
  return { now: timeReplyMs(replies[0][1]), fields: fields as Record<string, string> };
}
