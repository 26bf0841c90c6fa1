/**
 * How the server side writes a `Response` on an HTTP/1.1 connection: the
 * status line and the response's own headers (connection and framing
 * headers are the server's), then its body framed by its declared
 * `content-length`, else chunked (close-delimited to an HTTP/1.0 client).
 * A small sized body goes out with the head in one write; a streamed body is
 * written piece by piece as it is produced, each write awaited
 * (backpressure). A body that breaks off, or gives more or fewer bytes than
 * its declared length, ends with the connection closed, never a clean end.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import type { Connection } from "./connection.ts";
import { latin1Encode } from "./message.ts";
import { concatBytes } from "../streams.ts";

/** Bodies up to this declared size are gathered and written with the head in one write. */
const GATHER_BYTES = 64 * 1024;

/** Headers a handler's response may not set: connection and framing are the server's. */
const SERVER_OWNED = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

/** Reason phrases of the statuses the gateway and apps commonly answer. */
const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();
/** A character outside ASCII (a header value's byte over 0x7F). */
const NOT_ASCII = /[\u0080-\uffff]/;
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const CRLF = encoder.encode("\r\n");

let dateSecond = 0;
let dateValue = "";
/** The `date` header's value now (RFC 9110 6.6.1), made once a second. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/**
 * A response whose body is known bytes (or none): the server writes its
 * head and body in one write, with no `Response` or body stream made for it.
 * Its `headers` are as for a `Response` (names lower-cased); connection and
 * framing headers are the server's.
 */
export class FixedResponse {
  /** A `status` answer with `headers` and `body` (null: none). */
  constructor(
    readonly status: number,
    readonly headers: HeaderList,
    readonly body: Uint8Array | null = null,
  ) {}

  /** The same answer as a `Response` (for servers that take only those), its length the body's. */
  toResponse(): Response {
    if (this.body === null) {
      return new Response(null, { status: this.status, headers: this.headers });
    }
    const headers = this.headers.filter(([name]) => name !== "content-length");
    headers.push(["content-length", String(this.body.length)]);
    return new Response(this.body as Uint8Array<ArrayBuffer>, { status: this.status, headers });
  }
}

/**
 * Writes `res` on `c` in one write; true when the connection may carry
 * another request. A HEAD's answer and a 204/304 get the head alone (a 304
 * and a HEAD's answer keep the body's length).
 */
export async function writeFixed(
  c: Connection,
  res: FixedResponse,
  ctx: ResponseContext,
): Promise<boolean> {
  const { status, body } = res;
  let head = statusLine(status);
  let dated = false;
  let declared = body === null ? null : body.length;
  for (const [name, value] of res.headers) {
    if (name === "date") dated = true;
    if (!SERVER_OWNED.has(name)) head += `${name}: ${value}\r\n`;
    else if (name === "content-length" && body === null) declared = lengthOf(value);
  }
  if (!dated) head += `date: ${httpDate()}\r\n`;
  if (ctx.close) head += "connection: close\r\n";
  const bodyless = ctx.head || status === 204 || status === 304 || status < 200;
  if (!bodyless) head += `content-length: ${body?.length ?? 0}\r\n`;
  else if (declared !== null && status !== 204 && (ctx.head || status === 304)) {
    head += `content-length: ${declared}\r\n`;
  }
  await c.write(withBody(head + "\r\n", bodyless ? null : body));
  return !ctx.close;
}

/** A content-length value's number, or null when it is not one. */
function lengthOf(value: string): number | null {
  return /^\d{1,15}$/.test(value) ? Number(value) : null;
}

/** `head` (one byte per character) followed by `body`, in one buffer. */
function withBody(head: string, body: Uint8Array | null): Uint8Array {
  if (NOT_ASCII.test(head)) {
    const bytes = latin1Encode(head);
    return body === null ? bytes : concatBytes([bytes, body]);
  }
  const out = new Uint8Array(head.length + (body?.length ?? 0));
  encoder.encodeInto(head, out);
  if (body !== null) out.set(body, head.length);
  return out;
}

/** `HTTP/1.1 <status> <reason>` and its CRLF. */
function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
}

/** The head of a response: status line, `headers`, then `extra` lines (already formatted). */
export function serialiseResponseHead(status: number, headers: HeaderList, extra = ""): Uint8Array {
  let head = statusLine(status);
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  return latin1Encode(head + extra + "\r\n");
}

/** A plain-text answer the server makes itself (the handler never saw the request). */
export function plainAnswer(status: number, message: string, close: boolean): Uint8Array {
  const body = encoder.encode(message + "\n");
  const head = serialiseResponseHead(
    status,
    [["content-type", "text/plain; charset=utf-8"], ["content-length", String(body.length)]],
    close ? "connection: close\r\n" : "",
  );
  return concatBytes([head, body]);
}

/** What {@link writeResponse} needs to know of the request. */
export interface ResponseContext {
  /** The request was a HEAD: no body, whatever the headers say. */
  head: boolean;
  /** The client speaks HTTP/1.0 (no chunked encoding). */
  http10: boolean;
  /** The connection closes after this response (`connection: close` is sent). */
  close: boolean;
}

/**
 * Writes `res` on `c`; true when the connection may carry
 * another request (the body was written whole and framed). The response
 * body is always read to its end or cancelled; a write failure is raised.
 */
export async function writeResponse(
  c: Connection,
  res: Response,
  ctx: ResponseContext,
): Promise<boolean> {
  const write = (bytes: Uint8Array) => c.write(bytes);
  const headers: HeaderList = [];
  let declared: number | null = null;
  let dated = false;
  for (const [name, value] of res.headers) {
    if (name === "content-length") declared = lengthOf(value);
    if (name === "date") dated = true;
    if (!SERVER_OWNED.has(name)) headers.push([name, value]);
  }
  if (!dated) headers.push(["date", httpDate()]); // the app's own date is kept
  const status = res.status;
  const bodyless = ctx.head || status === 204 || status === 304 || status < 200;
  let extra = ctx.close ? "connection: close\r\n" : "";
  if (bodyless || res.body === null) {
    await res.body?.cancel().catch(() => {});
    if (declared !== null && (ctx.head || status === 204 || status === 304)) {
      if (status !== 204) extra += `content-length: ${declared}\r\n`;
    } else if (!bodyless) extra += "content-length: 0\r\n";
    await write(serialiseResponseHead(status, headers, extra));
    return !ctx.close;
  }
  if (declared !== null && declared <= GATHER_BYTES) {
    const bytes = await res.bytes(); // a body framed by its length: it cannot run over
    const head = serialiseResponseHead(status, headers, extra + `content-length: ${declared}\r\n`);
    const out = new Uint8Array(head.length + Math.min(bytes.length, declared));
    out.set(head);
    out.set(bytes.subarray(0, declared), head.length);
    await write(out);
    if (bytes.length === declared) return !ctx.close;
    c.close(); // not the length it declared: whatever was sent, the client sees it cut
    return false;
  }
  const reader = res.body.getReader();
  // What the body already holds, when its length is not declared: a body already whole
  // (a Response made of bytes) gets its length, and the first pieces go with the head.
  let ready: Ready = { pieces: [], size: 0, ended: false, next: null };
  if (declared === null) {
    try {
      ready = await readReady(reader);
    } catch {
      c.close(); // the body broke before its first byte
      return false;
    }
    if (ready.ended) declared = ready.size;
  }
  const chunked = declared === null && !ctx.http10;
  if (declared !== null) extra += `content-length: ${declared}\r\n`;
  else if (chunked) extra += "transfer-encoding: chunked\r\n";
  else if (!ctx.close) extra += "connection: close\r\n"; // delimited by the connection's end
  const first = [serialiseResponseHead(status, headers, extra)];
  for (const piece of ready.pieces) first.push(...(chunked ? chunkOf(piece) : [piece]));
  try {
    await write(concatBytes(first));
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  if (ready.ended) return !ctx.close;
  if (!(await writeBody(reader, ready.next, declared, chunked, write))) {
    c.close();
    return false;
  }
  return !ctx.close && (declared !== null || chunked);
}

/** What a body had produced without waiting: its pieces, and whether it had ended. */
interface Ready {
  pieces: Uint8Array[];
  size: number;
  ended: boolean;
  /** A read begun and not settled yet, if any: the body's next piece. */
  next: Promise<ReadableStreamReadResult<Uint8Array>> | null;
}

const NOT_YET = Symbol("not yet");
/** Microtasks a read of a body already whole takes to settle (Deno's `Response` bodies: 1-3). */
const READY_TICKS = 4;

/** {@link NOT_YET}, a few microtasks from now: what a read must beat to count as ready. */
function notYet(): Promise<typeof NOT_YET> {
  let tick = Promise.resolve();
  for (let i = 0; i < READY_TICKS; i++) tick = tick.then();
  return tick.then(() => NOT_YET);
}

/**
 * Takes the pieces `reader` gives at once (reads that settle without waiting), up to
 * about {@link GATHER_BYTES}; waits for none. A failed read is raised.
 */
async function readReady(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Ready> {
  const ready: Ready = { pieces: [], size: 0, ended: false, next: null };
  while (ready.size <= GATHER_BYTES) {
    const next = reader.read();
    // A read of bytes already there settles within a few microtasks; one that waits loses.
    const result = await Promise.race([next, notYet()]);
    if (result === NOT_YET) {
      ready.next = next;
      break;
    }
    if (result.done) {
      ready.ended = true;
      break;
    }
    ready.pieces.push(result.value);
    ready.size += result.value.length;
  }
  return ready;
}

/** `piece` framed as one chunk (empty for an empty piece: that would end the body). */
function chunkOf(piece: Uint8Array): Uint8Array[] {
  if (piece.length === 0) return [];
  return [encoder.encode(piece.length.toString(16) + "\r\n"), piece, CRLF];
}

/**
 * Writes the pieces `reader` gives as they come (`next` first, if a read is
 * under way); true when the body ended cleanly and matched `declared` (if
 * any). On a write failure or a broken body the body is cancelled and false
 * returned.
 */
async function writeBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  next: Promise<ReadableStreamReadResult<Uint8Array>> | null,
  declared: number | null,
  chunked: boolean,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<boolean> {
  let sent = 0;
  try {
    for (;;) {
      const { done, value } = await (next ?? reader.read());
      next = null;
      if (done) break;
      if (value.length === 0) continue;
      sent += value.length;
      if (declared !== null && sent > declared) throw new Error("body longer than its length");
      await write(chunked ? concatBytes(chunkOf(value)) : value);
    }
    if (declared !== null && sent !== declared) return false;
    if (chunked) await write(LAST_CHUNK);
    return true;
  } catch {
    reader.cancel().catch(() => {});
    return false;
  }
}
