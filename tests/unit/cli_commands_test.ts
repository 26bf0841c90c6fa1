import { assert, assertEquals } from "../helpers/assert.ts";
import { publicApp } from "../../lib/apps.ts";
import { APP_DIR, PASSWORD, type RunResult, TOKEN, World } from "./cli_fixtures/world.ts";

const DIGEST = `sha256:${"d1".repeat(32)}`;

function assertNoSecrets(...results: RunResult[]): void {
  for (const r of results) {
    const all = [...r.out, ...r.err].join("\n");
    assert(!all.includes(TOKEN), "token printed");
    assert(!all.includes(PASSWORD), "password printed");
  }
}

/** A line with its unique build tag (`v1-0123456789ab`) written `v1-BUILD`. */
function anyBuild(line: string): string {
  return line.replace(/\b(v[0-9]+)-[0-9a-f]{12}\b/g, "$1-BUILD");
}

Deno.test("the seed's walkthrough: list, create, status, start, stop, remove", async () => {
  const world = new World();
  world.addApp({ name: "blog", version: 4, status: "running", createdAt: "2024-04-30T10:00:00Z" });

  const list = await world.run(["list"]);
  assertEquals(list, {
    code: 0,
    out: [
      "APPLICATION                   CREATED               STATUS",
      "blog (v4)                     a day ago             running",
    ],
    err: [],
  });

  const create = await world.run(["create", "--verbose"]);
  assertEquals(create.code, 0, create.err.join("\n"));
  assertEquals(create.out.map(anyBuild), [
    "Sending build context to Docker daemon  2.048kB",
    "Step 1/1 : FROM scratch",
    " ---> 111111111111",
    "Successfully built 111111111111",
    "Successfully tagged 127.0.0.1:5055/hello-world:v1-BUILD",
    "Login Succeeded",
    "pushing 127.0.0.1:5055/hello-world:v1-BUILD",
    "The push refers to repository [127.0.0.1:5055/hello-world]",
    "cc33bc1d2d56: Layer already exists",
    `v1-BUILD: digest: ${DIGEST} size: 528`,
    "hello-world (hello-world.dn.local) created",
  ]);
  assertEquals(world.apps.get("hello-world")?.digest, DIGEST);
  assertEquals(world.engine.pushes[0].auth, {
    username: "dn",
    password: PASSWORD,
    serverAddress: "127.0.0.1:5055",
  });

  const created = await world.run(["status"]);
  assertEquals(created.out, [
    "Name: hello-world",
    "Status: created",
    "Version: 1",
    "",
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
  ]);

  assertEquals((await world.run(["start"])).out, ["hello-world (hello-world.dn.local) started"]);
  const running = await world.run(["status"]);
  assertEquals(running.out.slice(1), [
    "Status: running",
    "Version: 1",
    "",
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
    "meridia               d1d1d1d    v1       a few seconds ago     up 12 seconds         3 ms",
    "vaermina              d1d1d1d    v1       a few seconds ago     up 12 seconds         4 ms",
  ]);

  assertEquals((await world.run(["stop"])).out, ["hello-world (hello-world.dn.local) stopped"]);
  const stopped = await world.run(["status"]);
  assertEquals(
    stopped.out[5],
    "meridia               d1d1d1d    v1       a few seconds ago     exited (0) 15 seconds ago  3 ms",
  );

  assertEquals(await world.run(["remove"]), {
    code: 0,
    out: ["hello-world removed"],
    err: [],
  });
  assertEquals(await world.run(["status"]), {
    code: 1,
    out: [],
    err: ["hello-world not found"],
  });
  assertNoSecrets(list, create, created, running, stopped);
});

Deno.test("create rebuilds even when a v1 image is left from an earlier app", async () => {
  const world = new World();
  world.engine.images.set("127.0.0.1:5055/hello-world:v1", { id: "sha256:ab", repoDigests: [] });
  const r = await world.run(["create"]);
  assertEquals(r.code, 0);
  assertEquals(world.engine.builds.length, 1);
  assertEquals(world.engine.pushes.length, 1);
  assertEquals(r.out.at(-1), "hello-world (hello-world.dn.local) created");
});

Deno.test("create refuses an existing app or hostname before building", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 3, status: "running" });
  const dup = await world.run(["create"]);
  assertEquals(dup.code, 1);
  assertEquals(dup.err, [
    "hello-world already exists (v3, running): use dn update to deploy a new version",
  ]);
  world.apps.clear();
  world.addApp({ name: "other", hostname: "hello-world.dn.local" });
  const taken = await world.run(["run"]);
  assertEquals(taken.err, ["hostname hello-world.dn.local is already used by other"]);
  assertEquals(world.engine.builds, []);
});

Deno.test("run builds, pushes, creates and starts", async () => {
  const world = new World();
  const r = await world.run(["run"]);
  assertEquals(r.code, 0);
  assertEquals(r.out.slice(-2), [
    "hello-world (hello-world.dn.local) created",
    "hello-world (hello-world.dn.local) started",
  ]);
  assertEquals(world.apps.get("hello-world")?.status, "running");
});

Deno.test("update builds and pushes v<N+1> and sends changed settings only", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 1, status: "running" });
  const r = await world.run(["update"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  assertEquals(world.engine.builds.map(anyBuild), ["127.0.0.1:5055/hello-world:v2-BUILD"]);
  assertEquals(world.engine.pushes.map((p) => anyBuild(p.tag)), ["v2-BUILD"]);
  assertEquals(world.engine.builds[0].endsWith(world.engine.pushes[0].tag), true);
  assertEquals(r.out.at(-1), "hello-world (hello-world.dn.local) updated to v2");
  const sent = world.requests.find((q) => q.path.endsWith("/update"));
  assertEquals(sent?.body, { version: 2, digest: DIGEST });

  world.apps.get("hello-world")!.port = 8080;
  await world.run(["update"]);
  const second = world.requests.filter((q) => q.path.endsWith("/update"))[1];
  assertEquals(second.body, { version: 3, digest: DIGEST, port: 80 });
});

Deno.test("update of an unknown app fails before building", async () => {
  const world = new World();
  assertEquals(await world.run(["update"]), { code: 1, out: [], err: ["hello-world not found"] });
  assertEquals(world.engine.builds, []);
});

Deno.test("build and push use the next version", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 6 });
  const build = await world.run(["build"]);
  assertEquals(build.code, 0);
  assertEquals(build.out.at(-1), "Successfully tagged 127.0.0.1:5055/hello-world:v7");
  const push = await world.run(["push"]);
  assertEquals(push.code, 0);
  assertEquals(anyBuild(push.out.at(-1)!), `v7-BUILD: digest: ${DIGEST} size: 528`);
  // Pushed under a tag of its own, never over v7.
  assertEquals(world.engine.pushes.map((p) => anyBuild(p.tag)), ["v7-BUILD"]);
});

Deno.test("push without a build says so", async () => {
  const world = new World();
  const r = await world.run(["push"]);
  assertEquals(r, {
    code: 1,
    out: [],
    err: ["image 127.0.0.1:5055/hello-world:v1 is not built; run dn build first"],
  });
});

Deno.test("wrong registry credentials give one clear line, before any build", async () => {
  for (const argv of [["run"], ["create"], ["update"], ["push"]]) {
    const world = new World();
    world.addApp({ name: "other" });
    if (argv[0] === "update") world.addApp({ name: "hello-world" });
    if (argv[0] === "push") {
      world.engine.images.set("127.0.0.1:5055/hello-world:v1", {
        id: "sha256:ab",
        repoDigests: [],
      });
    }
    world.env.DN_REGISTRY_PASSWORD = "wrong-password";
    const r = await world.run(argv);
    assertEquals(r, {
      code: 1,
      out: [],
      err: [
        'registry 127.0.0.1:5055 rejected the credentials of user "dn": ' +
        "check registryUser and registryPassword",
      ],
    }, argv[0]);
    assertEquals(world.engine.builds, []);
    assertEquals(world.engine.pushes, []);
  }
});

Deno.test("a push refused by the registry is reported as a credentials error", async () => {
  const world = new World();
  world.env.DN_REGISTRY_USER = "";
  world.engine.failPush = "unauthorized: authentication required";
  const r = await world.run(["run"]);
  assertEquals(r.err, [
    "registry 127.0.0.1:5055 needs credentials: set registryUser and registryPassword " +
    "(DN_REGISTRY_USER, DN_REGISTRY_PASSWORD)",
  ]);
});

Deno.test("a failed build stops the command with the engine's message", async () => {
  const world = new World();
  world.engine.failBuild = "unknown instruction: FORM";
  const r = await world.run(["run"]);
  assertEquals(r.code, 1);
  assertEquals(r.out, []);
  // The build's last lines, then the error in its one-line form.
  assertEquals(r.err, [
    "Sending build context to Docker daemon  2.048kB",
    "Step 1/1 : FROM scratch",
    "unknown instruction: FORM",
  ]);
  assertEquals(world.apps.size, 0);
});

Deno.test("commands take an app NAME instead of App.config", async () => {
  const world = new World();
  world.addApp({ name: "blog", hostname: "blog.example.com" });
  const r = await world.run(["start", "blog"], "/nonexistent");
  assertEquals(r, { code: 0, out: ["blog (blog.example.com) started"], err: [] });
  const bad = await world.run(["stop", "Bad_Name"]);
  assertEquals(bad.code, 2);
  assertEquals(bad.err[0], '"Bad_Name" is not a valid app name (lower-case DNS label)');
});

Deno.test("-C and --app-config choose the app directory and App.config", async () => {
  const world = new World();
  world.addApp({ name: "hello-world" });
  const byDir = await world.run(["-C", APP_DIR, "start"], "/");
  assertEquals(byDir.out, ["hello-world (hello-world.dn.local) started"]);
  const byFile = await world.run(["stop", "--app-config", `${APP_DIR}/App.config`], "/");
  assertEquals(byFile.out, ["hello-world (hello-world.dn.local) stopped"]);
  const old = await world.run(["stop", "--config", `${APP_DIR}/App.config`], "/");
  assertEquals(old.out, ["hello-world (hello-world.dn.local) stopped"]);
  assertEquals(old.err, ["dn: --config is deprecated, use --app-config"]);
  const both = await world.run(["stop", "--config", "a", "--app-config", "b"], "/");
  assertEquals(both.code, 2);
  assertEquals(both.err[0], "give --app-config only (--config is its old name)");
  const missing = await world.run(["status", "-C", "nowhere"], "/tmp");
  assertEquals(missing.code, 1);
  assert(missing.err[0].startsWith("nowhere/App.config: no such file"), missing.err[0]);
});

Deno.test("--json prints control's answer", async () => {
  const world = new World();
  const app = world.addApp({ name: "hello-world" });
  const list = await world.run(["list", "--json"]);
  assertEquals(JSON.parse(list.out.join("\n")), { apps: [publicApp(app)] });
  const status = await world.run(["status", "--json"]);
  const report = JSON.parse(status.out.join("\n"));
  assertEquals(report.app, publicApp(app));
  assertEquals(report.hosts.length, 2);
});

Deno.test("flags override the environment", async () => {
  const world = new World();
  world.env.DN_TOKEN = "stale";
  const bad = await world.run(["list"]);
  assertEquals(bad, {
    code: 1,
    out: [],
    err: [
      "control at http://127.0.0.1:7070 refused the token (invalid token): " +
      "check token, DN_TOKEN or --token",
    ],
  });
  const good = await world.run(["list", "--token", TOKEN]);
  assertEquals(good.code, 0);
  assertNoSecrets(bad, good);
});

Deno.test("control errors: unreachable, missing token, unreadable network config", async () => {
  const world = new World();
  world.controlDown = true;
  const down = await world.run(["list"]);
  assertEquals(down.code, 1);
  assertEquals(
    down.err,
    ["cannot reach control at http://127.0.0.1:7070: error sending request: Connection refused"],
  );
  world.env.DN_TOKEN = undefined;
  assertEquals((await world.run(["list"])).err, [
    "no network config: looked in $DN_CONFIG (not set), " +
    "/nonexistent-home/.config/dn/config.json, /nonexistent-state/config/cli.json; " +
    "scripts/up writes one for the local network, or give --network-config FILE, " +
    "DN_CONFIG=FILE, or DN_TOKEN and DN_CONTROL_URL",
  ]);
  const conf = await world.run(["list", "--network-config", "/nonexistent/dn.json"]);
  assertEquals(conf.code, 1);
  assert(conf.err[0].startsWith("cannot read config file /nonexistent/dn.json"), conf.err[0]);
  assertNoSecrets(down, conf);
});

Deno.test("version prints dn and the version", async () => {
  const r = await new World().run(["version"]);
  assertEquals(r.code, 0);
  assert(/^dn \d+\.\d+\.\d+$/.test(r.out[0]), r.out[0]);
});
