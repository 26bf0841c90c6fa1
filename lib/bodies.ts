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
    if (!key.startsWith(this.#prefix) || !/^[0-9a-f-]{36}$/.test(key.slice(this.#prefix.length))) {
      throw new BodyMissingError("body key is not one of ours");
    }
    const value = await withRedis(this.redis, () => this.redis.getdelBuffer(key));
    if (value === null) throw new BodyMissingError("body expired before it was read");
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
}
