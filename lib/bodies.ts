/**
 * Large HTTP bodies travel through Redis: the sender stores the bytes under a
 * random key with a TTL, only the key rides in the message, the receiver takes
 * the bytes with GETDEL. Keys are checked so a message can name no other key.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { withRedis } from "./redis.ts";

/** Raised when a body key is invalid or its body expired. */
export class BodyMissingError extends Error {
  override name = "BodyMissingError";
}

/** Stores and takes large bodies under `<prefix>body:<uuid>`. */
export class BodyStore {
  readonly #prefix: string;

  /** Creates a body store over `redis` with key `prefix`. */
  constructor(readonly redis: Redis, prefix: string) {
    this.#prefix = `${prefix}body:`;
  }

  /** Stores `bytes` for `ttlMs` and returns the key. */
  async put(bytes: Uint8Array, ttlMs: number): Promise<string> {
    const key = this.#prefix + crypto.randomUUID();
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    await withRedis(this.redis, () => this.redis.set(key, buffer, "PX", Math.max(1000, ttlMs)));
    return key;
  }

  /** Takes (reads and deletes) the body under `key`. */
  async take(key: string): Promise<Uint8Array> {
    const value = await withRedis(this.redis, () => this.redis.getdelBuffer(this.#check(key)));
    return this.#found(value);
  }

  /** Reads the body under `key`, leaving it for a retry elsewhere; see {@link discard}. */
  async read(key: string): Promise<Uint8Array> {
    const value = await withRedis(this.redis, () => this.redis.getBuffer(this.#check(key)));
    return this.#found(value);
  }

  /** Deletes the body under `key` once it is no longer needed (best effort; the TTL is the backstop). */
  discard(key: string): void {
    this.redis.del(this.#check(key)).catch(() => {});
  }

  #check(key: string): string {
    if (!key.startsWith(this.#prefix) || !/^[0-9a-f-]{36}$/.test(key.slice(this.#prefix.length))) {
      throw new BodyMissingError("body key is not one of ours");
    }
    return key;
  }

  #found(value: Buffer | null): Uint8Array {
    if (value === null) throw new BodyMissingError("body expired before it was read");
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
}
