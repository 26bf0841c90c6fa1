/**
 * `--app NAME`: the commands that need only the app's name (start, stop,
 * status, remove, logs, env, rollback) act on NAME without reading any
 * App.config; a bad name, `--app` with `-C`/`--config` or with a NAME
 * argument, and `--app` on a command that builds are usage errors (exit 2).
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { COMMANDS } from "../../cli/commands/mod.ts";
import { World } from "./cli_fixtures/world.ts";

/** Commands that take `--app`; every other command that reads App.config builds an image. */
const NAME_COMMANDS = ["env", "logs", "remove", "rollback", "start", "status", "stop"];
const BUILD_COMMANDS = ["build", "create", "push", "run", "update"];

/** Runs `fn` in a fresh directory holding an App.config that does not parse (so reading it fails). */
async function inBrokenAppDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dn-cli-app-" });
  try {
    await Deno.writeTextFile(`${dir}/App.config`, "not an App.config\n");
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--app acts on the named app and reads no App.config", async () => {
  await inBrokenAppDir(async (dir) => {
    const world = new World();
    world.addApp({ name: "blog", version: 3, status: "running", env: { DB_URL: "x" } });
    const run = async (argv: string[]) => {
      const r = await world.run(argv, dir);
      assertEquals(r.code, 0, `${argv.join(" ")}: ${r.err.join("\n")}`);
      return r.out;
    };
    assertEquals((await run(["status", "--app", "blog"])).slice(0, 3), [
      "Name: blog",
      "Status: running",
      "Version: 3",
    ]);
    assertEquals(await run(["stop", "--app", "blog"]), ["blog (blog.dn.local) stopped"]);
    assertEquals(await run(["--app=blog", "start"]), ["blog (blog.dn.local) started"]);
    assertEquals(await run(["env", "list", "--app", "blog"]), ["DB_URL"]);
    assertEquals(await run(["env", "set", "--app", "blog", "MODE=prod"]), [
      "blog (blog.dn.local) env set: MODE",
    ]);
    assertEquals(await run(["env", "unset", "MODE", "--app", "blog"]), [
      "blog (blog.dn.local) env unset: MODE",
    ]);
    assertEquals(await run(["rollback", "--app", "blog"]), [
      "blog (blog.dn.local) rolled back to v2",
    ]);
    assertEquals(await run(["rollback", "v3", "--app", "blog"]), [
      "blog (blog.dn.local) rolled forward to v3",
    ]);
    assertEquals(await run(["logs", "--app", "blog"]), ["vaermina | blog", "meridia | blog"]);
    assertEquals(await run(["remove", "--app", "blog"]), ["blog removed"]);
    assertEquals(world.apps.size, 0);
    assert(world.requests.every((q) => q.path.startsWith("/v1/apps/blog")), "only blog asked");

    // Without --app the same directory's App.config is read, and fails.
    const without = await world.run(["status"], dir);
    assertEquals(without.code, 1);
    assert(without.err[0].startsWith("App.config:1: unknown key"), without.err[0]);
  });
});

Deno.test("--app in a directory without App.config; an unknown app is not found (exit 1)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn-cli-app-" });
  try {
    const world = new World();
    world.addApp({ name: "blog" });
    assertEquals((await world.run(["status", "--app", "blog"], dir)).out[0], "Name: blog");
    assertEquals(await world.run(["stop", "--app", "shop"], dir), {
      code: 1,
      out: [],
      err: ["shop not found"],
    });
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("--app usage errors exit 2 with one line and send nothing", async () => {
  const cases: [string[], string][] = [
    [["status", "--app", "Blog"], '--app "Blog" is not a valid app name (lower-case DNS label)'],
    [["env", "list", "--app", "a_b"], '--app "a_b" is not a valid app name (lower-case DNS label)'],
    [["rollback", "--app="], '--app "" is not a valid app name (lower-case DNS label)'],
    [
      ["logs", "--app", "-x"],
      "flag --app needs a value (use --app=VALUE for a value starting with -)",
    ],
    [["stop", "--app"], "flag --app needs a value"],
    [
      ["status", "--app", "blog", "-C", "apps/blog"],
      "dn status: --app cannot be combined with -C/--dir or --app-config",
    ],
    [
      ["rollback", "--app", "blog", "--app-config", "App.config"],
      "dn rollback: --app cannot be combined with -C/--dir or --app-config",
    ],
    [
      ["env", "list", "--dir", ".", "--app", "blog"],
      "dn env: --app cannot be combined with -C/--dir or --app-config",
    ],
    [["start", "--app", "blog", "blog"], "dn start: give NAME or --app, not both"],
    ...BUILD_COMMANDS.map((c): [string[], string] => [
      [c, "--app", "blog"],
      `dn ${c} does not take --app`,
    ]),
  ];
  for (const [argv, message] of cases) {
    const world = new World();
    world.addApp({ name: "blog" });
    const r = await world.run(argv);
    assertEquals(r, { code: 2, out: [], err: [message, `See 'dn ${argv[0]} --help'.`] });
    assertEquals(world.requests, [], `${argv.join(" ")}: nothing sent`);
    assertEquals(world.engine.builds, [], `${argv.join(" ")}: nothing built`);
  }
});

Deno.test("--app is in the help and completions of exactly the commands that take it", async () => {
  const taking = COMMANDS.filter((c) => c.flags.includes("app")).map((c) => c.name);
  assertEquals(taking, NAME_COMMANDS);
  for (const name of [...NAME_COMMANDS, ...BUILD_COMMANDS]) {
    const help = await new World().run([name, "--help"]);
    const line = "  --app NAME                act on app NAME; no App.config is read";
    assertEquals(help.out.includes(line), NAME_COMMANDS.includes(name), name);
  }
  const bash = (await new World().run(["completion", "bash"])).out;
  for (const name of [...NAME_COMMANDS, ...BUILD_COMMANDS]) {
    const opts = bash.find((l) => l.startsWith(`  ${name}) opts=`)) ?? "";
    assertEquals(opts.includes(" --app "), NAME_COMMANDS.includes(name), name);
  }
});
