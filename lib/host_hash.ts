/**
 * A Redis hash of what each host says about each app, for gateways: field
 * `<app> <host>`, values stamped by Redis's clock (lib/redis_clock.ts),
 * changes announced on a channel of the hash's name. Direct routes
 * (lib/routes.ts) and reasons for not serving (lib/unready.ts) are such
 * hashes.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { isAppName, isHostName } from "./names.ts";
import { withRedis } from "./redis.ts";
import { readHashWithTime } from "./redis_clock.ts";

/** One field of a {@link HostAppHash}, its names valid. */
export interface HostAppField {
  app: string;
  host: string;
  value: string;
}

/** A hash of per-app, per-host values, and the channel its changes are announced on. */
export class HostAppHash {
  /** Pub/sub channel changes are announced on (the hash's own name). */
  readonly channel: string;

  /** Creates a hash `key` over `redis`. */
  constructor(readonly redis: Redis, readonly key: string) {
    this.channel = key;
  }

  /**
   * Runs `script` to write `host`'s values: KEYS are the hash and the
   * channel, ARGV "1" to announce the change (else "0"), `host`, then
   * `args`; `news` false for a refresh readers need not hear of at once.
   */
  protected async writeWith(
    script: string,
    host: string,
    args: string[],
    news: boolean,
  ): Promise<void> {
    await withRedis(
      this.redis,
      () => this.redis.eval(script, 2, this.key, this.channel, news ? "1" : "0", host, ...args),
    );
  }

  /** Removes what `host` said of `apps`, and announces it. */
  async withdraw(host: string, apps: string[]): Promise<void> {
    if (apps.length === 0) return;
    const fields = apps.map((app) => `${app} ${host}`);
    await withRedis(
      this.redis,
      () => this.redis.multi().hdel(this.key, ...fields).publish(this.channel, host).exec(),
    );
  }

  /** Fields whose app and host names are valid, and Redis's time when they were read. */
  protected async fields(): Promise<{ now: number; fields: HostAppField[] }> {
    const { now, fields } = await readHashWithTime(this.redis, this.key);
    const valid: HostAppField[] = [];
    for (const [field, value] of Object.entries(fields)) {
      const [app, host] = field.split(" ");
      if (isAppName(app) && isHostName(host)) valid.push({ app, host, value });
    }
    return { now, fields: valid };
  }
}
