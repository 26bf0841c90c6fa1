/**
 * One kept-alive HTTP/1.1 connection with its read buffer. While it idles in
 * a pool a read stays pending on it, so the pool learns at once when the app
 * closes it, and never writes a request on a connection already closed.
 *
 * @module
 */

import { UpstreamBadResponseError, UpstreamTooLargeError } from "./errors.ts";

const CRLFCRLF = [13, 10, 13, 10];
const CRLF = [13, 10];
const decoder = new TextDecoder();

function indexOfSequence(buf: Uint8Array, seq: number[], from: number, to: number): number {
  // Native search for the first byte, then a check of the rest.
  for (let i = buf.indexOf(seq[0], from); i !== -1 && i <= to - seq.length;) {
    let j = 1;
    while (j < seq.length && buf[i + j] === seq[j]) j++;
    if (j === seq.length) return i;
    i = buf.indexOf(seq[0], i + 1);
  }
  return -1;
}

/** A TCP connection to an upstream, with buffered reads. */
export class Connection {
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  /** The read left pending while idle; the next {@link fill} takes its result. */
  #idleRead: Promise<number | null> | null = null;
  #idle = false;
  /** Bytes of the current request written so far. */
  written = 0;
  /** Bytes of the current response read so far. */
  received = 0;
  /** Number of requests sent on this connection. */
  uses = 0;
  /** Set when its upstream was forgotten mid-request: closed, not pooled, when done. */
  retired = false;
  /** Set when closed by `Http1Pool.abort`: its request failed, never to be sent again. */
  aborted = false;
  /** When a byte last moved either way (performance.now()). */
  lastActive = performance.now();
  /** Set when the app closed the connection (or sent bytes nobody asked for) while it idled. */
  closedWhileIdle = false;

  /** Wraps an open connection. */
  constructor(readonly conn: Deno.Conn) {}

  /** Closes the socket; a pending read ends. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  /**
   * Parks the connection (its last response fully read): a read stays
   * pending, and `onClosed` is told if it ends before {@link take}, which
   * means the app closed the connection (or sent bytes no request asked for).
   */
  park(onClosed: () => void): void {
    this.#start = this.#end = 0;
    this.#idle = true;
    const read = this.conn.read(this.#buf);
    this.#idleRead = read;
    const ended = () => {
      if (!this.#idle || this.#idleRead !== read) return;
      this.closedWhileIdle = true;
      this.close();
      onClosed();
    };
    read.then(ended, ended);
  }

  /** Takes the connection for a new request; false when the app closed it while idle. */
  take(): boolean {
    if (this.closedWhileIdle) return false;
    this.#idle = false;
    this.written = 0;
    this.received = 0;
    this.uses++;
    return true;
  }

  /** Writes all of `bytes`, counting what the kernel took in {@link written}. */
  async write(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    while (rest.length > 0) {
      const n = await this.conn.write(rest);
      this.written += n;
      this.lastActive = performance.now();
      rest = rest.subarray(n);
    }
  }

  /** Reads more bytes into the buffer; false at EOF. */
  async fill(): Promise<boolean> {
    let n: number | null;
    if (this.#idleRead !== null) {
      const read = this.#idleRead;
      this.#idleRead = null;
      n = await read;
    } else {
      if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
      if (this.#end === this.#buf.length) {
        const live = this.#end - this.#start;
        const next = new Uint8Array(live * 2 > this.#buf.length ? live * 2 : this.#buf.length);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
        this.#start = 0;
        this.#end = live;
      }
      n = await this.conn.read(this.#buf.subarray(this.#end));
    }
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    this.lastActive = performance.now();
    return true;
  }

  /** Bytes buffered and not consumed yet. */
  get available(): number {
    return this.#end - this.#start;
  }

  /** Reads up to and including the blank line ending a head of at most `max` bytes. */
  async readHead(max: number): Promise<Uint8Array> {
    let scanned = 0; // bytes after #start already searched (fill may move #start)
    while (true) {
      const from = this.#start + Math.max(0, scanned - 3);
      const at = indexOfSequence(this.#buf, CRLFCRLF, from, this.#end);
      if (at - this.#start > max || (at === -1 && this.available > max)) {
        throw new UpstreamBadResponseError(`response head over ${max} bytes`);
      }
      if (at !== -1) {
        const head = this.#buf.slice(this.#start, at);
        this.#start = at + 4;
        return head;
      }
      scanned = this.available;
      if (!(await this.fill())) throw new Deno.errors.UnexpectedEof("closed before a full head");
    }
  }

  /** Reads one CRLF-terminated line (chunk sizes, trailers). */
  async readLine(max: number): Promise<string> {
    while (true) {
      const at = indexOfSequence(this.#buf, CRLF, this.#start, this.#end);
      if (at !== -1) {
        const line = decoder.decode(this.#buf.subarray(this.#start, at));
        this.#start = at + 2;
        return line;
      }
      if (this.available > max) throw new UpstreamBadResponseError("chunk line too long");
      if (!(await this.fill())) throw new Deno.errors.UnexpectedEof("closed mid-body");
    }
  }

  /**
   * The next bytes of the stream, at most `max`: what is buffered, else one
   * read from the socket into a fresh buffer; null at EOF.
   */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.available > 0) return this.takeBytes(Math.min(max, this.available));
    const out = new Uint8Array(max);
    const n = await this.conn.read(out);
    if (n === null) return null;
    this.received += n;
    this.lastActive = performance.now();
    return out.subarray(0, n);
  }

  /** A view of the bytes buffered and not consumed yet (valid until the next read). */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Takes `n` bytes that are buffered (at most {@link available}). */
  takeBytes(n: number): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Hands over what is buffered and not consumed (the start of an upgraded stream). */
  takeBuffered(): Uint8Array {
    return this.takeBytes(this.available);
  }

  /** Reads exactly `n` bytes into `out` at `offset`. */
  async readExact(out: Uint8Array, offset: number, n: number): Promise<void> {
    let done = 0;
    while (done < n) {
      if (this.available === 0 && n - done >= this.#buf.length) {
        // A large rest goes straight into `out`: one read per kernel chunk, no copy.
        const read = await this.conn.read(out.subarray(offset + done, offset + n));
        if (read === null) throw new Deno.errors.UnexpectedEof("closed mid-body");
        this.received += read;
        this.lastActive = performance.now();
        done += read;
        continue;
      }
      if (this.available === 0 && !(await this.fill())) {
        throw new Deno.errors.UnexpectedEof("closed mid-body");
      }
      const take = Math.min(n - done, this.available);
      out.set(this.#buf.subarray(this.#start, this.#start + take), offset + done);
      this.#start += take;
      done += take;
    }
  }

  /** Reads until EOF, at most `max` bytes. */
  async readToEnd(max: number): Promise<Uint8Array> {
    while (await this.fill()) {
      if (this.available > max) throw new UpstreamTooLargeError("response body over the limit");
    }
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end;
    return out;
  }
}
