import { assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { AppConfigError, parseAppConfig, readAppConfig } from "../../cli/app_config.ts";
import { formatAge } from "../../cli/format/views.ts";

const SEED = `
#
# hello-world example app config file
#
APP_NAME      hello-world
APP_HOSTNAME  hello-world.dispersed.network
`;

function errorOf(text: string, file = "App.config"): string {
  return assertThrows(() => parseAppConfig(text, file), AppConfigError).message;
}

Deno.test("the seed's App.config parses, port defaults to 80", () => {
  assertEquals(parseAppConfig(SEED), {
    name: "hello-world",
    hostname: "hello-world.dispersed.network",
    port: 80,
  });
});

Deno.test("APP_PORT, tabs, CRLF, BOM, trailing comments and blank lines are accepted", () => {
  const text = "\uFEFFAPP_NAME\tblog   # the blog\r\n\r\n  APP_HOSTNAME Blog.Example.COM\r\n" +
    "APP_PORT 8080\r\n# end\r\n";
  assertEquals(parseAppConfig(text), { name: "blog", hostname: "blog.example.com", port: 8080 });
});

Deno.test("an invalid app name names the file and line", () => {
  const text = "#\n# comment\n#\n\nAPP_HOSTNAME x.dn.local\n\nAPP_NAME Hello_World\n";
  assertEquals(
    errorOf(text),
    'App.config:7: APP_NAME "Hello_World" is not a valid app name (lower-case DNS label)',
  );
});

Deno.test("errors use the file name given", () => {
  assertEquals(
    errorOf("APP_NAME -bad\nAPP_HOSTNAME a.b\n", "apps/x/App.config"),
    'apps/x/App.config:1: APP_NAME "-bad" is not a valid app name (lower-case DNS label)',
  );
});

Deno.test("each kind of bad line is reported with its line number", () => {
  const valid = "APP_NAME a\nAPP_HOSTNAME a.dn.local\n";
  assertEquals(
    errorOf(valid + "APP_DOMAIN x\n"),
    'App.config:3: unknown key "APP_DOMAIN" ' +
      "(expected APP_NAME, APP_HOSTNAME, APP_PORT, APP_REPLICAS, APP_HEALTH, APP_TIMEOUT, " +
      "APP_BODY_LIMIT, APP_STREAM_IDLE, APP_MEMORY, APP_CPUS, APP_HTTPS or APP_HSTS)",
  );
  assertEquals(errorOf("APP_NAME\nAPP_HOSTNAME a.b\n"), "App.config:1: APP_NAME has no value");
  assertEquals(
    errorOf("APP_NAME a b c\nAPP_HOSTNAME a.b\n"),
    'App.config:1: APP_NAME takes one value, found extra "b c"',
  );
  assertEquals(
    errorOf(valid + "\nAPP_NAME b\n"),
    "App.config:4: APP_NAME is given twice (first on line 1)",
  );
  assertEquals(
    errorOf("app_name a\n"),
    'App.config:1: unknown key "app_name" ' +
      "(expected APP_NAME, APP_HOSTNAME, APP_PORT, APP_REPLICAS, APP_HEALTH, APP_TIMEOUT, " +
      "APP_BODY_LIMIT, APP_STREAM_IDLE, APP_MEMORY, APP_CPUS, APP_HTTPS or APP_HSTS)",
  );
});

Deno.test("invalid hostnames and ports are refused", () => {
  assertEquals(
    errorOf("APP_NAME a\nAPP_HOSTNAME bad_host.dn.local\n"),
    'App.config:2: APP_HOSTNAME "bad_host.dn.local" is not a valid hostname',
  );
  assertEquals(
    errorOf("APP_NAME a\nAPP_HOSTNAME a.dn.local.\n"),
    'App.config:2: APP_HOSTNAME "a.dn.local." is not a valid hostname',
  );
  for (const port of ["0", "65536", "80x", "-1", "1e3", "0x50"]) {
    assertEquals(
      errorOf(`APP_NAME a\nAPP_HOSTNAME a.b\nAPP_PORT ${port}\n`),
      `App.config:3: APP_PORT "${port}" is not a valid port (1-65535)`,
    );
  }
  assertEquals(parseAppConfig("APP_NAME a\nAPP_HOSTNAME a.b\nAPP_PORT 65535\n").port, 65535);
});

Deno.test("missing keys are named", () => {
  assertEquals(errorOf(""), "App.config: APP_NAME and APP_HOSTNAME missing");
  assertEquals(errorOf("APP_NAME a\n"), "App.config: APP_HOSTNAME missing");
  assertEquals(errorOf("# only comments\nAPP_HOSTNAME a.b\n"), "App.config: APP_NAME missing");
});

Deno.test("a missing file is an AppConfigError naming the path", async () => {
  const e = await assertRejects(
    () => readAppConfig("/nonexistent/dn/App.config", "x/App.config"),
    AppConfigError,
  );
  assertEquals(e.message.startsWith("x/App.config: no such file"), true);
});

Deno.test("APP_HTTPS and APP_HSTS: modes, ages up to 2y, and refusals", () => {
  const base = "APP_NAME a\nAPP_HOSTNAME a.dn.local\n";
  assertEquals(parseAppConfig(base + "APP_HTTPS redirect\n").https, "redirect");
  assertEquals(parseAppConfig(base + "APP_HTTPS only\n").https, "only");
  assertEquals(parseAppConfig(base + "APP_HTTPS off\n").https, "off");
  assertEquals(parseAppConfig(base + "APP_HSTS 1y\n").hstsSeconds, 31_536_000);
  assertEquals(parseAppConfig(base + "APP_HSTS 1d12h\n").hstsSeconds, 129_600);
  assertEquals(parseAppConfig(base + "APP_HSTS off\n").hstsSeconds, 0);
  assertEquals(parseAppConfig(base + "APP_HSTS 0\n").hstsSeconds, 0);
  assertEquals(parseAppConfig(base).https, undefined);
  for (
    const [line, message] of [
      ["APP_HTTPS on", 'App.config:3: APP_HTTPS "on" is not off, redirect or only'],
      ["APP_HSTS 3y", 'App.config:3: APP_HSTS "3y" is not a time up to 2y'],
      ["APP_HSTS 1w", 'App.config:3: APP_HSTS "1w" is not a time up to 2y'],
      ["APP_HSTS -1d", 'App.config:3: APP_HSTS "-1d" is not a time up to 2y'],
    ]
  ) {
    const error = assertThrows(() => parseAppConfig(base + line + "\n"), AppConfigError);
    assertEquals(error.message.startsWith(message), true, error.message);
  }
  assertEquals(formatAge(31_536_000), "1y");
  assertEquals(formatAge(129_600), "36h");
  assertEquals(formatAge(90), "90s");
});
