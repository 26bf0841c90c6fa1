/**
 * Reads one HTTP/1.1 response from a {@link Connection}: status line and
 * headers, then a body framed by content-length, chunked encoding or the
 * connection's end. A response that breaks the protocol raises
 * {@link UpstreamBadResponseError} naming the flaw.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import { concatBytes } from "../streams.ts";
import type { Connection } from "./connection.ts";
import { UpstreamBadResponseError, UpstreamTooLargeError } from "./errors.ts";
import { endToEndHeaders, type Http1Response, latin1Decode } from "./message.ts";

/** Size limits of a response. */
export interface ResponseLimits {
  /** Largest response head in bytes. */
  maxHeadBytes: number;
  /** Largest response body in bytes. */
  maxBodyBytes: number;
}

/** A response's status line and headers, as received (names lower-cased). */
export interface ResponseHead {
  status: number;
  headers: HeaderList;
}

/**
 * Parses a response head. Bytes are read as ISO-8859-1, one character per
 * byte, so header values pass on byte for byte (UTF-8 filenames included).
 */
function parseHead(head: Uint8Array): ResponseHead {
  const lines = latin1Decode(head).split("\r\n");
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!statusLine) throw new UpstreamBadResponseError("invalid status line");
  const headers: HeaderList = [];
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon <= 0) throw new UpstreamBadResponseError("invalid header line");
    headers.push([lines[i].slice(0, colon).trim().toLowerCase(), lines[i].slice(colon + 1).trim()]);
  }
  return { status: Number(statusLine[1]), headers };
}

/** The first value of header `name` (lower case), if any. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

async function readChunked(c: Connection, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const line = await c.readLine(4096);
    const size = parseInt(line.split(";")[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+/.test(line)) {
      throw new UpstreamBadResponseError("invalid chunk size");
    }
    if (size === 0) break;
    total += size;
    if (total > max) throw new UpstreamTooLargeError("response body over the limit");
    const chunk = new Uint8Array(size);
    await c.readExact(chunk, 0, size);
    parts.push(chunk);
    if ((await c.readLine(2)) !== "") throw new UpstreamBadResponseError("chunk not terminated");
  }
  while ((await c.readLine(8192)) !== "") {
    // trailers are dropped
  }
  return concatBytes(parts);
}

/** How a response body is delimited. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * Reads the status line and headers of the final response (1xx other than
 * 101 are skipped). A 101 is returned: the caller decides what it means.
 */
export async function readResponseHead(c: Connection, maxHeadBytes: number): Promise<ResponseHead> {
  let parsed = parseHead(await c.readHead(maxHeadBytes));
  while (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
    parsed = parseHead(await c.readHead(maxHeadBytes)); // skip 1xx
  }
  return parsed;
}

/** How the body of a `status` response to a `method` request is delimited (RFC 9112 6.3). */
export function framingOf(method: string, { status, headers }: ResponseHead): Framing {
  if (method === "HEAD" || status === 204 || status === 304) return { kind: "none" };
  const transferEncoding = headerValue(headers, "transfer-encoding")?.toLowerCase();
  if (transferEncoding !== undefined) {
    if (!transferEncoding.endsWith("chunked")) {
      throw new UpstreamBadResponseError(`unsupported transfer-encoding ${transferEncoding}`);
    }
    return { kind: "chunked" };
  }
  const lengthValue = headerValue(headers, "content-length");
  if (lengthValue === undefined) return { kind: "close" };
  if (!/^\d{1,15}$/.test(lengthValue)) throw new UpstreamBadResponseError("invalid content-length");
  return { kind: "length", length: Number(lengthValue) };
}

/** True when the response lets the connection carry another request after it. */
export function keepsAlive(head: ResponseHead, framing: Framing): boolean {
  const connection = headerValue(head.headers, "connection")?.toLowerCase() ?? "";
  return framing.kind !== "close" && !connection.includes("close");
}

/**
 * The headers to pass on: end-to-end ones, and the declared length when the
 * body is framed by it (a streamed body keeps its length) or answers a HEAD.
 */
export function passedHeaders(method: string, headers: HeaderList, framing?: Framing): HeaderList {
  const kept = endToEndHeaders(headers);
  const length = headerValue(headers, "content-length");
  if (length !== undefined && (method === "HEAD" || framing?.kind === "length")) {
    kept.push(["content-length", length]);
  }
  return kept;
}

/**
 * Reads the whole response to a `method` request on `c`; `reusable` is true
 * when the connection may carry another request.
 */
export async function readResponse(
  c: Connection,
  method: string,
  limits: ResponseLimits,
): Promise<{ response: Http1Response; reusable: boolean }> {
  const head = await readResponseHead(c, limits.maxHeadBytes);
  if (head.status === 101) throw new UpstreamBadResponseError("switched protocols");
  const framing = framingOf(method, head);
  let body: Uint8Array;
  switch (framing.kind) {
    case "none":
      body = new Uint8Array(0);
      break;
    case "chunked":
      body = await readChunked(c, limits.maxBodyBytes);
      break;
    case "length":
      if (framing.length > limits.maxBodyBytes) {
        throw new UpstreamTooLargeError("response body over the limit");
      }
      body = new Uint8Array(framing.length);
      await c.readExact(body, 0, framing.length);
      break;
    case "close":
      body = await c.readToEnd(limits.maxBodyBytes);
  }
  // Bytes beyond the response mean the framing is off.
  const reusable = keepsAlive(head, framing) && c.available === 0;
  const response = { status: head.status, headers: passedHeaders(method, head.headers), body };
  return { response, reusable };
}
