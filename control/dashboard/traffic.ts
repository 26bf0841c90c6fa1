/**
 * The dashboard's traffic charts: control scrapes every gateway's metrics
 * (`dn_gateway_requests_total{app,code}` and
 * `dn_gateway_request_duration_seconds{app}`, gateway/metrics.ts) every
 * `intervalMs`, and keeps per app one point per scrape for the last
 * `windowMs` (15 min): requests and 5xx answers per second and the median
 * and 99th percentile latency of the requests in that interval (from the
 * histogram buckets' increase, interpolated as Prometheus'
 * `histogram_quantile` does). Counters that went down (a gateway restarted)
 * count from zero again.
 *
 * @module
 */

import { errorMessage, type Logger } from "../../lib/log.ts";
import { parsePrometheusText } from "../../lib/prometheus_text.ts";

const REQUESTS = "dn_gateway_requests_total";
const BUCKETS = "dn_gateway_request_duration_seconds_bucket";

/** One app's traffic over the window, as parallel arrays (uPlot's shape). */
export interface TrafficSeries {
  /** Point times, seconds since the epoch. */
  t: number[];
  /** Requests per second. */
  rps: number[];
  /** 5xx answers per second. */
  errors: number[];
  /** Median latency in ms (null: no request in that interval). */
  p50: (number | null)[];
  /** 99th percentile latency in ms (null: no request in that interval). */
  p99: (number | null)[];
}

/** How one gateway's last scrape went. */
export interface ScrapeState {
  /** The gateway's metrics URL. */
  url: string;
  /** True when the last scrape succeeded. */
  ok: boolean;
  /** Why it failed, when it did. */
  error?: string;
  /** When it was last tried, ms since the epoch (0: not yet). */
  at: number;
}

/** Cumulative counts of one app at one gateway. */
interface AppCounts {
  requests: number;
  errors: number;
  /** Cumulative bucket counts by upper bound (`le`). */
  buckets: Map<number, number>;
}

interface Point {
  t: number;
  seconds: number;
  requests: number;
  errors: number;
  /** Increase of each bucket (upper bound, count) in this interval, bounds ascending. */
  buckets: [number, number][];
}

/** Counts per app from one exposition. */
export function countsOf(text: string): Map<string, AppCounts> {
  const apps = new Map<string, AppCounts>();
  const of = (app: string) => {
    let counts = apps.get(app);
    if (!counts) {
      counts = { requests: 0, errors: 0, buckets: new Map() };
      apps.set(app, counts);
    }
    return counts;
  };
  for (const sample of parsePrometheusText(text)) {
    const app = sample.labels.app;
    if (app === undefined || app === "") continue;
    if (sample.name === REQUESTS) {
      const counts = of(app);
      counts.requests += sample.value;
      if (/^5\d\d$/.test(sample.labels.code ?? "")) counts.errors += sample.value;
    } else if (sample.name === BUCKETS && sample.labels.le !== undefined) {
      const le = sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le);
      if (!Number.isNaN(le)) of(app).buckets.set(le, sample.value);
    }
  }
  return apps;
}

/** `now - before`, or `now` when the counter went down (restarted). */
function increase(now: number, before: number | undefined): number {
  return before === undefined || now < before ? now : now - before;
}

/**
 * The `q` quantile (0-1) of observations whose bucket increases are
 * `buckets` (upper bound, count; ascending, non-cumulative), in the bounds'
 * unit; null without observations. Linear within a bucket; the +Inf bucket
 * answers the largest finite bound.
 */
export function quantile(q: number, buckets: readonly [number, number][]): number | null {
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  let lower = 0;
  for (const [bound, n] of buckets) {
    if (n > 0 && seen + n >= rank) {
      if (bound === Infinity) return lower;
      return lower + (bound - lower) * ((rank - seen) / n);
    }
    seen += n;
    if (bound !== Infinity) lower = bound;
  }
  return lower;
}

/** What {@link Traffic} needs. */
export interface TrafficOptions {
  /** Gateways' metrics URLs. */
  urls: readonly string[];
  log: Logger;
  /** Time between scrapes (default 5000 ms). */
  intervalMs?: number;
  /** How much history is kept (default 15 min). */
  windowMs?: number;
  /** Time a scrape may take (default 3000 ms). */
  timeoutMs?: number;
  /** Reads one URL (default `fetch`), for tests. */
  fetch?: (url: string, signal: AbortSignal) => Promise<string>;
}

async function fetchText(url: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, { signal });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  return await res.text();
}

/** Scrapes the gateways and keeps each app's recent traffic. */
export class Traffic {
  readonly #options: Required<TrafficOptions>;
  readonly #last = new Map<string, Map<string, AppCounts>>();
  readonly #points = new Map<string, Point[]>();
  readonly #states: ScrapeState[];
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;

  /** Creates the scraper (call {@link start}). */
  constructor(options: TrafficOptions) {
    this.#options = {
      intervalMs: 5000,
      windowMs: 15 * 60_000,
      timeoutMs: 3000,
      fetch: fetchText,
      ...options,
    };
    this.#states = options.urls.map((url) => ({ url, ok: false, at: 0 }));
  }

  /** Scrapes now and then every interval. */
  start(): void {
    if (this.#timer !== undefined || this.#options.urls.length === 0) return;
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#options.intervalMs);
  }

  /** Stops scraping. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** How each gateway's last scrape went. */
  get gateways(): readonly ScrapeState[] {
    return this.#states.map((s) => ({ ...s }));
  }

  /** Scrapes every gateway once and adds a point per app (also used by tests). */
  async tick(now = Date.now()): Promise<void> {
    const seconds = this.#lastTick === 0 ? 0 : (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    const sums = new Map<
      string,
      { requests: number; errors: number; buckets: Map<number, number> }
    >();
    await Promise.all(this.#states.map(async (state) => {
      let counts: Map<string, AppCounts>;
      try {
        counts = countsOf(
          await this.#options.fetch(state.url, AbortSignal.timeout(this.#options.timeoutMs)),
        );
        if (!state.ok && state.at !== 0) {
          this.#options.log.info("gateway metrics answer again", { url: state.url });
        }
        Object.assign(state, { ok: true, error: undefined, at: now });
      } catch (e) {
        if (state.ok || state.at === 0) {
          this.#options.log.warn("gateway metrics not read", {
            url: state.url,
            error: errorMessage(e),
          });
        }
        Object.assign(state, { ok: false, error: errorMessage(e), at: now });
        return;
      }
      const before = this.#last.get(state.url);
      this.#last.set(state.url, counts);
      if (!before) return; // the first scrape is only a baseline
      for (const [app, c] of counts) {
        const b = before.get(app);
        let sum = sums.get(app);
        if (!sum) {
          sum = { requests: 0, errors: 0, buckets: new Map() };
          sums.set(app, sum);
        }
        sum.requests += increase(c.requests, b?.requests);
        sum.errors += increase(c.errors, b?.errors);
        for (const [le, n] of c.buckets) {
          sum.buckets.set(le, (sum.buckets.get(le) ?? 0) + increase(n, b?.buckets.get(le)));
        }
      }
    }));
    const since = now - this.#options.windowMs;
    for (const [app, points] of this.#points) {
      while (points.length > 0 && points[0].t < since) points.shift();
      if (points.length === 0 && !sums.has(app)) this.#points.delete(app);
    }
    if (seconds <= 0) return;
    for (const [app, sum] of sums) {
      const bounds = [...sum.buckets.keys()].sort((a, b) => a - b);
      const buckets: [number, number][] = [];
      let cumulative = 0;
      for (const le of bounds) {
        const n = sum.buckets.get(le)!;
        buckets.push([le, Math.max(0, n - cumulative)]);
        cumulative = Math.max(cumulative, n);
      }
      let points = this.#points.get(app);
      if (!points) {
        points = [];
        this.#points.set(app, points);
      }
      points.push({ t: now, seconds, requests: sum.requests, errors: sum.errors, buckets });
    }
  }

  /** The app's traffic over the window (empty arrays when none was seen). */
  series(app: string): TrafficSeries {
    const out: TrafficSeries = { t: [], rps: [], errors: [], p50: [], p99: [] };
    for (const point of this.#points.get(app) ?? []) {
      const ms = (q: number) => {
        const v = quantile(q, point.buckets);
        return v === null ? null : Math.round(v * 1000 * 100) / 100;
      };
      out.t.push(Math.round(point.t / 1000));
      out.rps.push(round(point.requests / point.seconds));
      out.errors.push(round(point.errors / point.seconds));
      out.p50.push(ms(0.5));
      out.p99.push(ms(0.99));
    }
    return out;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
