/**
 * dn control service: reads configuration and wires the API to Redis and
 * RabbitMQ.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadConfig, parseListen, requireKeys } from "../lib/config.ts";
import { Logger } from "../lib/log.ts";
import { connectRedis } from "../lib/redis.ts";
import { AppStore } from "../lib/store.ts";
import { createApi } from "./api.ts";
import { tokenChecker } from "./auth.ts";
import { ControlBroker } from "./broker.ts";

const { values } = parseArgs({ args: Deno.args, options: { config: { type: "string" } } });
const config = loadConfig({ file: values.config });
requireKeys(config, ["token", "amqpUrl", "redisUrl", "registry"], "control");
const log = new Logger("control", config.logLevel);
const redis = connectRedis({ url: config.redisUrl, log, name: "dn-control" });
const broker = new ControlBroker(config.amqpUrl, config.amqpCaFile, config.exchange, log);
broker.start();
const handler = createApi({
  store: new AppStore(redis, config.redisPrefix),
  broker,
  registry: config.registry,
  checkToken: tokenChecker(config.token),
  log,
  statusTimeoutMs: 1500,
});
const { hostname, port } = parseListen(config.controlListen, "controlListen");
const server = Deno.serve({
  hostname,
  port,
  onListen: (addr) => log.info("control listening", { addr: `${addr.hostname}:${addr.port}` }),
}, handler);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    await broker.broker.stop();
    redis.disconnect();
    log.flush();
    Deno.exit(0);
  });
}
