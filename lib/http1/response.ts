/**
 * Reads one HTTP/1.1 response from a {@link Connection}: status line and
 * headers, then a body framed by content-length, chunked encoding or the
 * connection's end. A response that breaks the protocol raises
 * {@link UpstreamBadResponseError} naming the flaw.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import type { Connection } from "./connection.ts";
import { UpstreamBadResponseError, UpstreamTooLargeError } from "./errors.ts";
import { endToEndHeaders, type Http1Response } from "./message.ts";

/** Size limits of a response. */
export interface ResponseLimits {
  /** Largest response head in bytes. */
  maxHeadBytes: number;
  /** Largest response body in bytes. */
  maxBodyBytes: number;
}

const decoder = new TextDecoder();

function parseHead(head: Uint8Array): { status: number; headers: HeaderList } {
  const lines = decoder.decode(head).split("\r\n");
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

function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
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
  return concat(parts, total);
}

/**
 * Reads the response to a `method` request on `c`; `reusable` is true when
 * the connection may carry another request.
 */
export async function readResponse(
  c: Connection,
  method: string,
  limits: ResponseLimits,
): Promise<{ response: Http1Response; reusable: boolean }> {
  let parsed = parseHead(await c.readHead(limits.maxHeadBytes));
  while (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
    parsed = parseHead(await c.readHead(limits.maxHeadBytes)); // skip 1xx
  }
  if (parsed.status === 101) throw new UpstreamBadResponseError("switched protocols");
  const { status, headers } = parsed;
  const connection = headerValue(headers, "connection")?.toLowerCase() ?? "";
  let reusable = !connection.includes("close");
  const transferEncoding = headerValue(headers, "transfer-encoding")?.toLowerCase();
  const lengthValue = headerValue(headers, "content-length");
  let body: Uint8Array;
  if (method === "HEAD" || status === 204 || status === 304) {
    body = new Uint8Array(0);
  } else if (transferEncoding !== undefined) {
    if (!transferEncoding.endsWith("chunked")) {
      throw new UpstreamBadResponseError(`unsupported transfer-encoding ${transferEncoding}`);
    }
    body = await readChunked(c, limits.maxBodyBytes);
  } else if (lengthValue !== undefined) {
    if (!/^\d{1,15}$/.test(lengthValue)) {
      throw new UpstreamBadResponseError("invalid content-length");
    }
    const length = Number(lengthValue);
    if (length > limits.maxBodyBytes) {
      throw new UpstreamTooLargeError("response body over the limit");
    }
    body = new Uint8Array(length);
    await c.readExact(body, 0, length);
  } else {
    body = await c.readToEnd(limits.maxBodyBytes);
    reusable = false;
  }
  if (c.available > 0) reusable = false; // bytes beyond the response: the framing is off
  const kept = endToEndHeaders(headers);
  if (method === "HEAD" && lengthValue !== undefined) kept.push(["content-length", lengthValue]);
  return { response: { status, headers: kept, body }, reusable };
}
