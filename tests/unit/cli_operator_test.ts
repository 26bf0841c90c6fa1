/**
 * The operator features of the CLI against the fake control: App.config
 * settings (APP_REPLICAS, APP_HEALTH, APP_TIMEOUT, APP_BODY_LIMIT), `dn env`,
 * `dn rollback`, and what `dn status` shows of them.
 */
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  AppConfigError,
  appSettings,
  parseAppConfig,
  parseDuration,
  parseSize,
} from "../../cli/app_config.ts";
import { parseAssignments, parseKeys, stdinValue } from "../../cli/commands/env.ts";
import { parseVersionArg } from "../../cli/commands/rollback.ts";
import { UsageError } from "../../cli/errors.ts";
import {
  formatDuration,
  formatSize,
  renderStatus,
  replicasLine,
  settingsLines,
} from "../../cli/format/views.ts";
import { APP_DEFAULTS } from "../../lib/apps.ts";
import { APP_DIR, NOW, PASSWORD, type RunResult, TOKEN, World } from "./cli_fixtures/world.ts";

const BASE = "APP_NAME a\nAPP_HOSTNAME a.dn.local\n";
const SECRET = "postgres://app:hunter2-very-secret@db/app";

function errorOf(text: string, file = "App.config"): string {
  return assertThrows(() => parseAppConfig(text, file), AppConfigError).message;
}

function printed(...results: RunResult[]): string {
  return results.map((r) => [...r.out, ...r.err].join("\n")).join("\n");
}

/** A copy of the fixture app (same directory name, so the fake engine builds it) with `extra` in App.config. */
async function appDirWith(extra: string): Promise<string> {
  const dir = `${await Deno.makeTempDir({ prefix: "dn-cli-" })}/hello-world`;
  await Deno.mkdir(dir);
  await Deno.copyFile(`${APP_DIR}/Dockerfile`, `${dir}/Dockerfile`);
  const config = await Deno.readTextFile(`${APP_DIR}/App.config`);
  await Deno.writeTextFile(`${dir}/App.config`, config + extra);
  return dir;
}

// --- App.config ---

Deno.test("App.config settings parse to replicas, health path, ms and bytes", () => {
  const text = BASE +
    "APP_REPLICAS   2\nAPP_HEALTH     /healthz   # must answer 2xx\n" +
    "APP_TIMEOUT    1m30s\nAPP_BODY_LIMIT 16m\nAPP_STREAM_IDLE 5m\nAPP_MEMORY 128m\nAPP_CPUS 0.25\n";
  assertEquals(parseAppConfig(text), {
    name: "a",
    hostname: "a.dn.local",
    port: 80,
    replicas: 2,
    healthPath: "/healthz",
    timeoutMs: 90_000,
    bodyLimit: 16 * 1024 * 1024,
    streamIdleMs: 300_000,
    memory: 128 * 1024 * 1024,
    milliCpus: 250,
  });
  assertEquals(appSettings(parseAppConfig(BASE)), {
    replicas: 0,
    healthPath: "",
    timeoutMs: 0,
    bodyLimit: 0,
    streamIdleMs: 0,
    memory: 0,
    milliCpus: 0,
    https: "off",
    hstsSeconds: 0,
  });
  assertEquals(parseAppConfig(BASE + "APP_CPUS 2\n").milliCpus, 2000);
  assertEquals(parseAppConfig(BASE + "APP_CPUS 0.01\n").milliCpus, 10);
  assertEquals(parseAppConfig(BASE + "APP_CPUS 64\n").milliCpus, 64_000);
  assertEquals(parseAppConfig(BASE + "APP_MEMORY 16m\n").memory, 16 * 1024 * 1024);
  assertEquals(parseAppConfig(BASE + "APP_MEMORY 1g\n").memory, 1024 ** 3);
  assertEquals(parseAppConfig(BASE + "APP_REPLICAS 0\n").replicas, 0);
  assertEquals(parseAppConfig(BASE + "APP_REPLICAS 100\n").replicas, 100);
  assertEquals(parseAppConfig(BASE + "APP_HEALTH /status/200?x=1\n").healthPath, "/status/200?x=1");
});

Deno.test("durations and sizes", () => {
  assertEquals(parseDuration("30s"), 30_000);
  assertEquals(parseDuration("1500ms"), 1500);
  assertEquals(parseDuration("2m"), 120_000);
  assertEquals(parseDuration("1m30s"), 90_000);
  for (const bad of ["", "30", "1h", "1.5s", "-1s", "s", "30 s", "30S"]) {
    assertEquals(parseDuration(bad), null, bad);
  }
  assertEquals(parseSize("512"), 512);
  assertEquals(parseSize("512b"), 512);
  assertEquals(parseSize("1k"), 1024);
  assertEquals(parseSize("512K"), 512 * 1024);
  assertEquals(parseSize("16m"), 16 * 1024 * 1024);
  assertEquals(parseSize("16MB"), 16 * 1024 * 1024);
  assertEquals(parseSize("16MiB"), 16 * 1024 * 1024);
  assertEquals(parseSize("1g"), 1024 ** 3);
  for (const bad of ["", "k", "1.5m", "-1", "1t", "0x10", "1 m", "1kk"]) {
    assertEquals(parseSize(bad), null, bad);
  }
});

Deno.test("bad settings name the file and line", () => {
  const at = (line: string) => errorOf(BASE + "\n" + line + "\n", "apps/a/App.config");
  assertEquals(
    at("APP_REPLICAS 101"),
    'apps/a/App.config:4: APP_REPLICAS "101" is not a number of hosts (0-100; 0 = every host)',
  );
  for (const bad of ["-1", "two", "1.5", "0x2"]) {
    assert(at(`APP_REPLICAS ${bad}`).startsWith("apps/a/App.config:4: APP_REPLICAS"), bad);
  }
  assertEquals(
    at("APP_HEALTH healthz"),
    'apps/a/App.config:4: APP_HEALTH "healthz" is not a path starting with / (e.g. /healthz), ' +
      "at most 256 characters",
  );
  assertEquals(
    at("APP_TIMEOUT 50ms"),
    'apps/a/App.config:4: APP_TIMEOUT "50ms" is not a duration from 100ms to 10m ' +
      "(e.g. 30s, 1500ms, 2m)",
  );
  assertEquals(at("APP_TIMEOUT 11m").split(":")[1], "4");
  assertEquals(at("APP_TIMEOUT 30").split(":")[1], "4");
  assertEquals(parseAppConfig(BASE + "APP_TIMEOUT 10m\n").timeoutMs, 600_000);
  assertEquals(parseAppConfig(BASE + "APP_TIMEOUT 100ms\n").timeoutMs, 100);
  assertEquals(
    at("APP_STREAM_IDLE 500ms"),
    'apps/a/App.config:4: APP_STREAM_IDLE "500ms" is not a duration from 1s to 60m ' +
      "(e.g. 30s, 5m, 1m30s)",
  );
  for (const bad of ["61m", "0", "0s", "2", "1h", "2 s"]) {
    assert(at(`APP_STREAM_IDLE ${bad}`).startsWith("apps/a/App.config:4: APP_STREAM_IDLE"), bad);
  }
  assertEquals(parseAppConfig(BASE + "APP_STREAM_IDLE 1s\n").streamIdleMs, 1000);
  assertEquals(parseAppConfig(BASE + "APP_STREAM_IDLE 60m\n").streamIdleMs, 3_600_000);
  assertEquals(
    at("APP_BODY_LIMIT 2g"),
    'apps/a/App.config:4: APP_BODY_LIMIT "2g" is not a size from 1 byte to 1g ' +
      "(e.g. 512k, 16m, 1g, or bytes)",
  );
  assertEquals(at("APP_BODY_LIMIT 0").split(":")[1], "4");
  assertEquals(
    at("APP_MEMORY 8m"),
    'apps/a/App.config:4: APP_MEMORY "8m" is not a size from 16m to 256g (e.g. 128m, 1g)',
  );
  for (const bad of ["257g", "lots", "-1m", "0"]) {
    assert(at(`APP_MEMORY ${bad}`).startsWith("apps/a/App.config:4: APP_MEMORY"), bad);
  }
  assertEquals(
    at("APP_CPUS 0.001"),
    'apps/a/App.config:4: APP_CPUS "0.001" is not a number of CPUs from 0.01 to 64 ' +
      "(e.g. 0.5, 2)",
  );
  for (const bad of ["65", "0", "1.2345", "half", "-1", "1e2", ".5"]) {
    assert(at(`APP_CPUS ${bad}`).startsWith("apps/a/App.config:4: APP_CPUS"), bad);
  }
  assertEquals(
    errorOf(BASE + "APP_REPLICAS 1\nAPP_REPLICAS 2\n"),
    "App.config:4: APP_REPLICAS is given twice (first on line 3)",
  );
  assertEquals(errorOf(BASE + "APP_HEALTH\n"), "App.config:3: APP_HEALTH has no value");
});

// --- formatters ---

Deno.test("settings formatters", () => {
  assertEquals(formatDuration(120_000), "2m");
  assertEquals(formatDuration(90_000), "90s");
  assertEquals(formatDuration(1500), "1500ms");
  assertEquals(formatSize(1024 ** 3), "1g");
  assertEquals(formatSize(16 * 1024 * 1024), "16m");
  assertEquals(formatSize(1024), "1k");
  assertEquals(formatSize(1500), "1500b");
  for (const text of ["2m", "90s", "1500ms"]) {
    assertEquals(formatDuration(parseDuration(text)!), text);
  }
  for (const text of ["1g", "16m", "1k", "1500b"]) assertEquals(formatSize(parseSize(text)!), text);

  assertEquals(replicasLine({ replicas: 0, placement: [] }), null);
  assertEquals(replicasLine({}), null);
  assertEquals(
    replicasLine({ replicas: 2, placement: ["meridia", "vaermina"] }),
    "Replicas: 2 (meridia, vaermina)",
  );
  assertEquals(
    replicasLine({ replicas: 3, placement: ["meridia"] }),
    "Replicas: 3 (meridia; 2 not placed: too few live hosts)",
  );
  assertEquals(replicasLine({ replicas: 1, placement: [] }), "Replicas: 1 (none placed)");

  const base = { name: "a", status: "running" as const, version: 2 };
  assertEquals(settingsLines(base), []);
  assertEquals(settingsLines({ ...base, ...APP_DEFAULTS, latestVersion: 2, envKeys: [] }), []);
  assertEquals(
    settingsLines({
      ...base,
      replicas: 2,
      placement: ["meridia", "sanguine"],
      latestVersion: 3,
      healthPath: "/healthz",
      timeoutMs: 30_000,
      bodyLimit: 1024,
      streamIdleMs: 90_000,
      memory: 256 * 1024 * 1024,
      milliCpus: 1500,
      envKeys: ["DB_URL", "TOKEN"],
    }),
    [
      "Replicas: 2 (meridia, sanguine)",
      "Latest: 3 (rolled back)",
      "Health: /healthz",
      "Timeout: 30s",
      "Body limit: 1k",
      "Stream idle: 90s",
      "Memory: 256m",
      "CPUs: 1.5",
      "Env: DB_URL, TOKEN",
    ],
  );
  assertEquals(
    renderStatus({ app: { ...base, replicas: 1, placement: ["vaermina"] }, hosts: [] }, NOW),
    [
      "Name: a",
      "Status: running",
      "Version: 2",
      "Replicas: 1 (vaermina)",
      "",
      "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
    ],
  );
});

// --- create, run, update send the settings ---

Deno.test("create and run send the App.config settings; update sends changed ones", async () => {
  const dir = await appDirWith(
    "APP_REPLICAS 1\nAPP_HEALTH /healthz\nAPP_BODY_LIMIT 1k\nAPP_STREAM_IDLE 2s\n",
  );
  try {
    const world = new World();
    const created = await world.run(["create"], dir);
    assertEquals(created.code, 0, created.err.join("\n"));
    const sent = world.requests.find((q) => q.method === "POST" && q.path === "/v1/apps");
    assertEquals(sent?.body, {
      name: "hello-world",
      hostname: "hello-world.dn.local",
      port: 80,
      digest: `sha256:${"d1".repeat(32)}`,
      replicas: 1,
      healthPath: "/healthz",
      bodyLimit: 1024,
      streamIdleMs: 2000,
    });

    // Without the keys, nothing extra is sent (control's defaults).
    const plain = new World();
    assertEquals((await plain.run(["run"])).code, 0);
    const body = plain.requests.find((q) => q.method === "POST" && q.path === "/v1/apps")?.body;
    assertEquals(Object.keys(body as object).sort(), ["digest", "hostname", "name", "port"]);

    // Update: unchanged settings are not sent; changed ones are; removed ones go back to default.
    assertEquals((await world.run(["update"], dir)).code, 0);
    const first = world.requests.filter((q) => q.path.endsWith("/update"))[0];
    assertEquals(first.body, { version: 2, digest: `sha256:${"d1".repeat(32)}` });
    await Deno.writeTextFile(
      `${dir}/App.config`,
      "APP_NAME hello-world\nAPP_HOSTNAME hello-world.dn.local\nAPP_REPLICAS 2\nAPP_TIMEOUT 2m\n",
    );
    assertEquals((await world.run(["update"], dir)).code, 0);
    const second = world.requests.filter((q) => q.path.endsWith("/update"))[1];
    assertEquals(second.body, {
      version: 3,
      digest: `sha256:${"d1".repeat(32)}`,
      replicas: 2,
      healthPath: "",
      timeoutMs: 120_000,
      bodyLimit: 0,
      streamIdleMs: 0,
    });
  } finally {
    await Deno.remove(`${dir}/..`, { recursive: true });
  }
});

Deno.test("dn status shows where an app with replicas runs", async () => {
  const world = new World();
  world.hosts.push({ host: "sanguine", latencyMs: 2 });
  world.addApp({ name: "hello-world", status: "running", replicas: 2 });
  await world.run(["start"]);
  const r = await world.run(["status"]);
  assertEquals(r.code, 0);
  assertEquals(r.out, [
    "Name: hello-world",
    "Status: running",
    "Version: 1",
    "Replicas: 2 (meridia, sanguine)",
    "",
    "HOST                  IMAGE      VERSION  CREATED               STATUS                LATENCY",
    "meridia               6f0d8b9    v1       a few seconds ago     up 12 seconds         3 ms",
    "sanguine              6f0d8b9    v1       a few seconds ago     up 12 seconds         2 ms",
  ]);
});

// --- dn env ---

Deno.test("dn env set, list and unset; values are never printed", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", status: "running" });
  const set = await world.run(["env", "set", `DB_URL=${SECRET}`, "EMPTY=", "EQ=a=b"]);
  assertEquals(set, {
    code: 0,
    out: ["hello-world (hello-world.dn.local) env set: DB_URL, EMPTY, EQ"],
    err: [],
  });
  assertEquals(world.apps.get("hello-world")!.env, { DB_URL: SECRET, EMPTY: "", EQ: "a=b" });
  const post = world.requests.find((q) => q.method === "POST" && q.path.endsWith("/env"));
  assertEquals(post?.body, { set: { DB_URL: SECRET, EMPTY: "", EQ: "a=b" } });

  const list = await world.run(["env", "list"]);
  assertEquals(list, { code: 0, out: ["DB_URL", "EMPTY", "EQ"], err: [] });
  const json = await world.run(["env", "list", "--json"]);
  assertEquals(JSON.parse(json.out.join("\n")), { keys: ["DB_URL", "EMPTY", "EQ"] });

  const status = await world.run(["status"]);
  assertEquals(status.out[3], "Env: DB_URL, EMPTY, EQ");
  const statusJson = await world.run(["status", "--json"]);
  const listJson = await world.run(["list", "--json"]);

  const unset = await world.run(["env", "unset", "EMPTY", "EQ", "EMPTY"]);
  assertEquals(unset, {
    code: 0,
    out: ["hello-world (hello-world.dn.local) env unset: EMPTY, EQ"],
    err: [],
  });
  assertEquals(Object.keys(world.apps.get("hello-world")!.env), ["DB_URL"]);
  const some = await world.run(["env", "unset", "NOPE", "DB_URL"]);
  assertEquals(some.err, ["NOPE is not set"]);
  assertEquals(some.out, ["hello-world (hello-world.dn.local) env unset: DB_URL"]);

  // Nothing to remove: no change is sent (hosts would replace containers for nothing).
  const before = world.requests.length;
  const none = await world.run(["env", "unset", "NOPE"]);
  assertEquals(none, {
    code: 0,
    out: ["hello-world (hello-world.dn.local) env unchanged"],
    err: ["NOPE is not set"],
  });
  assertEquals(world.requests.slice(before).filter((q) => q.method === "POST"), []);
  assertEquals((await world.run(["env", "list"])).out, []);

  const all = printed(set, list, json, status, statusJson, listJson, unset, some, none);
  assert(!all.includes("hunter2"), "a value was printed");
  assert(!all.includes(TOKEN) && !all.includes(PASSWORD), "a credential was printed");
});

Deno.test("dn env set KEY=- reads the value from standard input", async () => {
  const world = new World();
  world.addApp({ name: "hello-world" });
  world.stdin = SECRET + "\n";
  const r = await world.run(["env", "set", "DB_URL=-", "MODE=prod"]);
  assertEquals(r.out, ["hello-world (hello-world.dn.local) env set: MODE, DB_URL"]);
  assertEquals(world.apps.get("hello-world")!.env, { DB_URL: SECRET, MODE: "prod" });
  assertEquals(stdinValue("a\r\n"), "a");
  assertEquals(stdinValue("a\n\n"), "a\n");
  assertEquals(stdinValue(""), "");
  world.stdin = undefined;
  const none = await world.run(["env", "set", "X=-"]);
  assertEquals(none, {
    code: 1,
    out: [],
    err: ["cannot read the value of X: no standard input"],
  });
});

Deno.test("dn env usage errors never show a value", async () => {
  const cases: [string[], string][] = [
    [["env"], "dn env needs set, unset or list"],
    [["env", "show"], 'dn env: unknown subcommand "show" (use set, unset or list)'],
    [["env", `DB_URL=${SECRET}`], "dn env: to set a variable use dn env set KEY=VALUE"],
    [["env", "set"], "dn env set needs KEY=VALUE (KEY=- reads it from stdin)"],
    [
      ["env", "set", "DB_URL"],
      "dn env set: DB_URL has no value (use DB_URL=VALUE, or DB_URL=- to read it from stdin)",
    ],
    [["env", "set", "A=1", `postgres:${SECRET}`], "dn env set: argument 3 is not KEY=VALUE"],
    [
      ["env", "set", `1DB=${SECRET}`],
      'dn env set: invalid variable name "1DB" (letters, digits and _, not starting with a digit, at most 128)',
    ],
    [["env", "set", "A=1", `A=${SECRET}`], "dn env set: A is given twice"],
    [["env", "set", "A=-", "B=-"], "dn env set: only one value can come from stdin (KEY=-)"],
    [["env", "set", `A=${SECRET}\0`], "dn env set: the value of A contains a NUL byte"],
    [["env", "set", `A=${"x".repeat(33 * 1024)}`], "dn env set: the value of A is over 32 KiB"],
    [
      ["env", "set", "PORT=9000"],
      "dn env set: PORT is set by dn on every container (APP_NAME, APP_VERSION, PORT, DN_HOST)",
    ],
    [["env", "unset"], "dn env unset needs a KEY"],
    [
      ["env", "unset", "A-B"],
      'dn env unset: invalid variable name "A-B" (letters, digits and _, not starting with a digit, at most 128)',
    ],
    [["env", "list", `X=${SECRET}`], "dn env list: unexpected argument KEY=..."],
    [["env", "set", "A=1", "--bogus"], "unknown flag --bogus"],
  ];
  for (const [argv, message] of cases) {
    const world = new World();
    world.addApp({ name: "hello-world" });
    const r = await world.run(argv);
    assertEquals(r, { code: 2, out: [], err: [message, "See 'dn env --help'."] }, argv[0]);
    assertEquals(world.requests, [], "nothing sent");
  }
  assertThrows(() => parseAssignments([]), UsageError);
  assertEquals(parseKeys(["A", "B", "A"]), ["A", "B"]);
});

Deno.test("dn env on an unknown app or control error", async () => {
  const world = new World();
  assertEquals(await world.run(["env", "set", `A=${SECRET}`]), {
    code: 1,
    out: [],
    err: ["hello-world not found"],
  });
  assertEquals((await world.run(["env", "list"])).err, ["hello-world not found"]);
});

// --- dn rollback ---

Deno.test("dn rollback goes to the previous version or vN; update builds after the latest", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 3, status: "running" });
  const back = await world.run(["rollback"]);
  assertEquals(back, {
    code: 0,
    out: ["hello-world (hello-world.dn.local) rolled back to v2"],
    err: [],
  });
  const rollbacks = () => world.requests.filter((q) => q.path.endsWith("/rollback"));
  assertEquals(rollbacks()[0].body, { version: 2 });
  assertEquals((await world.run(["rollback", "v1"])).out, [
    "hello-world (hello-world.dn.local) rolled back to v1",
  ]);
  const status = await world.run(["status"]);
  assertEquals(status.out.slice(2, 4), ["Version: 1", "Latest: 3 (rolled back)"]);
  assertEquals((await world.run(["rollback", "3"])).out, [
    "hello-world (hello-world.dn.local) rolled forward to v3",
  ]);
  await world.run(["rollback", "v1"]);
  const update = await world.run(["update"]);
  assertEquals(update.code, 0, update.err.join("\n"));
  assertEquals(world.engine.builds.map((b) => b.replace(/-[0-9a-f]{12}$/, "")), [
    "127.0.0.1:5055/hello-world:v4",
  ]);
  assertEquals(update.out.at(-1), "hello-world (hello-world.dn.local) updated to v4");
  assertEquals(
    (await world.run(["build"])).out.at(-1),
    "Successfully tagged 127.0.0.1:5055/hello-world:v5",
  );
});

Deno.test("dn rollback refuses versions that cannot be rolled back to", async () => {
  const world = new World();
  world.addApp({ name: "hello-world", version: 2 });
  const cases: [string[], number, string][] = [
    [["rollback", "v3"], 1, "hello-world has no v3 (versions v1-v2)"],
    [["rollback", "v2"], 1, "hello-world already runs v2"],
    [["rollback", "two"], 2, 'invalid version "two": use vN, e.g. v2'],
    [["rollback", "v0"], 2, 'invalid version "v0": use vN, e.g. v2'],
    [["rollback", "v1", "v2"], 2, 'dn rollback: unexpected argument "v2"'],
  ];
  for (const [argv, code, message] of cases) {
    const r = await world.run(argv);
    assertEquals(r.code, code, argv.join(" "));
    assertEquals(r.err[0], message);
  }
  assertEquals(world.requests.filter((q) => q.path.endsWith("/rollback")), []);
  await world.run(["rollback"]);
  assertEquals((await world.run(["rollback"])).err, [
    "hello-world runs v1: there is no earlier version",
  ]);
  world.apps.clear();
  assertEquals((await world.run(["rollback"])).err, ["hello-world not found"]);
  assertEquals(parseVersionArg("V7"), 7);
  assertEquals(parseVersionArg("v"), null);
});
