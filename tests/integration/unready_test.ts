/**
 * Why hosts do not serve an app, through the test infra's Redis: what a host
 * writes (host/unready.ts: at once, then at most once a second per app,
 * removed when served), what a gateway reads back (gateway/unready.ts:
 * fresh entries only, cleaned, several hosts in one line) for its 503s.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { sleep } from "../helpers/load.ts";
import { STATE_DIR } from "../helpers/network.ts";
import { UnreadyReasons } from "../../gateway/unready.ts";
import { startingReason, UnreadyAnnouncer } from "../../host/unready.ts";
import { loadConfig } from "../../lib/config.ts";
import { Logger } from "../../lib/log.ts";
import { connectRedis, redisReady, redisTarget } from "../../lib/redis.ts";
import { cleanReason, MAX_REASON, UNREADY_MAX_AGE_MS, UnreadyStore } from "../../lib/unready.ts";

const log = new Logger("test", "error");

/** Runs `run` with a store under a prefix of its own on the infra's Redis, removed after. */
async function withStore(run: (store: UnreadyStore) => Promise<void>): Promise<void> {
  const config = loadConfig({ file: `${STATE_DIR}/config/test-gateway.json` });
  const redis = connectRedis({ ...redisTarget(config), log, name: "dn-test-unready" });
  const prefix = `dntest-unready-${crypto.randomUUID().slice(0, 8)}:`;
  try {
    await redisReady(redis, 10_000);
    await run(new UnreadyStore(redis, prefix));
  } finally {
    await redis.del(`${prefix}unready`).catch(() => {});
    redis.disconnect();
  }
}

Deno.test("unready: reasons are printable ASCII, one line, at most 300 characters", () => {
  assertEquals(
    cleanReason("  GET /: connection\r\nrefused \t(os error 111) "),
    "GET /: connection refused (os error 111)",
  );
  assertEquals(cleanReason("caf\u00e9 \u0000x"), "caf? ?x");
  assertEquals(
    cleanReason("GET /: cannot connect to 172.19.0.6:8000: refused; registry 10.0.0.1 down"),
    "GET /: cannot connect to <address>: refused; registry <address> down",
  );
  assertEquals(cleanReason("x".repeat(1000)).length, MAX_REASON);
  assertEquals(
    startingReason("GET /: connection refused", 1),
    "starting: GET /: connection refused, 1 try",
  );
  assertEquals(
    startingReason("GET / no answer in 1000 ms", 5),
    "starting: GET / no answer in 1000 ms, 5 tries",
  );
});

Deno.test("unready: the store keeps fresh, valid reasons by app and host", async () => {
  await withStore(async (store) => {
    await store.write("host-b", new Map([["app", "crash-looping (exit 3), 2 restarts"]]));
    await store.write(
      "host-a",
      new Map([["app", "starting: GET /: refused, 3 tries"], ["other", "x\ny"]]),
    );
    const key = store.channel; // the hash has the channel's name
    await store.redis.hset(key, "stale host-c", `${Date.now() - UNREADY_MAX_AGE_MS - 60_000} old`);
    await store.redis.hset(key, "Bad_App host-a", `${Date.now()} bad name`);
    await store.redis.hset(key, "app host-d", "garbage");
    const loaded = await store.load();
    assertEquals([...loaded.keys()].sort(), ["app", "other"]);
    assertEquals(loaded.get("app"), [
      { host: "host-a", reason: "starting: GET /: refused, 3 tries" },
      { host: "host-b", reason: "crash-looping (exit 3), 2 restarts" },
    ]);
    assertEquals(loaded.get("other"), [{ host: "host-a", reason: "x y" }]);
    await store.withdraw("host-a", ["app", "other"]);
    assertEquals([...(await store.load()).entries()], [
      ["app", [{ host: "host-b", reason: "crash-looping (exit 3), 2 restarts" }]],
    ]);
  });
});

Deno.test("unready: a host writes a reason at once, then at most once a second, and removes it", async () => {
  await withStore(async (store) => {
    const host = new UnreadyAnnouncer(store, "host-a", log);
    const gateway = new UnreadyReasons(store, log);
    const seen = async () => {
      await gateway.reload();
      return gateway.reason("app");
    };
    host.note("app", startingReason("GET /: refused", 1));
    await sleep(100);
    assertEquals(await seen(), "host-a: starting: GET /: refused, 1 try");
    for (let tries = 2; tries <= 9; tries++) {
      host.note("app", startingReason("GET /: refused", tries));
    }
    await sleep(300);
    assertEquals(
      await seen(),
      "host-a: starting: GET /: refused, 1 try",
      "held back within the second",
    );
    await sleep(1000);
    assertEquals(await seen(), "host-a: starting: GET /: refused, 9 tries", "the newest, once");
    new UnreadyAnnouncer(store, "host-b", log).note("app", "crash-looping (exit 3), 1 restart");
    await sleep(100);
    assertEquals(
      await seen(),
      "host-a: starting: GET /: refused, 9 tries; host-b: crash-looping (exit 3), 1 restart",
    );
    host.clear("app");
    host.note("other", "x");
    await host.clearAll();
    assertEquals(await seen(), "host-b: crash-looping (exit 3), 1 restart");
    assertEquals(gateway.reason("other"), undefined);
    assert(!(await store.load()).has("other"), "clearAll removed every reason of the host");
  });
});
