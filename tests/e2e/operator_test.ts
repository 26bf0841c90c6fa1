/**
 * What operators expect beyond the proof of concept, through the real stack
 * and the `dn` CLI: environment and secrets (`dn env`), `dn rollback`,
 * replicas and placement (`APP_REPLICAS`), health checks (`APP_HEALTH`), and
 * per-app request timeout and body limit (`APP_TIMEOUT`, `APP_BODY_LIMIT`).
 *
 * The apps are hello-world copies (it answers `/env/:KEY`, `/version`,
 * `/whoami`, `/status/:code`, `/echo`, `/sleep/:ms` and `POST /health/toggle`),
 * each with its own App.config.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { type CliResult, ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const APP = "op";
const HOSTNAME = "op.dn.test";
const SECRET = `s3cret-${crypto.randomUUID()}`;
const PIN = `pin-${crypto.randomUUID()}`;
const opts = { sanitizeOps: false, sanitizeResources: false };

let net: TestNetwork;
let root: string;
/** Every CLI output of this file, checked for secret values at the end. */
const outputs: CliResult[] = [];

/** A hello-world copy named `name` with `extra` App.config lines; returns its directory. */
async function app(name: string, extra = ""): Promise<string> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir);
  for (const file of ["Dockerfile", "main.ts"]) {
    await Deno.copyFile(`${ROOT}/apps/hello-world/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(
    `${dir}/App.config`,
    `APP_NAME ${name}\nAPP_HOSTNAME ${name}.dn.test\nAPP_PORT 8000\n${extra}`,
  );
  return dir;
}

/** Runs dn in `dir`; fails the test on a non-zero exit. */
async function dn(dir: string, ...args: string[]): Promise<CliResult> {
  const r = await net.cli(args, dir);
  outputs.push(r);
  assertEquals(r.code, 0, `dn ${args.join(" ")}: ${r.stderr}${r.stdout.slice(-500)}`);
  return r;
}

/** Runs dn in `dir` with `input` on standard input. */
async function dnWithStdin(dir: string, input: string, ...args: string[]): Promise<CliResult> {
  const child = net.cliCommand(args, dir, {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  outputs.push(r);
  assertEquals(r.code, 0, r.stderr);
  return r;
}

function lines(r: CliResult): string[] {
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** Hosts with a row in `dn status` (the HOST column, 22 wide). */
function statusHosts(r: CliResult): string[] {
  const all = r.stdout.split("\n");
  const header = all.findIndex((l) => l.startsWith("HOST "));
  // Rows only: not the blank line and "! host: why" lines under the table.
  return all.slice(header + 1).filter((l) => l !== "" && !l.startsWith("! "))
    .map((l) => l.slice(0, 22).trim());
}

type HostStatus = {
  host: string;
  containers: { id: string; version: number; state: string; startedAt: string }[];
};

async function hostsOf(name: string): Promise<HostStatus[]> {
  return (await net.api("GET", `/v1/apps/${name}/status`)).body.hosts;
}

/** Polls until `done` holds for the app's status hosts; returns the last report. */
async function until(
  name: string,
  done: (hosts: HostStatus[]) => boolean,
  timeoutMs: number,
  what: string,
): Promise<HostStatus[]> {
  const deadline = Date.now() + timeoutMs;
  let hosts: HostStatus[] = [];
  while (Date.now() < deadline) {
    hosts = await hostsOf(name);
    if (done(hosts)) return hosts;
    await sleep(300);
  }
  throw new Error(`${what} not reached in ${timeoutMs} ms: ${JSON.stringify(hosts)}`);
}

/** `count` answers of GET `path` through the gateway for `hostname`. */
async function answers(hostname: string, path: string, count = 30): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await net.gateway(hostname, path);
    out.push(`${res.status} ${(await res.text()).trim()}`);
  }
  return out;
}

Deno.test.beforeAll(async () => {
  root = await Deno.makeTempDir({ prefix: "dn-operator-" });
  net = await startNetwork();
  const dir = await app(APP, "APP_HEALTH /healthz\n");
  const run = await dn(dir, "run");
  assertEquals(lines(run).slice(-2), [
    `${APP} (${HOSTNAME}) created`,
    `${APP} (${HOSTNAME}) started`,
  ]);
  await net.waitForRunning(APP, 3);
  await net.waitForApp(HOSTNAME, (res) => res.status === 200);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
});

reliabilityTest("dn env set under load", {
  fault: "dn env set (one value from an argument, one from stdin) while 8 clients send GETs",
  expected: "zero failed requests; every container sees the new values; no value printed",
}, async (note) => {
  const dir = `${root}/${APP}`;
  const before = await hostsOf(APP);
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(1000);
  const started = performance.now();
  const set = await dn(dir, "env", "set", `GREETING=${SECRET}`);
  assertEquals(lines(set), [`${APP} (${HOSTNAME}) env set: GREETING`]);
  const oldIds = new Set(before.flatMap((h) => h.containers.map((c) => c.id)));
  await until(
    APP,
    (hosts) =>
      hosts.length === 3 &&
      hosts.every((h) =>
        h.containers.length === 1 && h.containers[0].state === "running" &&
        !oldIds.has(h.containers[0].id)
      ),
    60_000,
    "new containers on every host",
  );
  const replacedMs = Math.round(performance.now() - started);
  await sleep(1000);
  const outcomes = await load.stop();
  note(
    `${outcomes.length} GETs, ${load.failures.length} failed ` +
      `(${JSON.stringify(byStatus(outcomes))}); containers replaced in ${replacedMs} ms`,
  );
  assertEquals(load.failures, []);
  for (const answer of await answers(HOSTNAME, "/env/GREETING")) {
    assertEquals(answer, `200 ${SECRET}`);
  }

  // A value from standard input (kept out of argv and shell history).
  const piped = await dnWithStdin(dir, PIN + "\n", "env", "set", "PIN=-");
  assertEquals(lines(piped), [`${APP} (${HOSTNAME}) env set: PIN`]);
  await net.waitForApp(
    HOSTNAME,
    (res, body) => res.status === 200 && body === PIN,
    60_000,
    "/env/PIN",
  );
});

Deno.test("dn env list shows names only; no value appears in any output or log", opts, async () => {
  const dir = `${root}/${APP}`;
  const list = await dn(dir, "env", "list");
  assertEquals(lines(list), ["GREETING", "PIN"]);
  assertEquals(JSON.parse((await dn(dir, "env", "list", "--json")).stdout), {
    keys: ["GREETING", "PIN"],
  });
  const status = await dn(dir, "status");
  assert(lines(status).includes("Env: GREETING, PIN"), status.stdout);
  const json = JSON.parse((await dn(dir, "status", "--json")).stdout);
  assertEquals(json.app.envKeys, ["GREETING", "PIN"]);
  assertEquals(json.app.env, undefined);
  await dn(dir, "list", "--json");
  const api = await net.api("GET", `/v1/apps/${APP}`);
  assertEquals(api.body.app.env, undefined);

  // Unset one, then check no output and no service log ever held a value.
  const unset = await dn(dir, "env", "unset", "PIN");
  assertEquals(lines(unset), [`${APP} (${HOSTNAME}) env unset: PIN`]);
  assertEquals(lines(await dn(dir, "env", "list")), ["GREETING"]);
  await net.waitForApp(HOSTNAME, (res) => res.status === 404, 60_000, "/env/PIN");
  for (const r of outputs) {
    const text = r.stdout + r.stderr;
    assert(!text.includes(SECRET) && !text.includes(PIN), "a value was printed by dn");
  }
  for (const [key, service] of net.services) {
    const log = await Deno.readTextFile(service.logFile);
    assert(!log.includes(SECRET) && !log.includes(PIN), `${key} logged a value`);
  }
});

reliabilityTest("dn rollback under load", {
  fault: "dn update to v2, then dn rollback to v1 while 8 clients send GETs",
  expected: "zero failed requests; /version answers 1 everywhere; the next update builds v3",
}, async (note) => {
  const dir = `${root}/${APP}`;
  const update = await dn(dir, "update");
  assertEquals(lines(update).at(-1), `${APP} (${HOSTNAME}) updated to v2`);
  await until(
    APP,
    (hosts) =>
      hosts.length === 3 &&
      hosts.every((h) => h.containers.length === 1 && h.containers[0].version === 2),
    60_000,
    "v2 on every host",
  );
  await net.waitForApp(HOSTNAME, (_, body) => body.trim() === "2", 30_000, "/version");

  const load = new Load(net, HOSTNAME, "/version", 8);
  await sleep(1000);
  const started = performance.now();
  const rollback = await dn(dir, "rollback");
  assertEquals(lines(rollback), [`${APP} (${HOSTNAME}) rolled back to v1`]);
  await until(
    APP,
    (hosts) =>
      hosts.length === 3 &&
      hosts.every((h) =>
        h.containers.length === 1 && h.containers[0].version === 1 &&
        h.containers[0].state === "running"
      ),
    60_000,
    "v1 on every host",
  );
  const ms = Math.round(performance.now() - started);
  await sleep(1000);
  const outcomes = await load.stop();
  const versions = byStatus(outcomes.map((o) => ({ ...o, status: Number(o.body.trim()) })));
  note(
    `${outcomes.length} GETs, ${load.failures.length} failed, answers by version ` +
      `${JSON.stringify(versions)}; v1 everywhere after ${ms} ms`,
  );
  assertEquals(load.failures, []);
  assertEquals(new Set(await answers(HOSTNAME, "/version")), new Set(["200 1"]));
  assertEquals(new Set(outcomes.slice(-20).map((o) => o.body.trim())), new Set(["1"]));

  const status = lines(await dn(dir, "status"));
  assertEquals(status.slice(0, 4), [
    `Name: ${APP}`,
    "Status: running",
    "Version: 1",
    "Latest: 2 (rolled back)",
  ]);
  // The environment survives the rollback.
  assertEquals(await answers(HOSTNAME, "/env/GREETING", 5), Array(5).fill(`200 ${SECRET}`));
  // The next update builds after the highest version, not after the current one.
  const next = await dn(dir, "update");
  assertEquals(lines(next).at(-1), `${APP} (${HOSTNAME}) updated to v3`);
  await net.waitForApp(HOSTNAME, (_, body) => body.trim() === "3", 60_000, "/version");
});

reliabilityTest("replicas: a placed host dies", {
  fault: "app with APP_REPLICAS 2 on 3 hosts; SIGKILL one of its 2 hosts",
  expected: "runs on exactly 2 hosts; within ~25 s on 2 live hosts again; the old host " +
    "drops it when it comes back",
}, async (note) => {
  const dir = await app("rep", "APP_REPLICAS 2\n");
  await dn(dir, "run");
  await net.waitForRunning("rep", 2);
  await net.waitForApp("rep.dn.test", (res) => res.status === 200);
  let status = await dn(dir, "status");
  const placed = statusHosts(status);
  assertEquals(placed.length, 2, status.stdout);
  assertEquals(lines(status)[3], `Replicas: 2 (${[...placed].sort().join(", ")})`);
  // Still 2 after a while: the third host never starts it.
  await sleep(3000);
  assertEquals(statusHosts(await dn(dir, "status")), placed);

  const victim = placed[0];
  const load = new Load(net, "rep.dn.test", "/", 4);
  await net.services.get(victim)!.stop("SIGKILL");
  const killed = performance.now();
  const live = net.hostNames.filter((h) => h !== victim);
  await until(
    "rep",
    (hosts) =>
      hosts.filter((h) => live.includes(h.host) && h.containers.some((c) => c.state === "running"))
        .length === 2,
    45_000,
    "2 live hosts running rep",
  );
  const movedMs = Math.round(performance.now() - killed);
  const outcomes = await load.stop();
  status = await dn(dir, "status");
  assertEquals(statusHosts(status).sort(), [...live].sort());
  assertEquals(lines(status)[3], `Replicas: 2 (${[...live].sort().join(", ")})`);
  note(
    `running on 2 live hosts ${movedMs} ms after the kill; ` +
      `GETs meanwhile ${JSON.stringify(byStatus(outcomes))}`,
  );
  assert(movedMs < 30_000, `took ${movedMs} ms`);
  assert(outcomes.every((o) => o.status === 200), JSON.stringify(byStatus(outcomes)));

  // The host comes back: the app stays where it is and the old container goes.
  await net.startHost(victim);
  const deadline = Date.now() + 40_000;
  let left = 1;
  while (Date.now() < deadline) {
    left = (await net.docker.listContainers({
      "network.dn.host": victim,
      "network.dn.app": "rep",
    }, true)).length;
    if (left === 0) break;
    await sleep(500);
  }
  assertEquals(left, 0, `${victim} still has rep containers`);
  assertEquals(statusHosts(await dn(dir, "status")).sort(), [...live].sort());
});

reliabilityTest("health checks", {
  fault: "app whose APP_HEALTH answers 500; a healthy app's container turned unhealthy " +
    "(POST /health/toggle) while 8 clients send GETs",
  expected: "the failing app never gets traffic (only 503/504); the unhealthy container is " +
    "taken out of traffic, restarted and serves again; zero failed GETs",
}, async (note) => {
  // The failing app: started, but no host ever serves it (dn run would wait
  // and then fail saying so: tests/e2e/failures_test.ts).
  const sickDir = await app("sick", "APP_HEALTH /status/500\n");
  await dn(sickDir, "run", "--no-wait");
  const sickStarted = performance.now();
  const sick = new Load(net, "sick.dn.test", "/", 2);

  // The healthy app serves; one of its containers turns unhealthy.
  await net.waitForRunning(APP, 3);
  const load = new Load(net, HOSTNAME, "/", 8);
  await sleep(500);
  const toggled = await net.gateway(HOSTNAME, "/health/toggle", { method: "POST" });
  const [host, state] = (await toggled.text()).trim().split(" ");
  assertEquals([toggled.status, state], [200, "unhealthy"]);
  const service = net.services.get(host)!;
  const before = (await hostsOf(APP)).find((h) => h.host === host)!.containers[0];
  await service.waitFor("container unhealthy: no traffic, restarting", 20_000);
  const restarted = await until(
    APP,
    (hosts) => {
      const c = hosts.find((h) => h.host === host)?.containers[0];
      return c !== undefined && c.state === "running" && c.startedAt !== before.startedAt;
    },
    30_000,
    `${host} container restarted`,
  );
  assertEquals(restarted.find((h) => h.host === host)!.containers[0].id, before.id);
  // Serves again once healthy (a restart makes hello-world healthy).
  const deadline = Date.now() + 30_000;
  let back = false;
  while (!back && Date.now() < deadline) {
    back = (await answers(HOSTNAME, "/whoami", 12)).includes(`200 ${host}`);
    if (!back) await sleep(300);
  }
  assert(back, `${host} never served again`);
  const outcomes = await load.stop();

  // The failing app: watched past the hosts' 30 s wait for a container to be ready.
  const wait = 36_000 - (performance.now() - sickStarted);
  if (wait > 0) await sleep(wait);
  const sickOutcomes = await sick.stop();
  note(
    `healthy app ${JSON.stringify(byStatus(outcomes))}; failing app ` +
      `${JSON.stringify(byStatus(sickOutcomes))} over ${
        Math.round((performance.now() - sickStarted) / 1000)
      } s`,
  );
  assertEquals(load.failures, []);
  assert(sickOutcomes.length > 0);
  assert(
    sickOutcomes.every((o) => o.status === 503 || o.status === 504),
    `failing app answered ${JSON.stringify(byStatus(sickOutcomes))}`,
  );
  assert(!sickOutcomes.some((o) => o.body.includes("Hello")), "the failing app got traffic");
  const status = lines(await dn(sickDir, "status"));
  assertEquals(status[3], "Health: /status/500");
});

Deno.test("per-app body limit and timeout from App.config", opts, async () => {
  const dir = await app("small", "APP_BODY_LIMIT 1k\nAPP_TIMEOUT 1s\n");
  await dn(dir, "run");
  await net.waitForRunning("small", 3);
  await net.waitForApp("small.dn.test", (res) => res.status === 200);
  const status = lines(await dn(dir, "status"));
  assertEquals(status.slice(3, 5), ["Timeout: 1s", "Body limit: 1k"]);

  const post = (size: number) =>
    net.gateway("small.dn.test", "/echo", { method: "POST", body: new Uint8Array(size) });
  const big = await post(2048);
  assertEquals(big.status, 413);
  await big.body?.cancel();
  const small = await post(500);
  assertEquals(small.status, 200);
  assertEquals((await small.json()).bodyLength, 500);
  const exact = await post(1024);
  assertEquals(exact.status, 200);
  await exact.body?.cancel();
  // Other apps keep the gateway's default limit.
  const other = await net.gateway(HOSTNAME, "/echo", {
    method: "POST",
    body: new Uint8Array(64 * 1024),
  });
  assertEquals(other.status, 200);
  await other.body?.cancel();

  const started = performance.now();
  const slow = await net.gateway("small.dn.test", "/sleep/3000");
  const ms = performance.now() - started;
  assertEquals(slow.status, 504);
  await slow.body?.cancel();
  assert(ms < 2500, `504 after ${Math.round(ms)} ms`);
  const quick = await net.gateway("small.dn.test", "/sleep/100");
  assertEquals(quick.status, 200);
  assertMatch(await quick.text(), /slept/);

  // Settings follow App.config on update: a removed key goes back to the default.
  await Deno.writeTextFile(
    `${dir}/App.config`,
    "APP_NAME small\nAPP_HOSTNAME small.dn.test\nAPP_PORT 8000\n",
  );
  await dn(dir, "update");
  const app2 = (await net.api("GET", "/v1/apps/small")).body.app;
  assertEquals([app2.bodyLimit, app2.timeoutMs], [0, 0]);
  let res = await post(2048);
  const deadline = Date.now() + 10_000;
  while (res.status !== 200 && Date.now() < deadline) {
    await res.body?.cancel();
    await sleep(200);
    res = await post(2048);
  }
  assertEquals(res.status, 200);
  await res.body?.cancel();
});
