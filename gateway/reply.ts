/**
 * What the gateway's handler (gateway/server.ts) makes of the request target
 * it received and of the app's reply it sends back.
 *
 * @module
 */

import { FixedResponse } from "../lib/http1/response_writer.ts";
import { watchEnd } from "../lib/streams.ts";
import type { AppReply } from "./direct.ts";

const NO_BODY_STATUS = new Set([204, 205, 304]);

/**
 * The client's answer from the app's reply, and whether its body streams
 * (then `done` is called when it has ended). A body in bytes (the broker
 * path, or a small one that came whole) is sent with its length, in one
 * write with the head; a HEAD's and a bodyless status's answer keeps the
 * app's length, if it gave one.
 */
export function answer(
  method: string,
  reply: AppReply,
  done: () => void,
): [Response | FixedResponse, boolean] {
  const { status, headers, body } = reply;
  if (NO_BODY_STATUS.has(status) || method === "HEAD") {
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    return [new FixedResponse(status, headers), false];
  }
  if (!(body instanceof ReadableStream)) {
    // Whole (or no) body: written with its head in one write, its length the server's.
    return [new FixedResponse(status, headers, body), false];
  }
  return [new Response(watchEnd(body, done), { status, headers }), true];
}

/**
 * The request target to send on, as the client sent it: an origin-form
 * target as is, an absolute-form one's path and query, `*` (OPTIONS) as is;
 * null for any other form.
 */
export function originForm(target: string): string | null {
  if (target.startsWith("/") || target === "*") return target;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  if (absolute === null) return null;
  const rest = target.slice(absolute[0].length);
  return rest === "" ? "/" : rest.startsWith("/") ? rest : null;
}
