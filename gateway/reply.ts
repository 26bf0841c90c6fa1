/**
 * What the gateway's handler (gateway/server.ts) makes of the request target
 * it received and of the app's reply it sends back.
 *
 * @module
 */

import { watchEnd } from "../lib/streams.ts";
import type { AppReply } from "./direct.ts";

const NO_BODY_STATUS = new Set([204, 205, 304]);

/**
 * The client's answer from the app's reply, and whether its body streams
 * (then `done` is called when it has ended). A body in bytes (the broker
 * path) is sent with its length; a HEAD's and a bodyless status's answer
 * keeps the app's length, if it gave one.
 */
export function answer(method: string, reply: AppReply, done: () => void): [Response, boolean] {
  const { status } = reply;
  let headers = reply.headers;
  let body = reply.body;
  if (NO_BODY_STATUS.has(status) || method === "HEAD") {
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    body = null;
  } else if (body instanceof Uint8Array) {
    headers = [
      ...headers.filter(([name]) => name !== "content-length"),
      ["content-length", String(body.length)],
    ];
  }
  const streamed = body instanceof ReadableStream;
  if (body instanceof ReadableStream) body = watchEnd(body, done);
  return [new Response(body as BodyInit | null, { status, headers }), streamed];
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
