/**
 * The gateway's copy of why hosts do not serve apps (lib/unready.ts), kept
 * in memory and reloaded when a host announces a change, after a reconnect
 * and on a timer, so a 503 for an app no host serves can say why without
 * asking anything while the request waits.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import { RedisMirror } from "../lib/redis.ts";
import type { UnreadyReason, UnreadyStore } from "../lib/unready.ts";

/** Most hosts a 503 names. */
const MAX_HOSTS_NAMED = 3;

/** What hosts said of the apps they do not serve, in memory. */
export class UnreadyReasons extends RedisMirror {
  #reasons = new Map<string, UnreadyReason[]>();

  /** Creates a copy of `store`; call {@link start}. */
  constructor(readonly store: UnreadyStore, log: Logger, refreshMs = 5000) {
    super(store.channel, refreshMs, log);
  }

  /**
   * Why no host serves `app`, as hosts said (`vaermina: starting: GET /:
   * connection refused, 12 tries`; several hosts joined by `; `), or
   * undefined when none said.
   */
  reason(app: string): string | undefined {
    const list = this.#reasons.get(app);
    if (!list || list.length === 0) return undefined;
    const named = list.slice(0, MAX_HOSTS_NAMED).map(({ host, reason }) => `${host}: ${reason}`);
    const more = list.length - named.length;
    return named.join("; ") + (more > 0 ? `; and ${more} more host(s)` : "");
  }

  /** Reads every reason into memory. */
  protected async load(): Promise<void> {
    try {
      this.#reasons = await this.store.load();
    } catch (e) {
      this.log.warn("unready reasons not refreshed", { error: errorMessage(e) });
    }
  }
}
