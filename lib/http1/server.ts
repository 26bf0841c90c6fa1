/**
 * An HTTP/1.1 server on `Deno.listen` (or `Deno.listenTls`), for a reverse
 * proxy that must pass requests on as clients sent them: every method's
 * body (a GET's too) with its length, the request target and header bytes
 * as sent, and any upgrade (`Upgrade: websocket`, or another protocol) as a
 * raw byte tunnel after the upstream's 101 (lib/http1/tunnel.ts).
 *
 * Per connection, one request at a time (pipelined requests wait in the read
 * buffer until the previous response is written); keep-alive unless the
 * client asks to close or a body was not read to its end. Limits: the head
 * must arrive within `headTimeoutMs` of its first byte (408 and closed after:
 * slow heads hold nothing for long), an idle kept-alive connection is closed
 * after `idleTimeoutMs`, a head over `maxHeadBytes` gets 431 (414 when the
 * request line alone is), a malformed or ambiguous head 400
 * (lib/http1/request_head.ts), another HTTP version 505. After such an
 * answer the connection is closed. `Expect: 100-continue` is answered with
 * `100 Continue` when the handler first reads the body.
 *
 * The cheap path per request: the head is parsed in one pass, a request
 * without a body gets no stream, and a handler that answers a
 * {@link FixedResponse} (known bytes) has it written with its head in one
 * write, with no `Response` or stream made; a `Response` whose body is
 * already whole goes the same way with its length (lib/http1/response_writer.ts).
 * Timers are per server (one sweep), not per request.
 *
 * @module
 */

import type { HeaderList } from "../envelope.ts";
import { Connection } from "./connection.ts";
import { UpstreamBadResponseError } from "./errors.ts";
import {
  fieldValues,
  type IncomingHead,
  parseRequestHead,
  requestFraming,
  RequestHeadError,
  upgradeOf,
  wantsClose,
} from "./request_head.ts";
import { RequestBody } from "./request_body.ts";
import {
  FixedResponse,
  plainAnswer,
  serialiseResponseHead,
  writeFixed,
  writeResponse,
} from "./response_writer.ts";
import { Tunnel, type TunnelEnd } from "./tunnel.ts";

export { FixedResponse } from "./response_writer.ts";

/** A request as the server hands it to its handler. */
export interface ServerRequest extends IncomingHead {
  /** The body as it arrives (read it to let the client send it); null when there is none. */
  body: ReadableStream<Uint8Array> | null;
  /** The declared body length; null when chunked; 0 when there is no body. */
  length: number | null;
  /** The protocol the client asks to upgrade to, or null. */
  upgrade: string | null;
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
  /** True on a TLS connection. */
  secure: boolean;
}

/**
 * A handler's answer that switches protocols: the server writes a 101 with
 * `headers` (and `Connection: upgrade`, `Upgrade: protocol`) and then
 * tunnels bytes between the client and `upstream` until either ends.
 */
export class SwitchProtocols {
  /** Always 101. */
  readonly status = 101;

  /** `onClose` hears when the tunnel has ended. */
  constructor(
    readonly protocol: string,
    readonly headers: HeaderList,
    readonly upstream: TunnelEnd,
    readonly onClose: () => void = () => {},
  ) {}
}

/**
 * A handler's answer: a `Response`, a {@link FixedResponse} (known bytes:
 * written with its head in one write, the cheapest), or a switch of protocols.
 */
export type Http1Answer = Response | FixedResponse | SwitchProtocols;

/** A handler of requests. */
export type Http1Handler = (req: ServerRequest) => Promise<Http1Answer>;

/** Limits of an {@link Http1Server}. */
export interface Http1ServerOptions {
  /** Time from a request head's first byte to its end, in ms (408 after). Default 10 s. */
  headTimeoutMs?: number;
  /** Longest wait for the next request on a kept-alive connection, in ms. Default 75 s. */
  idleTimeoutMs?: number;
  /** Largest request head in bytes (431 over). Default 64 KiB. */
  maxHeadBytes?: number;
  /** Told of a handler that threw (it is answered 500). */
  onError?: (error: unknown) => void;
}

/** What a connection waits for: the next request (idle), the rest of its head, or nothing. */
interface Wait {
  phase: "idle" | "head" | "busy";
  /** When that began (performance.now()). */
  since: number;
  /** Set once the head was answered 408. */
  late: boolean;
}

const ERROR_BODY = new TextEncoder().encode("internal error\n");
/** Longest a closing connection reads (and drops) what the client still sends, in ms. */
const LINGER_MS = 5000;
/** Most bytes a closing connection reads and drops (a client sends a whole body before it reads). */
const LINGER_BYTES = 64 * 1024 * 1024;

/** Serves HTTP/1.1 on a listener until {@link shutdown}. */
export class Http1Server {
  readonly #conns = new Set<Deno.Conn>();
  /** What each connection waits for, and since when: the sweep times them out. */
  readonly #waits = new Map<Connection, Wait>();
  readonly #sweep: ReturnType<typeof setInterval>;
  #closing = false;
  readonly #headTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #maxHeadBytes: number;
  readonly #accepting: Promise<void>;
  readonly #tunnels = new Set<Tunnel>();

  /** Starts accepting connections on `listener`. */
  constructor(
    readonly listener: Deno.Listener,
    readonly handler: Http1Handler,
    readonly options: Http1ServerOptions = {},
  ) {
    this.#headTimeoutMs = options.headTimeoutMs ?? 10_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 75_000;
    this.#maxHeadBytes = options.maxHeadBytes ?? 64 * 1024;
    this.#accepting = this.#accept();
    // One timer for every connection: a request costs no timer of its own.
    this.#sweep = setInterval(
      () => this.#timeOut(),
      Math.min(1000, Math.max(50, this.#headTimeoutMs / 4)),
    );
    Deno.unrefTimer(Number(this.#sweep));
  }

  /** Closes connections idle too long; answers 408 to heads not complete in time. */
  #timeOut(): void {
    const now = performance.now();
    for (const [c, wait] of this.#waits) {
      if (wait.phase === "idle" && now - wait.since > this.#idleTimeoutMs) c.close();
      if (wait.phase === "head" && now - wait.since > this.#headTimeoutMs && !wait.late) {
        wait.late = true;
        const answer = plainAnswer(408, "request head not received in time", true);
        c.conn.write(answer).catch(() => {}).finally(() => c.close());
        setTimeout(() => c.close(), 1000);
      }
    }
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr {
    return this.listener.addr as Deno.NetAddr;
  }

  /**
   * Stops accepting, closes idle connections and tunnels, and resolves once
   * the requests in progress have been answered.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    try {
      this.listener.close();
    } catch {
      // already closed
    }
    clearInterval(this.#sweep);
    for (const [c, wait] of this.#waits) if (wait.phase === "idle") c.close();
    for (const tunnel of this.#tunnels) tunnel.close();
    await this.#accepting;
    while (this.#conns.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.listener) void this.serve(conn);
    } catch {
      // the listener was closed
    }
  }

  /** Serves requests on `conn` (accepted here, or handed over) until it closes. */
  async serve(conn: Deno.Conn): Promise<void> {
    this.#conns.add(conn);
    const c = new Connection(conn);
    const wait: Wait = { phase: "busy", since: 0, late: false };
    this.#waits.set(c, wait);
    try {
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      while (!this.#closing) {
        const next = await this.#exchange(c, wait);
        if (next instanceof Tunnel) await next.done; // the connection is the tunnel's now
        if (next !== true) break;
      }
    } catch {
      // the client went away, or the connection was closed under a read
    } finally {
      c.close();
      this.#conns.delete(conn);
      this.#waits.delete(c);
    }
  }

  /** Waits for and reads the next request head; null when the client left or took too long. */
  async #readHead(c: Connection, wait: Wait): Promise<Uint8Array | null> {
    if (c.available === 0) {
      wait.phase = "idle";
      wait.since = performance.now();
      if (this.#closing || !(await c.fill())) return null;
    }
    wait.phase = "head";
    wait.since = performance.now();
    try {
      return await c.readHead(this.#maxHeadBytes);
    } catch (e) {
      if (wait.late) return null;
      if (e instanceof UpstreamBadResponseError) {
        const lineEnd = c.peek().indexOf(10);
        if (lineEnd === -1 || lineEnd > this.#maxHeadBytes) {
          throw new RequestHeadError(414, `request line longer than ${this.#maxHeadBytes} bytes`);
        }
        throw new RequestHeadError(431, `request head larger than ${this.#maxHeadBytes} bytes`);
      }
      if (c.available > 0) throw new RequestHeadError(400, "request head cut short");
      return null;
    } finally {
      wait.phase = "busy";
    }
  }

  /**
   * Handles one request on `c`; true when the connection may carry another,
   * the tunnel when it was upgraded.
   */
  async #exchange(c: Connection, wait: Wait): Promise<boolean | Tunnel> {
    let head: IncomingHead;
    let framing;
    try {
      const bytes = await this.#readHead(c, wait);
      if (bytes === null) return false;
      if (onlyEmptyLines(bytes)) return true; // empty lines between requests
      head = parseRequestHead(bytes);
      framing = requestFraming(head);
    } catch (e) {
      if (!(e instanceof RequestHeadError)) throw e;
      await c.write(plainAnswer(e.status, e.message, true)).catch(() => {});
      await linger(c);
      return false;
    }
    const body = framing.kind === "none" ? null : new RequestBody(
      c,
      framing,
      head.minor === 1 &&
        fieldValues(head.headers, "expect").some((v) => v.toLowerCase() === "100-continue"),
    );
    const req: ServerRequest = {
      method: head.method,
      target: head.target,
      minor: head.minor,
      headers: head.headers,
      body: body === null ? null : body.stream,
      length: framing.kind === "length" ? framing.length : framing.kind === "chunked" ? null : 0,
      upgrade: upgradeOf(head),
      remoteAddr: c.conn.remoteAddr as Deno.NetAddr,
      secure: "handshake" in c.conn,
    };
    let answer: Http1Answer;
    try {
      answer = await this.handler(req);
    } catch (e) {
      this.options.onError?.(e);
      answer = new FixedResponse(500, [["content-type", "text/plain; charset=utf-8"]], ERROR_BODY);
    }
    await body?.responding();
    if (answer instanceof SwitchProtocols) return this.#tunnel(c, answer);
    const close = wantsClose(head) || body?.state === "ended" || this.#closing;
    const ctx = { head: head.method === "HEAD", http10: head.minor === 0, close };
    const reusable = answer instanceof FixedResponse
      ? await writeFixed(c, answer, ctx)
      : await writeResponse(c, answer, ctx);
    if (reusable && (body === null || body.state === "done")) return true;
    if (body?.state === "open") body.stream.cancel().catch(() => {});
    await linger(c);
    return false;
  }

  /** Writes the 101 and tunnels bytes between the client and the upstream. */
  #tunnel(c: Connection, answer: SwitchProtocols): Tunnel {
    const head = serialiseResponseHead(
      101,
      answer.headers,
      `connection: upgrade\r\nupgrade: ${answer.protocol}\r\n`,
    );
    // The 101 goes first, with the upstream's first bytes, on the copy towards the client.
    const first = new Uint8Array(head.length + answer.upstream.buffered.length);
    first.set(head);
    first.set(answer.upstream.buffered, head.length);
    const tunnel = new Tunnel(
      { conn: c.conn, buffered: c.takeBuffered() },
      { conn: answer.upstream.conn, buffered: first },
    );
    this.#tunnels.add(tunnel);
    this.#conns.add(answer.upstream.conn);
    tunnel.done.then(() => {
      this.#tunnels.delete(tunnel);
      this.#conns.delete(answer.upstream.conn);
      answer.onClose();
    });
    return tunnel;
  }
}

/** True for a "head" of nothing but empty lines (allowed between requests). */
function onlyEmptyLines(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 13 && b !== 10) return false;
  return true;
}

/**
 * Closes the connection gracefully: stops writing, then reads and drops what
 * the client still sends for a moment, so an answer given before the request
 * was all read (413, 400) is not lost to a reset.
 */
async function linger(c: Connection): Promise<void> {
  const timer = setTimeout(() => c.close(), LINGER_MS);
  try {
    await (c.conn as Deno.TcpConn).closeWrite();
    let dropped = 0;
    while (dropped < LINGER_BYTES) {
      const piece = await c.readSome(64 * 1024);
      if (piece === null) break;
      dropped += piece.length;
    }
  } catch {
    // reset or closed: nothing more to drop
  } finally {
    clearTimeout(timer);
    c.close();
  }
}
