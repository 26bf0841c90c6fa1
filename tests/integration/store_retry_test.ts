/**
 * The app store's writes are safe to send twice: ioredis resends a command
 * after a reconnect (a Sentinel failover), and the first may have landed. On
 * the infra's Redis, under a prefix of its own.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { STATE_DIR } from "../helpers/network.ts";
import { APP_DEFAULTS, type AppRecord } from "../../lib/apps.ts";
import { loadConfig } from "../../lib/config.ts";
import { Logger } from "../../lib/log.ts";
import { connectRedis, redisReady, redisTarget } from "../../lib/redis.ts";
import { AppStore, StoreConflictError } from "../../lib/store.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

/** A fresh app record stamped now. */
function record(name: string): AppRecord {
  const now = new Date().toISOString();
  return {
    name,
    hostname: `${name}.test`,
    port: 80,
    status: "created",
    version: 1,
    image: `127.0.0.1:5443/${name}@${DIGEST}`,
    digest: DIGEST,
    createdAt: now,
    updatedAt: now,
    ...APP_DEFAULTS,
    digests: { "1": DIGEST },
    latestVersion: 1,
  };
}

Deno.test("store: a create or replace sent twice is one success; another writer's is a conflict", async () => {
  const config = loadConfig({ file: `${STATE_DIR}/config/test-control.json` });
  const redis = connectRedis({
    ...redisTarget(config),
    log: new Logger("test", "error"),
    name: "dn-test-store",
  });
  const prefix = `dntest-store-${crypto.randomUUID().slice(0, 8)}:`;
  try {
    await redisReady(redis, 10_000);
    const store = new AppStore(redis, prefix);
    const app = record("twice");
    await store.create(app);
    await store.create(app); // the same attempt again: already applied
    await assertRejects(
      () => store.create({ ...app, createdAt: "2000-01-01T00:00:00.000Z" }),
      StoreConflictError,
    );
    const previous = await store.get("twice");
    const next = {
      ...previous.app,
      status: "running" as const,
      updatedAt: "2100-01-01T00:00:00.000Z",
    };
    await store.replace(previous, next);
    await store.replace(previous, next); // resent: the record is already `next`
    await assertRejects(
      () => store.replace(previous, { ...next, replicas: 2 }),
      StoreConflictError,
    );
    assertEquals((await store.get("twice")).app.status, "running");
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});
