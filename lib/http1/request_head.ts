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

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Bytes no field value may hold: controls other than tab (CR, LF, NUL among them). */
// deno-lint-ignore no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Bytes no request target may hold: controls, space and DEL. */
// deno-lint-ignore no-control-regex
const BAD_TARGET = /[\x00-\x20\x7f]/;

/**
 * Parses a head (the bytes before its blank line, leading empty lines
 * allowed); raises {@link RequestHeadError} 400 or 505 naming the flaw.
 */
export function parseRequestHead(bytes: Uint8Array): IncomingHead {
  const lines = latin1Decode(bytes).replace(/^(?:\r\n)+/, "").split("\r\n");
  const parts = lines[0].split(" ");
  if (parts.length !== 3) throw new RequestHeadError(400, "invalid request line");
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) throw new RequestHeadError(400, "invalid method");
  if (target === "" || BAD_TARGET.test(target)) {
    throw new RequestHeadError(400, "invalid request target");
  }
  const v = /^HTTP\/(\d)\.(\d)$/.exec(version);
  if (!v) throw new RequestHeadError(400, "invalid HTTP version");
  if (v[1] !== "1") throw new RequestHeadError(505, `HTTP/${v[1]}.${v[2]} is not supported`);
  const headers: HeaderList = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line[0] === " " || line[0] === "\t") {
      throw new RequestHeadError(400, "obsolete line folding in the headers");
    }
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) {
      throw new RequestHeadError(400, `invalid header line ${JSON.stringify(line.slice(0, 40))}`);
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (BAD_VALUE.test(value)) throw new RequestHeadError(400, `invalid ${name} value`);
    headers.push([name.toLowerCase(), value]);
  }
  return { method, target, minor: v[2] === "0" ? 0 : 1, headers };
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
