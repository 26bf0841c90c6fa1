/**
 * Container routes across machines: each machine's host (configured by
 * `scripts/machines`: `requestRoute: "container"`, `containerPublishAddress`
 * its bridge address, `gatewayAddresses` the edge) publishes its app's port
 * on its machine address and announces it; the gateway on the edge sends
 * requests there with no host in between, only to the app's current
 * release, and the host's own firewall rule refuses any other source.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { Machines } from "../helpers/machines.ts";
import { ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { connectTestRedis, type TestRedis } from "../helpers/redis.ts";
import { type Route, RouteStore } from "../../lib/routes.ts";

const machines = new Machines();
const APP = `croute-${crypto.randomUUID().slice(0, 6)}`;
const HOSTNAME = `${APP}.dn.test`;
/** A second edge address on the bridge, which no host lists as a gateway. */
const STRANGER = `${machines.subnet}.250`;
let net: TestNetwork;
let redis: TestRedis;
let routes: RouteStore;

Deno.test.beforeAll(async () => {
  const names = await machines.up(3);
  net = await startNetwork(names, {
    hostPlace: (name) => machines.place(name),
  });
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
  redis = await connectTestRedis();
  routes = new RouteStore(redis, net.prefix);
});
Deno.test.afterAll(async () => {
  redis?.disconnect();
  await net?.stop();
  await machines.down();
});

/** Polls the route table until every host's route names a container of `release` (any if ""). */
async function containerRoutes(release = ""): Promise<Route[]> {
  const deadline = Date.now() + 30_000;
  let list: Route[] = [];
  while (Date.now() < deadline) {
    list = (await routes.load()).get(APP) ?? [];
    const ready = list.filter((r) => r.container && (release === "" || r.release === release));
    if (ready.length === net.hostNames.length) return list;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`container routes: ${JSON.stringify(list)}`);
}

/** A series' value in a Prometheus text page (0 when absent). */
async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(series))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** Requests every host served, summed. */
async function hostRequests(): Promise<number> {
  let sum = 0;
  for (const name of net.hostNames) {
    sum += await metric(await net.healthUrl(name), `dn_host_requests_total{app="${APP}"`);
  }
  return sum;
}

/** Runs `args` on the edge; returns its exit code and output. */
async function edge(args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(args[0], { args: args.slice(1) }).output();
  const text = new TextDecoder();
  return { code: out.code, out: text.decode(out.stdout) + text.decode(out.stderr) };
}

reliabilityTest("container routes: the gateway reaches each machine's container straight", {
  fault: "30 GETs through the gateway on the edge to an app on three machines whose hosts " +
    'announce container routes ("requestRoute": "container", published on the machine address)',
  expected: "every route names its machine's address and a published port; all 30 answer 200 " +
    "from all three machines, all on the container path, and no host serves any",
}, async (note) => {
  const list = await containerRoutes();
  for (const route of list) {
    assertEquals(route.container!.address, machines.address(route.host), route.host);
    assert(route.container!.port !== 8000, "the published port, not the container's own");
  }
  const gateway = await net.healthUrl("gateway");
  const path = (p: string) => `dn_gateway_upstream_requests_total{path="${p}"}`;
  const before = {
    container: await metric(gateway, path("container")),
    hosts: await hostRequests(),
  };
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const res = await net.gateway(HOSTNAME, "/whoami");
    assertEquals(res.status, 200);
    seen.add((await res.text()).trim());
  }
  assertEquals([...seen].sort(), [...net.hostNames].sort());
  const straight = await metric(gateway, path("container")) - before.container;
  assertEquals(straight, 30);
  assertEquals(await hostRequests() - before.hosts, 0, "hosts served requests");
  note(`${list.map((r) => `${r.host} ${r.container!.endpoint}`).join(", ")}; 30/30 straight`);
});

reliabilityTest("container routes: only gateway addresses reach a published port", {
  fault: "connections to a machine's published app port from the edge (the gateway address), " +
    "from another machine, and from a second edge address no host lists as a gateway",
  expected: "the edge gets 200; the other machine gets nothing; the stranger is refused at once " +
    "by the host's own DOCKER-USER rule (not left to time out by scripts/machines' rules)",
}, async (note) => {
  const [route] = await containerRoutes();
  const target = route.container!;
  const url = `http://${target.endpoint}/whoami`;
  const ok = await fetch(url);
  assertEquals(ok.status, 200);
  assertEquals((await ok.text()).trim(), route.host);
  const other = net.hostNames.find((n) => n !== route.host)!;
  const across = await machines.exec(other, [
    "bash",
    "-c",
    `timeout 2 bash -c '(exec 3<>/dev/tcp/${target.address}/${target.port})' 2>/dev/null && ` +
    "echo open || echo closed",
  ]);
  assertEquals(across.stdout.trim(), "closed", `${other} reached ${target.endpoint}`);
  const bridge = `${machines.net}-br`;
  await edge(["ip", "addr", "add", `${STRANGER}/32`, "dev", bridge]);
  try {
    const started = performance.now();
    const stranger = await edge(
      ["curl", "-s", "-o", "/dev/null", "--max-time", "5", "--interface", STRANGER, url],
    );
    const ms = Math.round(performance.now() - started);
    assertEquals(stranger.code, 7, `curl from ${STRANGER}: ${stranger.out}`); // refused
    assert(ms < 2000, `refused after ${ms} ms`);
    const rules = await machines.exec(route.host, ["iptables", "-S", `DN-PUB-${target.address}`]);
    assert(rules.stdout.includes(`-s ${machines.edge}/32 -j RETURN`), rules.stdout);
    note(`edge 200; ${other}: closed; ${STRANGER}: refused in ${ms} ms`);
  } finally {
    await edge(["ip", "addr", "del", `${STRANGER}/32`, "dev", bridge]);
  }
});

reliabilityTest("container routes: an update moves every answer to v2, never back", {
  fault: "GET /version through the gateway without pause while the app is updated to v2 on " +
    "all three machines (new containers, new published ports)",
  expected: "every answer 200; once v2 answered, no v1 answer; routes then name v2 containers " +
    "on new ports",
}, async (note) => {
  const before = await containerRoutes();
  const digest = await net.buildAndPush(`${ROOT}/apps/hello-world`, APP, 2);
  const updated = await net.api("POST", `/v1/apps/${APP}/update`, { version: 2, digest });
  assertEquals(updated.status, 200, JSON.stringify(updated.body));
  const answers: string[] = [];
  const deadline = Date.now() + 90_000;
  let v2Routes: Route[] = [];
  while (Date.now() < deadline) {
    const res = await net.gateway(HOSTNAME, "/version");
    const text = (await res.text()).trim();
    assertEquals(res.status, 200, text);
    answers.push(text);
    const list = (await routes.load()).get(APP) ?? [];
    if (list.length === 3 && list.every((r) => r.container && r.release?.startsWith("2."))) {
      v2Routes = list;
      if (answers.filter((a) => a === "2").length >= 20) break;
    }
  }
  const first = answers.indexOf("2");
  assert(first >= 0, "v2 never answered");
  const late = answers.slice(first).filter((a) => a !== "2").length;
  assertEquals(late, 0, `v1 answers after the first v2: ${answers.slice(first).join(",")}`);
  assertEquals(v2Routes.length, 3, "not every machine announced v2");
  const moved = v2Routes.filter((r) =>
    before.find((b) => b.host === r.host)?.container?.endpoint !== r.container!.endpoint
  );
  assertEquals(moved.length, 3, "every v2 container has a new published port");
  note(`${first} v1 answers, then ${answers.length - first} v2 and no v1`);
});
