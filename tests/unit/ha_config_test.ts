/**
 * Settings of a network without a single point: several broker URLs,
 * Sentinels and the replicas each state change waits for, validated with
 * errors that name the key and never a password.
 */
import { assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { ConfigError, loadConfig, parseAmqpUrls, parseSentinels } from "../../lib/config.ts";
import { brokerUrls } from "../../lib/amqp.ts";
import { ControlUrls } from "../../cli/control_urls.ts";
import { redisConnection, redisTls } from "../../lib/redis.ts";
import { Logger } from "../../lib/log.ts";

const log = new Logger("test", "error");

const A = "amqp://dn-host:pw-Secret-1@10.0.0.1:5672/dn";
const B = "amqps://dn-host:pw-Secret-1@10.0.0.2:5671/dn";

Deno.test("amqpUrl takes several comma-separated broker URLs", () => {
  assertEquals(parseAmqpUrls(`${A}, ${B}`), [A, B]);
  assertEquals(
    loadConfig({ env: { DN_AMQP_URL: `${A} ,${B}` }, file: undefined }).amqpUrl,
    [
      A,
      B,
    ].join(","),
  );
  for (const bad of [`${A},`, `${A},http://x/`, "not a url", `${A},,${B}`]) {
    const error = assertThrows(() => loadConfig({ env: { DN_AMQP_URL: bad } }), ConfigError);
    assertEquals(
      error.message,
      "amqpUrl from DN_AMQP_URL must be amqp:// or amqps:// URLs separated by commas",
    );
  }
});

Deno.test("a broker list must name one user on every node", () => {
  assertEquals(brokerUrls(`${A},${B}`).length, 2);
  const error = assertThrows(
    () => brokerUrls(`${A},amqp://dn-gateway:pw-Secret-1@10.0.0.2/dn`),
    ConfigError,
  );
  assertEquals(error.message.includes("Secret"), false);
});

Deno.test("redisSentinels is a host:port list; WAIT settings are whole numbers", () => {
  assertEquals(parseSentinels("127.0.0.1:26379, redis-2:26380,[::1]:26381"), [
    { host: "127.0.0.1", port: 26379 },
    { host: "redis-2", port: 26380 },
    { host: "::1", port: 26381 },
  ]);
  assertEquals(parseSentinels(""), []);
  const config = loadConfig({
    env: {
      DN_REDIS_SENTINELS: "127.0.0.1:26379 ,127.0.0.1:26380",
      DN_REDIS_WAIT_REPLICAS: "1",
      DN_REDIS_WAIT_MS: "500",
    },
  });
  assertEquals(config.redisSentinels, "127.0.0.1:26379,127.0.0.1:26380");
  assertEquals([config.redisWaitReplicas, config.redisWaitMs, config.redisSentinelName], [
    1,
    500,
    "dn",
  ]);
  assertEquals(loadConfig({ env: { DN_REDIS_WAIT_REPLICAS: "0" } }).redisWaitReplicas, 0);
  for (
    const [key, value] of [
      ["DN_REDIS_SENTINELS", "127.0.0.1"],
      ["DN_REDIS_SENTINELS", "127.0.0.1:0"],
      ["DN_REDIS_SENTINELS", "a b:1"],
      ["DN_REDIS_WAIT_REPLICAS", "-1"],
      ["DN_REDIS_WAIT_MS", "0"],
    ]
  ) {
    const error = assertThrows(() => loadConfig({ env: { [key]: value } }), ConfigError);
    assertEquals(error.message.includes(key), true, error.message);
  }
});

Deno.test("the CLI tries the next control only when it cannot connect", async () => {
  const refused = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): tcp connect error: Connection refused"),
  });
  const asked: string[] = [];
  const fetcher = ((url: string) => {
    asked.push(url);
    if (url.startsWith("http://a")) return Promise.reject(refused);
    if (url.startsWith("http://b")) return Promise.reject(new TypeError("connection reset"));
    return Promise.resolve(new Response("ok"));
  }) as typeof fetch;
  const controls = new ControlUrls("http://a:1/, http://c:3");
  assertEquals(await (await controls.send(fetcher, "/v1/apps", () => ({}))).text(), "ok");
  assertEquals(asked, ["http://a:1/v1/apps", "http://c:3/v1/apps"]);
  assertEquals(controls.current, "http://c:3");
  await controls.send(fetcher, "/x", () => ({}));
  assertEquals(asked.at(-1), "http://c:3/x"); // the one that answered is tried first
  const taken = new ControlUrls("http://b:2,http://c:3");
  await assertRejects(() => taken.send(fetcher, "/v1/apps", () => ({ method: "POST" })));
  assertEquals(asked.at(-1), "http://b:2/v1/apps"); // b may have taken the POST: not resent
  assertThrows(() => new ControlUrls("http://a:1,ftp://b"), ConfigError);
  assertThrows(() => new ControlUrls(" , "), ConfigError);
});

Deno.test("with Sentinels, redisUrl gives the password, database and TLS", () => {
  const sentinels = [{ host: "127.0.0.1", port: 26379 }, { host: "10.0.0.2", port: 26380 }];
  assertEquals(
    redisConnection({ url: "redis://:p@127.0.0.1:6379/1", name: "x", log }),
    "redis://:p@127.0.0.1:6379/1",
  );
  const options = redisConnection({
    url: "rediss://:pa%40ss-Secret-2@ignored:1/3",
    sentinels,
    sentinelName: "net",
    name: "x",
    log,
  }) as Record<string, unknown>;
  assertEquals(
    [options.name, options.password, options.sentinelPassword, options.db, options.sentinels],
    ["net", "pa@ss-Secret-2", "pa@ss-Secret-2", 3, sentinels],
  );
  assertEquals([options.tls, options.enableTLSForSentinelMode], [{}, true]);
  for (const url of ["http://:x-Secret-2@h/1", "redis://h/db", "not a url"]) {
    const error = assertThrows(
      () => redisConnection({ url, sentinels, name: "x", log }),
      ConfigError,
    );
    assertEquals(error.message.includes("Secret"), false);
  }
});

Deno.test("redisCaFile: rediss:// Redis and Sentinels are verified against that CA only", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const caFile = `${dir}/ca.pem`;
    Deno.writeTextFileSync(
      caFile,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    const ca = [Deno.readTextFileSync(caFile)];
    assertEquals(redisTls("rediss://:p@127.0.0.1:6389/1", caFile), { ca });
    assertEquals(redisTls("rediss://:p@127.0.0.1:6389/1"), {}, "no CA file: the system roots");
    assertEquals(redisTls("redis://:p@127.0.0.1:6389/1", caFile), undefined, "plain: no TLS");
    const sentinels = [{ host: "127.0.0.1", port: 26379 }];
    const options = redisConnection({
      url: "rediss://:p@ignored:1/0",
      caFile,
      sentinels,
      name: "x",
      log,
    }) as Record<string, unknown>;
    assertEquals([options.tls, options.sentinelTLS], [{ ca }, { ca }]);
    const missing = assertThrows(() => redisTls("rediss://h:1/0", `${dir}/none.pem`), ConfigError);
    assertEquals(missing.message.startsWith(`redisCaFile ${dir}/none.pem:`), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
