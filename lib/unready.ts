/**
 * Why hosts do not serve an app, in Redis for gateways: a gateway that has
 * no host for an app names the reason in its 503 (gateway/unready.ts) from
 * what the hosts said, in the words of `dn status` ("starting: GET /:
 * connection refused, 12 tries", "crash-looping (exit 3), 4 restarts").
 *
 * Hash `<prefix>unready`, field `<app> <host>`, value `<ms> <reason>`: when
 * the host last said so (Redis's clock, lib/redis_clock.ts) and the reason,
 * printable ASCII of at most {@link MAX_REASON} characters. A host writes an
 * app's reason when it changes and with every heartbeat while it lasts, and
 * removes it once it serves the app (or no longer runs it); each change is
 * announced on the `<prefix>unready` channel. Readers ignore entries older
 * than {@link UNREADY_MAX_AGE_MS}, so a host that died drops out on its own.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { HostAppHash } from "./host_hash.ts";
import { compareNames } from "./names.ts";
import { LUA_NOW_MS } from "./redis_clock.ts";

/** Reasons not refreshed for this long are ignored (three missed heartbeats). */
export const UNREADY_MAX_AGE_MS = 15_000;

/** Longest reason kept, in characters. */
export const MAX_REASON = 300;

/**
 * Writes reasons stamped with Redis's time. KEYS: hash, channel. ARGV: "1"
 * to publish (else "0"), host, then field and reason pairs.
 */
const WRITE = `${LUA_NOW_MS}
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], now .. ' ' .. ARGV[i + 1])
end
if ARGV[1] == '1' then redis.call('PUBLISH', KEYS[2], ARGV[2]) end
return 'ok'`;

/** Why one host does not serve an app. */
export interface UnreadyReason {
  /** Host service name. */
  host: string;
  /** What the host said. */
  reason: string;
}

/** An IPv4 address, with its port if any: not shown to clients. */
const ADDRESS = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g;

/**
 * `text` as a reason a client may see: IPv4 addresses (a container's on the
 * bridge) become `<address>`, anything but printable ASCII `?`, runs of white
 * space one space, at most {@link MAX_REASON} characters; safe in a header
 * value.
 *
 * @example
 * ```ts
 * cleanReason("cannot connect to 172.19.0.6:8000:\nrefused"); // "cannot connect to <address>: refused"
 * ```
 */
export function cleanReason(text: string): string {
  return text.replace(ADDRESS, "<address>").replace(/\s+/g, " ").replace(/[^\x20-\x7e]/g, "?")
    .trim().slice(0, MAX_REASON);
}

/**
 * Reads and writes hosts' reasons for not serving apps; {@link withdraw}
 * says a host has none against apps any more (it serves them, or runs them no
 * more).
 */
export class UnreadyStore extends HostAppHash {
  /** Creates a store over `redis` with key `prefix`. */
  constructor(redis: Redis, prefix: string) {
    super(redis, `${prefix}unready`);
  }

  /**
   * Says why `host` does not serve each app of `reasons` (now, by Redis's
   * clock); `news` false for a refresh readers need not hear of at once.
   */
  async write(host: string, reasons: ReadonlyMap<string, string>, news = true): Promise<void> {
    if (reasons.size === 0) return;
    const args = [...reasons].flatMap(([app, reason]) => [`${app} ${host}`, cleanReason(reason)]);
    await this.writeWith(WRITE, host, args, news);
  }

  /** Fresh reasons by app, by host name; malformed and stale entries are skipped. */
  async load(): Promise<Map<string, UnreadyReason[]>> {
    const { now, fields } = await this.fields();
    const reasons = new Map<string, UnreadyReason[]>();
    for (const { app, host, value } of fields) {
      const space = value.indexOf(" ");
      if (space === -1 || !(now - Number(value.slice(0, space)) <= UNREADY_MAX_AGE_MS)) continue;
      const reason = cleanReason(value.slice(space + 1));
      if (reason === "") continue;
      reasons.set(app, [...reasons.get(app) ?? [], { host, reason }]);
    }
    for (const list of reasons.values()) list.sort((a, b) => compareNames(a.host, b.host));
    return reasons;
  }
}
