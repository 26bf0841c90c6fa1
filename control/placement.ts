/**
 * Placement of apps with `replicas` > 0 on live hosts: which hosts run them.
 * Hosts already placed and alive keep the app (no needless moves); free
 * slots go to the live hosts with the fewest placed apps. A rebalancer
 * re-places apps when hosts leave or join (heartbeats in Redis).
 *
 * @module
 */

import type { AppRecord } from "../lib/apps.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { compareNames } from "../lib/names.ts";
import type { AppStore } from "../lib/store.ts";

/** Hosts considered alive: seen within this many ms. */
export const LIVE_WINDOW_MS = 15_000;

/**
 * Hosts `app` should run on, given the live hosts and how many apps each
 * already has placed on it. Empty when the app runs on every host.
 */
export function place(
  app: AppRecord,
  live: readonly string[],
  load: Map<string, number>,
): string[] {
  if (app.replicas === 0) return [];
  const kept = app.placement.filter((host) => live.includes(host)).slice(0, app.replicas);
  const free = live.filter((host) => !kept.includes(host)).sort((a, b) =>
    (load.get(a) ?? 0) - (load.get(b) ?? 0) || compareNames(a, b)
  );
  return [...kept, ...free.slice(0, app.replicas - kept.length)].sort();
}

/** Number of apps placed on each host, leaving out `except`. */
export function placementLoad(apps: readonly AppRecord[], except?: string): Map<string, number> {
  const load = new Map<string, number>();
  for (const app of apps) {
    if (app.name === except) continue;
    for (const host of app.placement) load.set(host, (load.get(host) ?? 0) + 1);
  }
  return load;
}

/** True when two placements name the same hosts. */
export function samePlacement(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((host, i) => host === b[i]);
}

/** Re-places apps when hosts come and go. */
export class Rebalancer {
  #timer: ReturnType<typeof setInterval> | undefined;
  #running = false;

  /** Creates a rebalancer; `announce` tells hosts an app changed. */
  constructor(
    readonly store: AppStore,
    readonly announce: (app: string) => Promise<void>,
    readonly log: Logger,
    readonly intervalMs = 5000,
  ) {}

  /** Starts checking every `intervalMs`. */
  start(): void {
    this.#timer = setInterval(() => this.rebalance(), this.intervalMs);
  }

  /** Stops checking. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Re-places every app whose placement no longer fits the live hosts. */
  async rebalance(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const live = await this.store.liveHosts(LIVE_WINDOW_MS);
      const { apps } = await this.store.list();
      for (const app of apps.filter((a) => a.replicas > 0)) {
        const next = place(app, live, placementLoad(apps, app.name));
        if (samePlacement(next, app.placement)) continue;
        const current = await this.store.get(app.name);
        await this.store.replace(current, {
          ...current.app,
          placement: next,
          updatedAt: new Date().toISOString(),
        });
        app.placement = next;
        this.log.info("app re-placed", { app: app.name, hosts: next });
        await this.announce(app.name);
      }
    } catch (e) {
      this.log.warn("rebalance failed", { error: errorMessage(e) });
    } finally {
      this.#running = false;
    }
  }
}
