import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { COMMANDS } from "../../cli/commands/mod.ts";
import { parseInvocation } from "../../cli/cli.ts";
import { UsageError } from "../../cli/errors.ts";
import { World } from "./cli_fixtures/world.ts";

/** `dn help`: the seed README's usage (blank line first) with the commands added since. */
const SEED_HELP = `
Usage: dn COMMAND

Commands:
  build       build application image
  certs       set, list, or remove HTTPS certificates
  completion  print shell completion script
  create      create new application
  env         set, unset, or list application environment
  help        show usage
  list        list applications
  logs        show application logs
  push        push application image to registry
  remove      remove application
  rollback    roll back application to an earlier version
  run         build, push, create, and start application
  start       start application
  status      show application status
  stop        stop application
  update      build, push, update application
  version     show version`;

Deno.test("dn help, dn and dn --help print the seed's usage", async () => {
  for (const argv of [["help"], [], ["--help"], ["-h"]]) {
    const r = await new World().run(argv);
    assertEquals(r, { code: 0, out: SEED_HELP.split("\n"), err: [] }, argv.join(" "));
  }
});

Deno.test("an unknown command prints an error and the usage, exit 2", async () => {
  const r = await new World().run(["deploy"]);
  assertEquals(r.code, 2);
  assertEquals(r.out, []);
  assertEquals(r.err, ['unknown command "deploy"', ...SEED_HELP.split("\n")]);
  const help = await new World().run(["help", "deploy"]);
  assertEquals(help.code, 2);
  assertEquals(help.err[0], 'unknown command "deploy"');
});

Deno.test("every command has a usage listing its flags", async () => {
  for (const command of COMMANDS) {
    const r = await new World().run([command.name, "--help"]);
    assertEquals(r.code, 0);
    assertEquals(r.out[0], "");
    assert(r.out[1].startsWith(`Usage: dn ${command.name}`), r.out[1]);
    for (const flag of command.flags) {
      assert(r.out.some((l) => l.includes(`--${flag}`)), `${command.name} --${flag}`);
    }
    assertEquals(r.out.at(-1), "  -h, --help                show this help");
    assertEquals((await new World().run(["help", command.name])).out, r.out);
  }
});

Deno.test("dn status --help", async () => {
  const r = await new World().run(["status", "--help"]);
  assertEquals(r.out, [
    "",
    "Usage: dn status [OPTIONS] [NAME]",
    "",
    "Show the application's status and version, and its containers on every host.",
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
    "",
    "Options:",
    "  -C, --dir DIR             app directory (default: the working directory)",
    "  --app-config FILE         App.config file (default: DIR/App.config)",
    "  --app NAME                act on app NAME; no App.config is read",
    "  --json                    print control's answer as JSON",
    "  --control-url URL         control API URL (DN_CONTROL_URL)",
    "  --token TOKEN             control API token (DN_TOKEN)",
    "  --network-config FILE     network config (DN_CONFIG, else ~/.config/dn/config.json, " +
    "/var/lib/dn/config/cli.json)",
    "  -h, --help                show this help",
  ]);
});

Deno.test("usage errors exit 2 with a one-line reason and a pointer to help", async () => {
  const cases: [string[], string][] = [
    [["status", "--bogus"], "unknown flag --bogus"],
    [["start", "--json"], "dn start does not take --json"],
    [["list", "extra"], 'dn list: unexpected argument "extra"'],
    [["status", "--token"], "flag --token needs a value"],
    [["status", "--json=yes"], "flag --json takes no value"],
    [["status", "--version"], "dn status does not take --version"],
  ];
  for (const [argv, message] of cases) {
    const r = await new World().run(argv);
    assertEquals(r.code, 2, argv.join(" "));
    assertEquals(r.err, [message, `See 'dn ${argv[0]} --help'.`]);
  }
});

Deno.test("global flags may come before or after the command", () => {
  const a = parseInvocation(["-C", "apps/x", "--token", "t", "status", "--json"]);
  const b = parseInvocation(["status", "--json", "-C", "apps/x", "--token=t"]);
  assertEquals(a.command?.name, "status");
  assertEquals(a.options, b.options);
  assertEquals(a.options.dir, "apps/x");
  assertEquals(a.options.json, true);
  assertThrows(() => parseInvocation(["nope"]), UsageError);
});

Deno.test("dn --version is dn version", async () => {
  assertEquals(
    (await new World().run(["--version"])).out,
    (await new World().run(["version"])).out,
  );
});
