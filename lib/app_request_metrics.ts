/**
 * Requests counted by app and status code, with their latency by app: the
 * per-app series the gateway and the hosts keep. An app's series are made on
 * its first request and kept, so a request costs two map lookups and a few
 * number updates; those of an app that is gone are dropped.
 *
 * @module
 */

import type { Counter, CounterChild, Histogram, HistogramChild } from "./metrics.ts";

interface AppSeries {
  codes: Map<number, CounterChild>;
  latency: HistogramChild;
}

/** The series of `requests{app,code}` and `latency{app}`, kept per app. */
export class AppRequestSeries {
  readonly #apps = new Map<string, AppSeries>();

  /**
   * Keeps the series of `requests` (labels app and code) and `latency`
   * (label app); `codeLabel` writes a status as its `code` label.
   */
  constructor(
    readonly requests: Counter,
    readonly latency: Histogram,
    readonly codeLabel: (status: number) => string = String,
  ) {}

  /** Counts one request of `app` answered with `status`; observes `seconds` unless undefined. */
  record(app: string, status: number, seconds: number | undefined): void {
    let series = this.#apps.get(app);
    if (!series) {
      series = { codes: new Map(), latency: this.latency.labels(app) };
      this.#apps.set(app, series);
    }
    let counter = series.codes.get(status);
    if (!counter) {
      counter = this.requests.labels(app, this.codeLabel(status));
      series.codes.set(status, counter);
    }
    counter.value++;
    if (seconds !== undefined) series.latency.observe(seconds);
  }

  /** Drops the series of every app `keep` says no to. */
  dropAppsUnless(keep: (app: string) => boolean): void {
    for (const [app, series] of this.#apps) {
      if (keep(app)) continue;
      for (const status of series.codes.keys()) this.requests.remove(app, this.codeLabel(status));
      this.latency.remove(app);
      this.#apps.delete(app);
    }
  }
}
