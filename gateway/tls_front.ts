/**
 * The gateway's HTTPS front door: TLS by SNI, with a certificate per app
 * hostname that can change at any time.
 *
 * Deno 2.9.6 serves HTTPS from one fixed certificate per listener
 * (`Deno.serve({cert, key})`); its unstable per-name resolver
 * (`Symbol.for("unstableSniResolver")` on `Deno.listenTls`) remembers its
 * first answer for each name for the life of the listener, errors included,
 * and `Deno.serve` does not take it; `node:tls`'s `SNICallback` asks every
 * time but its TLS and HTTP run in JavaScript (3-8× slower here). So the
 * front reads each connection's ClientHello itself (gateway/client_hello.ts),
 * answers an unknown or missing name with a fatal `unrecognized_name` alert,
 * and otherwise splices the connection, the ClientHello first, to a
 * {@link TlsBackend} on loopback holding that hostname's certificate: its
 * `Deno.serve` (Rust TLS and HTTP/2) when the client offers HTTP/2 (ALPN
 * `h2`), else the gateway's own HTTP/1.1 server on `Deno.listenTls` (the
 * same semantics as plain HTTP: every method's body, upgrades as byte
 * tunnels; gateway/cert_table.ts). A new certificate gets a new
 * backend; the old one takes no new connections and shuts down once its
 * last connection ends, so a renewal fails no request.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import { ALERT, CLIENT_HELLO_LIMIT, fatalAlert, readServerName } from "./client_hello.ts";
import { acceptEach, closeQuietly, spliceTo, type TlsBackend } from "../lib/tls_splice.ts";

/** Longest wait for a client's ClientHello. */
const HELLO_TIMEOUT_MS = 10_000;

/** Why the front refused a connection, for metrics. */
export type RefusalReason = "unknown-name" | "no-name" | "invalid" | "timeout";

/** What the front needs. */
export interface TlsFrontOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port to listen on (0 = any). */
  port: number;
  /** The backend serving `name` now, if any. */
  backend: (name: string) => TlsBackend | undefined;
  /** Told of every refused connection. */
  onRefused?: (reason: RefusalReason) => void;
  log: Logger;
}

/** Accepts TLS connections and splices each to its hostname's backend. */
export class TlsFront {
  readonly #listener: Deno.TcpListener;
  /** Client address of each spliced connection, by the loopback port the backend sees. */
  readonly #clients = new Map<number, Deno.NetAddr>();
  readonly #conns = new Set<Deno.Conn>();

  /** Starts listening; connections are served until {@link close}. */
  constructor(readonly options: TlsFrontOptions) {
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    void this.#accept();
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** The client behind a backend connection from loopback port `port`, if it is one of ours. */
  clientOf(port: number): Deno.NetAddr | undefined {
    return this.#clients.get(port);
  }

  /** Stops accepting and closes every connection. */
  close(): void {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const conn of this.#conns) closeQuietly(conn);
  }

  #accept(): Promise<void> {
    return acceptEach(
      this.#listener,
      (conn) => this.#serve(conn),
      this.options.log,
      "https listener",
    );
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(conn);
    let backend: TlsBackend | undefined;
    try {
      const hello = await this.#readHello(conn);
      if (hello === null) return;
      backend = this.options.backend(hello.name);
      if (!backend) {
        await this.#refuse(conn, "unknown-name", ALERT.unrecognizedName);
        return;
      }
      backend.active++;
      await spliceTo(conn, backend.portFor(hello.alpn), this.#conns, {
        prelude: hello.bytes,
        // The backend's server asks who the client is by its connection's local port.
        onUpstream: (upstream) => {
          const port = (upstream.localAddr as Deno.NetAddr).port;
          this.#clients.set(port, conn.remoteAddr as Deno.NetAddr);
          return () => this.#clients.delete(port);
        },
      });
    } catch (e) {
      this.options.log.debug("https connection ended", { error: errorMessage(e) });
    } finally {
      if (backend) backend.release();
      closeQuietly(conn);
      this.#conns.delete(conn);
    }
  }

  /** Reads until the ClientHello is complete; refuses and returns null when it is not usable. */
  async #readHello(
    conn: Deno.TcpConn,
  ): Promise<{ name: string; alpn: string[]; bytes: Uint8Array } | null> {
    const buffer = new Uint8Array(CLIENT_HELLO_LIMIT + 5 * 4);
    let length = 0;
    const timer = setTimeout(() => closeQuietly(conn), HELLO_TIMEOUT_MS);
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buffer.subarray(length));
        } catch {
          this.options.onRefused?.("timeout");
          return null;
        }
        if (n === null) return null; // the client went away
        length += n;
        const result = readServerName(buffer.subarray(0, length));
        if (result.kind === "name") {
          return { name: result.name, alpn: result.alpn, bytes: buffer.slice(0, length) };
        }
        if (result.kind === "no-name") {
          return this.#refuse(conn, "no-name", ALERT.unrecognizedName);
        }
        if (result.kind === "invalid" || length === buffer.length) {
          return this.#refuse(conn, "invalid", ALERT.handshakeFailure);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async #refuse(conn: Deno.Conn, reason: RefusalReason, alert: number): Promise<null> {
    this.options.onRefused?.(reason);
    await conn.write(fatalAlert(alert)).catch(() => {});
    return null;
  }
}
