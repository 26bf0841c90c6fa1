import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { ConfigError, envName, loadConfig, parseListen } from "../../lib/config.ts";
import { isAppName, isHostname, normaliseHostname } from "../../lib/names.ts";

Deno.test("config layers: defaults < file < env < flags", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/dn.json`;
  Deno.writeTextFileSync(file, JSON.stringify({ registry: "file:1", controlUrl: "http://f" }));
  const config = loadConfig({
    file,
    env: { DN_CONTROL_URL: "http://env", DN_REQUEST_TIMEOUT_MS: "1234" },
    flags: { registry: "flag:2" },
  });
  assertEquals(config.registry, "flag:2");
  assertEquals(config.controlUrl, "http://env");
  assertEquals(config.requestTimeoutMs, 1234);
  assertEquals(config.exchange, "dn");
});

Deno.test("config refuses unknown keys, bad numbers and open secret files", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/dn.json`;
  Deno.writeTextFileSync(file, JSON.stringify({ nope: 1 }));
  assertThrows(() => loadConfig({ file, env: {} }), ConfigError);
  assertThrows(() => loadConfig({ env: { DN_BODY_LIMIT: "-1", HOME: dir } }), ConfigError);
  const secret = `${dir}/token`;
  Deno.writeTextFileSync(secret, "s3cret-token-value\n");
  Deno.chmodSync(secret, 0o644);
  Deno.writeTextFileSync(file, JSON.stringify({ tokenFile: secret }));
  assertThrows(() => loadConfig({ file, env: {} }), ConfigError);
  Deno.chmodSync(secret, 0o600);
  assertEquals(loadConfig({ file, env: {} }).token, "s3cret-token-value");
  assertThrows(() => loadConfig({ file: `${dir}/missing.json`, env: {} }), ConfigError);
});

Deno.test("config: a publish address is one IPv4 address, gateway addresses a CIDR list", () => {
  const config = loadConfig({
    env: {
      DN_CONTAINER_PUBLISH_ADDRESS: "10.77.0.2",
      DN_GATEWAY_ADDRESSES: "10.77.0.1, 10.1.0.0/16",
    },
  });
  assertEquals(config.containerPublishAddress, "10.77.0.2");
  assertEquals(config.gatewayAddresses, "10.77.0.1,10.1.0.0/16");
  for (const bad of ["0.0.0.0", "127.0.0.1", "10.77.0", "host.example", "10.77.0.256", "::1"]) {
    const e = assertThrows(
      () => loadConfig({ env: { DN_CONTAINER_PUBLISH_ADDRESS: bad } }),
      ConfigError,
    );
    assertEquals(
      e.message.startsWith("containerPublishAddress from DN_CONTAINER_PUBLISH_ADDRESS must be"),
      true,
      e.message,
    );
  }
  for (const bad of ["10.0.0.1/33", "10.0.0.1/8/8", "example.com", "10.0.0.1 10.0.0.2"]) {
    const e = assertThrows(() => loadConfig({ env: { DN_GATEWAY_ADDRESSES: bad } }), ConfigError);
    assertEquals(
      e.message.startsWith("gatewayAddresses from DN_GATEWAY_ADDRESSES must be"),
      true,
      e.message,
    );
  }
});

Deno.test("env names and listen addresses", () => {
  assertEquals(envName("inlineBodyLimit"), "DN_INLINE_BODY_LIMIT");
  assertEquals(parseListen("127.0.0.1:8080", "x"), { hostname: "127.0.0.1", port: 8080 });
  assertEquals(parseListen("[::1]:80", "x"), { hostname: "::1", port: 80 });
  assertThrows(() => parseListen("127.0.0.1:99999", "x"), ConfigError);
  assertThrows(() => parseListen("nohost", "x"), ConfigError);
});

Deno.test("names: app names are DNS labels, hostnames are checked per label", () => {
  for (const ok of ["a", "hello-world", "x1", "a".repeat(63)]) assertEquals(isAppName(ok), true);
  for (const bad of ["", "-a", "a-", "Hello", "a_b", "a.b", "a".repeat(64), "../x", 3]) {
    assertEquals(isAppName(bad), false, String(bad));
  }
  assertEquals(isHostname("hello-world.dn.local"), true);
  assertEquals(isHostname("a..b"), false);
  assertEquals(isHostname("a b"), false);
  assertEquals(normaliseHostname("Hello.DN.local.:8080"), "hello.dn.local");
  assertEquals(normaliseHostname("[::1]:80"), "[::1]:80");
});

Deno.test("names sort the same in every locale (Danish sorts aa after zz)", async () => {
  const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const code = `
    import { compareNames } from ${module("../../lib/names.ts")};
    import { place } from ${module("../../control/placement.ts")};
    console.log(JSON.stringify({
      locale: "aa".localeCompare("zz"),
      sorted: ["zz", "aa", "b1", "b-c"].sort(compareNames),
      placed: place({ replicas: 1, placement: [] }, ["zz", "aa"], new Map()),
    }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { LC_ALL: "da_DK.UTF-8", LANG: "da_DK.UTF-8" },
    stdin: "null",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
    locale: 1, // the child does run in the Danish locale
    sorted: ["aa", "b-c", "b1", "zz"],
    placed: ["aa"],
  });
});

Deno.test("no service or CLI code depends on the process's locale (localeCompare, Intl, toLocale*)", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const offenders: string[] = [];
  async function scan(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory && entry.name !== "vendor") await scan(path);
      if (!entry.isFile || !/\.(ts|js)$/.test(entry.name)) continue;
      const text = await Deno.readTextFile(`${root}${path}`);
      text.split("\n").forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, "").replace(/^\s*\*.*$/, "");
        if (/\.localeCompare\(|\bIntl\.|\.toLocale\w*\(/.test(code)) {
          offenders.push(`${path}:${i + 1}`);
        }
      });
    }
  }
  for (const dir of ["lib", "control", "gateway", "host", "cli"]) await scan(dir);
  assertEquals(offenders, [], "use compareNames (lib/names.ts) and ISO or UTC formats");
});
