/**
 * Health checks of the apps a host serves. An app with a health path in its
 * App.config (`APP_HEALTH`) is probed every few seconds; after `threshold`
 * failures in a row its container gets no more traffic from this host (the
 * consumer is cancelled, so other hosts take the requests), it is restarted,
 * and the agent serves it again once the probe passes.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import type { AppStore } from "../lib/store.ts";
import type { Containers } from "./containers.ts";
import type { RequestServer } from "./requests.ts";

/** Options of a {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  requests: RequestServer;
  containers: Containers;
  store: AppStore;
  log: Logger;
  /** Serves the app again after a restart (the agent's converge). */
  recover: (app: string) => Promise<void>;
  /** Time between probes, in ms. */
  intervalMs: number;
  /** Failed probes in a row that make a container unhealthy. */
  threshold: number;
}

/** Probes served apps and restarts unhealthy containers. */
export class HealthMonitor {
  #failures = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running = false;

  /** Creates the monitor; call {@link start}. */
  constructor(readonly options: HealthMonitorOptions) {}

  /** Starts probing. */
  start(): void {
    this.#timer = setInterval(() => this.checkAll(), this.options.intervalMs);
  }

  /** Stops probing. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Probes every served app with a health path once (skipped while a round runs). */
  async checkAll(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await Promise.all(this.options.requests.apps.map((app) => this.#check(app)));
    } finally {
      this.#running = false;
    }
  }

  async #check(app: string): Promise<void> {
    const { requests, containers, store, log } = this.options;
    const target = requests.target(app);
    if (!target) return;
    let healthPath: string;
    try {
      healthPath = (await store.get(app)).app.healthPath;
    } catch {
      return; // state unknown now: judge nothing
    }
    if (!healthPath) return;
    const problem = await containers.probe(target, healthPath);
    if (problem === null) {
      this.#failures.delete(app);
      return;
    }
    const failures = (this.#failures.get(app) ?? 0) + 1;
    this.#failures.set(app, failures);
    log.warn("health check failed", { app, failures, problem });
    if (failures < this.options.threshold) return;
    this.#failures.delete(app);
    log.warn("container unhealthy: no traffic, restarting", { app, container: target.containerId });
    try {
      await requests.unserve(app);
      await containers.restart(target.containerId);
      await this.options.recover(app);
    } catch (e) {
      log.error("restart of unhealthy container failed", { app, error: errorMessage(e) });
    }
  }
}
