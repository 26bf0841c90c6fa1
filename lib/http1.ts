/**
 * A small HTTP/1.1 client with keep-alive pools, used by hosts to reach app
 * containers. Unlike `fetch` it sends exactly the headers it is given (no
 * added user-agent or accept-encoding) and returns the response bytes as the
 * app sent them (no decompression), so requests and responses pass through
 * byte for byte.
 *
 * @module
 */

import type { HeaderList } from "./envelope.ts";

/** Raised when the upstream cannot be reached, times out or breaks the protocol. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  /** Creates the error; `retriable` is true when no byte of a response was read. */
  constructor(message: string, readonly retriable = false) {
    super(message);
  }
}

/** Raised when no connection could be made: the request never left. */
export class UpstreamConnectError extends UpstreamError {
  override name = "UpstreamConnectError";
}

/** Raised when the upstream response is larger than allowed. */
export class UpstreamTooLargeError extends UpstreamError {
  override name = "UpstreamTooLargeError";
}

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

/** Limits of a {@link Http1Pool}. */
export interface Http1Limits {
  /** Largest response head in bytes. */
  maxHeadBytes: number;
  /** Largest response body in bytes. */
  maxBodyBytes: number;
  /** Idle connections kept per upstream. */
  maxIdle: number;
}

/** Longest delay a timer takes (2^31 - 1 ms); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Default longest wait for a connection: a local container accepts at once or not at all. */
const CONNECT_TIMEOUT_MS = 2000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLFCRLF = [13, 10, 13, 10];
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

function indexOfSequence(buf: Uint8Array, seq: number[], from: number, to: number): number {
  outer: for (let i = from; i <= to - seq.length; i++) {
    for (let j = 0; j < seq.length; j++) if (buf[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

/** One keep-alive TCP connection with a read buffer. */
class Connection {
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  /** Bytes of the current response read so far. */
  received = 0;
  /** Number of requests sent on this connection. */
  uses = 0;
  /** Set when its upstream was forgotten mid-request: closed, not pooled, when done. */
  retired = false;

  constructor(readonly conn: Deno.TcpConn) {}

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    while (rest.length > 0) rest = rest.subarray(await this.conn.write(rest));
  }

  /** Reads more bytes into the buffer; false at EOF. */
  async fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const live = this.#end - this.#start;
      const next = new Uint8Array(live * 2 > this.#buf.length ? live * 2 : this.#buf.length);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#start = 0;
      this.#end = live;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    return true;
  }

  get available(): number {
    return this.#end - this.#start;
  }

  /** Reads up to and including the blank line ending a head. */
  async readHead(max: number): Promise<Uint8Array> {
    let scanned = 0; // bytes after #start already searched (fill may move #start)
    while (true) {
      const from = this.#start + Math.max(0, scanned - 3);
      const at = indexOfSequence(this.#buf, CRLFCRLF, from, this.#end);
      if (at !== -1) {
        const head = this.#buf.slice(this.#start, at);
        this.#start = at + 4;
        return head;
      }
      scanned = this.available;
      if (this.available > max) throw new UpstreamError("upstream response head too large");
      if (!(await this.fill())) {
        throw new UpstreamError("upstream closed the connection", this.received === 0);
      }
    }
  }

  /** Reads one CRLF-terminated line (chunk sizes, trailers). */
  async readLine(max: number): Promise<string> {
    while (true) {
      const at = indexOfSequence(this.#buf, [13, 10], this.#start, this.#end);
      if (at !== -1) {
        const line = decoder.decode(this.#buf.subarray(this.#start, at));
        this.#start = at + 2;
        return line;
      }
      if (this.available > max) throw new UpstreamError("upstream chunk line too long");
      if (!(await this.fill())) throw new UpstreamError("upstream closed mid-body");
    }
  }

  /** Reads exactly `n` bytes into `out` at `offset`. */
  async readExact(out: Uint8Array, offset: number, n: number): Promise<void> {
    let done = 0;
    while (done < n) {
      if (this.available === 0 && n - done >= this.#buf.length) {
        // A large rest goes straight into `out`: one read per kernel chunk, no copy.
        const read = await this.conn.read(out.subarray(offset + done, offset + n));
        if (read === null) throw new UpstreamError("upstream closed mid-body");
        this.received += read;
        done += read;
        continue;
      }
      if (this.available === 0 && !(await this.fill())) {
        throw new UpstreamError("upstream closed mid-body");
      }
      const take = Math.min(n - done, this.available);
      out.set(this.#buf.subarray(this.#start, this.#start + take), offset + done);
      this.#start += take;
      done += take;
    }
  }

  /** Reads until EOF. */
  async readToEnd(max: number): Promise<Uint8Array> {
    while (await this.fill()) {
      if (this.available > max) throw new UpstreamTooLargeError("upstream body too large");
    }
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end;
    return out;
  }
}

function parseHead(head: Uint8Array): { status: number; headers: HeaderList } {
  const lines = decoder.decode(head).split("\r\n");
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!statusLine) throw new UpstreamError("upstream sent an invalid status line");
  const headers: HeaderList = [];
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon <= 0) throw new UpstreamError("upstream sent an invalid header line");
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
      throw new UpstreamError("upstream sent an invalid chunk size");
    }
    if (size === 0) break;
    total += size;
    if (total > max) throw new UpstreamTooLargeError("upstream body too large");
    const chunk = new Uint8Array(size);
    await c.readExact(chunk, 0, size);
    parts.push(chunk);
    if ((await c.readLine(2)) !== "") throw new UpstreamError("upstream chunk not terminated");
  }
  while ((await c.readLine(8192)) !== "") {
    // trailers are dropped
  }
  return concat(parts, total);
}

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

/** Keep-alive connection pools keyed by `host:port`. */
export class Http1Pool {
  readonly #idle = new Map<string, Connection[]>();
  /** Connections in use, by `host:port`. */
  readonly #busy = new Map<Connection, string>();

  /** Creates a pool with the given limits. */
  constructor(readonly limits: Http1Limits) {}

  /**
   * Sends `req` to `hostname:port` and reads the whole response, within
   * `timeoutMs`; a new connection must be up within `connectTimeoutMs`.
   */
  async request(
    hostname: string,
    port: number,
    req: Http1Request,
    timeoutMs: number,
    connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ): Promise<Http1Response> {
    const key = `${hostname}:${port}`;
    const bytes = serialiseRequest(req);
    for (let attempt = 0;; attempt++) {
      const pooled = this.#idle.get(key)?.pop();
      const c = pooled ??
        await this.#connect(hostname, port, Math.min(timeoutMs, connectTimeoutMs));
      c.received = 0;
      c.uses++;
      this.#busy.set(c, key);
      const timer = setTimeout(() => c.close(), Math.min(timeoutMs, MAX_TIMER_MS));
      try {
        await c.write(bytes);
        const response = await this.#readResponse(c, req.method);
        clearTimeout(timer);
        if (response.reusable) this.#release(key, c);
        else c.close();
        return response.response;
      } catch (e) {
        clearTimeout(timer);
        c.close();
        const stale = pooled !== undefined && c.received === 0 && attempt === 0;
        if (stale) continue;
        if (e instanceof UpstreamError) throw e;
        throw new UpstreamError(`upstream ${key}: ${(e as Error).message}`, c.received === 0);
      } finally {
        this.#busy.delete(c);
      }
    }
  }

  /**
   * Closes idle connections to `hostname:port` (the container went away);
   * those busy with a request now are closed once it is done.
   */
  forget(hostname: string, port: number): void {
    const key = `${hostname}:${port}`;
    for (const c of this.#idle.get(key) ?? []) c.close();
    this.#idle.delete(key);
    for (const [c, busyKey] of this.#busy) if (busyKey === key) c.retired = true;
  }

  /** Closes every idle connection. */
  close(): void {
    for (const list of this.#idle.values()) for (const c of list) c.close();
    this.#idle.clear();
  }

  /** Connects within `timeoutMs` (a container gone from its bridge IP gets no answer at all). */
  async #connect(hostname: string, port: number, timeoutMs: number): Promise<Connection> {
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      const conn = await Deno.connect({ hostname, port, transport: "tcp", signal });
      conn.setNoDelay(true);
      return new Connection(conn);
    } catch (e) {
      throw new UpstreamConnectError(
        `cannot connect to ${hostname}:${port}: ${(e as Error).message}`,
        true,
      );
    }
  }

  #release(key: string, c: Connection): void {
    const list = this.#idle.get(key) ?? [];
    if (c.retired || list.length >= this.limits.maxIdle) {
      c.close();
      return;
    }
    list.push(c);
    this.#idle.set(key, list);
  }

  async #readResponse(
    c: Connection,
    method: string,
  ): Promise<{ response: Http1Response; reusable: boolean }> {
    let parsed = parseHead(await c.readHead(this.limits.maxHeadBytes));
    while (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
      parsed = parseHead(await c.readHead(this.limits.maxHeadBytes)); // skip 1xx
    }
    if (parsed.status === 101) throw new UpstreamError("upstream switched protocols");
    const { status, headers } = parsed;
    const connection = headerValue(headers, "connection")?.toLowerCase() ?? "";
    let reusable = !connection.includes("close");
    const transferEncoding = headerValue(headers, "transfer-encoding")?.toLowerCase();
    const lengthValue = headerValue(headers, "content-length");
    let body: Uint8Array;
    if (method === "HEAD" || status === 204 || status === 304) {
      body = new Uint8Array(0);
    } else if (transferEncoding !== undefined) {
      if (!transferEncoding.endsWith("chunked")) throw new UpstreamError("unsupported encoding");
      body = await readChunked(c, this.limits.maxBodyBytes);
    } else if (lengthValue !== undefined) {
      if (!/^\d{1,15}$/.test(lengthValue)) throw new UpstreamError("invalid content-length");
      const length = Number(lengthValue);
      if (length > this.limits.maxBodyBytes) {
        throw new UpstreamTooLargeError("upstream body too large");
      }
      body = new Uint8Array(length);
      await c.readExact(body, 0, length);
    } else {
      body = await c.readToEnd(this.limits.maxBodyBytes);
      reusable = false;
    }
    const kept = endToEndHeaders(headers);
    if (method === "HEAD" && lengthValue !== undefined) kept.push(["content-length", lengthValue]);
    return { response: { status, headers: kept, body }, reusable };
  }
}
