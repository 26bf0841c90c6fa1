/**
 * Control's metrics: API requests by method, route and status code, their
 * latency by route, and at every scrape the apps by desired status and the
 * live hosts (from Redis).
 *
 * ```
 * dn_control_api_requests_total{method,route,code}     counter
 * dn_control_api_request_duration_seconds{route}       histogram (time to the response head)
 * dn_control_apps{status}                              gauge
 * dn_control_live_hosts                                gauge
 * dn_control_logs_streams                              gauge (`GET .../logs` responses open)
 * ```
 *
 * Routes are templates (`/v1/apps/:name/status`), never raw paths; paths
 * that match no route count as `other`, and methods other than the API's as
 * `other`, so clients cannot grow the series.
 *
 * @module
 */

import { APP_STATUSES } from "../lib/apps.ts";
import type { CounterChild, GaugeChild, HistogramChild, Registry } from "../lib/metrics.ts";

const ACTIONS = new Set(["start", "stop", "update", "status", "logs"]);
const METHODS = new Set(["GET", "POST", "DELETE", "HEAD", "PUT", "PATCH", "OPTIONS"]);

/** The route template of a path: `/v1/apps/hello/start` → `/v1/apps/:name/start`. */
export function routeOf(pathname: string): string {
  if (pathname === "/healthz" || pathname === "/v1/apps") return pathname;
  const parts = pathname.split("/");
  // ["", "v1", "apps", name, action?]
  if (parts.length < 4 || parts.length > 5 || parts[1] !== "v1" || parts[2] !== "apps") {
    return "other";
  }
  if (parts[3] === "") return "other";
  if (parts.length === 4) return "/v1/apps/:name";
  return ACTIONS.has(parts[4]) ? `/v1/apps/:name/${parts[4]}` : "other";
}

/** What control's metrics read at scrape time. */
export interface ControlMetricsSources {
  /** Every app's desired status. */
  appStatuses(): Promise<string[]>;
  /** Hosts with a recent heartbeat. */
  liveHosts(): Promise<string[]>;
}

/** Control's metrics. */
export class ControlMetrics {
  /** Logs streams open now. */
  readonly logsStreams: GaugeChild;
  readonly #requests = new Map<string, CounterChild>();
  readonly #latency = new Map<string, HistogramChild>();

  /** Registers the metrics on `registry`. */
  constructor(readonly registry: Registry, sources: ControlMetricsSources) {
    const requests = registry.counter(
      "dn_control_api_requests_total",
      "API requests answered, by method, route and status code.",
      ["method", "route", "code"],
    );
    const latency = registry.histogram(
      "dn_control_api_request_duration_seconds",
      "Time to answer an API request (to the response head), by route.",
      ["route"],
    );
    const apps = registry.gauge("dn_control_apps", "Apps by desired status.", ["status"]);
    const hosts = registry.gauge("dn_control_live_hosts", "Hosts with a recent heartbeat.")
      .labels();
    this.logsStreams = registry.gauge("dn_control_logs_streams", "Logs responses open now.")
      .labels();
    this.#counter = (method, route, code) => {
      const key = `${method} ${route} ${code}`;
      let child = this.#requests.get(key);
      if (!child) {
        child = requests.labels(method, route, String(code));
        this.#requests.set(key, child);
      }
      return child;
    };
    this.#histogram = (route) => {
      let child = this.#latency.get(route);
      if (!child) {
        child = latency.labels(route);
        this.#latency.set(route, child);
      }
      return child;
    };
    for (const status of APP_STATUSES) apps.labels(status);
    registry.onCollect(async () => {
      const [statuses, live] = await Promise.all([sources.appStatuses(), sources.liveHosts()]);
      const counts = new Map<string, number>(APP_STATUSES.map((s) => [s, 0]));
      for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
      for (const [status, n] of counts) apps.labels(status).set(n);
      hosts.set(live.length);
    });
  }

  readonly #counter: (method: string, route: string, code: number) => CounterChild;
  readonly #histogram: (route: string) => HistogramChild;

  /** Counts one answered request. */
  record(method: string, pathname: string, status: number, seconds: number): void {
    const route = routeOf(pathname);
    this.#counter(METHODS.has(method) ? method : "other", route, status).inc();
    this.#histogram(route).observe(seconds);
  }

  /** Wraps control's handler so every request is counted. */
  instrument(handler: (req: Request) => Promise<Response>): (req: Request) => Promise<Response> {
    return async (req) => {
      const started = performance.now();
      let status = 500;
      try {
        const res = await handler(req);
        status = res.status;
        return res;
      } finally {
        const { pathname } = new URL(req.url);
        this.record(req.method, pathname, status, (performance.now() - started) / 1000);
      }
    };
  }
}
