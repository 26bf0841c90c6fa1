/**
 * HTTP/1.1 on raw sockets, for tests that must send (or see) exactly the
 * bytes a client library would normalise: connect, write, read until the
 * end of a response head, a number of bytes, or the server's close (with a
 * deadline), and split what came back into responses.
 *
 * @module
 */

import { concatBytes } from "../../lib/streams.ts";
import { latin1Decode, latin1Encode } from "../../lib/http1.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Opens a TCP connection to `port` on 127.0.0.1. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Opens `count` connections to `port` at once. */
export function connectMany(port: number, count: number): Promise<Deno.TcpConn[]> {
  return Promise.all(Array.from({ length: count }, () => connect(port)));
}

/**
 * Writes all of `data` (a string as UTF-8), in writes of at most `pieceBytes`
 * when given (a write may take fewer bytes than it is handed: the rest is
 * written again).
 */
export async function writeAll(
  conn: Deno.Conn,
  data: string | Uint8Array,
  pieceBytes = Infinity,
): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  for (let at = 0; at < bytes.length; at += pieceBytes) {
    let rest = bytes.subarray(at, at + pieceBytes);
    while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
  }
}

/** Closes `conn`, when it is not closed already. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

/** What came back on a raw connection. */
export interface RawAnswer {
  /** Status of the first final response (1xx skipped, 101 kept), 0 when none. */
  status: number;
  /** Everything received, as ISO-8859-1 text (one character per byte). */
  text: string;
  /** Every byte received. */
  bytes: Uint8Array;
  /** The server closed (or reset) the connection before the deadline. */
  closed: boolean;
  /** Milliseconds from the start of reading to the first byte received, or -1. */
  firstByteMs: number;
}

/**
 * Opens a connection to `port`, writes `data` (a string as UTF-8) while
 * reading, and reads until the server closes it or `waitMs` passes. A write
 * that fails (the server answered and closed first) is not an error.
 */
export async function rawSend(
  port: number,
  data: string | Uint8Array,
  waitMs = 3000,
): Promise<RawAnswer> {
  const conn = await connect(port);
  const writing = writeAll(conn, data).catch(() => {});
  const answer = await readUntilClosed(conn, waitMs);
  await writing;
  return answer;
}

/** Reads `conn` until the server closes it or `waitMs` passes, then closes it. */
export async function readUntilClosed(conn: Deno.Conn, waitMs: number): Promise<RawAnswer> {
  const started = performance.now();
  let firstByteMs = -1;
  const chunks: Uint8Array[] = [];
  let closed = false;
  const timer = setTimeout(() => closeQuietly(conn), waitMs);
  const buf = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    // our timer closed it (BadResource / Interrupted), or the server reset it
    closed = e instanceof Deno.errors.ConnectionReset;
  }
  clearTimeout(timer);
  closeQuietly(conn);
  const bytes = concatBytes(chunks);
  const text = latin1Decode(bytes);
  return { status: firstFinalStatus(text), text, bytes, closed, firstByteMs };
}

/** The first final status (1xx skipped, 101 kept) among the status lines in `text`, or 0. */
function firstFinalStatus(text: string): number {
  const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  return statuses.find((s) => s >= 200 || s === 101) ?? 0;
}

/** A response head read off a connection, and what came after it. */
export interface RawHead {
  /** The head as ISO-8859-1 text, without its closing blank line (all that came, when cut short). */
  head: string;
  /** The status of its status line, 0 when there is none. */
  status: number;
  /** The bytes received after the head. */
  rest: Uint8Array;
  /** The head ended (a blank line came) before the connection closed or `waitMs` passed. */
  complete: boolean;
}

/**
 * Reads `conn` until the end of a response head (its blank line), the
 * connection's end, or `waitMs` (then it closes `conn`). The connection is
 * left open otherwise: the bytes after the head are in `rest`.
 */
export async function readHead(conn: Deno.Conn, waitMs = Infinity): Promise<RawHead> {
  const timer = Number.isFinite(waitMs) ? setTimeout(() => closeQuietly(conn), waitMs) : undefined;
  let received = "";
  let end = -1;
  const buf = new Uint8Array(64 * 1024);
  try {
    while ((end = received.indexOf("\r\n\r\n")) === -1) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      received += latin1Decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  const head = end === -1 ? received : received.slice(0, end);
  const rest = end === -1 ? new Uint8Array(0) : latin1Encode(received.slice(end + 4));
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  return { head, status, rest, complete: end !== -1 };
}

/**
 * Reads `conn` until `count` bytes in all (`first` counted first) or its
 * end; every byte received, which may be more than `count`.
 */
export async function readBytes(
  conn: Deno.Conn,
  count: number,
  first: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const chunks = [first];
  let total = first.length;
  const buf = new Uint8Array(64 * 1024);
  while (total < count) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    total += n;
  }
  return concatBytes(chunks);
}

/** One response out of a raw answer's text. */
export interface RawResponse {
  status: number;
  /** The head, without its closing blank line. */
  head: string;
  body: string;
}

/**
 * Splits what a server sent into responses, framed by content-length or
 * chunked (whose body is kept as sent, chunk lines and all); a response
 * framed neither way takes the rest.
 */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  while (true) {
    const end = rest.indexOf("\r\n\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(rest);
    if (end < 0 || !m) return out;
    const head = rest.slice(0, end);
    let body = rest.slice(end + 4);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      rest = body.slice(Number(length[1]));
      body = body.slice(0, Number(length[1]));
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = body.indexOf("0\r\n\r\n");
      rest = last < 0 ? "" : body.slice(last + 5);
      body = last < 0 ? body : body.slice(0, last);
    } else {
      rest = "";
    }
    out.push({ status: Number(m[1]), head, body });
  }
}

/** UTF-8 text of ISO-8859-1 text (each character a byte). */
export function utf8Of(latin1: string): string {
  return decoder.decode(latin1Encode(latin1));
}
