/**
 * A small HTTP/1.1 client with keep-alive pools, used by gateways and hosts
 * to reach app containers and hosts. Unlike `fetch` it sends exactly the
 * headers it is given (no added user-agent or accept-encoding) and returns
 * the response bytes as the app sent them (no decompression), so requests
 * and responses pass through byte for byte.
 *
 * It sends each request at most once. It never writes a request on a
 * kept-alive connection the app closed while it idled (a read stays pending
 * on idle connections, so it knows), and when a kept-alive connection takes
 * no byte of the request it takes another: in both cases nothing of the
 * request left. Every other failure is raised as an error saying how far
 * the request got (lib/http1/errors.ts), and its caller decides.
 *
 * @module
 */

import { Connection } from "./http1/connection.ts";
import type { StreamResponse } from "./http1/exchange.ts";
import {
  UpstreamBadResponseError,
  UpstreamConnectError,
  UpstreamDroppedError,
  UpstreamError,
  UpstreamTimeoutError,
} from "./http1/errors.ts";
import { exchange, type Exchanged, type StreamRequest } from "./http1/exchange.ts";
import {
  type Http1Request,
  type Http1Response,
  serialiseHead,
  serialiseRequest,
} from "./http1/message.ts";
import { readResponse, type ResponseLimits } from "./http1/response.ts";

export * from "./http1/errors.ts";
export * from "./http1/message.ts";
export { type StreamRequest, type StreamResponse, WHOLE_BODY_BYTES } from "./http1/exchange.ts";

/** Time limits of {@link Http1Pool.exchange}, in ms. */
export interface StreamTimeouts {
  /** Longest wait for a new connection. */
  connectMs: number;
  /** From the request's last byte to the response head (the app's timeout). */
  headMs: number;
  /** Longest silence, no byte either way, while a body flows. */
  idleMs: number;
}

/** Limits of a {@link Http1Pool}. */
export interface Http1Limits extends ResponseLimits {
  /** Idle connections kept per upstream. */
  maxIdle: number;
  /**
   * CA certificates (PEM): connections are TLS, the upstream's certificate
   * verified against them for the address connected to (absent: plain TCP).
   */
  caCerts?: string[];
}

/** Longest delay a timer takes (2^31 - 1 ms); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long a busy connection must have moved no byte for {@link Http1Pool.abort} to close it. */
const ABORT_QUIET_MS = 500;
/** Default longest wait for a connection: a local container accepts at once or not at all. */
const CONNECT_TIMEOUT_MS = 2000;

/** Keep-alive connection pools keyed by `host:port`. */
export class Http1Pool {
  readonly #idle = new Map<string, Connection[]>();
  /** Connections in use, by `host:port`. */
  readonly #busy = new Map<Connection, string>();

  /** Creates a pool with the given limits. */
  constructor(readonly limits: Http1Limits) {}

  /**
   * Sends `req` to `hostname:port` once and reads the whole response, within
   * `timeoutMs`; a new connection must be up within `connectTimeoutMs`.
   * Raises an {@link UpstreamError} subclass saying how far it got.
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
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const c = this.#takeIdle(key) ??
        await this.#connect(hostname, port, Math.min(timeoutMs, connectTimeoutMs));
      this.#busy.set(c, key);
      let timedOut = false;
      const left = Math.max(1, deadline - Date.now());
      const timer = setTimeout(() => {
        timedOut = true;
        c.close();
      }, Math.min(left, MAX_TIMER_MS));
      try {
        await c.write(bytes);
        const { response, reusable } = await readResponse(c, req.method, this.limits);
        if (reusable) this.#release(key, c);
        else c.close();
        return response;
      } catch (e) {
        c.close();
        if (timedOut) {
          throw new UpstreamTimeoutError(`${key} sent no complete response in ${timeoutMs} ms`);
        }
        if (e instanceof UpstreamError) throw e;
        const why = (e as Error).message;
        if (c.written === 0) {
          if (c.uses > 1 && !c.aborted) continue; // a kept-alive connection that took nothing
          throw new UpstreamConnectError(`${key} took no byte of the request: ${why}`);
        }
        if (c.received > 0) throw new UpstreamBadResponseError(`response broke off: ${why}`);
        throw new UpstreamDroppedError(`${key} closed the connection before answering: ${why}`);
      } finally {
        clearTimeout(timer);
        this.#busy.delete(c);
      }
    }
  }

  /**
   * Sends `req` to `hostname:port` once, its body streamed, and resolves with
   * the response head as soon as it arrives; the response body streams from
   * the upstream as it is read, full duplex with the request body. The
   * connection goes back to the pool when both bodies are done. Raises an
   * {@link UpstreamError} subclass saying how far it got, or
   * `RequestBodyError` when the request body's source failed first.
   */
  async exchange(
    hostname: string,
    port: number,
    req: StreamRequest,
    timeouts: StreamTimeouts,
  ): Promise<StreamResponse> {
    const key = `${hostname}:${port}`;
    const length = req.body ? req.length : 0;
    const head = serialiseHead(req.method, req.url, req.headers, length, req.upgrade);
    while (true) {
      const c = this.#takeIdle(key) ?? await this.#connect(hostname, port, timeouts.connectMs);
      try {
        await c.write(head);
      } catch (e) {
        c.close();
        if (c.written === 0 && c.uses > 1) continue; // a kept-alive connection that took nothing
        const why = (e as Error).message;
        if (c.written === 0) throw new UpstreamConnectError(`${key} took no byte: ${why}`);
        throw new UpstreamDroppedError(`${key} closed the connection mid-request: ${why}`);
      }
      this.#busy.set(c, key);
      let exchanged: Exchanged;
      try {
        exchanged = await exchange(c, req, {
          headTimeoutMs: timeouts.headMs,
          idleTimeoutMs: timeouts.idleMs,
          maxHeadBytes: this.limits.maxHeadBytes,
        });
      } catch (e) {
        this.#busy.delete(c);
        throw e;
      }
      exchanged.settled.then((reusable) => {
        this.#busy.delete(c);
        if (reusable) this.#release(key, c);
        else if (!exchanged.response.upgraded) c.close();
      });
      return exchanged.response;
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

  /**
   * Closes every connection to `hostname:port` at once, idle or busy (its
   * machine went silent): requests in flight there fail with an
   * {@link UpstreamError} and are not sent again on a new connection. A busy
   * connection that moved a byte either way in the last `quietMs` is spared:
   * bytes still flowing (a streamed body on a loaded machine whose probe was
   * slow) show the machine is not silent; a silent machine's connections go
   * quiet, and the next abort closes them.
   */
  abort(hostname: string, port: number, quietMs = ABORT_QUIET_MS): void {
    const key = `${hostname}:${port}`;
    const now = performance.now();
    for (const c of this.#idle.get(key) ?? []) c.close();
    this.#idle.delete(key);
    for (const [c, busyKey] of this.#busy) {
      if (busyKey !== key || now - c.lastActive < quietMs) continue;
      c.aborted = true;
      c.close();
    }
  }

  /** Closes every idle connection. */
  close(): void {
    const all = [...this.#idle.values()];
    this.#idle.clear();
    for (const list of all) for (const c of list) c.close();
  }

  /** The most recently parked idle connection to `key` the app has not closed, if any. */
  #takeIdle(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    while (list !== undefined && list.length > 0) {
      const c = list.pop()!;
      if (c.take()) return c;
    }
    return undefined;
  }

  /** Connects within `timeoutMs` (a container gone from its bridge IP gets no answer at all). */
  async #connect(hostname: string, port: number, timeoutMs: number): Promise<Connection> {
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      const tcp = await Deno.connect({ hostname, port, transport: "tcp", signal });
      tcp.setNoDelay(true);
      const conn = this.limits.caCerts
        ? await handshake(tcp, hostname, this.limits.caCerts, signal)
        : tcp;
      const c = new Connection(conn);
      c.take();
      return c;
    } catch (e) {
      throw new UpstreamConnectError(
        `cannot connect to ${hostname}:${port}: ${(e as Error).message}`,
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
    c.park(() => {
      const current = this.#idle.get(key);
      const at = current?.indexOf(c) ?? -1;
      if (at !== -1) current!.splice(at, 1);
    });
  }
}

/** TLS over `tcp`, verified against `caCerts` for `hostname`, once its handshake is done. */
async function handshake(
  tcp: Deno.TcpConn,
  hostname: string,
  caCerts: string[],
  signal: AbortSignal,
): Promise<Deno.TlsConn> {
  const tls = await Deno.startTls(tcp, { hostname, caCerts });
  const aborted = () => tls.close();
  signal.addEventListener("abort", aborted);
  try {
    await tls.handshake();
  } catch (e) {
    try {
      tls.close();
    } catch {
      // closed by the timeout
    }
    throw e;
  } finally {
    signal.removeEventListener("abort", aborted);
  }
  return tls;
}
