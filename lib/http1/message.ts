/**
 * HTTP/1.1 messages as the pool sends and returns them: request and response
 * shapes, hop-by-hop headers, and the request's serialisation.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";

/** A request to send upstream. */
export interface Http1Request {
  /** Method, upper case. */
  method: string;
  /** Origin-form target (`/path?query`). */
  url: string;
  /** Headers to send; framing headers are set by the client. */
  headers: HeaderList;
  /** Body bytes (may be empty). */
  body: Uint8Array;
}

/** A complete upstream response. */
export interface Http1Response {
  /** Status code. */
  status: number;
  /** Headers as received, names lower-cased, framing headers removed. */
  headers: HeaderList;
  /** Body bytes, de-chunked. */
  body: Uint8Array;
}

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
]);

/** Removes hop-by-hop headers and any header the `connection` header names. */
export function endToEndHeaders(headers: HeaderList): HeaderList {
  const named = new Set<string>();
  for (const [name, value] of headers) {
    if (name === "connection") {
      for (const token of value.split(",")) named.add(token.trim().toLowerCase());
    }
  }
  return headers.filter(([name]) => !HOP_BY_HOP.has(name) && !named.has(name));
}

const encoder = new TextEncoder();

/** Serialises the request head; the client owns framing and connection headers. */
export function serialiseRequest(req: Http1Request): Uint8Array {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (const [name, value] of endToEndHeaders(req.headers)) head += `${name}: ${value}\r\n`;
  const needsLength = req.body.length > 0 || !["GET", "HEAD", "DELETE", "OPTIONS"].includes(
    req.method,
  );
  if (needsLength) head += `content-length: ${req.body.length}\r\n`;
  head += "connection: keep-alive\r\n\r\n";
  const headBytes = encoder.encode(head);
  if (req.body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + req.body.length);
  out.set(headBytes);
  out.set(req.body, headBytes.length);
  return out;
}
