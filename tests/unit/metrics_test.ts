/**
 * lib/metrics.ts (text format 0.0.4), lib/health.ts (the health listener's
 * answers) and the services' metric wrappers, without a network.
 */
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  METRICS_CONTENT_TYPE,
  Registry,
} from "../../lib/metrics.ts";
import { addServiceMetrics, healthHandler, type HealthOptions } from "../../lib/health.ts";
import { GatewayMetrics } from "../../gateway/metrics.ts";
import { ControlMetrics, routeOf } from "../../control/metrics.ts";
import { HostMetrics } from "../../host/metrics.ts";

Deno.test("counters and gauges render HELP, TYPE and one line per series", async () => {
  const registry = new Registry();
  const requests = registry.counter("dn_requests_total", "Requests served.", ["app", "code"]);
  const ok = requests.labels("hello", "200");
  ok.inc();
  ok.inc(2);
  ok.inc(-5); // counters never go down
  requests.labels("hello", "503").inc();
  const inFlight = registry.gauge("dn_in_flight", "In flight.");
  inFlight.labels().inc(3);
  inFlight.labels().dec();
  assertEquals(
    await registry.render(),
    [
      "# HELP dn_requests_total Requests served.",
      "# TYPE dn_requests_total counter",
      'dn_requests_total{app="hello",code="200"} 3',
      'dn_requests_total{app="hello",code="503"} 1',
      "# HELP dn_in_flight In flight.",
      "# TYPE dn_in_flight gauge",
      "dn_in_flight 2",
      "",
    ].join("\n"),
  );
  assert(requests.labels("hello", "200") === ok, "the same series for the same labels");
});

Deno.test("histograms render cumulative buckets, +Inf, _sum and _count", async () => {
  const registry = new Registry();
  const latency = registry.histogram("dn_latency_seconds", "Latency.", ["app"], [0.1, 0.5, 1]);
  const child = latency.labels("a");
  for (const v of [0.05, 0.1, 0.3, 0.7, 2]) child.observe(v);
  assertEquals((await registry.render()).split("\n"), [
    "# HELP dn_latency_seconds Latency.",
    "# TYPE dn_latency_seconds histogram",
    'dn_latency_seconds_bucket{app="a",le="0.1"} 2',
    'dn_latency_seconds_bucket{app="a",le="0.5"} 3',
    'dn_latency_seconds_bucket{app="a",le="1"} 4',
    'dn_latency_seconds_bucket{app="a",le="+Inf"} 5',
    'dn_latency_seconds_sum{app="a"} 3.15',
    'dn_latency_seconds_count{app="a"} 5',
    "",
  ]);
  const bare = new Registry();
  bare.histogram("h", "No labels.", [], [1]).labels().observe(0.5);
  assertEquals((await bare.render()).split("\n").slice(2, 4), [
    'h_bucket{le="1"} 1',
    'h_bucket{le="+Inf"} 1',
  ]);
});

Deno.test("label values and help are escaped; names are checked", async () => {
  assertEquals(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assertEquals(escapeHelp("a\\b\nc"), "a\\\\b\\nc");
  assertEquals([formatValue(Infinity), formatValue(-Infinity), formatValue(NaN)], [
    "+Inf",
    "-Inf",
    "NaN",
  ]);
  const registry = new Registry();
  registry.counter("c", "Line one\nline two.", ["v"]).labels('say "hi"\n').inc();
  assertEquals((await registry.render()).split("\n").slice(0, 3), [
    "# HELP c Line one\\nline two.",
    "# TYPE c counter",
    'c{v="say \\"hi\\"\\n"} 1',
  ]);
  assertThrows(() => registry.counter("bad-name", "x"));
  assertThrows(() => registry.counter("ok", "x", ["le"]));
  assertThrows(() => registry.counter("ok2", "x", ["__reserved"]));
  assertThrows(() => registry.counter("c", "twice"));
  assertThrows(() => registry.histogram("h", "x", [], [1, 1]));
  assertThrows(() => registry.counter("two", "x", ["a", "b"]).labels("only-one"));
});

Deno.test("collectors run before each render; a failing one is skipped", async () => {
  const registry = new Registry();
  const gauge = registry.gauge("g", "Set at scrape.").labels();
  let n = 0;
  registry.onCollect(() => gauge.set(++n));
  registry.onCollect(() => {
    throw new Error("broken source");
  });
  assert((await registry.render()).includes("g 1\n"));
  assert((await registry.render()).includes("g 2\n"));
  const removable = registry.gauge("r", "Removable.", ["app"]);
  removable.labels("gone").set(1);
  removable.remove("gone");
  assertEquals(removable.size, 0);
});

function healthOptions(up: Record<string, boolean | "throw" | "hang">): HealthOptions {
  const checks: HealthOptions["checks"] = {};
  for (const [name, state] of Object.entries(up)) {
    checks[name] = () => {
      if (state === "throw") throw new Error("down");
      if (state === "hang") return new Promise<boolean>(() => {});
      return state;
    };
  }
  return { service: "test", checks, registry: new Registry(), checkTimeoutMs: 50 };
}

Deno.test("/healthz: 200 when every check passes, 503 with details otherwise", async () => {
  const up = healthHandler(healthOptions({ amqp: true, redis: true }));
  const res = await up(new Request("http://x/healthz"));
  assertEquals(res.status, 200);
  assertEquals(await res.json(), {
    status: "ok",
    service: "test",
    checks: { amqp: "up", redis: "up" },
  });
  const down = healthHandler(
    healthOptions({ amqp: true, redis: false, docker: "throw", slow: "hang" }),
  );
  const bad = await down(new Request("http://x/healthz"));
  assertEquals(bad.status, 503);
  assertEquals(await bad.json(), {
    status: "unavailable",
    service: "test",
    checks: { amqp: "up", redis: "down", docker: "down", slow: "down" },
  });
  const head = await up(new Request("http://x/healthz", { method: "HEAD" }));
  assertEquals([head.status, await head.text()], [200, ""]);
  assertEquals((await up(new Request("http://x/healthz", { method: "POST" }))).status, 405);
  assertEquals((await up(new Request("http://x/other"))).status, 404);
});

Deno.test("/metrics serves the registry with dn_up and process gauges", async () => {
  const options = healthOptions({ amqp: true, redis: false });
  addServiceMetrics(options);
  const res = await healthHandler(options)(new Request("http://x/metrics"));
  assertEquals(res.headers.get("content-type"), METRICS_CONTENT_TYPE);
  const text = await res.text();
  assert(text.includes('dn_up{dependency="amqp"} 1\n'), text);
  assert(text.includes('dn_up{dependency="redis"} 0\n'), text);
  assert(/\nprocess_resident_memory_bytes \d+\n/.test(text), text);
  assert(/\nprocess_start_time_seconds \d+(\.\d+)?\n/.test(text), text);
});

Deno.test("gateway metrics: by app and code, errors only for the gateway's own answers", async () => {
  const registry = new Registry();
  const own = new WeakSet<object>();
  let apps = ["hello"];
  const metrics = new GatewayMetrics(registry, {
    lookup: (h) => h === "hello.dn.test" && apps.includes("hello") ? { name: "hello" } : undefined,
    hasApp: (name) => apps.includes(name),
    domainCount: 1,
    rpcInFlight: 2,
    isGatewayAnswer: (res) => own.has(res),
  });
  const handler = metrics.instrument((req: { target: string; headers: [string, string][] }) => {
    if (req.target === "/boom") return Promise.reject(new Error("boom"));
    const res = new Response("x", { status: Number(req.target.slice(1)) || 200 });
    if (req.headers[0][1] !== "hello.dn.test") own.add(res);
    return Promise.resolve(res);
  });
  const call = (host: string, path: string) => handler({ target: path, headers: [["host", host]] });
  await call("hello.dn.test", "/");
  await call("HELLO.dn.test:8080", "/");
  await call("hello.dn.test", "/404");
  await call("other.dn.test", "/404");
  await call("hello.dn.test", "/boom").catch(() => {});
  const text = await registry.render();
  for (
    const line of [
      'dn_gateway_requests_total{app="hello",code="200"} 2',
      'dn_gateway_requests_total{app="hello",code="404"} 1',
      'dn_gateway_requests_total{app="",code="404"} 1',
      'dn_gateway_requests_total{app="hello",code="500"} 1',
      'dn_gateway_errors_total{code="404"} 1',
      'dn_gateway_errors_total{code="500"} 1',
      'dn_gateway_request_duration_seconds_count{app="hello"} 4',
      "dn_gateway_requests_in_flight 0",
      "dn_gateway_rpc_in_flight 2",
      "dn_gateway_domains 1",
    ]
  ) {
    assert(text.includes(line + "\n"), `${line}\n${text}`);
  }
  // Removed: its series go at the next scrape; the gateway's own answers stay.
  apps = [];
  const after = await registry.render();
  assert(!after.includes('app="hello"'), after);
  assert(after.includes('dn_gateway_requests_total{app="",code="404"} 1\n'), after);
});

Deno.test("control metrics: routes are templates, never raw paths", async () => {
  assertEquals(routeOf("/v1/apps"), "/v1/apps");
  assertEquals(routeOf("/v1/apps/hello"), "/v1/apps/:name");
  assertEquals(routeOf("/v1/apps/hello/logs"), "/v1/apps/:name/logs");
  assertEquals(routeOf("/v1/apps/hello/restart"), "other");
  assertEquals(routeOf("/v1/apps//start"), "other");
  assertEquals(routeOf("/etc/passwd"), "other");
  assertEquals(routeOf("/healthz"), "/healthz");
  const registry = new Registry();
  const metrics = new ControlMetrics(registry, {
    appStatuses: () => Promise.resolve(["running", "running", "stopped"]),
    liveHosts: () => Promise.resolve(["a", "b"]),
  });
  const handler = metrics.instrument((req) =>
    Promise.resolve(new Response(null, { status: req.method === "GET" ? 200 : 405 }))
  );
  await handler(new Request("http://c/v1/apps/hello/status"));
  await handler(new Request("http://c/v1/apps/x-1/status"));
  await handler(new Request("http://c/v1/apps/hello", { method: "BREW" }));
  const text = await registry.render();
  for (
    const line of [
      'dn_control_api_requests_total{method="GET",route="/v1/apps/:name/status",code="200"} 2',
      'dn_control_api_requests_total{method="other",route="/v1/apps/:name",code="405"} 1',
      'dn_control_apps{status="created"} 0',
      'dn_control_apps{status="running"} 2',
      'dn_control_apps{status="stopped"} 1',
      "dn_control_live_hosts 2",
    ]
  ) {
    assert(text.includes(line + "\n"), `${line}\n${text}`);
  }
});

Deno.test("host metrics: served requests, containers by state, no broker no queue stats", async () => {
  const registry = new Registry();
  let served = ["hello", "echo"];
  const metrics = new HostMetrics(registry, {
    containers: () =>
      Promise.resolve([
        { labels: { "network.dn.app": "hello" }, state: "running" },
        { labels: { "network.dn.app": "hello" }, state: "exited" },
        { labels: { "network.dn.app": "echo" }, state: "running" },
      ] as never),
    servedApps: () => served,
    inFlight: () => 1,
    client: () => null,
  });
  metrics.served("hello", 200, 12);
  metrics.served("hello", 200, 3);
  metrics.served("hello", 0, 0);
  const text = await registry.render();
  for (
    const line of [
      'dn_host_requests_total{app="hello",code="200"} 2',
      'dn_host_requests_total{app="hello",code="none"} 1',
      'dn_host_upstream_duration_seconds_count{app="hello"} 2',
      'dn_host_upstream_duration_seconds_sum{app="hello"} 0.015',
      'dn_host_containers{app="hello",state="running"} 1',
      'dn_host_containers{app="hello",state="exited"} 1',
      'dn_host_containers{app="echo",state="running"} 1',
      "dn_host_requests_in_flight 1",
      "dn_host_apps_served 2",
    ]
  ) {
    assert(text.includes(line + "\n"), `${line}\n${text}`);
  }
  assert(!text.includes("dn_host_queue_messages{"), "no queue stats without a broker");
  // No longer served here: its request series go at the next scrape.
  served = ["echo"];
  const after = await registry.render();
  assert(!after.includes('dn_host_requests_total{app="hello"'), after);
  assert(!after.includes('dn_host_upstream_duration_seconds_count{app="hello"}'), after);
});
