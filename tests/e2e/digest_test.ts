/**
 * Hosts run the digest control accepted, nothing else: concurrent `dn update`
 * of one app and concurrent `dn run` of one name end with every host running
 * exactly the winner's digest, also after `dn env set`, a host restart and a
 * container crash; a tag overwritten behind dn's back changes nothing that
 * runs; a rollback runs the old version's recorded digest.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import { type CliResult, startNetwork, type TestNetwork } from "../helpers/network.ts";
import { answers, appStatus, originApp, settled } from "../helpers/origin_app.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

const APP = { name: "dg-app", hostname: "app.digest.test" };
const RUN = { name: "dg-run", hostname: "run.digest.test" };
let net: TestNetwork;
const dirs: string[] = [];
let v1Digest = "";

async function app(over: Parameters<typeof originApp>[0]): Promise<string> {
  const dir = await originApp(over);
  dirs.push(dir);
  return dir;
}

/** The digest a CLI run printed for its push, and the tag it pushed. */
function pushed(result: CliResult): { digest: string; tag: string } {
  const line = /^(v\d+-[0-9a-f]{12}): digest: (sha256:[0-9a-f]{64})/m.exec(result.stdout);
  assert(line !== null, `no digest line in:\n${result.stdout}`);
  return { tag: line[1], digest: line[2] };
}

/** Asserts 30 GETs are all answered by `origin`; returns how many were. */
async function allFrom(hostname: string, origin: string, when: string): Promise<number> {
  const got = await answers(net, hostname, 30);
  assertEquals(got.filter((a) => !a.startsWith(`200 ${origin} `)), [], when);
  return got.length;
}

Deno.test.beforeAll(async () => {
  net = await startNetwork();
  const dir = await app({ ...APP, origin: "first" });
  const run = await net.cli(["run"], dir);
  assertEquals(run.code, 0, run.stderr);
  v1Digest = pushed(run).digest;
  await settled(net, APP.name, net.hostNames);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
});

let winner = { origin: "", digest: "", tag: "" };

reliabilityTest("concurrent dn update of one app", {
  fault: "two dn update of one app with different code at the same moment; then dn env set, " +
    "a host restart and a crash of one container",
  expected: "control ends on one of them (the other refused, or superseded: exit 1); every host " +
    "runs exactly the accepted digest and every GET is answered by its code, after each of " +
    "the recreations too",
}, async (note) => {
  const blue = await app({ ...APP, origin: "blue" });
  const green = await app({ ...APP, origin: "green" });
  const [b, g] = await Promise.all([net.cli(["update"], blue), net.cli(["update"], green)]);
  const codes = [b.code, g.code].sort();
  assertEquals(codes, [0, 1], `${b.stderr}\n${g.stderr}`);
  const [won, lost] = b.code === 0 ? [b, g] : [g, b];
  // Either control refused the later one (both built v2: it names the version, or, when both
  // reached the store at once, the compare-and-set refused it), or it took both in turn (the
  // later one built v3) and the first one's wait saw the app move on: one exit 1 either way.
  assert(
    /update must be to v3|changed by someone else|rolled back/.test(lost.stderr),
    `${won.stderr}\n${lost.stderr}`,
  );
  winner = { origin: b.code === 0 ? "blue" : "green", ...pushed(won) };
  const accepted = await settled(net, APP.name, net.hostNames);
  assertEquals(accepted, winner.digest);
  let checked = await allFrom(APP.hostname, winner.origin, "after the update");

  await envSet("COLOUR=x");
  checked += await allFrom(APP.hostname, winner.origin, "after dn env set");

  const restarted = net.hostNames[1];
  await net.services.get(restarted)!.stop("SIGTERM");
  await net.startHost(restarted);
  assertEquals(await settled(net, APP.name, net.hostNames), winner.digest);
  checked += await allFrom(APP.hostname, winner.origin, "after a host restart");

  const crash = await net.gateway(APP.hostname, "/crash", { method: "POST" });
  assertEquals(crash.status, 200);
  await sleep(1000);
  assertEquals(await settled(net, APP.name, net.hostNames), winner.digest);
  checked += await allFrom(APP.hostname, winner.origin, "after a container crash");
  note(
    `${winner.origin} won (${winner.digest.slice(7, 19)}), the other got "${
      lost.stderr.trim().slice(0, 60)
    }"; ${checked} GETs after update, env set, host restart, crash: all from the winner`,
  );
});

reliabilityTest("a tag overwritten behind dn's back", {
  fault: "push other code over the accepted version's tags (its unique tag and v<N>), drop the " +
    "engine's copy of every image of the app, then make every host recreate its container " +
    "(dn env set)",
  expected: "hosts pull the accepted digest again, not the tag: every GET is still the " +
    "accepted code and every host runs the accepted digest",
}, async (note) => {
  const evil = await app({ ...APP, origin: "EVIL" });
  let evilDigest = "";
  const plain = winner.tag.replace(/-.*$/, "");
  for (const tag of [winner.tag, plain]) {
    evilDigest = await net.buildAndPush(evil, APP.name, 2, tag);
  }
  assert(evilDigest !== winner.digest);
  // Make the engine fetch the image again (every local name of it gone): what it fetches is
  // what hosts run.
  const repo = `${net.registry}/${APP.name}`;
  const local = await net.docker.inspectImage(`${repo}@${winner.digest}`);
  for (const ref of [...local?.repoTags ?? [], ...local?.repoDigests ?? []]) {
    await net.docker.removeImage(ref, { force: true }).catch(() => false);
  }
  assertEquals(await net.docker.inspectImage(`${repo}@${winner.digest}`), null);
  await envSet("COLOUR=y");
  const n = await allFrom(APP.hostname, winner.origin, "after the tags were overwritten");
  note(
    `tags ${winner.tag} and ${plain} now hold EVIL; ${n} GETs after recreation: all ${winner.origin}`,
  );
});

reliabilityTest("rollback runs the old version's digest", {
  fault: "dn rollback from the accepted version to v1",
  expected: "every host runs v1's recorded digest and every GET is v1's code",
}, async (note) => {
  const back = await net.cli(["rollback", "--app", APP.name, "v1"]);
  assertEquals(back.code, 0, back.stderr);
  assertEquals(await settled(net, APP.name, net.hostNames), v1Digest);
  const n = await allFrom(APP.hostname, "first", "after the rollback");
  note(`rolled back to ${v1Digest.slice(7, 19)}; ${n} GETs all from v1`);
});

reliabilityTest("concurrent dn run of one name", {
  fault: "two dn run of one new app name with different code at the same moment",
  expected: "one creates the app, the other fails (already exists, exit 1); every host runs " +
    "the winner's digest and every GET is its code",
}, async (note) => {
  const red = await app({ ...RUN, origin: "red" });
  const yellow = await app({ ...RUN, origin: "yellow" });
  const [r, y] = await Promise.all([net.cli(["run"], red), net.cli(["run"], yellow)]);
  assertEquals([r.code, y.code].sort(), [0, 1], `${r.stderr}\n${y.stderr}`);
  const [won, lost] = r.code === 0 ? [r, y] : [y, r];
  assertMatch(lost.stderr, /already exists/);
  const origin = r.code === 0 ? "red" : "yellow";
  assertEquals(await settled(net, RUN.name, net.hostNames), pushed(won).digest);
  const n = await allFrom(RUN.hostname, origin, "after concurrent runs");
  note(`${origin} won; the other: "${lost.stderr.trim().slice(0, 60)}"; ${n} GETs all ${origin}`);
});

/** `dn env set` for the app, then waits until every host serves a new container of the winner. */
async function envSet(assignment: string): Promise<void> {
  const ids = (s: Awaited<ReturnType<typeof appStatus>>) =>
    s.hosts.flatMap((h) => h.containers.map((c) => c.id));
  const before = new Set(ids(await appStatus(net, APP.name)));
  assertEquals((await net.cli(["env", "set", "--app", APP.name, assignment])).code, 0);
  const deadline = Date.now() + 60_000;
  while (ids(await appStatus(net, APP.name)).some((id) => before.has(id))) {
    if (Date.now() > deadline) throw new Error("containers never recreated after dn env set");
    await sleep(500);
  }
  assertEquals(await settled(net, APP.name, net.hostNames), winner.digest);
}
