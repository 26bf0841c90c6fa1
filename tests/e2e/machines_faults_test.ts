/**
 * Faults of a network spread over three machines (network namespaces made by
 * `scripts/machines`, each with its own dockerd and host), under load: a
 * machine loses power, a machine is cut off and healed, a machine cannot
 * reach the registry during an update.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { byStatus, Load, type Outcome, sleep } from "../helpers/load.ts";
import { Machines } from "../helpers/machines.ts";
import { infraConfig, ROOT, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { DockerClient } from "../../lib/docker/mod.ts";

const machines = new Machines();
const suffix = crypto.randomUUID().slice(0, 6);
const READ = `mread-${suffix}`; // GETs
const WRITE = `mwrite-${suffix}`; // POSTs
const REP = `mrep-${suffix}`; // APP_REPLICAS 2
const host = (app: string) => `${app}.dn.test`;
let net: TestNetwork;
let appDir: string;

Deno.test.beforeAll(async () => {
  appDir = await Deno.makeTempDir({ prefix: "dn-machines-" });
  await Deno.copyFile(`${ROOT}/apps/hello-world/Dockerfile`, `${appDir}/Dockerfile`);
  // Each POST /health/toggle the app runs leaves a log line (ranPosts).
  const main = await Deno.readTextFile(`${ROOT}/apps/hello-world/main.ts`);
  const logged = main.replace(
    "healthy = !healthy;",
    'healthy = !healthy;\n    console.log(JSON.stringify({ msg: "toggled" }));',
  );
  assert(logged !== main, "hello-world's /health/toggle changed");
  await Deno.writeTextFile(`${appDir}/main.ts`, logged);
  const names = await machines.up(3);
  net = await startNetwork(names, {
    hostPlace: (name) => machines.place(name),
  });
  await net.deploy(appDir, READ, host(READ));
  await net.deploy(appDir, WRITE, host(WRITE));
  await net.deploy(appDir, REP, host(REP), 8000, { replicas: 2 });
});

/** Waits until `check` holds (polled every 250 ms, at most `ms`); returns how long it took. */
async function until(check: () => Promise<boolean>, ms: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return Math.round(performance.now() - started);
    await sleep(250);
  }
  return null;
}

/** Hosts running a container of `app`, from control's status. */
async function runningOn(app: string): Promise<string[]> {
  const status = await net.api("GET", `/v1/apps/${app}/status`);
  return (status.body?.hosts ?? []).filter((h: { containers: { state: string }[] }) =>
    h.containers.some((c) => c.state === "running")
  ).map((h: { host: string }) => h.host);
}
Deno.test.afterAll(async () => {
  await net?.stop();
  await machines.down();
  await Deno.remove(appDir, { recursive: true }).catch(() => {});
});

/**
 * POSTs `app`'s containers on machine `name` ran: lines they logged for
 * `/health/toggle` (requests on container routes pass no host to count them).
 */
async function ranPosts(name: string, app: string): Promise<number> {
  const docker = new DockerClient({ socketPath: machines.dockerSocket(name) });
  let total = 0;
  for (const c of await docker.listContainers({ "network.dn.app": app }, true)) {
    const out = await new Deno.Command("docker", {
      args: ["-H", `unix://${machines.dockerSocket(name)}`, "logs", c.id],
    }).output();
    total += new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => l.includes('"msg":"toggled"')).length;
  }
  return total;
}

/** Pushes `version` of the app and updates it through control. */
async function update(app: string, version: number): Promise<void> {
  // Another image per version: one the machine already has by digest needs no registry.
  await Deno.writeTextFile(`${appDir}/main.ts`, `// ${app} v${version}\n`, { append: true });
  const digest = await net.buildAndPush(appDir, app, version);
  const res = await net.api("POST", `/v1/apps/${app}/update`, { version, digest });
  assertEquals(res.status, 200, JSON.stringify(res.body));
}

function slowest(outcomes: Outcome[], after: number): number {
  // A loop, not Math.max(...): a run has more outcomes than a call may take arguments.
  let worst = 0;
  for (const o of outcomes) if (o.at + o.ms >= after && o.ms > worst) worst = o.ms;
  return Math.round(worst);
}

reliabilityTest("machine loss under load", {
  fault: "every process of one of three machines (dockerd, containerd, shims, containers, host) " +
    "SIGKILLed at once and its link taken down, while 8 clients send GETs and 4 send POSTs",
  expected: "0 failed GETs; POSTs answer 200 or 502 (one in flight on the dead machine), none " +
    "run twice; the gateway stops trying the machine within 1 s",
}, async (note) => {
  const victim = net.hostNames[2];
  const before = new Map<string, number>();
  for (const name of net.hostNames) before.set(name, await ranPosts(name, WRITE));
  const gets = new Load(net, host(READ), "/", 8);
  const posts = new Load(net, host(WRITE), "/health/toggle", 4, 100_000, "POST");
  await sleep(1500);
  const killedAt = performance.now() - gets.started;
  await machines.kill(victim);
  await sleep(4000);
  const getOutcomes = await gets.stop();
  const postOutcomes = await posts.stop();
  const failed = getOutcomes.filter((o) => o.status !== 200);
  const lastOnVictim = Math.max(
    0,
    ...postOutcomes.filter((o) => o.status === 200 && o.body.startsWith(victim)).map((o) =>
      o.at + o.ms - killedAt
    ),
  );
  const silentLine = (await Deno.readTextFile(net.services.get("gateway")!.logFile))
    .split("\n").find((l) => l.includes('"host silent"') && l.includes(machines.address(victim)));
  note(
    `GETs ${JSON.stringify(byStatus(getOutcomes))}, POSTs ${
      JSON.stringify(byStatus(postOutcomes))
    }; ` +
      `slowest GET after the kill ${slowest(getOutcomes, killedAt)} ms, slowest POST ` +
      `${slowest(postOutcomes, killedAt)} ms; gateway: ${silentLine ? "host silent" : "no log"}`,
  );
  assertEquals(failed, [], "failed GETs");
  for (const o of postOutcomes) assert(o.status === 200 || o.status === 502, `POST ${o.status}`);
  assert(lastOnVictim <= 1000, `the victim answered ${lastOnVictim} ms after the kill`);
  assert(silentLine, "the gateway did not log the machine silent");
  assert(slowest(getOutcomes, killedAt) <= 1500, "a GET after the kill took over 1.5 s");
  // Survivors ran each POST once: as many as they answered 200 for.
  for (const name of net.hostNames.slice(0, 2)) {
    const ran = (await ranPosts(name, WRITE)) - before.get(name)!;
    const answered = postOutcomes.filter((o) => o.status === 200 && o.body.startsWith(name)).length;
    assertEquals(ran, answered, `${name} ran ${ran} POSTs, answered ${answered}`);
  }
  // The machine comes back (engine restarts its containers) for the next tests.
  await machines.up(3);
  await net.services.get(victim)!.stop();
  await net.startHost(victim);
  await net.waitForRunning(READ, 3);
  await net.waitForRunning(WRITE, 3);
});

reliabilityTest("partition of one machine", {
  fault: "one of three machines cut off (iptables DROP in its namespace) for 20 s or until " +
    "control re-placed its APP_REPLICAS 2 app, under GET load; during the cut one app is " +
    "updated to v2 and another stopped",
  expected: "0 failed GETs; the replicated app is placed on the third machine meanwhile and its " +
    "extra copy goes after the heal; the healed machine runs v2 of the first app and nothing of " +
    "the second, and no answer comes from the old version once the others run v2",
}, async (note) => {
  // Placed now (the machine loss above may have moved it).
  const victim: string = (await net.api("GET", `/v1/apps/${REP}`)).body.app.placement[0];
  const load = new Load(net, host(READ), "/version", 8);
  await sleep(1000);
  const cutAt = performance.now() - load.started;
  await machines.cut(victim);
  let updatedAt = 0;
  let healedAt = 0;
  let replacedMs: number | null = null;
  try {
    await sleep(2000);
    await update(READ, 2);
    assertEquals((await net.api("POST", `/v1/apps/${WRITE}/stop`)).status, 200);
    await net.waitForApp(host(READ), (_res, body) => body.trim() === "2", 30_000, "/version");
    updatedAt = performance.now() - load.started;
    replacedMs = await until(async () => {
      const placement: string[] = (await net.api("GET", `/v1/apps/${REP}`)).body.app.placement;
      const running = await runningOn(REP);
      return placement.length === 2 && !placement.includes(victim) &&
        placement.every((h) => running.includes(h));
    }, 45_000);
    await sleep(Math.max(0, cutAt + 20_000 - (performance.now() - load.started)));
  } finally {
    healedAt = performance.now() - load.started;
    await machines.heal(victim);
  }
  await net.waitForRunning(READ, 3, 60_000);
  await sleep(3000);
  const outcomes = await load.stop();
  const stale = outcomes.filter((o) => o.at > updatedAt + 1000 && o.body.trim() === "1");
  const failed = outcomes.filter((o) => o.status !== 200);
  // The stop and the re-placement reach the healed machine too (SIGTERM, up to 10 s each).
  const stoppedMs = await until(async () => (await runningOn(WRITE)).length === 0, 20_000);
  const extraGoneMs = await until(async () => !(await runningOn(REP)).includes(victim), 20_000);
  const goneAt = Math.round(performance.now() - load.started - healedAt);
  note(
    `${outcomes.length} GETs ${JSON.stringify(byStatus(outcomes))}, slowest after the cut ` +
      `${slowest(outcomes, cutAt)} ms; ${stale.length} v1 answers after the update; ` +
      `${REP} re-placed ${replacedMs === null ? "never" : `${Math.round(replacedMs / 1000)} s`} ` +
      `after the update; healed after ${Math.round((healedAt - cutAt) / 1000)} s; stopped app ` +
      `gone: ${stoppedMs === null ? "never" : "yes"}; extra copy on ${victim} ` +
      `${extraGoneMs === null ? "still there" : `gone ${goneAt} ms after the heal`}`,
  );
  assertEquals(failed, [], "failed GETs");
  assertEquals(stale, [], "answers from v1 after the update");
  assert(stoppedMs !== null, "the stopped app still runs somewhere");
  assert(replacedMs !== null, `${REP} was not re-placed off ${victim} during the cut`);
  assert(extraGoneMs !== null, `${REP}'s extra copy stayed on ${victim}`);
});

reliabilityTest("registry unreachable from one machine during an update", {
  fault: "one machine's packets to the edge's registry port dropped while the app is updated " +
    "to v3, for 15 s",
  expected: "0 failed GETs; that machine keeps serving v2 and `dn status` names it behind; " +
    "once it reaches the registry it runs v3",
}, async (note) => {
  const victim = net.hostNames[0];
  const port = infraConfig("test-host").registry.split(":")[1];
  const rule = ["-d", machines.edge, "-p", "tcp", "--dport", port, "-j", "DROP"];
  const block = await machines.exec(victim, ["iptables", "-I", "OUTPUT", ...rule]);
  assertEquals(block.code, 0, block.stderr);
  const load = new Load(net, host(READ), "/version", 8);
  let status = "";
  try {
    await update(READ, 3);
    await net.waitForRunning(READ, 2);
    await sleep(5000);
    status = (await net.cli(["status", "--app", READ])).stdout;
  } finally {
    await machines.exec(victim, ["iptables", "-D", "OUTPUT", ...rule]);
  }
  const unblocked = performance.now();
  await net.waitForRunning(READ, 3, 60_000);
  const caughtUp = Math.round(performance.now() - unblocked);
  const outcomes = await load.stop();
  const versions = byStatus(outcomes.map((o) => ({ ...o, status: Number(o.body.trim()) })));
  note(
    `GETs ${JSON.stringify(byStatus(outcomes))}, versions answered ${JSON.stringify(versions)}; ` +
      `status said "${
        status.split("\n").find((l) => l.startsWith("Behind")) ?? "no Behind line"
      }"; ` +
      `caught up ${caughtUp} ms after the registry was reachable again`,
  );
  assertEquals(outcomes.filter((o) => o.status !== 200), [], "failed GETs");
  assert(status.includes(`Behind: ${victim} (v2)`), status);
});
