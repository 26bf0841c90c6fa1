/**
 * Resources of app containers through the real stack: `APP_MEMORY` and
 * `APP_CPUS` from App.config reach the engine, every container runs with a
 * pids limit, no capabilities and no-new-privileges, and a memory bomb and a
 * fork bomb in one app leave the other app and the hosts serving while the
 * bombing app is stopped alone (OOM killed, or refused more processes) and
 * `dn status` says so.
 *
 * Both apps are tests/fixtures/probe. The bombs are bounded: the bombing app
 * has 128 MiB and half a CPU, and the fork bomb stops itself after 2000
 * processes or 20 s.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { appCopy } from "../helpers/apps.ts";
import {
  type CliResult,
  startNetwork,
  testHostNames,
  type TestNetwork,
} from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { APP_PIDS_LIMIT } from "../../lib/apps.ts";

const CALM = "calm";
const BOMB = "bomb";
const opts = { sanitizeOps: false, sanitizeResources: false };

let net: TestNetwork;
let root: string;
let bombDir: string;

/** A probe app named `name` with `extra` App.config lines; returns its directory. */
function probe(name: string, extra = ""): Promise<string> {
  return appCopy("tests/fixtures/probe", root, name, extra);
}

async function dn(dir: string, ...args: string[]): Promise<CliResult> {
  const r = await net.cli(args, dir);
  assertEquals(r.code, 0, `dn ${args.join(" ")}: ${r.stderr}${r.stdout.slice(-500)}`);
  return r;
}

/** `docker inspect` of every container of `app` in this network. */
// deno-lint-ignore no-explicit-any
async function inspect(app: string): Promise<any[]> {
  const ids: string[] = [];
  for (const host of net.hostNames) {
    const found = await net.docker.listContainers({
      "network.dn.host": host,
      "network.dn.app": app,
    });
    ids.push(...found.map((c) => c.id));
  }
  const out = await new Deno.Command("docker", { args: ["inspect", ...ids] }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Every host's `/healthz` status. */
async function hostHealth(): Promise<number[]> {
  return await Promise.all(net.hostNames.map(async (host) => {
    const res = await fetch(`${await net.healthUrl(host)}/healthz`);
    await res.body?.cancel();
    return res.status;
  }));
}

/**
 * POSTs `path` to the bombing app until `took()` (at most 3 times, 10 s
 * apart): the gateway does not retry a POST on a kept-alive connection the
 * app had closed, so one may never reach it. Returns the last answer.
 */
async function bomb(
  path: string,
  took: (status: number) => Promise<boolean>,
): Promise<[number, string]> {
  let answer: [number, string] = [0, ""];
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await net.gateway(`${BOMB}.dn.test`, path, { method: "POST" });
    answer = [res.status, await res.text()];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await took(res.status)) return answer;
      await sleep(250);
    }
  }
  return answer;
}

/** Polls `dn status` of the bombing app until a line matches `pattern`; returns the output. */
async function statusUntil(pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = (await dn(bombDir, "status")).stdout;
    if (pattern.test(last)) return last;
    await sleep(250);
  }
  throw new Error(`dn status never matched ${pattern}:\n${last}`);
}

Deno.test.beforeAll(async () => {
  root = await Deno.makeTempDir({ prefix: "dn-resources-" });
  net = await startNetwork(testHostNames(2));
  await net.deploy(await probe(CALM), CALM, `${CALM}.dn.test`);
  bombDir = await probe(BOMB, "APP_MEMORY 128m\nAPP_CPUS 0.5\n");
  await dn(bombDir, "run");
  await net.waitForRunning(BOMB, 2);
  await net.waitForApp(`${BOMB}.dn.test`, (res) => res.status === 200);
});

Deno.test.afterAll(async () => {
  await net?.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
});

Deno.test(
  "App.config limits reach the engine; every app runs capped and unprivileged",
  opts,
  async () => {
    const status = (await dn(bombDir, "status")).stdout.split("\n");
    assert(status.includes("Memory: 128m"), status.join("\n"));
    assert(status.includes("CPUs: 0.5"), status.join("\n"));

    for (const [app, memory, nanoCpus] of [[BOMB, 128, 5e8], [CALM, 512, 1e9]] as const) {
      const containers = await inspect(app);
      assertEquals(containers.length, 2, app);
      for (const c of containers) {
        const h = c.HostConfig;
        assertEquals(
          [h.Memory, h.MemorySwap, h.NanoCpus, h.PidsLimit, h.CapDrop, h.SecurityOpt],
          [
            memory * 1024 * 1024,
            memory * 1024 * 1024,
            nanoCpus,
            APP_PIDS_LIMIT,
            ["ALL"],
            ["no-new-privileges:true"],
          ],
          app,
        );
      }
    }
    // From inside: no effective or bounding capabilities, and no way to gain any.
    const res = await net.gateway(`${CALM}.dn.test`, "/self");
    assertEquals(await res.json(), {
      capEff: "0000000000000000",
      capBnd: "0000000000000000",
      noNewPrivs: "1",
    });
  },
);

reliabilityTest("busy loop in one app", {
  fault: "one app spins on the CPU for 3 s (APP_CPUS 0.5) while GETs flow to another app",
  expected: "0 failed GETs to the other app; the busy app uses at most its quota of CPU time",
}, async (note) => {
  /** CPU time the bombing app's containers used so far, in ns. */
  const used = async () => {
    let ns = 0;
    for (const c of await inspect(BOMB)) {
      const { body } = await net.docker.call("GET", `/containers/${c.Id}/stats?stream=false`);
      // deno-lint-ignore no-explicit-any
      ns += (body as any).cpu_stats?.cpu_usage?.total_usage ?? 0;
    }
    return ns;
  };
  const before = await used();
  const started = performance.now();
  const load = new Load(net, `${CALM}.dn.test`, "/", 4, 20_000);
  const [code, text] = await bomb("/bomb/cpu", (status) => Promise.resolve(status === 200));
  const outcomes = await load.stop();
  const wallMs = performance.now() - started;
  assertEquals(code, 200, text);
  assertEquals(load.failures.length, 0, JSON.stringify(byStatus(outcomes)));
  const cpuMs = ((await used()) - before) / 1e6;
  // Half a CPU over the whole time, plus a scheduling period of slack.
  assert(cpuMs <= 0.5 * wallMs + 100, `used ${cpuMs} ms of CPU in ${wallMs} ms`);
  note(
    `${Math.round(cpuMs)} ms of CPU in ${Math.round(wallMs)} ms (quota 0.5 CPU); ` +
      `${outcomes.length} GETs to the other app, 0 failed`,
  );
});

reliabilityTest("memory bomb in one app", {
  fault: "one app allocates without bound (APP_MEMORY 128m) while GETs flow to another app",
  expected: "0 failed GETs to the other app, hosts healthy, the bomb OOM killed alone " +
    "and restarted, dn status says OOM killed",
}, async (note) => {
  const load = new Load(net, `${CALM}.dn.test`, "/", 4, 20_000);
  const started = performance.now();
  const oomKilled = async () => (await inspect(BOMB)).some((c) => c.State.OOMKilled);
  const [code] = await bomb("/bomb/memory", oomKilled);
  assert(code >= 500, `the bomb answered ${code}`);
  const status = await statusUntil(/OOM killed/, 30_000);
  const seen = Math.round(performance.now() - started);
  assertEquals(await hostHealth(), [200, 200]);
  const outcomes = await load.stop();
  assertEquals(load.failures.length, 0, JSON.stringify(byStatus(outcomes)));
  const oom = (await inspect(BOMB)).filter((c) => c.State.OOMKilled);
  assert(oom.length >= 1, "no bomb container was OOM killed");
  const calm = await inspect(CALM);
  assertEquals(calm.map((c) => [c.State.OOMKilled, c.RestartCount]), [[false, 0], [false, 0]]);
  await net.waitForApp(`${BOMB}.dn.test`, (res) => res.status === 200, 60_000);
  const line = status.split("\n").find((l) => l.includes("OOM killed"))!;
  note(
    `bomb answered ${code}; dn status "${
      line.trim().replace(/\s{2,}/g, " | ")
    }" after ${seen} ms; ` +
      `${outcomes.length} GETs to the other app, 0 failed; both hosts healthy; bomb serves again`,
  );
});

reliabilityTest("fork bomb in one app", {
  fault: "one app spawns processes without end (pids limit, APP_MEMORY 128m) while GETs " +
    "flow to another app",
  expected: "0 failed GETs to the other app, hosts healthy; the bomb is refused more " +
    "processes or OOM killed, alone",
}, async (note) => {
  const load = new Load(net, `${CALM}.dn.test`, "/", 4, 20_000);
  const since = new Date().toISOString();
  const ended = async () =>
    (await inspect(BOMB)).some((c) => c.State.OOMKilled && c.State.FinishedAt > since);
  const [code, text] = await bomb("/bomb/fork", async (status) => status === 200 || await ended());
  assertEquals(await hostHealth(), [200, 200]);
  const outcomes = await load.stop();
  assertEquals(load.failures.length, 0, JSON.stringify(byStatus(outcomes)));
  let how: string;
  if (code === 200) {
    const { spawned, killed, stopped } = JSON.parse(text);
    // Throttled: the kernel refused a process (pids limit, EAGAIN) or killed some for memory.
    assert(/os error 11|Resource temporarily unavailable/.test(stopped) || killed > 0, text);
    how = `spawned ${spawned} processes, ${killed} of them OOM killed; stopped: ${stopped}`;
  } else {
    assert(await ended(), `the bomb answered ${code} ${text} but was not OOM killed`);
    how = `OOM killed (answered ${code})`;
  }
  const calm = await inspect(CALM);
  assertEquals(calm.map((c) => c.RestartCount), [0, 0]);
  note(`bomb ${how}; ${outcomes.length} GETs to the other app, 0 failed; both hosts healthy`);
});
