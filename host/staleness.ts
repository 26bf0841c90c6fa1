/**
 * A host cut off from Redis may miss changes (an update, a stop, a new
 * placement) and come back serving an app's old version. From the first
 * failed heartbeat until it has compared what it serves with what Redis
 * wants, it takes no direct requests (421: the gateway tries another host);
 * after that, only the apps it serves at another version, revision or
 * placement than desired are refused, each until it serves the desired
 * container or stops serving the app.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import type { AppStore } from "../lib/store.ts";
import type { Containers } from "./containers.ts";
import type { RequestServer } from "./requests.ts";

/** Options of {@link Staleness}. */
export interface StalenessOptions {
  hostName: string;
  store: AppStore;
  containers: Containers;
  requests: RequestServer;
  log: Logger;
  /** Brings `app` to its desired state. */
  converge: (app: string) => void;
}

/** Tracks which served apps may be stale after the host lost Redis. */
export class Staleness {
  #unsure = false;
  readonly #stale = new Set<string>();

  /** Creates the tracker. */
  constructor(readonly options: StalenessOptions) {}

  /** True when this host may answer `app`'s requests now. */
  current(app: string): boolean {
    return !this.#unsure && !this.#stale.has(app);
  }

  /** A heartbeat failed: the host may miss changes from now on. */
  lost(): void {
    if (!this.#unsure) this.options.log.warn("redis unreachable: direct requests paused");
    this.#unsure = true;
  }

  /** A heartbeat went through: if the host was cut off, find its stale apps and converge them. */
  async regained(): Promise<void> {
    if (!this.#unsure) return;
    const { store, containers, requests, hostName, log } = this.options;
    try {
      const { apps } = await store.list();
      const desired = new Map(apps.map((a) => [a.name, a]));
      const stale: string[] = [];
      for (const app of requests.apps) {
        const want = desired.get(app);
        const served = requests.target(app)?.containerId;
        const running = (await containers.list(app)).find((c) => c.id === served);
        const placed = want !== undefined &&
          (want.placement.length === 0 || want.placement.includes(hostName));
        if (
          !want || want.status !== "running" || !placed || running === undefined ||
          running.version !== want.version || running.revision !== want.revision
        ) stale.push(app);
      }
      for (const app of stale) this.#stale.add(app);
      this.#unsure = false;
      log.info("redis reachable again", { stale });
      for (const app of stale) this.options.converge(app);
    } catch (e) {
      log.warn("stale apps not checked", { error: errorMessage(e) });
    }
  }

  /** `app` moved to another container or stopped being served: no longer stale. */
  changed(app: string): void {
    this.#stale.delete(app);
  }
}
