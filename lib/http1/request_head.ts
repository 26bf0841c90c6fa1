/**
 * The server side's reading of an HTTP/1.1 request head (RFC 9112): the
 * request line, the header fields, and how the body is framed. Anything a
 * proxy could read differently from the app behind it is refused with 400
 * (request smuggling): both Content-Length and Transfer-Encoding, differing
 * or malformed Content-Length values, a Transfer-Encoding other than one
 * `chunked`, Transfer-Encoding in HTTP/1.0, whitespace before a field's
 * colon, obsolete line folding, control bytes in a field. Bytes are read as
 * ISO-8859-1, one character per byte, so targets and field values pass on
 * byte for byte.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import { latin1Decode } from "./message.ts";
import type { Framing } from "./response.ts";

/** A request the server refuses before its handler sees it: the status to answer and why. */
export class RequestHeadError extends Error {
  override name = "RequestHeadError";

  /** `status` is the answer (400, 413, 414, 431, 501, 505). */
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A request head as the client sent it. */
export interface IncomingHead {
  /** Method, as sent (methods are case-sensitive). */
  method: string;
  /** The request target as sent (origin, absolute, authority or asterisk form). */
  target: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Fields in order, names lower-cased, values without surrounding whitespace. */
  headers: HeaderList;
}

/** Characters of a token (RFC 9110 5.6.2), by character code: 1 for a token character. */
const TOKEN_CHARS = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[ch.charCodeAt(0)] = 1;
}

/** True when `text[from, to)` is a non-empty token. */
function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || TOKEN_CHARS[code] === 0) return false;
  }
  return true;
}

/** The index of the first space in `text[from, to)`, or -1. */
function spaceBefore(text: string, from: number, to: number): number {
  const at = text.indexOf(" ", from);
  return at === -1 || at >= to ? -1 : at;
}

/** True for a code no field value may hold: controls other than tab (CR, LF, NUL among them). */
function badValueCode(code: number): boolean {
  return (code < 32 && code !== 9) || code === 127;
}

/**
 * Parses a head (the bytes before its blank line, leading empty lines
 * allowed); raises {@link RequestHeadError} 400 or 505 naming the flaw. One
 * pass over the head's characters: no regular expression or split per line.
 */
export function parseRequestHead(bytes: Uint8Array): IncomingHead {
  const text = latin1Decode(bytes);
  let at = 0;
  while (text.charCodeAt(at) === 13 && text.charCodeAt(at + 1) === 10) at += 2;
  let lineEnd = text.indexOf("\r\n", at);
  if (lineEnd === -1) lineEnd = text.length;
  // Exactly two spaces in the request line: method, target, version.
  const space1 = spaceBefore(text, at, lineEnd);
  const space2 = space1 === -1 ? -1 : spaceBefore(text, space1 + 1, lineEnd);
  if (space2 === -1 || spaceBefore(text, space2 + 1, lineEnd) !== -1) {
    throw new RequestHeadError(400, "invalid request line");
  }
  if (!isToken(text, at, space1)) throw new RequestHeadError(400, "invalid method");
  if (space2 === space1 + 1) throw new RequestHeadError(400, "invalid request target");
  for (let i = space1 + 1; i < space2; i++) {
    const code = text.charCodeAt(i);
    if (code <= 32 || code === 127) throw new RequestHeadError(400, "invalid request target");
  }
  const major = text.charCodeAt(space2 + 6) - 48;
  const minor = text.charCodeAt(space2 + 8) - 48;
  if (
    lineEnd - space2 !== 9 || !text.startsWith("HTTP/", space2 + 1) ||
    text.charCodeAt(space2 + 7) !== 46 || !(major >= 0 && major <= 9) || !(minor >= 0 && minor <= 9)
  ) {
    throw new RequestHeadError(400, "invalid HTTP version");
  }
  if (major !== 1) throw new RequestHeadError(505, `HTTP/${major}.${minor} is not supported`);
  const headers: HeaderList = [];
  while (lineEnd < text.length) {
    const start = lineEnd + 2;
    lineEnd = text.indexOf("\r\n", start);
    if (lineEnd === -1) lineEnd = text.length;
    headers.push(parseField(text, start, lineEnd));
  }
  return {
    method: text.slice(at, space1),
    target: text.slice(space1 + 1, space2),
    minor: minor === 0 ? 0 : 1,
    headers,
  };
}

/** One header line `text[start, end)`: its lower-cased name and its value without surrounding whitespace. */
function parseField(text: string, start: number, end: number): [string, string] {
  const first = text.charCodeAt(start);
  if (first === 32 || first === 9) {
    throw new RequestHeadError(400, "obsolete line folding in the headers");
  }
  const colon = text.indexOf(":", start);
  if (colon === -1 || colon >= end || !isToken(text, start, colon)) {
    const line = text.slice(start, end);
    throw new RequestHeadError(400, `invalid header line ${JSON.stringify(line.slice(0, 40))}`);
  }
  let from = colon + 1;
  let to = end;
  while (from < to && (text.charCodeAt(from) === 32 || text.charCodeAt(from) === 9)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 32 || text.charCodeAt(to - 1) === 9)) to--;
  const name = text.slice(start, colon);
  for (let i = from; i < to; i++) {
    if (badValueCode(text.charCodeAt(i))) throw new RequestHeadError(400, `invalid ${name} value`);
  }
  return [name.toLowerCase(), text.slice(from, to)];
}

/** Every value of field `name` (lower case), in order. */
export function fieldValues(headers: HeaderList, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) if (n === name) out.push(v);
  return out;
}

/**
 * How the request's body is framed (RFC 9112 6.3): chunked, by its declared
 * length, or none. Raises {@link RequestHeadError} 400 for an ambiguous or
 * malformed framing, 501 for a transfer coding other than chunked.
 */
export function requestFraming(head: IncomingHead): Framing {
  const encodings = fieldValues(head.headers, "transfer-encoding");
  const lengths = fieldValues(head.headers, "content-length");
  if (encodings.length > 0) {
    if (lengths.length > 0) {
      throw new RequestHeadError(400, "both Content-Length and Transfer-Encoding");
    }
    if (head.minor === 0) throw new RequestHeadError(400, "Transfer-Encoding in HTTP/1.0");
    const codings = encodings.join(",").split(",").map((c) => c.trim().toLowerCase());
    if (codings.length !== 1 || codings[0] !== "chunked") {
      const status = codings.at(-1) === "chunked" || codings.includes("chunked") ? 400 : 501;
      throw new RequestHeadError(status, `Transfer-Encoding ${encodings.join(", ")} not supported`);
    }
    return { kind: "chunked" };
  }
  if (lengths.length === 0) return { kind: "none" };
  const values = new Set(lengths.join(",").split(",").map((l) => l.trim()));
  if (values.size !== 1) throw new RequestHeadError(400, "conflicting Content-Length values");
  const [value] = values;
  if (!/^\d{1,15}$/.test(value)) throw new RequestHeadError(400, "invalid Content-Length");
  const length = Number(value);
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** True when the client asked to close the connection after this request. */
export function wantsClose(head: IncomingHead): boolean {
  const tokens = connectionTokens(head.headers);
  return head.minor === 0 ? !tokens.has("keep-alive") : tokens.has("close");
}

/** The lower-cased tokens of every Connection field. */
export function connectionTokens(headers: HeaderList): Set<string> {
  const tokens = new Set<string>();
  for (const value of fieldValues(headers, "connection")) {
    for (const token of value.split(",")) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/** The protocol an HTTP/1.1 request asks to upgrade to (`Upgrade` named in `Connection`), or null. */
export function upgradeOf(head: IncomingHead): string | null {
  if (head.minor === 0 || !connectionTokens(head.headers).has("upgrade")) return null;
  const protocols = fieldValues(head.headers, "upgrade").join(", ").trim();
  return protocols === "" ? null : protocols;
}
