/**
 * Direct routes in Redis: which host serves which app, and where the gateway
 * can send it requests without the broker.
 *
 * Hash `<prefix>routes`, field `<app> <host>`, value `<endpoint> <ms>
 * <container|-> <release>`: the host's request listener (`ip:port`), when
 * the host last said so (Redis's clock, see lib/redis_clock.ts: no two
 * machines' clocks need agree), from a host with `requestRoute: "container"`
 * the `ip:port` of the app's container (which the gateway then sends
 * requests to straight, with no host in between), and the release that
 * container runs (`<version>.<revision>@<digest>`, {@link releaseOf}): a
 * gateway sends requests only to routes of the app's current release while
 * there is one, so a dead host's container of an older version stops
 * answering as soon as the current one serves anywhere. Hosts
 * write their routes when they start or stop serving an app and again with
 * every heartbeat; each change is announced on the `<prefix>routes` channel.
 * Readers ignore routes older than {@link ROUTE_MAX_AGE_MS} by Redis's clock,
 * so a host that died without a word drops out on its own.
 *
 * @module
 */

import type { Redis } from "ioredis";
import type { AppRecord } from "./apps.ts";
import { HostAppHash } from "./host_hash.ts";
import { compareNames } from "./names.ts";
import { LUA_NOW_MS } from "./redis_clock.ts";

/** Routes not refreshed for this long are ignored (three missed heartbeats). */
export const ROUTE_MAX_AGE_MS = 15_000;

/**
 * Writes routes stamped with Redis's time. KEYS: routes hash, channel.
 * ARGV: "1" to publish (else "0"), host, then per route: field, endpoint,
 * container endpoint or "-", release.
 */
const ANNOUNCE = `${LUA_NOW_MS}
for i = 3, #ARGV, 4 do
  local value = ARGV[i + 1] .. ' ' .. now .. ' ' .. ARGV[i + 2] .. ' ' .. ARGV[i + 3]
  redis.call('HSET', KEYS[1], ARGV[i], value)
end
if ARGV[1] == '1' then redis.call('PUBLISH', KEYS[2], ARGV[2]) end
return 'ok'`;

/** A socket address, parsed once. */
export interface Endpoint {
  /** `ip:port` as announced. */
  endpoint: string;
  /** Its address (brackets of an IPv6 literal removed) and port. */
  address: string;
  port: number;
}

/** Where one host takes one app's requests: `endpoint` is the host's request listener. */
export interface Route extends Endpoint {
  /** Host service name. */
  host: string;
  /** The app's container, when the host lets gateways reach it straight. */
  container?: Endpoint;
  /** The release the host serves ({@link releaseOf}), "" when not said. */
  release?: string;
}

/**
 * One app a host announces: its container's `ip:port` for gateways to use
 * straight, and the release it runs.
 */
export interface RouteEntry {
  app: string;
  container?: string;
  release: string;
}

/** What a route says an app's container runs: `<version>.<revision>@<digest>`. */
export function releaseOf(app: Pick<AppRecord, "version" | "revision" | "digest">): string {
  return `${app.version}.${app.revision}@${app.digest}`;
}

const RELEASE = /^\d{1,15}\.\d{1,15}@sha256:[0-9a-f]{64}$/;

/** An IPv4 address or a host name, then a port. */
const ENDPOINT = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):\d{1,5}$/;

/** True for an `address:port` a route may name. */
export function isEndpoint(value: string): boolean {
  if (!ENDPOINT.test(value)) return false;
  const port = Number(value.slice(value.lastIndexOf(":") + 1));
  return port > 0 && port < 65536;
}

function parseEndpoint(endpoint: string): Endpoint {
  const colon = endpoint.lastIndexOf(":");
  const address = endpoint.slice(0, colon).replace(/^\[|\]$/g, "");
  return { endpoint, address, port: Number(endpoint.slice(colon + 1)) };
}

/** Reads and writes direct routes; {@link withdraw} says a host no longer serves apps. */
export class RouteStore extends HostAppHash {
  /** Creates a store over `redis` with key `prefix`. */
  constructor(redis: Redis, prefix: string) {
    super(redis, `${prefix}routes`);
  }

  /**
   * Says that `host` serves each of `entries` at `endpoint` (now, by Redis's clock); `news`
   * false for a refresh that changes nothing readers need to hear about at once.
   */
  async announce(
    host: string,
    endpoint: string,
    entries: RouteEntry[],
    news = true,
  ): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap((
      { app, container, release },
    ) => [`${app} ${host}`, endpoint, container ?? "-", release === "" ? "-" : release]);
    await this.writeWith(ANNOUNCE, host, args, news);
  }

  /** Fresh routes by app (by Redis's clock); malformed and stale entries are skipped. */
  async load(): Promise<Map<string, Route[]>> {
    const { now, fields } = await this.fields();
    const routes = new Map<string, Route[]>();
    for (const { app, host, value } of fields) {
      const [endpoint, at, container = "-", release = "-"] = value.split(" ");
      if (!isEndpoint(endpoint ?? "")) continue;
      if (!(now - Number(at) <= ROUTE_MAX_AGE_MS)) continue;
      if (container !== "-" && !isEndpoint(container)) continue;
      if (release !== "-" && !RELEASE.test(release)) continue;
      const route: Route = { host, ...parseEndpoint(endpoint) };
      if (container !== "-") route.container = parseEndpoint(container);
      if (release !== "-") route.release = release;
      const list = routes.get(app) ?? [];
      list.push(route);
      routes.set(app, list);
    }
    for (const list of routes.values()) list.sort((a, b) => compareNames(a.host, b.host));
    return routes;
  }
}
