/**
 * Secrets read from files: `tokenFile`, `registryPasswordFile`, `amqpUrlFile`
 * and `redisUrlFile` (and `DN_*_FILE`), refused when group or others can read
 * them, and never echoed in an error.
 */
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { ConfigError, loadConfig, readSecretFile, SECRET_KEYS } from "../../lib/config.ts";

const AMQP = "amqps://dn-host:amqp-Secret-1@localhost:5680/dn";
const REDIS = "redis://:redis-Secret-2@127.0.0.1:6389/1";

/** A temp dir with `name` holding `content` at `mode`. */
function secretFile(dir: string, name: string, content: string, mode = 0o600): string {
  const path = `${dir}/${name}`;
  Deno.writeTextFileSync(path, content);
  Deno.chmodSync(path, mode);
  return path;
}

function configFile(dir: string, body: Record<string, unknown>): string {
  const path = `${dir}/dn.json`;
  Deno.writeTextFileSync(path, JSON.stringify(body));
  return path;
}

/** The ConfigError `fn` throws; fails if it throws nothing or something else. */
function configError(fn: () => unknown): ConfigError {
  return assertThrows(fn, ConfigError) as ConfigError;
}

Deno.test("config secrets: every secret key has a File form", () => {
  assertEquals([...SECRET_KEYS].sort(), [
    "amqpUrl",
    "redisUrl",
    "registryPassword",
    "requestToken",
    "token",
  ]);
});

Deno.test("config secrets: amqpUrlFile and redisUrlFile are read and trimmed", () => {
  const dir = Deno.makeTempDirSync();
  const file = configFile(dir, {
    amqpUrlFile: secretFile(dir, "amqp-url", `${AMQP}\n`),
    redisUrlFile: secretFile(dir, "redis-url", `  ${REDIS}\n\n`),
    registryPasswordFile: secretFile(dir, "registry", "reg-Secret-3\n"),
  });
  const config = loadConfig({ file, env: {} });
  assertEquals(config.amqpUrl, AMQP);
  assertEquals(config.redisUrl, REDIS);
  assertEquals(config.registryPassword, "reg-Secret-3");
});

Deno.test("config secrets: DN_AMQP_URL_FILE and DN_REDIS_URL_FILE override the file", () => {
  const dir = Deno.makeTempDirSync();
  const file = configFile(dir, { amqpUrl: "amqp://a:b@127.0.0.1:1/x", redisUrl: "redis://c" });
  const config = loadConfig({
    file,
    env: {
      DN_AMQP_URL_FILE: secretFile(dir, "amqp-url", AMQP),
      DN_REDIS_URL_FILE: secretFile(dir, "redis-url", REDIS),
    },
  });
  assertEquals(config.amqpUrl, AMQP);
  assertEquals(config.redisUrl, REDIS);
  // Flags still win over everything.
  assertEquals(
    loadConfig({
      file,
      env: { DN_AMQP_URL_FILE: `${dir}/amqp-url` },
      flags: { amqpUrl: "amqp://flag" },
    }).amqpUrl,
    "amqp://flag",
  );
});

Deno.test("config secrets: files readable by group or others are refused", () => {
  const dir = Deno.makeTempDirSync();
  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o666]) {
    for (const key of ["amqpUrl", "redisUrl", "token", "registryPassword"]) {
      const content = key === "amqpUrl" ? AMQP : key === "redisUrl" ? REDIS : "x-Secret-4";
      const path = secretFile(dir, `s-${key}-${mode.toString(8)}`, content, mode);
      const error = configError(() =>
        loadConfig({ file: configFile(dir, { [`${key}File`]: path }), env: {} })
      );
      assert(error.message.includes("chmod 600"), error.message);
      assert(error.message.includes(`${key}File`), error.message);
      configError(() => loadConfig({ env: { [fileEnv(key)]: path } }));
    }
  }
  // 0400 (read-only for the owner) is fine.
  const readOnly = secretFile(dir, "ro", AMQP, 0o400);
  assertEquals(loadConfig({ env: { DN_AMQP_URL_FILE: readOnly } }).amqpUrl, AMQP);
});

function fileEnv(key: string): string {
  return "DN_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase() + "_FILE";
}

Deno.test("config secrets: errors never contain the secret", () => {
  const dir = Deno.makeTempDirSync();
  const cases: [string, string, string][] = [
    // key, file content, expected part of the message
    ["amqpUrl", "http://user:leak-Secret-5@host/", "amqp:// or amqps://"],
    ["amqpUrl", "leak-Secret-5 not a url", "amqp:// or amqps://"],
    ["redisUrl", "amqp://:leak-Secret-5@127.0.0.1/", "redis:// or rediss://"],
    ["redisUrl", "   \n", "is empty"],
    ["token", "", "is empty"],
  ];
  for (const [key, content, expected] of cases) {
    const path = secretFile(dir, `bad-${key}`, content);
    const error = configError(() =>
      loadConfig({ file: configFile(dir, { [`${key}File`]: path }), env: {} })
    );
    assert(error.message.includes(expected), error.message);
    assert(error.message.includes(path), `names the file: ${error.message}`);
    assert(!error.message.includes("leak-Secret-5"), `leaks the secret: ${error.message}`);
  }
  // A group-readable file is refused before it is read.
  const open = secretFile(dir, "open", "leak-Secret-5", 0o644);
  const error = configError(() => readSecretFile(open, "token"));
  assert(!error.message.includes("leak-Secret-5"), error.message);
});

Deno.test("config secrets: missing files, directories and non-path values are refused", () => {
  const dir = Deno.makeTempDirSync();
  configError(() => loadConfig({ env: { DN_REDIS_URL_FILE: `${dir}/missing` } }));
  Deno.chmodSync(dir, 0o700);
  configError(() => loadConfig({ env: { DN_TOKEN_FILE: dir } }));
  configError(() => loadConfig({ file: configFile(dir, { amqpUrlFile: 42 }), env: {} }));
  configError(() => loadConfig({ file: configFile(dir, { redisUrlFile: "" }), env: {} }));
  // *File only exists for secrets.
  configError(() =>
    loadConfig({ file: configFile(dir, { registryFile: secretFile(dir, "r", "x") }), env: {} })
  );
});

Deno.test("config secrets: a layer gives a secret inline or as a file, not both", () => {
  const dir = Deno.makeTempDirSync();
  const amqpFile = secretFile(dir, "amqp-url", AMQP);
  const both = configError(() =>
    loadConfig({ file: configFile(dir, { amqpUrl: AMQP, amqpUrlFile: amqpFile }), env: {} })
  );
  assert(both.message.includes("amqpUrl and amqpUrlFile"), both.message);
  assert(!both.message.includes("amqp-Secret-1"), both.message);
  const envBoth = configError(() =>
    loadConfig({ env: { DN_AMQP_URL: AMQP, DN_AMQP_URL_FILE: amqpFile } })
  );
  assert(envBoth.message.includes("DN_AMQP_URL and DN_AMQP_URL_FILE"), envBoth.message);
  assert(!envBoth.message.includes("amqp-Secret-1"), envBoth.message);
  // Different layers may: the environment's file overrides the file's inline value.
  assertEquals(
    loadConfig({
      file: configFile(dir, { amqpUrl: "amqp://x" }),
      env: { DN_AMQP_URL_FILE: amqpFile },
    }).amqpUrl,
    AMQP,
  );
});
