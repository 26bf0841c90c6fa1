/**
 * Serving TLS from a certificate that can change while connections are
 * open. Deno 2.9.6 serves HTTPS from one fixed certificate per listener
 * (`Deno.serve({cert, key})`), so a front listener splices each connection,
 * bytes untouched, to a {@link TlsBackend}: a `Deno.serve` on loopback
 * holding the certificate of the moment (Rust TLS and HTTP). A new
 * certificate gets a new backend; the old one takes no new connections and
 * shuts down once its last connection ends, so a renewal fails no request.
 * Used by the gateway's HTTPS by SNI (gateway/tls_front.ts) and by the
 * services' own TLS listeners (lib/tls_server.ts).
 *
 * @module
 */

import { errorMessage, type Logger } from "./log.ts";

/**
 * Loopback address of the backends. scripts/infra gives it a `quickack`
 * route, so the front acknowledges their writes at once (see
 * gateway/cert_table.ts on Nagle's algorithm).
 */
export const BACKEND_HOST = "127.0.0.2";
/** Longest a replaced backend keeps serving its open connections. */
const RETIRE_AFTER_MS = 10 * 60_000;

/**
 * A server on loopback holding one certificate: a `Deno.serve`, or
 * lib/http1/server.ts's on `Deno.listenTls`.
 */
export interface TlsBackendServer {
  readonly addr: Deno.NetAddr;
  /** Stops accepting; resolves once its connections are done. */
  shutdown(): Promise<void>;
}

/**
 * One certificate, served on loopback by its own server, and, when given, by
 * a second server for clients that do not offer HTTP/2 (the gateway's).
 */
export class TlsBackend {
  /** Connections spliced to it and still open. */
  active = 0;
  #retired = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Wraps the started servers for `hostname` whose certificate has `fingerprint`. */
  constructor(
    readonly hostname: string,
    readonly fingerprint: string,
    readonly notAfter: Date,
    readonly server: TlsBackendServer,
    readonly http1?: TlsBackendServer,
  ) {}

  /** Loopback port of the (first) server. */
  get port(): number {
    return this.server.addr.port;
  }

  /** Loopback port for a client offering the ALPN protocols `alpn`: HTTP/2 to `Deno.serve`. */
  portFor(alpn: string[]): number {
    return this.http1 && !alpn.includes("h2") ? this.http1.addr.port : this.port;
  }

  /** Takes no more connections; shuts down when the last one ends (or after 10 min). */
  retire(): void {
    this.#retired = true;
    this.#timer = setTimeout(() => this.#shutdown(), RETIRE_AFTER_MS);
    this.release(0);
  }

  /** Counts one connection less (`by` = 1) and shuts a retired, idle backend down. */
  release(by = 1): void {
    this.active -= by;
    if (this.#retired && this.active === 0) {
      clearTimeout(this.#timer);
      this.#shutdown();
    }
  }

  #shutdown(): void {
    void this.server.shutdown();
    void this.http1?.shutdown();
  }
}

/** Writes all of `bytes` to `conn`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Copies `from` to `to` until `from` ends, then half-closes `to`. */
export async function copy(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
    await to.closeWrite();
  } catch {
    // a reset on either side ends both directions
    closeQuietly(from);
    closeQuietly(to);
  }
}

/** Options of {@link spliceTo}. */
export interface SpliceOptions {
  /** Bytes already read from the client (a ClientHello), sent to the backend first. */
  prelude?: Uint8Array;
  /** Hears the backend connection before its first byte; what it returns runs when it ends. */
  onUpstream?: (upstream: Deno.TcpConn) => () => void;
}

/**
 * Connects `conn` to the backend listening on `port` of {@link BACKEND_HOST}
 * and copies bytes both ways until both directions end. `conns` holds the
 * backend connection while it is open (for closing everything at once); the
 * backend connection is closed here, `conn` is the caller's.
 */
export async function spliceTo(
  conn: Deno.TcpConn,
  port: number,
  conns: Set<Deno.Conn>,
  options: SpliceOptions = {},
): Promise<void> {
  conn.setNoDelay(true);
  const upstream = await Deno.connect({ hostname: BACKEND_HOST, port });
  upstream.setNoDelay(true);
  conns.add(upstream);
  const ended = options.onUpstream?.(upstream);
  try {
    if (options.prelude) await writeAll(upstream, options.prelude);
    await Promise.all([copy(conn, upstream), copy(upstream, conn)]);
  } finally {
    ended?.();
    closeQuietly(upstream);
    conns.delete(upstream);
  }
}

/** Closes `conn`, ignoring one already closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/**
 * Hands each connection `listener` accepts to `serve` (not awaited) until the
 * listener is closed; a loop that ends any other way is logged as
 * `<what> failed`.
 */
export async function acceptEach<C extends Deno.Conn>(
  listener: AsyncIterable<C>,
  serve: (conn: C) => Promise<void>,
  log: Logger,
  what: string,
): Promise<void> {
  try {
    for await (const conn of listener) void serve(conn);
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) {
      log.error(`${what} failed`, { error: errorMessage(e) });
    }
  }
}
