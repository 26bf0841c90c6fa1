/**
 * WebSockets through the gateway: a client's `Upgrade: websocket` request
 * goes on the direct path (the app's container, or a host's direct listener
 * that relays it to the container), and once the app answers 101 the
 * gateway upgrades the client's connection and relays messages both ways
 * (lib/websocket.ts) until either side closes. An app that refuses the
 * upgrade is answered as it answered. The broker path cannot carry a
 * connection: with no direct route the client gets 503 saying so.
 *
 * Deno.serve gives no raw socket for an upgrade, so other upgrades (h2c,
 * ...) reach the app as plain requests, their `Upgrade` header dropped.
 *
 * @module
 */

import type { RequestHead } from "../lib/envelope.ts";
import { relayWebSocket } from "../lib/websocket.ts";
export { isWebSocketUpgrade } from "../lib/websocket.ts";
import type { ClientBody } from "./client_body.ts";
import type { DirectClient, UpstreamResult } from "./direct.ts";

/** Told when a relayed WebSocket opens (true) and closes (false): metrics. */
export type WebSocketEvents = (open: boolean) => void;

/**
 * Sends the upgrade request `head` for `app` (its current `release`
 * preferred, as for any request) on the direct path: the
 * client's 101 with the relay started; else how the request ended (the
 * app's own answer when it refused the upgrade); null when no route took it.
 */
export async function proxyWebSocket(
  req: Request,
  app: string,
  release: string,
  head: RequestHead,
  body: ClientBody,
  direct: DirectClient,
  events: WebSocketEvents,
): Promise<Response | UpstreamResult | null> {
  // Messages are relayed, not bytes: no extension (compression) can span both sides.
  head.headers = head.headers.filter(([name]) => name !== "sec-websocket-extensions");
  const result = await direct.call(app, release, head, body, { upgrade: "websocket" });
  if (result === null || !result.ok || result.reply.upgraded === undefined) return result;
  const protocol = result.reply.headers.find(([name]) => name === "sec-websocket-protocol")?.[1];
  const { socket, response } = Deno.upgradeWebSocket(req, { protocol, idleTimeout: 0 });
  events(true);
  relayWebSocket(socket, result.reply.upgraded, { onClose: () => events(false) });
  return response;
}
