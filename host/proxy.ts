/**
 * The host's streaming proxy for requests that came straight from the
 * gateway (host/direct.ts): the request body flows on to the app's container
 * as it arrives and the response body back as the app writes it, full
 * duplex, with backpressure. The request counts in flight on its container
 * (an update or a stop waits for it) until the response body has ended.
 *
 * The request goes to the container once (lib/http1.ts); a container that
 * took no connection is looked at again, and suspended when it stopped or
 * restarted (the host checks it again before it gets requests). How it ended is the gateway's to act on
 * (README, "Delivery").
 *
 * @module
 */

import type { RequestHead } from "../lib/envelope.ts";
import { RequestBodyError, type StreamResponse, WHOLE_BODY_BYTES } from "../lib/http1.ts";
import { errorMessage } from "../lib/log.ts";
import { watchEnd } from "../lib/streams.ts";
import { failureOf, type Reply } from "./forward.ts";
import type { RequestServer } from "./requests.ts";

/**
 * How a streamed request ended: the app's response (its body streaming);
 * the host's own reply to a malformed response; "not served" (nothing
 * reached the app); "dropped" (the app took the request and answered
 * nothing, or the request's own body broke off); "expired" (no answer in
 * time).
 */
export type StreamOutcome =
  | { kind: "response"; response: StreamResponse }
  | { kind: "reply"; reply: Reply }
  | { kind: "not served" }
  | { kind: "dropped" }
  | { kind: "expired" };

/** The request to stream on: its head and its body's pieces (null: none). */
export interface StreamedRequest {
  head: RequestHead;
  body: AsyncIterable<Uint8Array> | null;
  /** Declared body length; null when unknown. */
  length: number | null;
  /** A protocol to upgrade to (`websocket`): a 101 hands over the connection. */
  upgrade?: string;
}

/** Sends `request` to `app`'s container and returns as soon as the response head arrives. */
export async function proxyToContainer(
  requests: RequestServer,
  app: string,
  request: StreamedRequest,
  idleMs: number,
): Promise<StreamOutcome> {
  const { pool, log, onServed, onUnreachable } = requests.options;
  const lease = requests.begin(app);
  if (lease === null) return { kind: "not served" };
  const { head, body, length, upgrade } = request;
  const target = lease.target;
  let handedOver = false;
  const started = performance.now();
  try {
    const headMs = Math.max(1, head.deadline - Date.now());
    try {
      const response = await pool.exchange(target.address, target.port, {
        method: head.method,
        url: head.url,
        headers: head.headers,
        body,
        length: body === null ? 0 : length,
        upgrade,
        wholeBodyBytes: WHOLE_BODY_BYTES,
      }, { connectMs: 2000, headMs, idleMs });
      onServed?.(app, response.status, performance.now() - started);
      handedOver = true;
      if (response.body === null) lease.end(); // no body, or a whole one (`bytes`)
      else response.body = watchEnd(response.body, lease.end);
      return { kind: "response", response };
    } catch (e) {
      if (e instanceof RequestBodyError) return { kind: "dropped" }; // the gateway cut it
      const failure = failureOf(e, app);
      // Stopped or restarted: checked again before it gets requests (its address may be reused).
      if (failure === "unreachable") await requests.recheck(app, target);
      log.warn("app request failed", { app, error: errorMessage(e) });
      if (typeof failure !== "string") return { kind: "reply", reply: failure };
      if (failure !== "timeout") onUnreachable(app);
      onServed?.(app, failure === "timeout" ? 504 : 0, performance.now() - started);
      if (failure === "unreachable") return { kind: "not served" };
      return { kind: failure === "dropped" ? "dropped" : "expired" };
    }
  } finally {
    if (!handedOver) lease.end();
  }
}
