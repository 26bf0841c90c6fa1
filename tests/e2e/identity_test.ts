/**
 * What answers is what was deployed: updates to versions that crash (at once,
 * or after 5 s) while other apps on the same hosts crash-loop and churn
 * bridge addresses never get traffic, and `dn update` fails naming why; a
 * dead host's container of an older version stops answering once the current
 * version serves elsewhere; a host that was down while an app was removed and
 * created again with new code does not serve its old container. Every answer
 * is traced to the code that gave it.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { byStatus, Load, type Outcome, sleep } from "../helpers/load.ts";
import { startNetwork, type TestNetwork } from "../helpers/network.ts";
import { answers, appStatus, originApp, settled, writeOriginApp } from "../helpers/origin_app.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const TARGET = { name: "ident-target", hostname: "target.ident.test" };
const PHOENIX = { name: "ident-phoenix", hostname: "phoenix.ident.test" };
const DECOYS = ["ident-decoy-a", "ident-decoy-b"];
let net: TestNetwork;
let targetDir: string;
const dirs: string[] = [];

async function app(over: Parameters<typeof originApp>[0]): Promise<string> {
  const dir = await originApp(over);
  dirs.push(dir);
  return dir;
}

/** Outcomes not answered 200 by code whose origin starts with `origin`. */
function strangers(outcomes: Outcome[], origin: string): Outcome[] {
  return outcomes.filter((o) => o.status !== 200 || !o.body.startsWith(`${origin} `));
}

Deno.test.beforeAll(async () => {
  net = await startNetwork();
  targetDir = await app({ ...TARGET, origin: "target-v1" });
  const run = await net.cli(["run"], targetDir);
  assertEquals(run.code, 0, run.stderr);
  await net.waitForRunning(TARGET.name, 3);
  await settled(net, TARGET.name, net.hostNames);
  // Apps that crash-loop beside it: their containers come and go, and Docker hands their
  // bridge addresses on to whichever container starts next.
  for (const name of DECOYS) {
    const dir = await app({
      name,
      hostname: `${name}.ident.test`,
      origin: "DECOY",
      mode: "crash-loop",
    });
    const digest = await net.buildAndPush(dir, name, 1);
    const created = await net.api("POST", "/v1/apps", {
      name,
      hostname: `${name}.ident.test`,
      port: 8000,
      digest,
    });
    assertEquals(created.status, 201, JSON.stringify(created.body));
    assertEquals((await net.api("POST", `/v1/apps/${name}/start`)).status, 200);
  }
  await net.waitForApp(TARGET.hostname, (res, body) => res.status === 200 && body.length > 0);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
});

for (
  const [mode, version, reason] of [
    [
      "exit",
      2,
      /exited with code 3|restarted while starting \((it exited with code 3|it crashed)\)/,
    ],
    [
      "crash-5s",
      3,
      /exited with code 4|restarted while starting \((it exited with code 4|it crashed)\)/,
    ],
  ] as const
) {
  reliabilityTest(
    `an update to a version that ${mode === "exit" ? "exits at once" : "crashes after 5 s"}`,
    {
      fault: `dn update to a v${version} that ${
        mode === "exit" ? "exits (code 3) at once" : "serves, then exits (code 4) after 5 s"
      }, on three hosts where two other apps crash-loop (exit after 400 ms, restart), under GETs`,
      expected: "dn update exits 1 naming the exit code and rolls back; v1 keeps serving: every " +
        "GET is 200 from target-v1 (none from a decoy or the new version); control says v1",
    },
    async (note) => {
      const dir = await app({ ...TARGET, origin: `target-v${version}-broken`, mode });
      const load = new Load(net, TARGET.hostname, "/", 2);
      await sleep(500);
      const result = await net.cli(["update"], dir);
      await sleep(1000);
      const outcomes = await load.stop();
      assertEquals(result.code, 1, result.stdout);
      assertMatch(result.stderr, reason);
      assertMatch(result.stderr, /rolled back to v1/);
      const wrong = strangers(outcomes, "target-v1");
      note(
        `dn update exit 1: "${result.stderr.trim().slice(0, 140)}"; ${outcomes.length} GETs, ` +
          `${wrong.length} not from target-v1 (${JSON.stringify(byStatus(outcomes))})`,
      );
      assertEquals(wrong.slice(0, 5), []);
      assertEquals((await appStatus(net, TARGET.name)).app.version, 1);
      await settled(net, TARGET.name, net.hostNames);
    },
  );
}

reliabilityTest("a dead host's old version and an old incarnation never answer", {
  fault: "SIGKILL a host (its containers keep running, its routes stay up to 15 s); meanwhile " +
    "update the target app to v4, and remove another app and create it again (same name, so " +
    "the same container name v1) with new code; then restart the host",
  expected: "once live hosts serve v4, every GET is answered by v4 (none by the dead host's v1); " +
    "every GET of the re-created app is its new code, before and after the host returns; the " +
    "returning host runs exactly the accepted digests",
}, async (note) => {
  const phoenixOld = await app({ ...PHOENIX, origin: "phoenix-old" });
  assertEquals((await net.cli(["run"], phoenixOld)).code, 0);
  await settled(net, PHOENIX.name, net.hostNames);
  const [victim, ...live] = net.hostNames;
  await net.services.get(victim)!.stop("SIGKILL");

  await writeOriginApp(targetDir, { ...TARGET, origin: "target-v4" });
  const update = await net.cli(["update"], targetDir);
  assertEquals(update.code, 0, update.stderr);
  const afterUpdate = await answers(net, TARGET.hostname, 30);
  const stale = afterUpdate.filter((a) => !a.startsWith("200 target-v4 "));

  assertEquals((await net.cli(["remove", "--app", PHOENIX.name])).code, 0);
  const phoenixNew = await app({ ...PHOENIX, origin: "phoenix-new" });
  const rerun = await net.cli(["run"], phoenixNew);
  assertEquals(rerun.code, 0, rerun.stderr);
  await settled(net, PHOENIX.name, live);
  const reborn = await answers(net, PHOENIX.hostname, 30);
  const old = reborn.filter((a) => !a.startsWith("200 phoenix-new "));

  await net.startHost(victim);
  await settled(net, TARGET.name, net.hostNames);
  await settled(net, PHOENIX.name, net.hostNames);
  const back = [
    ...await answers(net, TARGET.hostname, 30),
    ...await answers(net, PHOENIX.hostname, 30),
  ];
  const wrongBack = back.filter((a) =>
    !a.startsWith("200 target-v4 ") && !a.startsWith("200 phoenix-new ")
  );
  const { app: phoenix } = await appStatus(net, PHOENIX.name);
  const mine = await net.docker.listContainers({
    "network.dn.host": victim,
    "network.dn.app": PHOENIX.name,
  });
  note(
    `with ${victim} dead: ${stale.length}/30 target GETs not v4, ${old.length}/30 phoenix GETs ` +
      `old code; after it returned: ${wrongBack.length}/60 wrong; its phoenix containers: ` +
      `${mine.length}`,
  );
  assertEquals(stale, []);
  assertEquals(old, []);
  assertEquals(wrongBack, []);
  assertEquals(mine.length, 1);
  assertEquals(mine[0].labels["network.dn.incarnation"], phoenix.createdAt);
  assertEquals(mine[0].labels["network.dn.digest"], phoenix.digest);
  assert(mine[0].image.endsWith(`@${phoenix.digest}`), `runs by digest: ${mine[0].image}`);
});
