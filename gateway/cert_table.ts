/**
 * The gateway's certificate table: hostname → {@link TlsBackend}, kept in
 * step with the certificates in Redis (lib/certs.ts) through pub/sub, like
 * the domain table. A new or renewed certificate starts its backend before
 * the table points at it; the one it replaces is retired, not stopped.
 *
 * ```
 * dn_gateway_tls_certificates                          gauge
 * dn_gateway_tls_certificate_expiry_days{hostname}     gauge (days to the served certificate's end)
 * dn_gateway_tls_refused_total{reason}                 counter (unknown-name, no-name, invalid, timeout)
 * ```
 *
 * @module
 */

import type { CertRecord, CertStore } from "../lib/certs.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import type { Counter, Registry } from "../lib/metrics.ts";
import { normaliseHostname } from "../lib/names.ts";
import { RedisMirror } from "../lib/redis.ts";
import { BACKEND_HOST, TlsBackend } from "../lib/tls_splice.ts";
import type { RefusalReason } from "./tls_front.ts";
import {
  FixedResponse,
  type Http1Answer,
  Http1Server,
  type ServerRequest,
} from "../lib/http1/server.ts";
import { fieldValues } from "../lib/http1/request_head.ts";

/**
 * A request `Deno.serve` handed over, as the gateway's handler takes it:
 * its target as sent, its fields (HTTP/2's `:authority` as `host`), its
 * body with its declared length; `remoteAddr` is the real client.
 */
function serverRequestOf(req: Request, remoteAddr: Deno.NetAddr): ServerRequest {
  const headers: [string, string][] = [...req.headers];
  const url = new URL(req.url);
  if (!req.headers.has("host")) headers.unshift(["host", url.host]);
  const declared = req.headers.get("content-length");
  const at = req.url.indexOf("/", req.url.indexOf("//") + 2);
  return {
    method: req.method,
    target: at === -1 ? "/" : req.url.slice(at),
    minor: 1,
    headers,
    body: req.body,
    length: req.body === null ? 0 : declared === null ? null : Number(declared),
    upgrade: null,
    remoteAddr,
    secure: true,
  };
}

/** Handles an HTTPS request (the gateway's handler). */
export type HttpsHandler = (req: ServerRequest) => Promise<Http1Answer>;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Streamed bodies up to this size are gathered first (see {@link inOneWrite}). */
const GATHER_LIMIT = 64 * 1024;

/**
 * A small streamed response as one with its body in bytes. Deno writes a
 * streamed body after the head, in a second TLS record; the backend's
 * accepted socket has Nagle's algorithm on (Deno.serve offers no way to turn
 * it off), so that record waits for the front to acknowledge the first one,
 * and Linux delays that acknowledgement by 40 ms: measured, every small
 * HTTPS answer took 44 ms. Bytes go out with the head in one write. (The
 * `quickack` route scripts/infra gives 127.0.0.2 cures it for every body;
 * this keeps small answers fast where that route is missing.)
 */
async function inOneWrite(res: Response): Promise<Response> {
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (res.body === null || !(length <= GATHER_LIMIT)) return res;
  return new Response(await res.bytes(), { status: res.status, headers: res.headers });
}

/** In-memory hostname → backend table following the stored certificates. */
export class CertTable extends RedisMirror {
  #backends = new Map<string, TlsBackend>();
  readonly #refused: Counter;

  /**
   * Creates the table; `handler` serves every backend's requests, and
   * `clientOf` maps a backend connection's loopback port to the client (set
   * once the front exists: {@link TlsFront.clientOf}).
   */
  constructor(
    readonly store: CertStore,
    readonly handler: HttpsHandler,
    readonly clientOf: (port: number) => Deno.NetAddr | undefined,
    registry: Registry,
    log: Logger,
    refreshMs = 30_000,
  ) {
    super(store.channel, refreshMs, log);
    const count = registry.gauge("dn_gateway_tls_certificates", "certificates served").labels();
    const expiry = registry.gauge(
      "dn_gateway_tls_certificate_expiry_days",
      "days until the served certificate of each hostname expires",
      ["hostname"],
    );
    this.#refused = registry.counter(
      "dn_gateway_tls_refused_total",
      "TLS connections refused before the handshake, by reason",
      ["reason"],
    );
    registry.onCollect(() => {
      count.set(this.#backends.size);
      expiry.clear();
      for (const [hostname, backend] of this.#backends) {
        const days = (backend.notAfter.getTime() - Date.now()) / DAY_MS;
        expiry.labels(hostname).set(Math.round(days * 100) / 100);
      }
    });
  }

  /** The backend serving `name` now. */
  backend(name: string): TlsBackend | undefined {
    return this.#backends.get(name);
  }

  /** Counts a refused connection. */
  refused(reason: RefusalReason): void {
    this.#refused.labels(reason).inc();
  }

  /** Hostnames with a certificate. */
  get hostnames(): string[] {
    return [...this.#backends.keys()];
  }

  /** Retires every backend. */
  override stop(): void {
    super.stop();
    for (const backend of this.#backends.values()) backend.retire();
    this.#backends = new Map();
  }

  /** Reads every certificate and starts, replaces or retires backends to match. */
  protected async load(): Promise<void> {
    let certs: CertRecord[];
    try {
      const listed = await this.store.list();
      certs = listed.certs;
      if (listed.invalid.length > 0) {
        this.log.warn("skipped invalid certificates", { hostnames: listed.invalid });
      }
    } catch (e) {
      this.log.warn("certificate table not refreshed", { error: errorMessage(e) });
      return;
    }
    const next = new Map<string, TlsBackend>();
    const retired: TlsBackend[] = [];
    for (const record of certs) {
      const current = this.#backends.get(record.hostname);
      if (current?.fingerprint === record.fingerprint) {
        next.set(record.hostname, current);
        continue;
      }
      const started = this.#start(record);
      if (started) {
        next.set(record.hostname, started);
        if (current) retired.push(current);
      } else if (current) {
        next.set(record.hostname, current); // keep serving the previous one
      }
    }
    for (const [hostname, backend] of this.#backends) {
      if (!next.has(hostname)) retired.push(backend);
    }
    this.#backends = next;
    for (const backend of retired) backend.retire();
  }

  /**
   * Starts a backend for `record`, `Deno.serve` (HTTP/2) and the gateway's
   * own HTTP/1.1 server; null (logged, without key material) when it cannot.
   */
  #start(record: CertRecord): TlsBackend | null {
    const hostname = record.hostname;
    /** The real client of a request, or the answer when it cannot be served here. */
    const checked = (host: string | undefined, port: number): Response | Deno.NetAddr => {
      const client = this.clientOf(port);
      if (!client) return new Response("not through the gateway's front\n", { status: 403 });
      if (host === undefined || normaliseHostname(host) !== hostname) {
        // The name the client verified is not the one it asks for (RFC 9110 15.5.20).
        return new Response(`this connection is for ${hostname}\n`, { status: 421 });
      }
      return client;
    };
    const { cert, key } = record;
    let listener: Deno.TlsListener | undefined;
    try {
      listener = Deno.listenTls({
        hostname: BACKEND_HOST,
        port: 0,
        cert,
        key,
        alpnProtocols: ["http/1.1"],
      });
      const http1 = new Http1Server(listener, async (req) => {
        const client = checked(fieldValues(req.headers, "host")[0], req.remoteAddr.port);
        if (!(client instanceof Response)) {
          return await this.handler({ ...req, remoteAddr: client });
        }
        await req.body?.cancel().catch(() => {});
        return client;
      }, { onError: (e) => this.log.error("https request failed", { error: errorMessage(e) }) });
      const server = Deno.serve(
        { hostname: BACKEND_HOST, port: 0, cert, key, onListen: () => {} },
        async (req, info) => {
          // HTTP/2 has no Host header: its :authority is the URL's host.
          const client = checked(
            req.headers.get("host") ?? new URL(req.url).host,
            info.remoteAddr.port,
          );
          if (client instanceof Response) return client;
          const answer = await this.handler(serverRequestOf(req, client));
          if (answer instanceof FixedResponse) return answer.toResponse();
          if (!(answer instanceof Response)) {
            answer.upstream.conn.close(); // no upgrade was asked for: cannot happen
            return new Response("unexpected upgrade\n", { status: 502 });
          }
          return await inOneWrite(answer);
        },
      );
      this.log.info("certificate served", {
        hostname,
        notAfter: record.notAfter,
        fingerprint: record.fingerprint,
      });
      const notAfter = new Date(record.notAfter);
      return new TlsBackend(hostname, record.fingerprint, notAfter, server, http1);
    } catch (e) {
      listener?.close();
      this.log.error("certificate not served", { hostname, error: errorMessage(e) });
      return null;
    }
  }
}
