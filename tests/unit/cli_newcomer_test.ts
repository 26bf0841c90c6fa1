/**
 * Newcomer friction (issue 15), each with a test: a mistyped command gets a
 * suggestion, a missing network config names where it was looked for, the
 * CLI finds the local network's config by itself, `dn status` does not cut
 * the STATUS column and shows each row's version and revision, its header
 * agrees with the rows, and `dn start` of an unknown app hints `dn create`.
 *
 * @module
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { closestName, editDistance } from "../../cli/suggest.ts";
import { findNetworkConfig, networkConfigCandidates } from "../../cli/network_config.ts";
import { formatLatency, renderStatus } from "../../cli/format/views.ts";
import { observedStatus } from "../../cli/format/readiness.ts";
import type { ContainerReport } from "../../lib/apps.ts";
import { NOW, TOKEN, World } from "./cli_fixtures/world.ts";

const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

function container(over: Partial<ContainerReport> = {}): ContainerReport {
  return {
    id: "c1",
    imageId: "sha256:6f0d8b9aefff",
    version: 1,
    digest: "",
    serving: true,
    state: "running",
    exitCode: 0,
    createdAt: ago(5_000),
    startedAt: ago(500),
    finishedAt: "",
    ...over,
  };
}

Deno.test("a mistyped command gets did you mean, without the whole usage (exit 2)", async () => {
  const r = await new World().run(["stauts"]);
  assertEquals(r, {
    code: 2,
    out: [],
    err: ['unknown command "stauts": did you mean "status"?', "See 'dn help' for every command."],
  });
  assertEquals(
    (await new World().run(["help", "lgos"])).err[0],
    'unknown command "lgos": did you mean "logs"?',
  );
  assertEquals(
    (await new World().run(["rmove"])).err[0],
    'unknown command "rmove": did you mean "remove"?',
  );
});

Deno.test("closestName suggests only near names", () => {
  const names = ["start", "status", "stop", "list", "logs", "run"];
  assertEquals(editDistance("stauts", "status"), 1);
  assertEquals(closestName("stauts", names), "status");
  assertEquals(closestName("STATUS", names), "status");
  assertEquals(closestName("deploy", names), undefined);
  assertEquals(closestName("x", names), undefined);
  assertEquals(closestName("ls", names), undefined);
});

Deno.test("without a network config the error names where it looked and how to get one", async () => {
  const world = new World();
  world.env.DN_TOKEN = undefined;
  const r = await world.run(["status"]);
  assertEquals(r.code, 1);
  assert(r.err[0].includes("$DN_CONFIG (not set)"), r.err[0]);
  assert(r.err[0].includes("/nonexistent-home/.config/dn/config.json"), r.err[0]);
  assert(r.err[0].includes("/nonexistent-state/config/cli.json"), r.err[0]);
  assert(r.err[0].includes("scripts/up writes one"), r.err[0]);
});

Deno.test("the CLI finds the network config in ~/.config/dn, then the state directory", async () => {
  const home = await Deno.makeTempDir();
  const state = await Deno.makeTempDir();
  try {
    const env = { HOME: home, DN_STATE_DIR: state };
    assertEquals(networkConfigCandidates(env), [
      `${home}/.config/dn/config.json`,
      `${state}/config/cli.json`,
    ]);
    await Deno.mkdir(`${state}/config`);
    await Deno.writeTextFile(`${state}/config/cli.json`, JSON.stringify({ token: TOKEN }));
    const world = new World();
    world.env = { ...env };
    world.addApp({ name: "blog", version: 2 });
    const r = await world.run(["list"], "/");
    assertEquals(r.code, 0, r.err.join("\n"));
    assertEquals(r.out[1].startsWith("blog (v2)"), true);

    await Deno.mkdir(`${home}/.config/dn`, { recursive: true });
    await Deno.writeTextFile(`${home}/.config/dn/config.json`, JSON.stringify({ token: "other" }));
    const exists = (p: string) => p === `${home}/.config/dn/config.json`;
    assertEquals(findNetworkConfig(undefined, env, exists).file, `${home}/.config/dn/config.json`);
    assertEquals(
      findNetworkConfig(undefined, { ...env, DN_CONFIG: "/x.json" }, exists).file,
      "/x.json",
    );
    assertEquals(findNetworkConfig("/flag.json", env, exists).file, "/flag.json");
    world.env.DN_TOKEN = undefined;
    const refused = await world.run(["list"], "/");
    assertEquals(refused.code, 1, "~/.config/dn/config.json comes first");

    await Deno.writeTextFile(`${home}/.config/dn/config.json`, "{}");
    assertEquals((await world.run(["list"], "/")).err, [
      `no control token in ${home}/.config/dn/config.json: ` +
      "set token (or tokenFile) there, DN_TOKEN or --token",
    ]);
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("dn start of an app that does not exist hints dn create", async () => {
  const r = await new World().run(["start", "nope"]);
  assertEquals(r, {
    code: 1,
    out: [],
    err: ["nope not found: create it first with dn create (or dn run: build, create and start)"],
  });
});

Deno.test("dn status never cuts STATUS and shows each row's version and revision", () => {
  const lines = renderStatus({
    app: { name: "a", status: "running", version: 2 },
    hosts: [{
      host: "meridia",
      latencyMs: 0.42,
      containers: [
        container({ version: 2, revision: 3, id: "new", startedAt: ago(100) }),
        container({ version: 2, revision: 2, id: "old", startedAt: ago(60_000) }),
        container({
          version: 1,
          id: "gone",
          state: "exited",
          exitCode: 137,
          finishedAt: ago(2_000),
        }),
      ],
    }],
  }, NOW);
  assertEquals(lines.slice(4), [
    "HOST                  IMAGE      VERSION  CREATED               STATUS                      LATENCY",
    "meridia               6f0d8b9    v2 r3    a few seconds ago     up less than a second       0.4 ms",
    "meridia               6f0d8b9    v2 r2    a few seconds ago     up a minute                 0.4 ms",
    "meridia               6f0d8b9    v1       a few seconds ago     exited (137) 2 seconds ago  0.4 ms",
  ]);
});

Deno.test("latencies below a millisecond keep their decimals", () => {
  assertEquals(formatLatency(48.4), "48 ms");
  assertEquals(formatLatency(1.2), "1 ms");
  assertEquals(formatLatency(0.42), "0.4 ms");
  assertEquals(formatLatency(0.05), "0.05 ms");
});

Deno.test("the status line agrees with the rows right after stop and start", () => {
  const host = (c: ContainerReport) => [{ host: "m", latencyMs: 1, containers: [c] }];
  assertEquals(observedStatus({ status: "stopped", version: 1 }, host(container())), "stopping");
  const exited = container({ state: "exited", finishedAt: ago(1000) });
  assertEquals(observedStatus({ status: "stopped", version: 1 }, host(exited)), "stopped");
  assertEquals(observedStatus({ status: "running", version: 1 }, host(container())), "running");
  assertEquals(
    observedStatus({ status: "running", version: 2 }, host(container())),
    "starting",
  );
  assertEquals(
    observedStatus({ status: "running", version: 1 }, host(container({ state: "restarting" }))),
    "not serving (crash-looping)",
  );
  assertEquals(observedStatus({ status: "running", version: 1 }, []), "running");
});

Deno.test("dn remove deletes the app's images from the registry and the local engine", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 2, latestVersion: 3 });
  const d = (n: number) => `sha256:${String(n).repeat(64)}`;
  world.registryTags.set(
    "hello-world",
    new Map([["v1", d(1)], ["v2", d(2)], ["v3", d(3)], ["v3-extra", d(3)]]),
  );
  for (const v of [1, 3]) {
    world.engine.images.set(`127.0.0.1:5055/hello-world:v${v}`, { id: d(v), repoDigests: [] });
  }
  world.engine.images.set("127.0.0.1:5055/blog:v1", { id: d(9), repoDigests: [] });
  world.removing = { vaermina: 1 };
  const r = await world.run(["remove"]);
  assertEquals(r, {
    code: 0,
    out: ["hello-world removed"],
    err: ["dn: containers of hello-world are still being removed on vaermina (1)"],
  });
  assertEquals(world.registryDeletes, [1, 2, 3].map((n) => `hello-world@${d(n)}`));
  assertEquals([...world.engine.images.keys()], ["127.0.0.1:5055/blog:v1"]);
  world.addApp({ name: "blog" });
  world.removing = {};
  assertEquals(await world.run(["remove", "blog"]), { code: 0, out: ["blog removed"], err: [] });
  assertEquals(world.engine.images.size, 0);
});
