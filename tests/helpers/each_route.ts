/**
 * Apps placed one on each request route, for end-to-end tests that check a
 * behaviour on both: the network's first host sends requests straight to
 * its containers (the container route), its second runs with
 * `DN_REQUEST_ROUTE=host` and stays in the path (the host route).
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import type { TestNetwork } from "./network.ts";

/** An app on one route. */
export interface RoutePath {
  /** The route its requests take. */
  name: "container" | "host";
  /** The app's name. */
  app: string;
  /** Its hostname (`<app>.dn.test`), for the Host header. */
  hostname: string;
}

/**
 * Deploys the app in `dir` (port 8000, one replica, `settings`) as
 * `<prefix>-0`, `<prefix>-1`, … until one runs on each of `hosts` or
 * `tries` are deployed, and asserts one runs on each: [the app on
 * `hosts[0]` (container route), the app on `hosts[1]` (host route)].
 */
export async function deployOnEachRoute(
  net: TestNetwork,
  dir: string,
  prefix: string,
  hosts: string[],
  settings: Record<string, unknown> = {},
  tries = 2,
): Promise<RoutePath[]> {
  const placed = new Map<string, RoutePath>();
  for (let i = 0; placed.size < 2 && i < tries; i++) {
    const app = `${prefix}-${i}`;
    const record = await net.deploy(dir, app, `${app}.dn.test`, 8000, {
      replicas: 1,
      ...settings,
    });
    const host = record.placement[0];
    const name = host === hosts[0] ? "container" : "host";
    if (!placed.has(host)) placed.set(host, { name, app, hostname: `${app}.dn.test` });
  }
  assertEquals([...placed.keys()].sort(), [...hosts].sort(), "one app on each host");
  return [placed.get(hosts[0])!, placed.get(hosts[1])!];
}
