/**
 * The dashboard's traffic data: the Prometheus text parser, the quantile of
 * histogram buckets, and the scraper's points (rates, restarts, several
 * gateways, the 15-minute window, gateways that do not answer).
 */
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { parsePrometheusText, PrometheusTextError } from "../../lib/prometheus_text.ts";
import { Registry } from "../../lib/metrics.ts";
import { Logger } from "../../lib/log.ts";
import { countsOf, quantile, Traffic } from "../../control/dashboard/traffic.ts";
import { ConfigError, loadConfig } from "../../lib/config.ts";

Deno.test("parsePrometheusText reads what lib/metrics.ts writes, escapes included", async () => {
  const registry = new Registry();
  const requests = registry.counter("dn_x_total", "X.", ["app", "code"]);
  requests.labels('we"ird\\app\nname', "200").inc(3);
  registry.histogram("dn_x_seconds", "Y.", ["app"]).labels("a").observe(0.002);
  const samples = parsePrometheusText(await registry.render());
  assertEquals(samples[0], {
    name: "dn_x_total",
    labels: { app: 'we"ird\\app\nname', code: "200" },
    value: 3,
  });
  const inf = samples.find((s) => s.labels.le === "+Inf");
  assertEquals(inf?.value, 1);
  assertEquals(samples.at(-1), { name: "dn_x_seconds_count", labels: { app: "a" }, value: 1 });
  assertEquals(parsePrometheusText("up 1 1700000000000\nnan NaN\n")[1].name, "nan");
  for (const bad of ["<html>", 'x{a="1" 2', "x{a=1} 2", "x one"]) {
    assertThrows(() => parsePrometheusText(bad), PrometheusTextError);
  }
});

Deno.test("quantile interpolates within buckets like histogram_quantile", () => {
  assertEquals(quantile(0.5, []), null);
  assertEquals(quantile(0.5, [[0.01, 0], [Infinity, 0]]), null);
  // 10 in (0, 0.01], 10 in (0.01, 0.1]: the median is the first bucket's top.
  assertEquals(quantile(0.5, [[0.01, 10], [0.1, 10], [Infinity, 0]]), 0.01);
  assertEquals(quantile(0.75, [[0.01, 10], [0.1, 10], [Infinity, 0]])!.toFixed(6), "0.055000");
  // Beyond the last finite bound: that bound.
  assertEquals(quantile(0.99, [[0.01, 1], [0.1, 0], [Infinity, 99]]), 0.1);
});

function exposition(app: string, ok: number, errors: number, fast: number, slow: number): string {
  return [
    `dn_gateway_requests_total{app="${app}",code="200"} ${ok}`,
    `dn_gateway_requests_total{app="${app}",code="503"} ${errors}`,
    `dn_gateway_requests_total{app="",code="404"} 7`,
    `dn_gateway_request_duration_seconds_bucket{app="${app}",le="0.001"} ${fast}`,
    `dn_gateway_request_duration_seconds_bucket{app="${app}",le="0.1"} ${fast + slow}`,
    `dn_gateway_request_duration_seconds_bucket{app="${app}",le="+Inf"} ${fast + slow}`,
    "",
  ].join("\n");
}

Deno.test("countsOf sums codes per app, 5xx as errors, and skips requests for no app", () => {
  const counts = countsOf(exposition("hello", 10, 2, 12, 0));
  assertEquals([...counts.keys()], ["hello"]);
  assertEquals(counts.get("hello")!.requests, 12);
  assertEquals(counts.get("hello")!.errors, 2);
  assertEquals(counts.get("hello")!.buckets.get(Infinity), 12);
});

Deno.test("Traffic: rates per second from two gateways, restarts, window, failures", async () => {
  const pages = new Map<string, string | Error>();
  const traffic = new Traffic({
    urls: ["http://g1/metrics", "http://g2/metrics"],
    log: new Logger("test", "error"),
    windowMs: 60_000,
    fetch: (url) => {
      const page = pages.get(url)!;
      return page instanceof Error ? Promise.reject(page) : Promise.resolve(page);
    },
  });
  pages.set("http://g1/metrics", exposition("hello", 0, 0, 0, 0));
  pages.set("http://g2/metrics", exposition("hello", 100, 0, 100, 0));
  await traffic.tick(1_000_000); // baseline only
  assertEquals(traffic.series("hello").t, []);
  pages.set("http://g1/metrics", exposition("hello", 40, 10, 40, 10));
  pages.set("http://g2/metrics", exposition("hello", 150, 0, 150, 0));
  await traffic.tick(1_010_000);
  const first = traffic.series("hello");
  assertEquals(first.t, [1010]);
  assertEquals(first.rps, [10]); // (50 + 50) / 10 s
  assertEquals(first.errors, [1]);
  // 90 of 100 took at most 1 ms, 10 up to 100 ms.
  assertEquals(first.p50, [0.56]);
  assertEquals(first.p99, [90.1]);
  // g2 restarted (its counters went down): its new counts are this interval's.
  pages.set("http://g1/metrics", exposition("hello", 40, 10, 40, 10));
  pages.set("http://g2/metrics", exposition("hello", 20, 0, 20, 0));
  await traffic.tick(1_020_000);
  assertEquals(traffic.series("hello").rps.at(-1), 2);
  // g1 does not answer: recorded, the other still counts.
  pages.set("http://g1/metrics", new Error("connection refused"));
  pages.set("http://g2/metrics", exposition("hello", 30, 0, 30, 0));
  await traffic.tick(1_030_000);
  assertEquals(traffic.series("hello").rps.at(-1), 1);
  assertEquals(traffic.gateways.map((g) => [g.ok, g.error]), [
    [false, "connection refused"],
    [true, undefined],
  ]);
  // Points older than the window go; an app with none left is forgotten.
  pages.set("http://g2/metrics", exposition("other", 0, 0, 0, 0));
  await traffic.tick(1_075_000);
  assertEquals(traffic.series("hello").t, [1020, 1030]);
  await traffic.tick(1_200_000);
  assertEquals(traffic.series("hello").t, []);
});

Deno.test("gatewayMetricsUrls must be http(s) URLs; dashboardSessionMs a positive integer", () => {
  const config = loadConfig({
    env: {
      DN_GATEWAY_METRICS_URLS: " http://a:9180/metrics , https://b/metrics,",
      HOME: "/nonexistent",
    },
  });
  assertEquals(config.gatewayMetricsUrls, "http://a:9180/metrics,https://b/metrics");
  for (const bad of ["ftp://a/metrics", "not a url", "http://a, javascript:alert(1)"]) {
    const e = assertThrows(
      () => loadConfig({ env: { DN_GATEWAY_METRICS_URLS: bad, HOME: "/nonexistent" } }),
      ConfigError,
    );
    assertEquals(
      e.message,
      "gatewayMetricsUrls from DN_GATEWAY_METRICS_URLS must be http:// or https:// URLs " +
        "separated by commas",
    );
  }
  assertThrows(
    () => loadConfig({ env: { DN_DASHBOARD_SESSION_MS: "0", HOME: "/nonexistent" } }),
    ConfigError,
  );
});
