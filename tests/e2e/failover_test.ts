/**
 * Hosts fail and come back: a killed host's requests are served by another,
 * a host that was down converges on what changed meanwhile, and an update
 * under load starts the new version before the old one stops, which finishes
 * the slow requests it was serving.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { ROUTE_MAX_AGE_MS } from "../../lib/routes.ts";

const HOSTNAME = "failover.dn.test";
const APP = "failover";
let net: TestNetwork;
let appDir: string;

Deno.test.beforeAll(async () => {
  appDir = await Deno.makeTempDir({ prefix: "dn-failover-" });
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/apps/hello-world/${file}`, `${appDir}/${file}`);
  }
  net = await startNetwork();
  await net.deploy(appDir, APP, HOSTNAME);
  // Every host serves before the faults start.
  const seen = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (seen.size < 3 && Date.now() < deadline) {
    seen.add((await (await net.gateway(HOSTNAME, "/whoami")).text()).trim());
  }
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(appDir, { recursive: true }).catch(() => {});
});

reliabilityTest("kill a host under load", {
  fault: "SIGKILL one of three hosts while 8 clients send GETs (some slow)",
  expected: "zero failed GETs; the dead host's in-flight requests are served by another (or by " +
    "its container, which gateways reach straight and which outlives it); once its routes are " +
    "stale (15 s) the dead host serves nothing",
}, async (note) => {
  const victim = net.hostNames[0];
  const fast = new Load(net, HOSTNAME, "/", 8);
  const slow = new Load(net, HOSTNAME, "/sleep/300", 6); // in flight when the host dies
  await sleep(1500);
  await net.services.get(victim)!.stop("SIGKILL");
  await sleep(3000);
  const outcomes = [...await fast.stop(), ...await slow.stop()];
  const failed = outcomes.filter((o) => o.status !== 200);
  note(`${outcomes.length} GETs, ${failed.length} failed (${JSON.stringify(byStatus(outcomes))})`);
  assertEquals(failed, []);
  const answering = () =>
    Promise.all(
      Array.from(
        { length: 20 },
        async () => (await (await net.gateway(HOSTNAME, "/whoami")).text()).trim(),
      ),
    );
  const deadline = Date.now() + ROUTE_MAX_AGE_MS + 5000;
  let after = await answering();
  while (after.includes(victim) && Date.now() < deadline) {
    await sleep(500);
    after = await answering();
  }
  assert(!after.includes(victim), "the dead host serves nothing once its routes are stale");
});

reliabilityTest("a host that was down converges", {
  fault: "host down while the app is updated (v2) and a second app is created and started",
  expected: "on restart the host runs v2 and the new app, and removes v1",
}, async (note) => {
  const victim = net.hostNames[0];
  if (net.services.get(victim)!.child.pid) await net.services.get(victim)!.stop("SIGKILL");
  const digest = await net.buildAndPush(appDir, APP, 2);
  assertEquals(
    (await net.api("POST", `/v1/apps/${APP}/update`, { version: 2, digest })).status,
    200,
  );
  await net.deploy(`${ROOT}/apps/echo`, "late", "late.dn.test");
  const started = performance.now();
  await net.startHost(victim);
  const deadline = Date.now() + 60_000;
  let report: { host: string; containers: { version: number; state: string }[] }[] = [];
  while (Date.now() < deadline) {
    const [a, b] = await Promise.all([
      net.api("GET", `/v1/apps/${APP}/status`),
      net.api("GET", "/v1/apps/late/status"),
    ]);
    report = a.body.hosts;
    const mine = (r: typeof report) => r.find((h) => h.host === victim)?.containers ?? [];
    const appOk = mine(a.body.hosts).length === 1 && mine(a.body.hosts)[0].version === 2 &&
      mine(a.body.hosts)[0].state === "running";
    const lateOk = mine(b.body.hosts).some((c) => c.state === "running");
    if (appOk && lateOk) break;
    await sleep(500);
  }
  const mine = report.find((h) => h.host === victim)?.containers ?? [];
  const states = mine.map((c) => `v${c.version} ${c.state}`).join(", ");
  note(`converged ${Math.round(performance.now() - started)} ms after restart: ${states}`);
  assertEquals(mine.map((c) => [c.version, c.state]), [[2, "running"]]);
});

reliabilityTest("update under load", {
  fault: "dn update (v3) while 8 clients send GETs",
  expected: "zero failed requests; new version answers on every host; status shows v3 everywhere",
}, async (note) => {
  const load = new Load(net, HOSTNAME, "/version", 8);
  await sleep(1000);
  const digest = await net.buildAndPush(appDir, APP, 3);
  assertEquals(
    (await net.api("POST", `/v1/apps/${APP}/update`, { version: 3, digest })).status,
    200,
  );
  const deadline = Date.now() + 60_000;
  let hosts: { host: string; containers: { version: number; state: string }[] }[] = [];
  while (Date.now() < deadline) {
    hosts = (await net.api("GET", `/v1/apps/${APP}/status`)).body.hosts;
    const done = hosts.length === 3 &&
      hosts.every((h) => h.containers.length === 1 && h.containers[0].version === 3);
    if (done) break;
    await sleep(300);
  }
  await sleep(1000);
  const outcomes = await load.stop();
  const failed = outcomes.filter((o) => o.status !== 200);
  const versions = byStatus(outcomes.map((o) => ({ ...o, status: Number(o.body.trim()) })));
  note(
    `${outcomes.length} requests, ${failed.length} failed, answers by version ${
      JSON.stringify(versions)
    }`,
  );
  assertEquals(failed, []);
  assertEquals(hosts.map((h) => h.containers.map((c) => c.version)), [[3], [3], [3]]);
  assertEquals(outcomes.at(-1)!.body.trim(), "3");
});

reliabilityTest("update with slow POSTs in flight", {
  fault: "dn update (v4) while 6 POST /sleep/4000 are in flight, straight to the old containers",
  expected: "every POST answers 200 (old containers get SIGTERM and finish them, none is " +
    "killed mid-request or run twice); v4 everywhere afterwards",
}, async (note) => {
  const digest = await net.buildAndPush(appDir, APP, 4);
  const posts = Array.from({ length: 6 }, async () => {
    const res = await net.gateway(HOSTNAME, "/sleep/4000", { method: "POST" });
    return `${res.status} ${(await res.text()).trim()}`;
  });
  await sleep(300);
  const started = performance.now();
  assertEquals(
    (await net.api("POST", `/v1/apps/${APP}/update`, { version: 4, digest })).status,
    200,
  );
  const answers = await Promise.all(posts);
  note(
    `answers ${JSON.stringify(answers)}, last ${Math.round(performance.now() - started)} ms ` +
      "after the update began",
  );
  assertEquals(answers, Array(6).fill("200 slept"));
  const deadline = Date.now() + 60_000;
  let versions: number[][] = [];
  while (Date.now() < deadline) {
    const hosts = (await net.api("GET", `/v1/apps/${APP}/status`)).body.hosts;
    versions = hosts.map((h: { containers: { version: number }[] }) =>
      h.containers.map((c) => c.version)
    );
    if (versions.length === 3 && versions.every((v) => v.length === 1 && v[0] === 4)) break;
    await sleep(300);
  }
  assertEquals(versions, [[4], [4], [4]]);
});

/** The container of APP on `host`, from control's status. */
async function containerOn(host: string): Promise<{ id: string; state: string } | undefined> {
  const status = await net.api("GET", `/v1/apps/${APP}/status`);
  return status.body.hosts.find((h: { host: string }) => h.host === host)?.containers[0];
}

/** Waits until `/whoami` answers show `host` serving again. */
async function servesAgain(host: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answers = await Promise.all(
      Array.from(
        { length: 12 },
        async () => (await (await net.gateway(HOSTNAME, "/whoami")).text()).trim(),
      ),
    );
    if (answers.includes(host)) return Math.round(performance.now() - started);
    await sleep(300);
  }
  throw new Error(`${host} never served again`);
}

reliabilityTest("app process crashes", {
  fault: "kill -9 the app process inside one host's container while 8 clients send GETs",
  expected: "no request hangs; Docker restarts the container; the host serves from it again",
}, async (note) => {
  const host = net.hostNames[1];
  const before = await containerOn(host);
  assert(before, "container exists");
  const pid = new TextDecoder().decode(
    (await new Deno.Command("docker", { args: ["inspect", "-f", "{{.State.Pid}}", before.id] })
      .output()).stdout,
  ).trim();
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(500);
  await new Deno.Command("pkill", { args: ["-KILL", "-P", pid] }).output();
  const backMs = await servesAgain(host, 30_000);
  const outcomes = await load.stop();
  const after = await containerOn(host);
  note(`${JSON.stringify(byStatus(outcomes))}; ${host} served again after ${backMs} ms`);
  assert(outcomes.every((o) => [200, 502, 503].includes(o.status)), "only 200/502/503, no hang");
  assertEquals(after?.id, before.id);
  assertEquals(after?.state, "running");
});

reliabilityTest("app container removed behind the host's back", {
  fault: "docker rm -f one host's container while 8 clients send GETs",
  expected: "no request hangs; the host notices and recreates the container",
}, async (note) => {
  const host = net.hostNames[2];
  const before = await containerOn(host);
  assert(before, "container exists");
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(500);
  await net.docker.removeContainer(before.id, { force: true });
  const backMs = await servesAgain(host, 40_000);
  const outcomes = await load.stop();
  const after = await containerOn(host);
  note(`${JSON.stringify(byStatus(outcomes))}; recreated and serving after ${backMs} ms`);
  assert(outcomes.every((o) => [200, 502, 503].includes(o.status)), "only 200/502/503, no hang");
  assert(after && after.id !== before.id && after.state === "running", "a new container runs");
});
