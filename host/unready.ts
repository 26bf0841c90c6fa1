/**
 * Keeps this host's reasons for not serving apps in Redis (lib/unready.ts),
 * so a gateway with no host for an app names why in its 503: written when a
 * reason changes (at most once a second per app: a probe that fails fast
 * fails ten times a second), again with every heartbeat while it lasts, and
 * removed once the app is served here or not run here any more. Failures are
 * logged; the next heartbeat writes the reasons again.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import type { UnreadyStore } from "../lib/unready.ts";

/** Shortest time between two writes of one app's reason, in ms. */
const MIN_WRITE_GAP_MS = 1000;

/**
 * The reason while a new container's readiness probe fails: `starting: GET /:
 * connection refused, 12 tries`.
 */
export function startingReason(problem: string, tries: number): string {
  return `starting: ${problem}, ${tries === 1 ? "1 try" : `${tries} tries`}`;
}

/** One app's reason, and when it was last written. */
interface Pending {
  reason: string;
  writtenAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Announces and removes one host's reasons. */
export class UnreadyAnnouncer {
  #reasons = new Map<string, Pending>();
  /** Writes and removals, one after another (a removal never overtaken by an earlier write). */
  #chain: Promise<void> = Promise.resolve();

  /** Creates an announcer for `host`. */
  constructor(readonly store: UnreadyStore, readonly host: string, readonly log: Logger) {}

  /** This host does not serve `app`, because of `reason`. */
  note(app: string, reason: string): void {
    const pending = this.#reasons.get(app);
    if (pending?.reason === reason) return;
    if (pending === undefined) {
      const fresh: Pending = { reason, writtenAt: 0 };
      this.#reasons.set(app, fresh);
      this.#write(app, fresh);
      return;
    }
    pending.reason = reason;
    if (pending.timer !== undefined) return; // the write due takes the newest reason
    const wait = pending.writtenAt + MIN_WRITE_GAP_MS - performance.now();
    if (wait <= 0) this.#write(app, pending);
    else pending.timer = setTimeout(() => this.#write(app, pending), wait);
  }

  /** `app` is served here, or not run here any more: its reason goes. */
  clear(app: string): void {
    const pending = this.#reasons.get(app);
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.#reasons.delete(app);
    this.#then("unready reason not removed", () => this.store.withdraw(this.host, [app]));
  }

  /** Writes every reason again (with each heartbeat; readers drop those not refreshed). */
  refresh(): void {
    const all = new Map([...this.#reasons].map(([app, { reason }]) => [app, reason]));
    this.#then("unready reasons not refreshed", () => this.store.write(this.host, all, false));
  }

  /** Removes every reason of this host (clean shutdown). */
  async clearAll(): Promise<void> {
    const apps = [...this.#reasons.keys()];
    for (const pending of this.#reasons.values()) clearTimeout(pending.timer);
    this.#reasons.clear();
    this.#then("unready reasons not removed", () => this.store.withdraw(this.host, apps));
    await this.#chain;
  }

  #write(app: string, pending: Pending): void {
    pending.timer = undefined;
    pending.writtenAt = performance.now();
    if (this.#reasons.get(app) !== pending) return; // cleared meanwhile
    const reasons = new Map([[app, pending.reason]]);
    this.#then("unready reason not written", () => this.store.write(this.host, reasons));
  }

  /** Runs `op` after the writes before it; a failure is logged as `what`. */
  #then(what: string, op: () => Promise<void>): void {
    this.#chain = this.#chain.then(op).catch((e) =>
      this.log.warn(what, { error: errorMessage(e) })
    );
  }
}
