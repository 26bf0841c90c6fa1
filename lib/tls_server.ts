/**
 * A service's own HTTPS listener (control's API, a host's request listener)
 * whose certificate is renewed in place: the certificate and key files are
 * polled, and a changed pair is served to new connections while open ones
 * finish on the old (lib/tls_splice.ts), so a renewal fails no request.
 *
 * A key file that group or others can read is refused at start (the
 * service exits with one line); a pair that does not load at a renewal is
 * logged and the previous one kept. The certificate's days to expiry are a
 * gauge on the service's `/metrics`:
 *
 * ```
 * dn_<service>_tls_certificate_expiry_days   gauge (days to the served certificate's end)
 * ```
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { errorMessage, type Logger } from "./log.ts";
import type { Registry } from "./metrics.ts";
import {
  acceptEach,
  BACKEND_HOST,
  closeQuietly,
  spliceTo,
  TlsBackend,
  type TlsBackendServer,
} from "./tls_splice.ts";

/** Raised for certificate or key files that cannot be served; never quotes the key. */
export class TlsFileError extends Error {
  override name = "TlsFileError";
}

/** A certificate chain and its key, checked. */
export interface TlsPair {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of the leaf. */
  fingerprint: string;
  /** End of the leaf's validity. */
  notAfter: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Reads and checks `certFile` and `keyFile`: the key file must be private
 * to its owner (no group or other bits), the certificate a PEM chain whose
 * leaf matches the key. Errors name the files, never their content.
 */
export function readTlsPair(certFile: string, keyFile: string): TlsPair {
  let mode: number | null;
  try {
    mode = Deno.statSync(keyFile).mode;
  } catch (e) {
    throw new TlsFileError(`tlsKeyFile: cannot read ${keyFile}: ${errorMessage(e)}`);
  }
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new TlsFileError(
      `tlsKeyFile: ${keyFile} must not be readable by group or others (chmod 600)`,
    );
  }
  const read = (path: string, key: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw new TlsFileError(`${key}: cannot read ${path}: ${errorMessage(e)}`);
    }
  };
  const cert = read(certFile, "tlsCertFile");
  const key = read(keyFile, "tlsKeyFile");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError(`tlsCertFile: ${certFile} holds no PEM certificate`);
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw new TlsFileError(`tlsKeyFile: ${keyFile} holds no unencrypted PEM private key`);
  }
  if (!matches) {
    throw new TlsFileError(`tlsKeyFile: ${keyFile} does not match the certificate ${certFile}`);
  }
  return { cert, key, fingerprint: leaf.fingerprint256, notAfter: leaf.validToDate };
}

/** What {@link TlsServer} needs. */
export interface TlsServerOptions {
  hostname: string;
  port: number;
  certFile: string;
  keyFile: string;
  /**
   * Starts a TLS server on loopback with `pair`'s certificate and key (its
   * listen options as given): `Deno.serve`, or an Http1Server on
   * `Deno.listenTls`. Called again for each renewal.
   */
  serve: (pair: { hostname: string; port: number; cert: string; key: string }) => TlsBackendServer;
  /** The service, in log lines and the metric's name (`control`, `host`). */
  service: string;
  log: Logger;
  /** Where the expiry gauge goes, if anywhere. */
  registry?: Registry;
  /** How often the files are looked at, in ms (default 1 s). */
  pollMs?: number;
}

/** An HTTPS listener whose certificate follows its files. */
export class TlsServer {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #timer: ReturnType<typeof setInterval>;
  #backend: TlsBackend;
  #stamp: string;
  #checking = false;

  /**
   * Loads the pair (throws {@link TlsFileError} when it cannot be served)
   * and starts listening.
   */
  constructor(readonly options: TlsServerOptions) {
    this.#stamp = this.#fileStamp();
    this.#backend = this.#start(readTlsPair(options.certFile, options.keyFile));
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    this.#timer = setInterval(() => void this.#check(), options.pollMs ?? 1000);
    if (options.registry) {
      const gauge = options.registry.gauge(
        `dn_${options.service}_tls_certificate_expiry_days`,
        "days until the served certificate expires",
      ).labels();
      options.registry.onCollect(() => {
        gauge.set((this.#backend.notAfter.getTime() - Date.now()) / DAY_MS);
      });
    }
    void this.#accept();
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** End of the served certificate's validity. */
  get notAfter(): Date {
    return this.#backend.notAfter;
  }

  /** Stops listening, lets requests in flight finish, then closes every connection. */
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await this.#backend.server.shutdown();
    for (const conn of this.#conns) closeQuietly(conn);
  }

  #start(pair: TlsPair): TlsBackend {
    const server = this.options.serve({
      hostname: BACKEND_HOST,
      port: 0,
      cert: pair.cert,
      key: pair.key,
    });
    return new TlsBackend(this.options.service, pair.fingerprint, pair.notAfter, server);
  }

  /** Size, change time and inode of both files: a renewal changes one of them. */
  #fileStamp(): string {
    return [this.options.certFile, this.options.keyFile].map((path) => {
      try {
        const info = Deno.statSync(path);
        return `${info.size}/${info.mtime?.getTime()}/${info.ino}`;
      } catch {
        return "missing";
      }
    }).join(" ");
  }

  /** Serves the files' pair once they changed and load; keeps the old one otherwise. */
  #check(): void {
    const stamp = this.#fileStamp();
    if (stamp === this.#stamp || this.#checking) return;
    this.#checking = true;
    const { log, service } = this.options;
    this.#stamp = stamp;
    try {
      const pair = readTlsPair(this.options.certFile, this.options.keyFile);
      if (pair.fingerprint === this.#backend.fingerprint) return;
      const old = this.#backend;
      this.#backend = this.#start(pair);
      old.retire();
      log.info("tls certificate reloaded", {
        service,
        fingerprint: pair.fingerprint,
        notAfter: pair.notAfter.toISOString(),
      });
    } catch (e) {
      // A renewal half written (certificate before key) loads once the other file changes.
      log.warn("tls certificate not reloaded: keeping the served one", {
        service,
        error: errorMessage(e),
      });
    } finally {
      this.#checking = false;
    }
  }

  #accept(): Promise<void> {
    return acceptEach(
      this.#listener,
      (conn) => this.#splice(conn),
      this.options.log,
      "tls listener",
    );
  }

  async #splice(conn: Deno.TcpConn): Promise<void> {
    this.#conns.add(conn);
    const backend = this.#backend;
    backend.active++;
    try {
      await spliceTo(conn, backend.port, this.#conns);
    } catch (e) {
      this.options.log.debug("tls connection ended", { error: errorMessage(e) });
    } finally {
      backend.release();
      closeQuietly(conn);
      this.#conns.delete(conn);
    }
  }
}

/** The certificate and key files a service serves HTTPS with. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/**
 * The `tlsCertFile` and `tlsKeyFile` of `config`, checked now (`null`: the
 * service serves plain HTTP). A service that cannot serve them exits 1 with
 * one line naming the file (a key readable by others, a pair that does not
 * match), before it connects anywhere.
 */
export function tlsFilesOrExit(
  config: { tlsCertFile: string; tlsKeyFile: string },
  service: string,
): TlsFiles | null {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = config;
  if (certFile === "" && keyFile === "") return null;
  try {
    if (certFile === "" || keyFile === "") {
      throw new TlsFileError("tlsCertFile and tlsKeyFile go together: give both or neither");
    }
    readTlsPair(certFile, keyFile);
  } catch (e) {
    if (!(e instanceof TlsFileError)) throw e;
    console.error(`${service}: ${e.message}`);
    Deno.exit(1);
  }
  return { certFile, keyFile };
}
