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
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

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

/** The head of a response: status line, `headers`, then `extra` lines (already formatted). */
export function serialiseResponseHead(status: number, headers: HeaderList, extra = ""): Uint8Array {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
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
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
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
 * Writes `res` on `c` through `write`; true when the connection may carry
 * another request (the body was written whole and framed). The response
 * body is always read to its end or cancelled; a write failure is raised.
 */
export async function writeResponse(
  c: Connection,
  res: Response,
  ctx: ResponseContext,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<boolean> {
  const headers: HeaderList = [];
  let declared: number | null = null;
  let dated = false;
  for (const [name, value] of res.headers) {
    if (name === "content-length") declared = /^\d{1,15}$/.test(value) ? Number(value) : null;
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
  const body = res.body;
  const chunked = declared === null && !ctx.http10;
  if (declared !== null) extra += `content-length: ${declared}\r\n`;
  else if (chunked) extra += "transfer-encoding: chunked\r\n";
  else if (!ctx.close) extra += "connection: close\r\n"; // delimited by the connection's end
  try {
    await write(serialiseResponseHead(status, headers, extra));
  } catch (e) {
    body.cancel().catch(() => {});
    throw e;
  }
  if (!(await writeBody(body, declared, chunked, write))) {
    c.close();
    return false;
  }
  return !ctx.close && (declared !== null || chunked);
}

/**
 * Writes the pieces of `body` as they come; true when it ended cleanly and
 * matched `declared` (if any). On a write failure or a broken body the body
 * is cancelled and false returned.
 */
async function writeBody(
  body: ReadableStream<Uint8Array>,
  declared: number | null,
  chunked: boolean,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<boolean> {
  const reader = body.getReader();
  let sent = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      sent += value.length;
      if (declared !== null && sent > declared) throw new Error("body longer than its length");
      if (chunked) {
        const size = encoder.encode(value.length.toString(16) + "\r\n");
        const framed = new Uint8Array(size.length + value.length + 2);
        framed.set(size);
        framed.set(value, size.length);
        framed.set([13, 10], size.length + value.length);
        await write(framed);
      } else {
        await write(value);
      }
    }
    if (declared !== null && sent !== declared) return false;
    if (chunked) await write(LAST_CHUNK);
    return true;
  } catch {
    reader.cancel().catch(() => {});
    return false;
  }
}
