/**
 * Pending ACME HTTP-01 challenges (RFC 8555 8.3): control puts each token's
 * key authorization in Redis (`<prefix>acme:<token>`, expiring after 10
 * minutes) before it asks the ACME server to validate, and every gateway
 * answers `GET /.well-known/acme-challenge/<token>` from there, for any
 * hostname, so validation works whichever gateway the ACME server reaches.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { withRedis } from "./redis.ts";

/** Path prefix of HTTP-01 challenges. */
export const CHALLENGE_PATH = "/.well-known/acme-challenge/";

/** How long a challenge answer is kept, in seconds. */
const TTL_SECONDS = 600;

/** True when `token` is an ACME token: base64url, 1-128 characters. */
export function isChallengeToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(token);
}

/** Key authorizations of pending challenges, shared by control and gateways. */
export class ChallengeStore {
  /** Creates a store over `redis` with key `prefix`. */
  constructor(readonly redis: Redis, readonly prefix: string) {}

  /** Publishes the answer for `token` (for 10 minutes). */
  async put(token: string, keyAuthorization: string): Promise<void> {
    if (!isChallengeToken(token)) throw new Error("invalid ACME challenge token");
    await withRedis(
      this.redis,
      () => this.redis.set(this.#key(token), keyAuthorization, "EX", TTL_SECONDS),
    );
  }

  /** The answer for `token`, or null when there is none. */
  async get(token: string): Promise<string | null> {
    if (!isChallengeToken(token)) return null;
    return await withRedis(this.redis, () => this.redis.get(this.#key(token)));
  }

  /** Removes the answer for `token`. */
  async remove(token: string): Promise<void> {
    if (!isChallengeToken(token)) return;
    await withRedis(this.redis, () => this.redis.del(this.#key(token)));
  }

  #key(token: string): string {
    return `${this.prefix}acme:${token}`;
  }
}
