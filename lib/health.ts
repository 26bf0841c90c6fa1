/**
 * Health and metrics endpoints of a service, on a small listener of its own
 * (`controlMetricsListen`, `gatewayMetricsListen`, `hostListen`), apart from
 * the traffic the service serves:
 *
 * ```
 * GET /healthz   200 {"status":"ok",...} when every dependency is up, else 503
 * GET /metrics   Prometheus text format 0.0.4
 * ```
 *
 * A dependency check is a function answering whether RabbitMQ, Redis or the
 * Docker engine is usable now; a check that throws or takes longer than a
 * second counts as down. The registry gets `dn_up{dependency}` and process
 * gauges from {@link addServiceMetrics}.
 *
 * @module
 */

import { ConfigError, parseListen } from "./config.ts";
import { errorMessage, type Logger } from "./log.ts";
import { METRICS_CONTENT_TYPE, type Registry } from "./metrics.ts";

/** Answers whether a dependency is usable now. */
export type HealthCheck = () => boolean | Promise<boolean>;

/** What a service's health endpoint checks and which metrics it serves. */
export interface HealthOptions {
  /** Service name in the health answer (`gateway`, `host vaermina`). */
  service: string;
  /** Dependency checks by name (`amqp`, `redis`, `docker`). */
  checks: Record<string, HealthCheck>;
  /** Metrics served at `/metrics`. */
  registry: Registry;
  /** Longest a check may take, in ms (default 1000). */
  checkTimeoutMs?: number;
}

/** The answer of `/healthz`. */
export interface HealthReport {
  /** `ok` when every check passed, else `unavailable`. */
  status: "ok" | "unavailable";
  /** Service name. */
  service: string;
  /** Each dependency, `up` or `down`. */
  checks: Record<string, "up" | "down">;
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check (in parallel) and reports. */
export async function healthReport(options: HealthOptions): Promise<HealthReport> {
  const timeout = options.checkTimeoutMs ?? 1000;
  const names = Object.keys(options.checks);
  const results = await Promise.all(names.map((n) => runCheck(options.checks[n], timeout)));
  const checks: Record<string, "up" | "down"> = {};
  names.forEach((name, i) => checks[name] = results[i] ? "up" : "down");
  return {
    status: results.every((ok) => ok) ? "ok" : "unavailable",
    service: options.service,
    checks,
  };
}

/** The `/healthz` answer: 200 when every dependency is up, 503 otherwise. */
export async function healthResponse(options: HealthOptions, head = false): Promise<Response> {
  const report = await healthReport(options);
  return new Response(head ? null : JSON.stringify(report) + "\n", {
    status: report.status === "ok" ? 200 : 503,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Adds the gauges every service has: `dn_up{dependency}` (1 when the check
 * passes, set at each scrape), `process_resident_memory_bytes`,
 * `process_heap_bytes` and `process_start_time_seconds`.
 */
export function addServiceMetrics(options: HealthOptions): void {
  const { registry } = options;
  const up = registry.gauge("dn_up", "1 when the dependency is usable, else 0.", ["dependency"]);
  const series = Object.keys(options.checks).map((name) => [name, up.labels(name)] as const);
  const rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  const heap = registry.gauge("process_heap_bytes", "JavaScript heap in use, in bytes.");
  const start = registry.gauge("process_start_time_seconds", "Start time since the epoch.");
  start.labels().set(Math.round(Date.now() - performance.now()) / 1000);
  registry.onCollect(async () => {
    const timeout = options.checkTimeoutMs ?? 1000;
    await Promise.all(series.map(async ([name, child]) => {
      child.set(await runCheck(options.checks[name], timeout) ? 1 : 0);
    }));
    const memory = Deno.memoryUsage();
    rss.labels().set(memory.rss);
    heap.labels().set(memory.heapUsed);
  });
}

/** The health listener's handler: `/healthz` and `/metrics`, GET or HEAD. */
export function healthHandler(options: HealthOptions): (req: Request) => Promise<Response> {
  return async (req) => {
    const { pathname } = new URL(req.url);
    if (pathname !== "/healthz" && pathname !== "/metrics") {
      return new Response("not found\n", { status: 404 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const head = req.method === "HEAD";
    if (pathname === "/healthz") return await healthResponse(options, head);
    const text = await options.registry.render();
    return new Response(head ? null : text, {
      headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  };
}

/**
 * Serves {@link healthHandler} on `listen` (`host:port`; `""` turns it off).
 * A listener that cannot bind (port taken) is logged and skipped: the
 * service itself keeps running. Resolves to the server, or null.
 */
export function serveHealth(
  options: HealthOptions & { listen: string; key: string; log: Logger },
): Deno.HttpServer | null {
  if (options.listen === "") return null;
  const { hostname, port } = parseListen(options.listen, options.key);
  try {
    return Deno.serve({
      hostname,
      port,
      onListen: (addr) =>
        options.log.info("health listening", { addr: `${addr.hostname}:${addr.port}` }),
    }, healthHandler(options));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    options.log.error("health listener not started", {
      key: options.key,
      listen: options.listen,
      error: errorMessage(e),
    });
    return null;
  }
}
