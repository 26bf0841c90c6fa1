/**
 * A host's metrics: requests it served by app and status code, the time its
 * container took (upstream latency) by app, and at every scrape its
 * containers by app and state and, for every app it serves, the shared
 * request queue's depth and consumers (a passive declare on a channel of its
 * own, so a queue that just vanished closes only that channel).
 *
 * ```
 * dn_host_requests_total{app,code}              counter (code "none": not answered)
 * dn_host_upstream_duration_seconds{app}        histogram
 * dn_host_requests_in_flight                    gauge
 * dn_host_apps_served                           gauge
 * dn_host_containers{app,state}                 gauge
 * dn_host_queue_messages{app}                   gauge (ready requests in dn.app.<app>)
 * dn_host_queue_consumers{app}                  gauge (hosts consuming dn.app.<app>)
 * ```
 *
 * @module
 */

import type { AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import type { ContainerSummary } from "../lib/docker/mod.ts";
import { AppRequestSeries } from "../lib/app_request_metrics.ts";
import type { Registry } from "../lib/metrics.ts";
import { LABEL } from "./containers.ts";

/** What a host's metrics read at scrape time. */
export interface HostMetricsSources {
  /** This host's containers (every app, every state). */
  containers(): Promise<ContainerSummary[]>;
  /** Apps whose requests this host serves now. */
  servedApps(): string[];
  /** Requests being handled now. */
  inFlight(): number;
  /** The broker connection, or null while disconnected. */
  client(): AMQPClient | null;
}

/** A host's metrics. */
export class HostMetrics {
  readonly #requests: AppRequestSeries;

  /** Registers the metrics on `registry`. */
  constructor(readonly registry: Registry, readonly sources: HostMetricsSources) {
    this.#requests = new AppRequestSeries(
      registry.counter(
        "dn_host_requests_total",
        'Requests served, by app and status code ("none": not answered).',
        ["app", "code"],
      ),
      registry.histogram(
        "dn_host_upstream_duration_seconds",
        "Time the app's container took to answer, by app.",
        ["app"],
      ),
      codeLabel,
    );
    const inFlight = registry.gauge("dn_host_requests_in_flight", "Requests being handled.")
      .labels();
    const served = registry.gauge("dn_host_apps_served", "Apps whose queue this host consumes.")
      .labels();
    const containers = registry.gauge(
      "dn_host_containers",
      "This host's app containers, by app and state.",
      ["app", "state"],
    );
    const messages = registry.gauge(
      "dn_host_queue_messages",
      "Requests waiting in the app's shared queue.",
      ["app"],
    );
    const consumers = registry.gauge(
      "dn_host_queue_consumers",
      "Hosts consuming the app's shared queue.",
      ["app"],
    );
    registry.onCollect(() => {
      inFlight.set(sources.inFlight());
      const apps = sources.servedApps();
      served.set(apps.length);
      // Series of apps this host no longer serves are dropped (stopped and removed apps).
      const servedNow = new Set(apps);
      this.#requests.dropAppsUnless((app) => servedNow.has(app));
    });
    registry.onCollect(async () => {
      const list = await sources.containers();
      containers.clear();
      for (const c of list) {
        const app = c.labels[LABEL.app];
        if (app) containers.labels(app, c.state).inc();
      }
    });
    registry.onCollect(async () => {
      const stats = await queueStats(sources.client(), sources.servedApps());
      messages.clear();
      consumers.clear();
      for (const [app, s] of stats) {
        messages.labels(app).set(s.messages);
        consumers.labels(app).set(s.consumers);
      }
    });
  }

  /** Counts one request of `app` answered with `status` (0: not answered) after `ms`. */
  served(app: string, status: number, ms: number): void {
    this.#requests.record(app, status, status === 0 ? undefined : ms / 1000);
  }
}

/** The `code` label of a status (0: not answered). */
function codeLabel(status: number): string {
  return status === 0 ? "none" : String(status);
}

/** Depth and consumers of each app's queue, by passive declare; apps whose queue is gone are left out. */
export async function queueStats(
  client: AMQPClient | null,
  apps: readonly string[],
): Promise<Map<string, { messages: number; consumers: number }>> {
  const out = new Map<string, { messages: number; consumers: number }>();
  if (client === null || apps.length === 0) return out;
  let channel: AMQPChannel | null = null;
  try {
    for (const app of apps) {
      if (channel === null || channel.closed) {
        channel = await client.channel();
        channel.onerror = () => {}; // a missing queue closes this channel only
      }
      try {
        const ok = await channel.queueDeclare(`dn.app.${app}`, { passive: true });
        out.set(app, { messages: ok.messageCount, consumers: ok.consumerCount });
      } catch {
        // gone (404) or the connection dropped: skip it
      }
    }
  } finally {
    if (channel && !channel.closed) await channel.close().catch(() => {});
  }
  return out;
}
