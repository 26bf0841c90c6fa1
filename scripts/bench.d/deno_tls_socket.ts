/**
 * For scripts/bench-amqp-rtt: an amqp-client connection over Deno's own TCP
 * and TLS (`Deno.connect` with TCP_NODELAY, then `Deno.startTls`, verified
 * against the given CA and the URL's host name) instead of the library's
 * `node:tls` socket, to measure whether node:tls under Deno is what makes an
 * AMQPS round trip slow. {@link DenoTlsSocket} offers the part of a Node
 * socket amqp-client uses (events `connect`, `data`, `error`, `end`,
 * `close`, `timeout`; `write`, `end`, `destroy`, `setTimeout`,
 * `setKeepAlive`); writes made in one turn of the event loop leave in one
 * TLS write.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import { AMQPClient } from "@cloudamqp/amqp-client";

/** Where and how to connect: the broker's host name (verified against its certificate) and port. */
export interface DenoTlsTarget {
  /** Host name or address; the certificate must name it. */
  host: string;
  /** TCP port of the AMQPS listener. */
  port: number;
  /** PEM CA certificates to verify the broker with (none: the system roots). */
  caCerts?: string[];
}

/** A write callback, as Node's `socket.write` takes it. */
type WriteCallback = (error?: Error | null) => void;

/** A Node-style socket over `Deno.connect` + `Deno.startTls`. */
export class DenoTlsSocket extends EventEmitter {
  #conn: Deno.Conn | null = null;
  #keepAlive = false;
  #pending: { bytes: Uint8Array; callback?: WriteCallback }[] = [];
  #flushing = false;
  #closed = false;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Connects to `target`; `onSecure` runs once the TLS handshake is done (after `connect`). */
  constructor(target: DenoTlsTarget, onSecure: () => void) {
    super();
    this.#open(target, onSecure);
  }

  async #open(target: DenoTlsTarget, onSecure: () => void): Promise<void> {
    let tcp: Deno.TcpConn | null = null;
    try {
      tcp = await Deno.connect({ hostname: target.host, port: target.port });
      tcp.setNoDelay(true);
      if (this.#keepAlive) tcp.setKeepAlive(true);
      const conn = await Deno.startTls(tcp, { hostname: target.host, caCerts: target.caCerts });
      await conn.handshake();
      if (this.#closed) {
        conn.close();
        return;
      }
      this.#conn = conn;
    } catch (e) {
      if (!this.#conn) tcp?.close();
      this.destroy(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.#touch();
    this.emit("connect");
    onSecure();
    this.#flush();
    this.#readLoop(this.#conn);
  }

  async #readLoop(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!this.#closed) {
        const n = await conn.read(buffer);
        if (n === null) break;
        this.#touch();
        // A copy: amqp-client may keep views of what it is given.
        this.emit("data", Buffer.from(buffer.subarray(0, n)));
      }
    } catch (e) {
      if (!this.#closed) this.destroy(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (this.#closed) return;
    this.emit("end");
    this.destroy();
  }

  /** Queues `bytes`; everything queued in this turn leaves in one write. */
  write(bytes: Uint8Array, _encoding?: unknown, callback?: WriteCallback): boolean {
    if (this.#closed) {
      queueMicrotask(() => callback?.(new Error("socket closed")));
      return false;
    }
    this.#pending.push({ bytes, callback });
    queueMicrotask(() => this.#flush());
    return true;
  }

  async #flush(): Promise<void> {
    const conn = this.#conn;
    if (this.#flushing || !conn) return;
    this.#flushing = true;
    try {
      while (this.#pending.length > 0 && !this.#closed) {
        const batch = this.#pending;
        this.#pending = [];
        const bytes = batch.length === 1
          ? batch[0].bytes
          : Buffer.concat(batch.map((w) => w.bytes));
        try {
          for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          for (const w of batch) w.callback?.(error);
          this.destroy(error);
          return;
        }
        this.#touch();
        for (const w of batch) w.callback?.(null);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Emits `timeout` after `ms` without reads or writes (0: never). */
  setTimeout(ms: number): this {
    this.#timeoutMs = ms;
    this.#touch();
    return this;
  }

  #touch(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0 && !this.#closed) {
      this.#timer = setTimeout(() => this.emit("timeout"), this.#timeoutMs);
    }
  }

  /** TCP keep-alive (applied at connect when called before). */
  setKeepAlive(enable: boolean): this {
    this.#keepAlive = enable;
    return this;
  }

  /** Flushes what is queued, then closes. */
  end(): this {
    if (this.#closed) return this;
    if (this.#pending.length === 0 || !this.#conn) this.destroy();
    else this.#flush().finally(() => this.destroy());
    return this;
  }

  /** Closes at once; with `error`, emits `error` first. `close` says whether there was one. */
  destroy(error?: Error): this {
    if (this.#closed) return this;
    this.#closed = true;
    clearTimeout(this.#timer);
    try {
      this.#conn?.close();
    } catch {
      // already closed by the peer
    }
    const dropped = this.#pending;
    this.#pending = [];
    for (const w of dropped) w.callback?.(error ?? new Error("socket closed"));
    if (error) this.emit("error", error);
    this.emit("close", error !== undefined);
    return this;
  }
}

/** The members of amqp-client's AMQPClient (private in its types) that make and feed its socket. */
interface SocketHooks {
  connectSocket(): unknown;
  onRead(buf: Uint8Array): boolean;
  insecure: boolean;
}

/**
 * An amqp-client connection to `url` that, for `amqps://`, talks over a
 * {@link DenoTlsSocket} verified against `caCerts` (PEM; none: the system
 * roots) and the URL's host name; `amqp://` and `?insecure` URLs keep the
 * library's own socket.
 */
export function amqpClient(url: string, caCerts?: string[]): AMQPClient {
  const client = new AMQPClient(url, caCerts ? { ca: caCerts } : undefined, null);
  const hooks = client as unknown as SocketHooks;
  if (!client.tls || hooks.insecure) return client;
  hooks.connectSocket = () => {
    const socket = new DenoTlsSocket(
      { host: client.host, port: client.port, caCerts },
      // The protocol header amqp-client sends first.
      () => client.send(new Uint8Array([65, 77, 81, 80, 0, 0, 9, 1])).catch(() => {}),
    );
    socket.on("data", (buf: Uint8Array) => hooks.onRead(buf));
    return socket;
  };
  return client;
}
