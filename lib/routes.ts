/**
 * Direct routes in Redis: which host serves which app, and where the gateway
 * can send it requests without the broker.
 *
 * Hash `<prefix>routes`, field `<app> <host>`, value `<endpoint> <ms>`: the
 * host's request listener (`ip:port`) and when the host last said so. Hosts
 * write their routes when they start or stop serving an app and again with
 * every heartbeat; each change is announced on the `<prefix>routes` channel.
 * Readers ignore routes older than {@link ROUTE_MAX_AGE_MS}, so a host that
 * died without a word drops out on its own.
 *
 * @module
 */

import type { Redis } from "ioredis";
import { isAppName, isHostName } from "./names.ts";
import { withRedis } from "./redis.ts";

/** Routes not refreshed for this long are ignored (three missed heartbeats). */
export const ROUTE_MAX_AGE_MS = 15_000;

/** Where one host takes one app's requests. */
export interface Route {
  /** Host service name. */
  host: string;
  /** `ip:port` of the host's request listener. */
  endpoint: string;
  /** Its address (brackets of an IPv6 literal removed) and port, parsed once. */
  address: string;
  port: number;
}

/** An IPv4 address or a host name, then a port. */
const ENDPOINT = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):\d{1,5}$/;

/** True for an `address:port` a route may name. */
export function isEndpoint(value: string): boolean {
  if (!ENDPOINT.test(value)) return false;
  const port = Number(value.slice(value.lastIndexOf(":") + 1));
  return port > 0 && port < 65536;
}

/** Reads and writes direct routes. */
export class RouteStore {
  readonly #key: string;
  /** Pub/sub channel route changes are announced on. */
  readonly channel: string;

  /** Creates a store over `redis` with key `prefix`. */
  constructor(readonly redis: Redis, prefix: string) {
    this.#key = `${prefix}routes`;
    this.channel = `${prefix}routes`;
  }

  /**
   * Says that `host` serves each of `apps` at `endpoint` (now); `news` false
   * for a refresh that changes nothing readers need to hear about at once.
   */
  async announce(host: string, endpoint: string, apps: string[], news = true): Promise<void> {
    if (apps.length === 0) return;
    const now = Date.now();
    const fields = apps.flatMap((app) => [`${app} ${host}`, `${endpoint} ${now}`]);
    await withRedis(this.redis, () => {
      const write = this.redis.multi().hset(this.#key, ...fields);
      if (news) write.publish(this.channel, host);
      return write.exec();
    });
  }

  /** Says that `host` no longer serves `apps`. */
  async withdraw(host: string, apps: string[]): Promise<void> {
    if (apps.length === 0) return;
    const fields = apps.map((app) => `${app} ${host}`);
    await withRedis(
      this.redis,
      () => this.redis.multi().hdel(this.#key, ...fields).publish(this.channel, host).exec(),
    );
  }

  /** Fresh routes by app; malformed and stale entries are skipped. */
  async load(now = Date.now()): Promise<Map<string, Route[]>> {
    const all = await withRedis(this.redis, () => this.redis.hgetall(this.#key));
    const routes = new Map<string, Route[]>();
    for (const [field, value] of Object.entries(all)) {
      const [app, host] = field.split(" ");
      const [endpoint, at] = value.split(" ");
      if (!isAppName(app) || !isHostName(host) || !isEndpoint(endpoint ?? "")) continue;
      if (!(now - Number(at) <= ROUTE_MAX_AGE_MS)) continue;
      const list = routes.get(app) ?? [];
      const colon = endpoint.lastIndexOf(":");
      const address = endpoint.slice(0, colon).replace(/^\[|\]$/g, "");
      list.push({ host, endpoint, address, port: Number(endpoint.slice(colon + 1)) });
      routes.set(app, list);
    }
    for (const list of routes.values()) list.sort((a, b) => a.host.localeCompare(b.host));
    return routes;
  }
}
