/**
 * The gateway's domain table: hostname → app, held in memory and reloaded
 * from Redis when control announces a change (pub/sub), after a reconnect,
 * and on a slow timer as a safety net. Requests never wait on Redis for it.
 *
 * @module
 */

import type { AppRecord } from "../lib/apps.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { RedisMirror } from "../lib/redis.ts";
import type { AppStore } from "../lib/store.ts";

/** In-memory hostname → app table kept in step with Redis. */
export class DomainTable extends RedisMirror {
  #byHostname = new Map<string, AppRecord>();
  #names = new Set<string>();

  /** Creates a table over `store`; call {@link start}. */
  constructor(readonly store: AppStore, log: Logger, refreshMs = 30_000) {
    super(store.eventsChannel, refreshMs, log);
  }

  /** The app serving `hostname` (already normalised), if any. */
  lookup(hostname: string): AppRecord | undefined {
    return this.#byHostname.get(hostname);
  }

  /** True when an app named `name` is in the table. */
  hasApp(name: string): boolean {
    return this.#names.has(name);
  }

  /** Number of domains known. */
  get size(): number {
    return this.#byHostname.size;
  }

  /** Reads every app record into the table. */
  protected async load(): Promise<void> {
    try {
      const { apps, invalid } = await this.store.list();
      const next = new Map<string, AppRecord>();
      for (const app of apps) next.set(app.hostname, app);
      this.#byHostname = next;
      this.#names = new Set(apps.map((app) => app.name));
      if (invalid.length > 0) this.log.warn("skipped invalid app records", { invalid });
    } catch (e) {
      this.log.warn("domain table not refreshed", { error: errorMessage(e) });
    }
  }
}
