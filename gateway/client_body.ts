/**
 * A client's request body as the gateway sends it on: streamed piece by
 * piece (never whole in memory), counted against the app's body limit (413),
 * held to a least rate until the app answers (408: every 1 MiB, or the rest
 * of the body, must come within the body timeout, so a client dripping its
 * body holds nothing for long while a large upload takes what it needs), and
 * kept while short so that an idempotent request may still be sent again to
 * another upstream.
 *
 * @module
 */

import { HttpError } from "../lib/http/json.ts";
import { concatBytes } from "../lib/streams.ts";

/** Limits of a {@link ClientBody}. */
export interface ClientBodyLimits {
  /** Most bytes the body may have (APP_BODY_LIMIT) → 413. */
  limit: number;
  /** Time each {@link PROGRESS_BYTES} of the body (or its rest) may take until the app answers, in ms → 408. */
  timeoutMs: number;
  /** Bytes kept to send the body again; a longer body cannot be resent once read. */
  replayBytes: number;
}

/** Bytes of the body that must arrive within each body timeout. */
export const PROGRESS_BYTES = 1024 * 1024;

/** The request body of one client request. */
export class ClientBody implements AsyncIterable<Uint8Array> {
  /** The declared length (`content-length`); null when chunked; 0 when there is no body. */
  readonly length: number | null;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | null;
  readonly #kept: Uint8Array[] = [];
  #keptBytes = 0;
  #read = 0;
  #ended = false;
  #replayable = true;
  #failure: HttpError | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes read when the body timer last started. */
  #timedFrom = 0;

  /**
   * Wraps a request's `body` of `length` declared bytes (null: chunked);
   * raises HttpError 413 at once when that is over the limit (nothing of it
   * is read).
   */
  constructor(
    body: ReadableStream<Uint8Array> | null,
    length: number | null,
    readonly limits: ClientBodyLimits,
  ) {
    if (length !== null && length > limits.limit) {
      body?.cancel().catch(() => {});
      throw new HttpError(413, `body larger than ${limits.limit} bytes`);
    }
    this.#reader = body?.getReader() ?? null;
    this.length = this.#reader === null ? 0 : length;
    if (this.#reader !== null) this.#startTimer();
  }

  #startTimer(): void {
    clearTimeout(this.#timer);
    this.#timedFrom = this.#read;
    this.#timer = setTimeout(() => {
      this.#failure = new HttpError(
        408,
        `request body not received in time (${PROGRESS_BYTES} bytes every ${this.limits.timeoutMs} ms)`,
      );
      this.#reader?.cancel().catch(() => {});
    }, this.limits.timeoutMs);
  }

  /** True when there is no body to send. */
  get empty(): boolean {
    return this.#reader === null || this.length === 0;
  }

  /** True when the body can be sent from its start again (nothing read was let go). */
  get replayable(): boolean {
    return this.#replayable;
  }

  /** The app's answer began: the body's time limit no longer applies (the stream's idle one does). */
  answered(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops reading the body (the request is over). */
  cancel(): void {
    clearTimeout(this.#timer);
    if (!this.#ended) this.#reader?.cancel().catch(() => {});
  }

  /** The whole body, for the buffered broker path (same limits). */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const piece of this) parts.push(piece);
    return concatBytes(parts);
  }

  /** The body's pieces from its start: those kept, then the rest as the client sends it. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (!this.#replayable) throw new Error("the request body was already sent and not kept");
    for (const piece of [...this.#kept]) yield piece;
    while (!this.#ended) {
      const piece = await this.#next();
      if (piece === null) break;
      yield piece;
    }
  }

  async #next(): Promise<Uint8Array | null> {
    if (this.#reader === null) return null;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.#reader.read();
    } catch {
      // The client broke the body's framing (bad chunk) or went away mid-body.
      throw this.#failure ?? new HttpError(400, "request body could not be read");
    }
    if (this.#failure) throw this.#failure;
    if (result.done) {
      this.#ended = true;
      clearTimeout(this.#timer);
      return null;
    }
    const piece = result.value;
    this.#read += piece.length;
    if (this.#read > this.limits.limit) {
      this.#failure = new HttpError(413, `body larger than ${this.limits.limit} bytes`);
      this.cancel();
      throw this.#failure;
    }
    if (this.#timer !== undefined && this.#read - this.#timedFrom >= PROGRESS_BYTES) {
      this.#startTimer();
    }
    if (this.#replayable && this.#keptBytes + piece.length <= this.limits.replayBytes) {
      this.#kept.push(piece);
      this.#keptBytes += piece.length;
    } else {
      this.#replayable = false;
      this.#kept.length = 0;
    }
    return piece;
  }
}
