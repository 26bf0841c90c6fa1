/**
 * Starts the gateway's HTTPS side: the certificate table (gateway/cert_table.ts)
 * and the front door that splices connections to it by SNI
 * (gateway/tls_front.ts).
 *
 * @module
 */

import type { CertStore } from "../lib/certs.ts";
import type { Logger } from "../lib/log.ts";
import type { Registry } from "../lib/metrics.ts";
import type { Redis } from "ioredis";
import { CertTable, type HttpsHandler } from "./cert_table.ts";
import { TlsFront } from "./tls_front.ts";

/** What {@link startHttps} needs. */
export interface HttpsOptions {
  /** Address of the front door. */
  listen: { hostname: string; port: number };
  store: CertStore;
  /** Redis connection in subscriber mode (shared with the other tables). */
  subscriber: Redis;
  /** The gateway's request handler (requests arrive with `https:` URLs). */
  handler: HttpsHandler;
  registry: Registry;
  log: Logger;
}

/** The running HTTPS side. */
export interface Https {
  /** Stops listening and retires every backend. */
  stop(): void;
}

/** Loads the certificates, then listens. */
export async function startHttps(options: HttpsOptions): Promise<Https> {
  // The front exists only once the table has loaded; until then no connection can arrive.
  const fronts: TlsFront[] = [];
  const table = new CertTable(
    options.store,
    options.handler,
    (port) => fronts[0]?.clientOf(port),
    options.registry,
    options.log,
  );
  await table.start(options.subscriber);
  const front = new TlsFront({
    ...options.listen,
    backend: (name) => table.backend(name),
    onRefused: (reason) => table.refused(reason),
    log: options.log,
  });
  fronts.push(front);
  options.log.info("gateway https listening", {
    addr: `${front.addr.hostname}:${front.addr.port}`,
    certificates: table.hostnames.length,
  });
  return {
    stop() {
      front.close();
      table.stop();
    },
  };
}
