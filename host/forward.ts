/**
 * What a host makes of one request it forwarded to an app's container. The
 * host sends each request to the container once (lib/http1.ts); it says how
 * that ended, and the caller answers: over the broker its ack decides
 * whether RabbitMQ may give the request to another host, on the direct path
 * the gateway decides (README, "Delivery").
 *
 * @module
 */

import type { ResponseHead } from "../lib/envelope.ts";
import {
  type Http1Response,
  UpstreamBadResponseError,
  UpstreamConnectError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
} from "../lib/http1.ts";

/** An answer to send back: the app's, or one the host made. */
export interface Reply {
  head: ResponseHead;
  body: Uint8Array;
}

/**
 * Why the app gave no answer: "unreachable", its container took no byte of
 * the request (it never reached the app); "dropped", the container took it
 * and closed the connection before answering (the app may have run it);
 * "timeout", no answer before the deadline (the app may still be running it).
 */
export type NoReply = "unreachable" | "dropped" | "timeout";

const encoder = new TextEncoder();

/** A plain-text answer the host makes. */
export function plain(status: number, message: string): Reply {
  return {
    head: { status, headers: [["content-type", "text/plain; charset=utf-8"]] },
    body: encoder.encode(message + "\n"),
  };
}

/** The app's response as a reply. */
export function replyOf(res: Http1Response): Reply {
  return { head: { status: res.status, headers: res.headers }, body: res.body };
}

/**
 * What a failed request to `app`'s container means: a 502 naming the flaw
 * when the app answered badly (never sent again: it ran), else why no answer.
 */
export function failureOf(e: unknown, app: string): Reply | NoReply {
  if (e instanceof UpstreamConnectError) return "unreachable";
  if (e instanceof UpstreamTimeoutError) return "timeout";
  if (e instanceof UpstreamTooLargeError) return plain(502, `${app}'s response is over the limit`);
  if (e instanceof UpstreamBadResponseError) {
    return plain(502, `${app} sent an invalid response: ${e.message}`);
  }
  return "dropped";
}

/** The host's answer, over the broker, when the app gave none. */
export function noReply(app: string, why: NoReply): Reply {
  switch (why) {
    case "unreachable":
      return plain(502, `${app} is not answering`);
    case "dropped":
      return plain(502, `${app} failed during the request`);
    case "timeout":
      return plain(504, `${app} did not answer in time`);
  }
}
