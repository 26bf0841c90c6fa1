/**
 * No single point of failure, on a private HA infrastructure (scripts/ha):
 * a 3-node RabbitMQ cluster, Redis with two replicas and three Sentinels,
 * two gateways and two controls. Each fault runs under load.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { HaInfra } from "../helpers/ha.ts";
import { assertCreatesHeld, createsAcross, describeCreates } from "../helpers/ha.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { freePort, ROOT, type Service, testHostNames, TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const HOSTNAME = "ha.dn.test";
const infra = new HaInfra("ha", {
  amqps: 5980,
  dist: 25979,
  redis: 6689,
  registry: 5355,
}, {
  amqps: [5982, 5984],
  dist: [25981, 25983],
  redis: [6690, 6691, 6692],
  sentinel: [26690, 26691, 26692],
});
let net: TestNetwork;
let digest2 = "";
// Ports of the second gateway and control and of the broker-only gateway: taken just before
// they start (a port found free a minute earlier may be some connection's by then).
let gateway2Port = 0;
let gateway2MetricsPort = 0;
let control2Port = 0;
/** A third gateway without the request token: its requests all take the broker path. */
let brokerGatewayPort = 0;

Deno.test.beforeAll(async () => {
  await infra.upHa();
  net = new TestNetwork(testHostNames(), { stateDir: infra.stateDir, configSuffix: "-ha" });
  await net.start();
  [gateway2Port, gateway2MetricsPort, control2Port, brokerGatewayPort] = [
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ];
  const gateway2 = net.spawn("gateway", "gateway2", [], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${gateway2Port}`,
    DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${gateway2MetricsPort}`,
    DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
  });
  // The second control does not WAIT for a replica: the first test compares the two.
  const control2 = net.spawn("control", "control2", [], {
    DN_CONTROL_LISTEN: `127.0.0.1:${control2Port}`,
    DN_CONTROL_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_REDIS_WAIT_REPLICAS: "0",
  });
  const config = JSON.parse(Deno.readTextFileSync(`${infra.stateDir}/config/test-gateway-ha.json`));
  delete config.requestToken;
  const brokerOnly = `${infra.stateDir}/config/test-gateway-ha-broker-only.json`;
  Deno.writeTextFileSync(brokerOnly, JSON.stringify(config), { mode: 0o600 });
  const brokerGateway = net.spawn("gateway", "gateway-broker-only", ["--config", brokerOnly], {
    DN_GATEWAY_LISTEN: `127.0.0.1:${brokerGatewayPort}`,
    DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
  });
  await Promise.all([
    gateway2.waitFor("gateway listening"),
    control2.waitFor("amqp connected"),
    brokerGateway.waitFor("amqp connected"),
  ]);
  await net.deploy(`${ROOT}/apps/hello-world`, "ha", HOSTNAME);
  digest2 = await net.buildAndPush(`${ROOT}/apps/hello-world`, "ha", 2);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await infra.downHa();
});

/** Median of `values`. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Median time of `times` sequential calls of `call`, in ms. */
async function medianTime(times: number, call: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await call();
    ms.push(performance.now() - started);
  }
  return Math.round(median(ms) * 10) / 10;
}

Deno.test("HA: what a replica's acknowledgement and quorum queues cost", async () => {
  const created = (port: number, prefix: string) => {
    let i = 0;
    return async () => {
      const name = `${prefix}${i++}`;
      const res = await net.controlFetch("/v1/apps", {
        method: "POST",
        headers: { authorization: `Bearer ${net.token}`, "content-type": "application/json" },
        body: JSON.stringify({ name, hostname: `${name}.dn.test`, digest: digest2 }),
      }, port);
      assertEquals(res.status, 201, await res.text());
    };
  };
  const withWait = await medianTime(30, created(net.controlPort, "ha-w"));
  const withoutWait = await medianTime(30, created(control2Port, "ha-n"));
  const status = await medianTime(20, async () => {
    const res = await net.api("GET", "/v1/apps/ha/status");
    assertEquals(res.body.hosts.length, 3);
  });
  console.log(
    `create: ${withWait} ms with WAIT 1, ${withoutWait} ms without (median of 30); ` +
      `status of 3 hosts over quorum command queues: ${status} ms (median of 20)`,
  );
});

/**
 * Per service, the longest time from an "amqp connection lost" to the next
 * line with `msg` ("amqp connection open, setting up": on a live node;
 * "amqp connected": its queues and consumers set up again).
 */
async function reconnectGaps(since: number, msg: string): Promise<Record<string, number>> {
  const gaps: Record<string, number> = {};
  for (const [key, service] of net.services) {
    let lost = 0;
    const text = await Deno.readTextFile(service.logFile).catch(() => "");
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      const record = JSON.parse(line) as { time: string; msg: string };
      const at = Date.parse(record.time);
      if (at < since) continue;
      if (record.msg === "amqp connection lost, reconnecting" && lost === 0) lost = at;
      if (record.msg === msg && lost > 0) {
        gaps[key] = Math.max(gaps[key] ?? 0, at - lost);
        lost = 0;
      }
    }
    if (lost > 0) gaps[key] = Infinity;
  }
  return gaps;
}

reliabilityTest("kill the RabbitMQ node every service uses", {
  fault: "SIGKILL RabbitMQ node 1 of 3 (control, three gateways and 3 hosts are on it) while " +
    "8 clients send GETs and 4 more through a gateway without the direct path; `update` to v2 " +
    "right after",
  expected: "0 failed GETs (direct path); every service on another node within 1 s (set up " +
    "again within 5 s); the " +
    "update command reaches every host over the broker; the broker path answers again at once",
}, async (note) => {
  const load = new Load(net, HOSTNAME, "/", 8);
  const brokerLoad = new Load(net, HOSTNAME, "/", 4, 200_000, "GET", brokerGatewayPort);
  await sleep(1000);
  const killedAt = Date.now();
  const killedOnBrokerLoad = performance.now() - brokerLoad.started;
  await infra.killRabbit(1);
  const update = await net.api("POST", "/v1/apps/ha/update", { version: 2, digest: digest2 });
  assertEquals(update.status, 200, JSON.stringify(update.body));
  await net.waitForRunning("ha", 3);
  await sleep(500);
  const outcomes = await load.stop();
  const viaBroker = await brokerLoad.stop();
  const brokerFailed = brokerLoad.failures;
  const last = brokerFailed.at(-1);
  const brokerBack = last ? Math.round(last.at + last.ms - killedOnBrokerLoad) : 0;
  const gaps = await reconnectGaps(killedAt, "amqp connection open, setting up");
  const worst = Math.max(...Object.values(gaps));
  const setUp = await reconnectGaps(killedAt, "amqp connected");
  const commanded = net.hostNames.filter((host) =>
    net.services.get(host)!.output.split("\n").some((line) =>
      line.includes('"msg":"command"') && line.includes('"kind":"update"') &&
      Date.parse(JSON.parse(line).time) >= killedAt
    )
  );
  note(
    `${outcomes.length} GETs ${JSON.stringify(byStatus(outcomes))}; on another node after at ` +
      `most ${worst} ms (${JSON.stringify(gaps)}), set up again after ` +
      `${Math.max(...Object.values(setUp))} ms (${
        JSON.stringify(setUp)
      }); update command received by ` +
      `${commanded.length}/3 hosts; broker path: ${viaBroker.length} GETs ` +
      `${
        JSON.stringify(byStatus(viaBroker))
      }, the last failure ended ${brokerBack} ms after the kill`,
  );
  assertEquals(load.failures.length, 0, JSON.stringify(load.failures.slice(0, 5)));
  assertEquals(Object.keys(gaps).length, net.services.size, JSON.stringify(gaps));
  assert(worst < 1000, `on another node after ${worst} ms`);
  assert(Math.max(...Object.values(setUp)) < 5000, `set up again after ${JSON.stringify(setUp)}`);
  assertEquals(commanded.length, 3);
  assert(brokerBack < 5000, `the broker path failed until ${brokerBack} ms after the kill`);
});

reliabilityTest("kill the Redis primary", {
  fault: "SIGKILL the Redis primary (of 1 primary + 2 replicas, 3 Sentinels) while control " +
    "creates an app every 50 ms and 8 clients send GETs",
  expected: "a replica is promoted; control answers only 201 or 503, 503 no longer than the " +
    "failover; every create answered 201 is there afterwards; 0 failed GETs",
}, async (note) => {
  const before = await infra.status();
  assertEquals(before.replicas, 2);
  const load = new Load(net, HOSTNAME, "/", 8);
  const creates = await createsAcross(
    net,
    digest2,
    "ha-c",
    () => infra.killRedis(Number(before.primary.split(":")[1])),
  );
  const outcomes = await load.stop();
  const after = await infra.status();
  note(
    `primary ${before.primary} → ${after.primary}; ${describeCreates(creates)}; ` +
      `GETs ${JSON.stringify(byStatus(outcomes))}`,
  );
  assert(after.primary !== "" && after.primary !== before.primary, `primary ${after.primary}`);
  assertCreatesHeld(creates);
  assertEquals(load.failures.length, 0, JSON.stringify(load.failures.slice(0, 5)));
});

/** Sum of `dn_gateway_requests_total` of the gateway whose metrics are at `base`. */
async function requestsServed(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith("dn_gateway_requests_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

reliabilityTest("kill a gateway", {
  fault: "SIGKILL one of two gateways while 8 clients send GETs to the other",
  expected: "the other gateway's clients see nothing (0 failed GETs); before the kill, the " +
    "two gateways' request counters add up to the requests sent to both",
}, async (note) => {
  const bases = [
    `http://127.0.0.1:${net.gatewayMetricsPort}`,
    `http://127.0.0.1:${gateway2MetricsPort}`,
  ];
  const before = (await Promise.all(bases.map(requestsServed))).reduce((a, b) => a + b);
  for (let i = 0; i < 30; i++) {
    assertEquals((await net.gateway(HOSTNAME, "/")).status, 200);
    assertEquals((await net.gateway(HOSTNAME, "/", {}, gateway2Port)).status, 200);
  }
  const after = (await Promise.all(bases.map(requestsServed))).reduce((a, b) => a + b);
  const load = new Load(net, HOSTNAME, "/", 8, 200_000, "GET", gateway2Port);
  await sleep(1000);
  await net.services.get("gateway")!.stop("SIGKILL");
  await sleep(3000);
  const outcomes = await load.stop();
  note(
    `counters rose by ${after - before} for 60 requests; the other gateway: ${outcomes.length} ` +
      `GETs ${JSON.stringify(byStatus(outcomes))}`,
  );
  assertEquals(after - before, 60);
  assertEquals(load.failures.length, 0, JSON.stringify(load.failures.slice(0, 5)));
});

reliabilityTest("kill a control", {
  fault: "SIGKILL one of two controls; the CLI's controlUrl lists both",
  expected: "`dn status` goes to the other control and answers",
}, async (note) => {
  const control = net.services.get("control") as Service;
  await control.stop("SIGKILL");
  const urls = `${net.controlUrl},${net.controlUrlAt(control2Port)}`;
  const status = await net.cli(["status", "ha"], ROOT, { DN_CONTROL_URL: urls });
  note(`dn status with the first control dead: exit ${status.code}`);
  assertEquals(status.code, 0, status.stderr);
  assert(status.stdout.includes("ha"), status.stdout);
});

reliabilityTest("an Erlang node with another cookie", {
  fault:
    "rabbitmqctl (an Erlang node) with a cookie of its own asks RabbitMQ node 2 for its status",
  expected: "refused, and the node logs the rejected connection attempt",
}, async (note) => {
  const { refused, logged } = await infra.foreignCookie(2);
  note(`refused: ${refused}; node 2 logged: ${logged.replace(/^.*\[error\] <[^>]*> /, "")}`);
  assert(refused, "the foreign node was let in");
  assert(logged.includes("rejected"), `node 2 logged: ${logged}`);
});

reliabilityTest("restart every killed node", {
  fault: "scripts/ha up after the kills above (RabbitMQ node 1, the old Redis primary)",
  expected: "the RabbitMQ node rejoins (3 of 3 running), the old primary comes back as a " +
    "replica (Sentinel counts 2), with no manual step",
}, async (note) => {
  const started = Date.now();
  await infra.upHa();
  let status = await infra.status();
  const deadline = Date.now() + 60_000;
  while ((status.rabbitNodes !== 3 || status.replicas !== 2) && Date.now() < deadline) {
    await sleep(500);
    status = await infra.status();
  }
  note(`whole again after ${Date.now() - started} ms: ${JSON.stringify(status)}`);
  assertEquals([status.rabbitNodes, status.replicas], [3, 2]);
});
