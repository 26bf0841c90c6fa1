/**
 * HTTP/1.1 messages as the pool sends and returns them: request and response
 * shapes, hop-by-hop headers, and the request's serialisation.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import { concatBytes } from "../streams.ts";

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

/** A character outside ASCII. */
const NOT_ASCII = /[\u0080-\uffff]/;
const asciiEncoder = new TextEncoder();
const asciiDecoder = new TextDecoder();

/**
 * Bytes of a string of characters up to U+00FF, one byte each (ISO-8859-1):
 * header values as runtimes hand them over (a header's raw bytes, one
 * character per byte) go back on the wire unchanged.
 */
export function latin1Encode(text: string): Uint8Array {
  if (!NOT_ASCII.test(text)) return asciiEncoder.encode(text); // the common case, native
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** The string of `bytes` read as ISO-8859-1: one character per byte, the inverse of {@link latin1Encode}. */
export function latin1Decode(bytes: Uint8Array): string {
  // ASCII reads the same as UTF-8 (native); any other byte decodes to a character over U+007F.
  const ascii = asciiDecoder.decode(bytes);
  if (!NOT_ASCII.test(ascii)) return ascii;
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

const encoder = new TextEncoder();
const BODYLESS_METHODS = ["GET", "HEAD", "DELETE", "OPTIONS"];

/**
 * Serialises a request head; the client owns framing and connection
 * headers: `content-length: length` when the length is known (and not a
 * bodyless method's 0), else `transfer-encoding: chunked` (length null).
 * With `upgrade` (a protocol such as `websocket`) it asks for that upgrade
 * (`upgrade` and `connection: upgrade`, the one case where those hop-by-hop
 * headers are sent), else for keep-alive.
 */
export function serialiseHead(
  method: string,
  url: string,
  headers: HeaderList,
  length: number | null,
  upgrade?: string,
): Uint8Array {
  // The target and header values are bytes, one character each (as lib/http1/server.ts reads
  // them); a target with characters over U+00FF (made in code, not received) goes as UTF-8.
  const requestLine = `${method} ${url} HTTP/1.1\r\n`;
  const line = /[\u0100-\uffff]/.test(url)
    ? encoder.encode(requestLine)
    : latin1Encode(requestLine);
  let head = "";
  for (const [name, value] of endToEndHeaders(headers)) head += `${name}: ${value}\r\n`;
  if (length === null) head += "transfer-encoding: chunked\r\n";
  else if (length > 0 || !BODYLESS_METHODS.includes(method)) {
    head += `content-length: ${length}\r\n`;
  }
  if (upgrade !== undefined) head += `upgrade: ${upgrade}\r\nconnection: upgrade\r\n\r\n`;
  else head += "connection: keep-alive\r\n\r\n";
  return concatBytes([line, latin1Encode(head)]);
}

/** Serialises the request, head and body in one buffer. */
export function serialiseRequest(req: Http1Request): Uint8Array {
  const headBytes = serialiseHead(req.method, req.url, req.headers, req.body.length);
  if (req.body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + req.body.length);
  out.set(headBytes);
  out.set(req.body, headBytes.length);
  return out;
}
