import { assert } from "../helpers/assert.ts";
import { RedisUnavailableError, withRedis } from "../../lib/redis.ts";
import type { Redis } from "ioredis";

Deno.test("withRedis: a command cut by a dying connection or a failover is 'unavailable' (503)", async () => {
  const ready = { status: "ready" } as unknown as Redis;
  const gone = [
    "Stream isn't writeable and enableOfflineQueue options is false",
    "Connection is closed.",
    "read ECONNRESET",
    "READONLY You can't write against a read only replica.",
    "MASTERDOWN Link with MASTER is down",
  ];
  for (const message of gone) {
    const error = await withRedis(ready, () => Promise.reject(new Error(message))).catch((e) => e);
    assert(error instanceof RedisUnavailableError, `${message}: ${error}`);
  }
  const other = await withRedis(ready, () => Promise.reject(new Error("WRONGTYPE"))).catch((e) =>
    e
  );
  assert(!(other instanceof RedisUnavailableError), "a real error stays what it is");
});
