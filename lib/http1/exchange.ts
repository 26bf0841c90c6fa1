/**
 * One streamed request/response exchange on an upstream {@link Connection},
 * full duplex: the request body is written while the response is read, so an
 * app that answers as it reads (a streaming echo) never deadlocks, and both
 * bodies flow with backpressure (one piece in memory at a time each way).
 *
 * Time limits: the response head must come within `headTimeoutMs` of the
 * request's last byte; while the request body is sent and once the response
 * has begun, no byte either way for `idleTimeoutMs` cuts the connection.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import { responseBody, writeBody } from "./body.ts";
import type { Connection } from "./connection.ts";
import {
  RequestBodyError,
  UpstreamBadResponseError,
  UpstreamDroppedError,
  UpstreamError,
  UpstreamTimeoutError,
} from "./errors.ts";
import { framingOf, headerValue, keepsAlive, passedHeaders, readResponseHead } from "./response.ts";

/** A request whose body streams. */
export interface StreamRequest {
  /** Method, upper case. */
  method: string;
  /** Origin-form target (`/path?query`), passed as given. */
  url: string;
  /** Headers to send; framing and connection headers are the client's. */
  headers: HeaderList;
  /** Body pieces, or null for none. */
  body: AsyncIterable<Uint8Array> | null;
  /** Declared body length; null when unknown (sent chunked). 0 when `body` is null. */
  length: number | null;
  /** A protocol to upgrade to (`websocket`): a 101 then hands the connection over. */
  upgrade?: string;
  /**
   * A response body of at most this many bytes that arrived with its head is
   * handed over whole, in `bytes` (no stream is made for it). Unset: always a stream.
   */
  wholeBodyBytes?: number;
}

/** A response whose body streams. */
export interface StreamResponse {
  /** Status code. */
  status: number;
  /** End-to-end headers as received (names lower-cased). */
  headers: HeaderList;
  /** The body, read from the upstream as it is consumed; null when none (or given whole). */
  body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body instead of `body`: set when the request asked for it
   * ({@link StreamRequest.wholeBodyBytes}) and the body came with its head.
   */
  bytes?: Uint8Array;
  /**
   * On a 101 to a request that asked to upgrade: the raw connection, now the
   * caller's (nothing times it any more), bytes already read past the head,
   * and the protocol the app switched to (its `Upgrade` header, else the one asked for).
   */
  upgraded?: { conn: Deno.Conn; buffered: Uint8Array; protocol: string };
}

/** Time limits of an exchange, in ms. */
export interface ExchangeLimits {
  /** From the request's last byte to the response head. */
  headTimeoutMs: number;
  /** Longest silence (no byte either way) while a body flows. */
  idleTimeoutMs: number;
  /** Largest response head in bytes. */
  maxHeadBytes: number;
}

/** An exchange under way: its response, and when the connection is done with. */
export interface Exchanged {
  response: StreamResponse;
  /** Settles when both bodies are done: true when the connection may carry another request. */
  settled: Promise<boolean>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What a proxy asks as {@link StreamRequest.wholeBodyBytes}: a response body
 * up to this size that came with its head is taken whole (no stream for it,
 * one write on to the client).
 */
export const WHOLE_BODY_BYTES = 64 * 1024;

/** Closes a connection when its phase's time runs out; cheap to poke on every byte. */
class Watchdog {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = performance.now();
  #limitMs = 0;
  /** When the pending timer fires (performance.now()). */
  #due = 0;
  fired = false;

  constructor(readonly onFire: () => void) {}

  /**
   * Arms the watchdog: it fires after `ms` without {@link poke}. A timer
   * already due no later is kept (it checks the time left when it fires).
   */
  arm(ms: number): void {
    this.#limitMs = ms;
    this.#last = performance.now();
    if (this.#timer !== undefined && this.#due <= this.#last + ms) return;
    clearTimeout(this.#timer);
    this.#schedule(ms);
  }

  /** Notes activity. */
  poke(): void {
    this.#last = performance.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    const delay = Math.min(Math.max(1, ms), MAX_TIMER_MS);
    this.#due = performance.now() + delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const quiet = performance.now() - this.#last;
      if (quiet + 1 < this.#limitMs) return this.#schedule(this.#limitMs - quiet);
      this.fired = true;
      this.onFire();
    }, delay);
  }
}

/**
 * Runs an exchange on `c`, whose request head is already written: sends
 * the body and reads the response head. Raises how far a failure got
 * ({@link UpstreamError} subclasses), or {@link RequestBodyError} when the
 * request's own body failed before the response began.
 */
export async function exchange(
  c: Connection,
  req: StreamRequest,
  limits: ExchangeLimits,
): Promise<Exchanged> {
  const watchdog = new Watchdog(() => c.close());
  let sourceFailure: RequestBodyError | null = null;
  let sent = req.body === null;
  let headArrived = false;
  const poke = () => watchdog.poke();
  watchdog.arm(sent ? limits.headTimeoutMs : limits.idleTimeoutMs);
  const pumping: Promise<boolean> = req.body === null
    ? Promise.resolve(true)
    : writeBody(c, req.body, req.length === null, poke).then(() => {
      sent = true;
      if (!headArrived) watchdog.arm(limits.headTimeoutMs);
      return true;
    }, (e) => {
      if (e instanceof RequestBodyError) {
        sourceFailure = e;
        c.close(); // the app sees the request cut
      } else if (!headArrived) {
        watchdog.arm(limits.headTimeoutMs); // the app stopped reading: it may still answer
      }
      return false;
    });
  let head;
  try {
    head = await readResponseHead(c, limits.maxHeadBytes);
  } catch (e) {
    watchdog.stop();
    c.close();
    await pumping;
    if (sourceFailure) throw sourceFailure;
    if (watchdog.fired) {
      const phase = sent
        ? `no response head ${limits.headTimeoutMs} ms after the request`
        : `nothing moved for ${limits.idleTimeoutMs} ms while the request was sent`;
      throw new UpstreamTimeoutError(phase);
    }
    if (e instanceof UpstreamError) throw e;
    const why = (e as Error).message;
    if (c.received > 0) throw new UpstreamBadResponseError(`response broke off: ${why}`);
    throw new UpstreamDroppedError(`closed the connection before answering: ${why}`);
  }
  headArrived = true;
  if (head.status === 101) {
    watchdog.stop();
    if (req.upgrade === undefined) {
      c.close();
      throw new UpstreamBadResponseError("switched protocols unasked");
    }
    const response = { status: 101, headers: passedHeaders(req.method, head.headers) };
    return {
      response: {
        ...response,
        body: null,
        upgraded: {
          conn: c.conn,
          buffered: c.takeBuffered(),
          protocol: headerValue(head.headers, "upgrade") ?? req.upgrade,
        },
      },
      settled: Promise.resolve(false),
    };
  }
  let framing;
  try {
    framing = framingOf(req.method, head);
  } catch (e) {
    watchdog.stop();
    c.close();
    await pumping;
    throw e;
  }
  if (
    sent && sourceFailure === null && framing.kind === "length" &&
    framing.length <= (req.wholeBodyBytes ?? -1) && c.available >= framing.length
  ) {
    // A small body that came with its head: handed over whole, no stream made for it.
    watchdog.stop();
    const bytes = c.takeBytes(framing.length);
    const reusable = keepsAlive(head, framing) && c.available === 0;
    return {
      response: {
        status: head.status,
        headers: passedHeaders(req.method, head.headers, framing),
        body: null,
        bytes,
      },
      settled: Promise.resolve(reusable),
    };
  }
  watchdog.arm(limits.idleTimeoutMs);
  const { promise: bodyDone, resolve } = Promise.withResolvers<boolean>();
  const body = responseBody(c, framing, {
    onBytes: poke,
    onEnd: (clean) => {
      watchdog.stop();
      if (!clean || !sent) c.close(); // cut, or answered before the request was all sent
      resolve(clean);
    },
    cutReason: () =>
      sourceFailure ??
        (watchdog.fired
          ? new UpstreamTimeoutError(`nothing moved for ${limits.idleTimeoutMs} ms`)
          : null),
  });
  const settled = Promise.all([bodyDone, pumping]).then(([clean, pumped]) =>
    clean && pumped && keepsAlive(head, framing) && c.available === 0
  );
  return {
    response: {
      status: head.status,
      headers: passedHeaders(req.method, head.headers, framing),
      body,
    },
    settled,
  };
}
