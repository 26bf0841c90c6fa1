/**
 * A Redis client for end-to-end tests that read or write what the services
 * keep there (routes, apps): the shared infra's Redis, reached as the test
 * host reaches it.
 *
 * @module
 */

import { infraConfig } from "./network.ts";
import { Logger } from "../../lib/log.ts";
import { connectRedis, redisReady } from "../../lib/redis.ts";

/** A client of {@link connectTestRedis}. */
export type TestRedis = ReturnType<typeof connectRedis>;

/**
 * Connects to Redis with the test host's URL and CA (scripts/infra's
 * `test-host` config) and waits up to 10 s until it answers; a client that
 * does not is disconnected and the wait's error thrown.
 */
export async function connectTestRedis(): Promise<TestRedis> {
  const config = infraConfig("test-host");
  const redis = connectRedis({
    url: config.redisUrl,
    caFile: config.redisCaFile,
    log: new Logger("test", "error"),
    name: "t",
  });
  try {
    await redisReady(redis, 10_000);
  } catch (e) {
    redis.disconnect();
    throw e;
  }
  return redis;
}
