/**
 * Streamed bodies on an upstream {@link Connection}: the response body as a
 * `ReadableStream` read from the socket only as fast as its consumer takes it
 * (backpressure, flat memory), and the request body written from any async
 * source, chunked when its length is unknown.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { RequestBodyError, UpstreamBadResponseError } from "./errors.ts";
import type { Framing } from "./response.ts";

/** Largest piece read from the socket for one chunk of a streamed body. */
export const PIECE_BYTES = 256 * 1024;

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/** What a streamed response body tells its owner. */
export interface BodyEvents {
  /** Bytes arrived (resets idle timers). */
  onBytes(n: number): void;
  /** The body ended: `clean` when read to its end, false when cut, broken or cancelled. */
  onEnd(clean: boolean, error?: unknown): void;
  /** Why the connection was cut on purpose (its end is then no clean end), if it was. */
  cutReason(): Error | null;
}

/** A chunk-size line: hex digits (at most 15: no overflow), optional extensions after `;`. */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,15})[ \t]*(?:;.*)?$/;

/**
 * Reads one framed body from `c`, piece by piece; a body that breaks its
 * framing raises `bad(reason)` (the side reading it says whose fault).
 */
export class BodyReader {
  #left: number;
  #done = false;

  /** Reads the body framed by `framing` (of a response, unless `bad` says otherwise). */
  constructor(
    readonly c: Connection,
    readonly framing: Framing,
    readonly bad: (reason: string) => Error = (reason) =>
      new UpstreamBadResponseError(`response ${reason}`),
  ) {
    this.#left = framing.kind === "length" ? framing.length : 0;
  }

  /** True once the body was read to its end. */
  get done(): boolean {
    return this.#done;
  }

  /** The next piece, or null at the body's end. */
  async next(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    switch (this.framing.kind) {
      case "none":
        this.#done = true;
        return null;
      case "length":
        return await this.#fixed();
      case "close": {
        const piece = await this.c.readSome(PIECE_BYTES);
        if (piece === null) this.#done = true;
        return piece;
      }
      case "chunked":
        return await this.#chunk();
    }
  }

  async #fixed(): Promise<Uint8Array | null> {
    if (this.#left === 0) {
      this.#done = true;
      return null;
    }
    const piece = await this.c.readSome(Math.min(this.#left, PIECE_BYTES));
    if (piece === null) throw this.bad("body cut short");
    this.#left -= piece.length;
    return piece;
  }

  async #chunk(): Promise<Uint8Array | null> {
    if (this.#left === 0) {
      const line = await this.#line(4096);
      const digits = CHUNK_SIZE.exec(line)?.[1];
      if (digits === undefined) throw this.bad("body has an invalid chunk size");
      const size = parseInt(digits, 16);
      if (size === 0) {
        while ((await this.#line(8192)) !== "") {
          // trailers are dropped
        }
        this.#done = true;
        return null;
      }
      this.#left = size;
    }
    const piece = await this.c.readSome(Math.min(this.#left, PIECE_BYTES));
    if (piece === null) throw this.bad("body cut short");
    this.#left -= piece.length;
    if (this.#left === 0 && (await this.#line(2)) !== "") {
      throw this.bad("body has a chunk not terminated");
    }
    return piece;
  }

  /** One line of the chunked framing; the connection's end mid-body is a body cut short. */
  async #line(max: number): Promise<string> {
    try {
      return await this.c.readLine(max);
    } catch (e) {
      if (e instanceof Deno.errors.UnexpectedEof) throw this.bad("body cut short");
      if (e instanceof UpstreamBadResponseError) throw this.bad("body has a chunk line too long");
      throw e;
    }
  }
}

/**
 * The body of a response framed by `framing` on `c` as a stream, or null
 * when it has none. Each read of the stream reads the socket once; `events`
 * hears of bytes and of the end.
 */
export function responseBody(
  c: Connection,
  framing: Framing,
  events: BodyEvents,
): ReadableStream<Uint8Array> | null {
  if (framing.kind === "none" || (framing.kind === "length" && framing.length === 0)) {
    events.onEnd(true);
    return null;
  }
  const reader = new BodyReader(c, framing);
  let ended = false;
  const end = (clean: boolean, error?: unknown) => {
    if (ended) return;
    ended = true;
    events.onEnd(clean, error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const piece = await reader.next();
        const cut = events.cutReason();
        if (cut) throw cut;
        if (piece === null) {
          end(true);
          controller.close();
          return;
        }
        events.onBytes(piece.length);
        controller.enqueue(piece);
      } catch (e) {
        end(false, e);
        const why = e instanceof UpstreamBadResponseError
          ? e
          : new UpstreamBadResponseError(`response broke off: ${(e as Error).message}`);
        controller.error(why);
      }
    },
    cancel() {
      end(false);
    },
  }, { highWaterMark: 0 });
}

/**
 * Writes the request body from `source` to `c`: as is when `chunked` is
 * false (the head declared its length), else in chunked encoding. Each piece
 * is written before the next is taken (backpressure both ways). `onBytes`
 * hears of every piece written. A failing source raises
 * {@link RequestBodyError}; a failing write, the socket's error.
 */
export async function writeBody(
  c: Connection,
  source: AsyncIterable<Uint8Array>,
  chunked: boolean,
  onBytes: (n: number) => void,
): Promise<void> {
  const pieces = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    await writePieces(c, pieces, chunked, onBytes);
    finished = true;
  } finally {
    if (!finished) pieces.return?.().catch(() => {}); // stop reading the source
  }
}

async function writePieces(
  c: Connection,
  pieces: AsyncIterator<Uint8Array>,
  chunked: boolean,
  onBytes: (n: number) => void,
): Promise<void> {
  while (true) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await pieces.next();
    } catch (e) {
      throw new RequestBodyError(e);
    }
    if (next.done) break;
    const piece = next.value;
    if (piece.length === 0) continue;
    if (chunked) {
      const size = encoder.encode(piece.length.toString(16) + "\r\n");
      const framed = new Uint8Array(size.length + piece.length + 2);
      framed.set(size);
      framed.set(piece, size.length);
      framed.set(CRLF, size.length + piece.length);
      await c.write(framed);
    } else {
      await c.write(piece);
    }
    onBytes(piece.length);
  }
  if (chunked) await c.write(LAST_CHUNK);
}
