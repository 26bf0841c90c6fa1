/**
 * The gateway's metrics: every request counted by app and status code, its
 * latency by app, the gateway's own error answers by status, and requests
 * and RPCs in flight. {@link GatewayMetrics.instrument} wraps the request
 * handler; per-app series are made on an app's first request and kept, so a
 * request costs two map lookups and a few number updates.
 *
 * ```
 * dn_gateway_requests_total{app,code}               counter
 * dn_gateway_request_duration_seconds{app}          histogram
 * dn_gateway_errors_total{code}                     counter (answers the gateway made itself)
 * dn_gateway_requests_in_flight                     gauge
 * dn_gateway_rpc_in_flight                          gauge (requests waiting for a host's reply)
 * dn_gateway_upstream_requests_total{path}          counter (container, host or broker: the path a request took)
 * dn_gateway_domains                                gauge
 * ```
 *
 * Requests for no known app (400, 404) count under `app=""`.
 *
 * @module
 */

import { AppRequestSeries } from "../lib/app_request_metrics.ts";
import type { Counter, CounterChild, GaugeChild, Registry } from "../lib/metrics.ts";
import { normaliseHostname } from "../lib/names.ts";

/** What the metrics read from the gateway. */
export interface GatewayMetricsSources {
  /** App name of a normalised hostname, if any. */
  lookup(hostname: string): { name: string } | undefined;
  /** True while an app of that name exists (series of removed apps are dropped). */
  hasApp(name: string): boolean;
  /** Number of domains known. */
  readonly domainCount: number;
  /** Requests waiting for a host's reply. */
  readonly rpcInFlight: number;
  /** True for a response the gateway made itself (an error answer). */
  isGatewayAnswer(res: object): boolean;
}

/** The path a request took to its app: straight to a container, through a host, or through RabbitMQ. */
export type UpstreamPath = "container" | "host" | "broker";

/** The gateway's request metrics. */
export class GatewayMetrics {
  readonly #requests: AppRequestSeries;
  readonly #errors: Counter;
  readonly #errorsByCode = new Map<number, CounterChild>();
  readonly #inFlight: GaugeChild;
  readonly #upstream: Record<UpstreamPath, CounterChild>;
  readonly #webSockets: CounterChild;
  readonly #webSocketsOpen: GaugeChild;

  /** Registers the metrics on `registry`. */
  constructor(registry: Registry, readonly sources: GatewayMetricsSources) {
    this.#requests = new AppRequestSeries(
      registry.counter(
        "dn_gateway_requests_total",
        "HTTP requests answered, by app and status code.",
        ["app", "code"],
      ),
      registry.histogram(
        "dn_gateway_request_duration_seconds",
        "Time from receiving a request to its response, by app.",
        ["app"],
      ),
    );
    this.#errors = registry.counter(
      "dn_gateway_errors_total",
      "Error answers the gateway made itself (no app reply), by status code.",
      ["code"],
    );
    this.#inFlight = registry.gauge("dn_gateway_requests_in_flight", "Requests being handled.")
      .labels();
    const upstream = registry.counter(
      "dn_gateway_upstream_requests_total",
      "Requests sent on towards an app, by path: container (straight to the app's container), " +
        "host (HTTP to a host) or broker (RabbitMQ).",
      ["path"],
    );
    this.#webSockets = registry.counter(
      "dn_gateway_websockets_total",
      "WebSocket connections relayed to apps (after the app's 101).",
    ).labels();
    this.#webSocketsOpen = registry.gauge(
      "dn_gateway_websockets_open",
      "WebSocket connections being relayed now.",
    ).labels();
    this.#upstream = {
      container: upstream.labels("container"),
      host: upstream.labels("host"),
      broker: upstream.labels("broker"),
    };
    const rpc = registry.gauge("dn_gateway_rpc_in_flight", "Requests waiting for a host's reply.")
      .labels();
    const domains = registry.gauge("dn_gateway_domains", "Hostnames in the domain table.").labels();
    registry.onCollect(() => {
      rpc.set(sources.rpcInFlight);
      domains.set(sources.domainCount);
      // Series of apps that no longer exist are dropped, so removed apps do not pile up.
      this.#requests.dropAppsUnless((app) => app === "" || sources.hasApp(app));
    });
  }

  /** Counts one request sent on to a host by `path`. */
  upstream(path: UpstreamPath): void {
    this.#upstream[path].value++;
  }

  /** Counts a WebSocket tunnel opening (true) or closing (false). */
  webSocket(open: boolean): void {
    if (open) this.#webSockets.value++;
    this.#webSocketsOpen.value += open ? 1 : -1;
  }

  /** Counts one answered request (also used by tests). */
  record(app: string, status: number, seconds: number, gatewayAnswer: boolean): void {
    this.#requests.record(app, status, seconds);
    if (gatewayAnswer) {
      let errors = this.#errorsByCode.get(status);
      if (!errors) {
        errors = this.#errors.labels(String(status));
        this.#errorsByCode.set(status, errors);
      }
      errors.value++;
    }
  }

  /** Wraps the gateway's handler so every request is counted. */
  instrument<R extends { headers: [string, string][] }, A extends { status: number }>(
    handler: (req: R) => Promise<A>,
  ): (req: R) => Promise<A> {
    const { sources } = this;
    return async (req) => {
      const started = performance.now();
      this.#inFlight.value++;
      let res: A | undefined;
      try {
        res = await handler(req);
        return res;
      } finally {
        this.#inFlight.value--;
        const host = req.headers.find(([name]) => name === "host")?.[1];
        const app = host === undefined ? "" : sources.lookup(normaliseHostname(host))?.name ?? "";
        const status = res?.status ?? 500;
        const gatewayAnswer = res === undefined || sources.isGatewayAnswer(res);
        this.record(app, status, (performance.now() - started) / 1000, gatewayAnswer);
      }
    };
  }
}
