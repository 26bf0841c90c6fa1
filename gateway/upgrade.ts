/**
 * HTTP/1.1 upgrades through the gateway (`Upgrade: websocket`, or any other
 * protocol): the request goes on the direct path (the app's container, or a
 * host's direct listener that relays it to the container), and once the app
 * answers 101 the gateway's server (lib/http1/server.ts) answers the client
 * 101 and tunnels bytes both ways until either side closes: frames,
 * extensions and subprotocols are the client's and the app's own. An app
 * that refuses the upgrade is answered as it answered. The broker path
 * cannot carry a connection: with no direct route the client gets 503
 * saying so.
 *
 * When the app's container stops (or is stopped after an update's drain
 * grace) its connection ends, and the gateway closes the client's.
 *
 * @module
 */

import type { RequestHead } from "../lib/envelope.ts";
import { SwitchProtocols } from "../lib/http1/server.ts";
import type { ClientBody } from "./client_body.ts";
import type { DirectClient, UpstreamResult } from "./direct.ts";

/** Told when an upgraded connection opens (true) and closes (false): metrics. */
export type UpgradeEvents = (open: boolean, protocol: string) => void;

/**
 * Sends the upgrade request `head` (asking for `protocol`) for `app` (its
 * current `release` preferred, as for any request) on the direct path: the
 * switch to answer the client with, the tunnel set up; else how the request
 * ended (the app's own answer when it refused the upgrade); null when no
 * route took it.
 */
export async function proxyUpgrade(
  protocol: string,
  app: string,
  release: string,
  head: RequestHead,
  body: ClientBody,
  direct: DirectClient,
  events: UpgradeEvents,
): Promise<SwitchProtocols | UpstreamResult | null> {
  const result = await direct.call(app, release, head, body, { upgrade: protocol });
  if (result === null || !result.ok || result.reply.upgraded === undefined) return result;
  const { upgraded } = result.reply;
  events(true, upgraded.protocol);
  return new SwitchProtocols(
    upgraded.protocol,
    result.reply.headers,
    upgraded,
    () => events(false, upgraded.protocol),
  );
}
