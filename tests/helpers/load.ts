/**
 * A bounded load generator for fault tests: `concurrency` loops sending GETs
 * through the gateway until stopped, recording every outcome with its time.
 *
 * @module
 */

import type { TestNetwork } from "./network.ts";

/** One request's outcome. */
export interface Outcome {
  /** ms since the load started. */
  at: number;
  /** HTTP status, or 0 for a transport error. */
  status: number;
  /** Response body (first 200 chars). */
  body: string;
  /** How long it took, in ms. */
  ms: number;
}

/** A running load. */
export class Load {
  readonly outcomes: Outcome[] = [];
  #running = true;
  #loops: Promise<void>[] = [];
  readonly started = performance.now();

  /**
   * Starts `concurrency` loops of `GET path` for `hostname` (at most
   * `maxRequests` in all) on the gateway at `address`:`port` (default the
   * network's).
   */
  constructor(
    readonly net: TestNetwork,
    readonly hostname: string,
    readonly path = "/",
    readonly concurrency = 8,
    readonly maxRequests = 200_000,
    readonly method = "GET",
    readonly port = net.gatewayPort,
    readonly address = "127.0.0.1",
  ) {
    for (let i = 0; i < concurrency; i++) this.#loops.push(this.#loop());
  }

  async #loop(): Promise<void> {
    while (this.#running && this.outcomes.length < this.maxRequests) {
      const at = performance.now() - this.started;
      try {
        const res = await this.net.gateway(
          this.hostname,
          this.path,
          { method: this.method },
          this.port,
          this.address,
        );
        const body = (await res.text()).slice(0, 200);
        this.outcomes.push({
          at,
          status: res.status,
          body,
          ms: performance.now() - this.started - at,
        });
        if (res.status !== 200) await sleep(5); // no busy loop while the network is down
      } catch (e) {
        const ms = performance.now() - this.started - at;
        this.outcomes.push({ at, status: 0, body: (e as Error).message, ms });
      }
    }
  }

  /** Stops the load and waits for the loops. */
  async stop(): Promise<Outcome[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.outcomes;
  }

  /** Outcomes whose status is not 200. */
  get failures(): Outcome[] {
    return this.outcomes.filter((o) => o.status !== 200);
  }
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Counts outcomes by status: `{"200": 940, "503": 3}`. */
export function byStatus(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}
