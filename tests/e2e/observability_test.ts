/**
 * Observability through the real stack: `/healthz` on every service,
 * Prometheus `/metrics` on control, gateway and hosts counting real
 * requests, and `dn logs` (history, `--host`, `--tail`, `-f`) reading the
 * app's container logs from every host over the `logs.<app>` RPC.
 *
 * The app is hello-world plus one test-only route, `/log/:word`, that
 * prints `<word> from <host>`, so a followed line can be checked against
 * the host it is prefixed with.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";

const NAME = "obs";
const HOSTNAME = "obs.dn.test";
const opts = { sanitizeOps: false, sanitizeResources: false };
let net: TestNetwork;
let dir: string;

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-observability-" });
  await Deno.copyFile(`${ROOT}/apps/hello-world/Dockerfile`, `${dir}/Dockerfile`);
  const source = await Deno.readTextFile(`${ROOT}/apps/hello-world/main.ts`);
  const marker = `  if (path === "/healthz") return new Response("ok\\n");\n`;
  assert(source.includes(marker), "hello-world has its /healthz route");
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    source.replace(
      marker,
      `  const logged = /^\\/log\\/([a-z0-9-]{1,64})$/.exec(path);\n` +
        "  if (logged) {\n" +
        "    console.log(`${logged[1]} from ${host}`);\n" +
        '    return new Response("logged\\n");\n' +
        "  }\n" + marker,
    ),
  );
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME      ${NAME}\nAPP_HOSTNAME  ${HOSTNAME}\nAPP_PORT      8000\n`,
  );
  // Hosts in the path (requestRoute "host"), so they see and count every request.
  net = await startNetwork(undefined, { env: { DN_REQUEST_ROUTE: "host" } });
  await net.deploy(dir, NAME, HOSTNAME);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

const dn = (...args: string[]) => net.cli(args, dir);

/** Parses the text format into `name{labels}` → value, checking every line's shape. */
async function scrape(key: string): Promise<Map<string, number>> {
  const res = await fetch(`${await net.healthUrl(key)}/metrics`);
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") typed.add(meta[2]);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert(sample, `${key}: a sample line: ${JSON.stringify(line)}`);
    const family = sample[1].replace(/_(bucket|sum|count)$/, "");
    assert(typed.has(sample[1]) || typed.has(family), `${key}: ${sample[1]} has a TYPE`);
    samples.set(sample[1] + (sample[2] ?? ""), Number(sample[3]));
  }
  return samples;
}

function value(samples: Map<string, number>, series: string): number {
  return samples.get(series) ?? 0;
}

/** Sum over hosts of one series. */
async function hostsTotal(series: string): Promise<number> {
  let sum = 0;
  for (const host of net.hostNames) sum += value(await scrape(host), series);
  return sum;
}

Deno.test(
  "/healthz: 200 with every dependency up, on control, gateway and each host",
  opts,
  async () => {
    for (const key of ["control", "gateway", ...net.hostNames]) {
      const res = await fetch(`${await net.healthUrl(key)}/healthz`);
      const body = await res.json();
      assertEquals(res.status, 200, `${key}: ${JSON.stringify(body)}`);
      assertEquals(body.status, "ok");
      assertEquals(body.checks.amqp, "up");
      assertEquals(body.checks.redis, "up");
      if (net.hostNames.includes(key)) assertEquals(body.checks.docker, "up");
    }
    // Control's API port answers it too, without a token.
    const api = await net.controlFetch("/healthz");
    assertEquals(api.status, 200);
    assertEquals((await api.json()).status, "ok");
    // Only GET and HEAD, only the two paths.
    const gateway = await net.healthUrl("gateway");
    assertEquals((await fetch(`${gateway}/metrics`, { method: "POST" })).status, 405);
    const missing = await fetch(`${gateway}/nope`);
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
  },
);

Deno.test("/metrics: gateway and hosts count the requests they served", opts, async () => {
  const app = `app="${NAME}"`;
  const before = await scrape("gateway");
  const hostsBefore = await hostsTotal(`dn_host_requests_total{${app},code="200"}`);
  const N = 30;
  for (let i = 0; i < N; i++) {
    const res = await net.gateway(HOSTNAME, "/");
    assertEquals(res.status, 200);
    await res.body?.cancel();
  }
  const missing = await net.gateway(HOSTNAME, "/status/404");
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  const unknown = await net.gateway("nobody.dn.test", "/");
  assertEquals(unknown.status, 404);
  await unknown.body?.cancel();

  const after = await scrape("gateway");
  const rose = (series: string) => value(after, series) - value(before, series);
  assertEquals(rose(`dn_gateway_requests_total{${app},code="200"}`), N);
  assertEquals(rose(`dn_gateway_requests_total{${app},code="404"}`), 1);
  assertEquals(rose(`dn_gateway_request_duration_seconds_count{${app}}`), N + 1);
  assertEquals(rose(`dn_gateway_request_duration_seconds_bucket{${app},le="+Inf"}`), N + 1);
  // The unknown Host is the gateway's own 404; the app's 404 is not an error of the gateway.
  assertEquals(rose(`dn_gateway_requests_total{app="",code="404"}`), 1);
  assertEquals(rose(`dn_gateway_errors_total{code="404"}`), 1);
  assertEquals(value(after, "dn_gateway_rpc_in_flight"), 0);
  // Every request the app saw went over the direct path to a host; none needed the broker.
  assertEquals(rose('dn_gateway_upstream_requests_total{path="host"}'), N + 1);
  assertEquals(rose('dn_gateway_upstream_requests_total{path="container"}'), 0);
  assertEquals(rose('dn_gateway_upstream_requests_total{path="broker"}'), 0);
  assertEquals(value(after, 'dn_up{dependency="amqp"}'), 1);
  assert(value(after, "dn_gateway_domains") >= 1, "domains known");

  // Hosts count after publishing the reply: poll briefly for the last one.
  const deadline = Date.now() + 5000;
  let served = 0;
  while (Date.now() < deadline) {
    served = await hostsTotal(`dn_host_requests_total{${app},code="200"}`) - hostsBefore;
    if (served >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assertEquals(served, N);
  for (const host of net.hostNames) {
    // The queue gauge is read from the broker per scrape; give it a few tries.
    let samples = await scrape(host);
    for (let i = 0; i < 20 && value(samples, `dn_host_queue_consumers{${app}}`) !== 3; i++) {
      await new Promise((r) => setTimeout(r, 150));
      samples = await scrape(host);
    }
    assertEquals(value(samples, `dn_host_containers{${app},state="running"}`), 1, host);
    assertEquals(value(samples, `dn_host_queue_consumers{${app}}`), 3, host);
    assertEquals(value(samples, "dn_host_apps_served"), 1, host);
    assertEquals(value(samples, 'dn_up{dependency="docker"}'), 1, host);
  }
  assert(
    await hostsTotal(`dn_host_upstream_duration_seconds_count{${app}}`) >= N + 1,
    "upstream latency observed",
  );

  const control = await scrape("control");
  assertEquals(value(control, 'dn_control_apps{status="running"}'), 1);
  assertEquals(value(control, "dn_control_live_hosts"), 3);
  assertEquals(
    value(
      control,
      `dn_control_api_requests_total{method="POST",route="/v1/apps/:name/start",code="200"}`,
    ),
    1,
  );
});

Deno.test("dn logs: every host's startup line, prefixed by its host", opts, async () => {
  const result = await dn("logs");
  assertEquals(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  for (const host of net.hostNames) {
    const line = lines.find((l) =>
      l.startsWith(`${host} | `) && l.includes("hello-world listening")
    );
    assert(line, `a startup line from ${host}:\n${result.stdout}`);
    const started = JSON.parse(line.slice(`${host} | `.length));
    assertEquals(started.host, host, "the prefix names the host that wrote the line");
  }
  for (const line of lines) assertMatch(line, /^[a-z0-9-]+ \| /);

  const one = net.hostNames[1];
  const only = await dn("logs", "--host", one);
  assertEquals(only.code, 0, only.stderr);
  const hosts = new Set(only.stdout.trimEnd().split("\n").map((l) => l.split(" | ")[0]));
  assertEquals([...hosts], [one]);

  const none = await dn("logs", "--tail", "0");
  assertEquals(none, { code: 0, stdout: "", stderr: "" });
  const json = await dn("logs", "--json", "--tail", "1", "--host", one);
  assertEquals(json.code, 0, json.stderr);
  const event = JSON.parse(json.stdout);
  assertEquals(event.host, one);
  assertMatch(event.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
  assertEquals(event.version, 1);
});

Deno.test("dn logs: bad flags and bad queries are refused", opts, async () => {
  for (const args of [["--tail", "9999"], ["--since", "yesterday"], ["--host", "Not_A_Host"]]) {
    const result = await dn("logs", ...args);
    assertEquals(result.code, 2, args.join(" "));
    assertMatch(result.stderr, /^invalid --/);
  }
  const notHere = await dn("logs", "--host", "nowhere");
  assertEquals(notHere.code, 1);
  assertMatch(notHere.stderr, /host nowhere not found/);
  const missing = await dn("logs", "missing-app");
  assertEquals(missing.code, 1);
  assertEquals(missing.stderr.trim(), "missing-app not found");
  for (
    const query of ["tail=abc", "tail=5001", "since=-1", "follow=yes", "bogus=1", "tail=1&tail=2"]
  ) {
    const res = await net.api("GET", `/v1/apps/${NAME}/logs?${query}`);
    assertEquals(res.status, 400, query);
    assert(typeof res.body.error === "string", query);
  }
  assertEquals((await net.api("POST", `/v1/apps/${NAME}/logs`)).status, 405);
  const noToken = await net.controlFetch(`/v1/apps/${NAME}/logs`);
  assertEquals(noToken.status, 401);
  await noToken.body?.cancel();
});

Deno.test("dn logs -f: new lines appear, prefixed by the host that wrote them", opts, async () => {
  const child = net.cliCommand(["logs", "-f", "--tail", "0"], dir, {
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
  })();
  const errors = new Response(child.stderr).text();
  try {
    // Wait until control holds the stream open (words sent before would be missed).
    const open = Date.now() + 10_000;
    while (value(await scrape("control"), "dn_control_logs_streams") !== 1) {
      assert(Date.now() < open, "the follow stream opened");
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    const words = Array.from(
      { length: 6 },
      (_, i) => `followed-${i}-${crypto.randomUUID().slice(0, 6)}`,
    );
    for (const word of words) {
      const res = await net.gateway(HOSTNAME, `/log/${word}`);
      assertEquals(res.status, 200);
      await res.body?.cancel();
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !words.every((w) => out.includes(`${w} from `))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const word of words) {
      const line = out.split("\n").find((l) => l.includes(`| ${word} from `));
      assert(line, `followed line for ${word}:\n${out}`);
      const [, prefix, from] = /^(\S+) \| \S+ from (\S+)$/.exec(line)!;
      assertEquals(prefix, from, "prefixed by the host that wrote it");
      assert(net.hostNames.includes(prefix), prefix);
    }
    assert(!out.includes("hello-world listening"), "--tail 0: no history");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reading.catch(() => {});
  }
  assertEquals(await errors, "");
  // Control lets the stream go when the client does: no stream left open, none failed.
  const deadline = Date.now() + 10_000;
  while (value(await scrape("control"), "dn_control_logs_streams") !== 0) {
    assert(Date.now() < deadline, "control closed the stream after the client went away");
    await new Promise((r) => setTimeout(r, 200));
  }
  const control = net.services.get("control")!;
  assert(!control.output.includes("logs stream failed"), "the stream ended cleanly");
  assertEquals((await net.api("GET", "/v1/apps")).status, 200);
});

Deno.test("/healthz: 503 naming the dependency that is down", opts, async () => {
  // A host whose Redis URL points nowhere: it starts, serves /healthz, and says why it is unwell.
  const name = `unwell-${crypto.randomUUID().slice(0, 4)}`;
  const host = net.spawn("host", name, ["--name", name], {
    DN_REDIS_URL: "redis://127.0.0.1:1/1",
  });
  try {
    const res = await fetch(`${await net.healthUrl(name)}/healthz`);
    const body = await res.json();
    assertEquals(res.status, 503, JSON.stringify(body));
    assertEquals(body.status, "unavailable");
    assertEquals(body.checks.redis, "down");
    assertEquals(body.checks.docker, "up");
    const metrics = await scrape(name);
    assertEquals(value(metrics, 'dn_up{dependency="redis"}'), 0);
  } finally {
    await host.stop();
  }
});
