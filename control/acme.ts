/**
 * Certificates from an ACME directory (RFC 8555: Let's Encrypt, or pebble in
 * the tests) for app hostnames, with the HTTP-01 challenge answered by the
 * gateways (lib/acme_challenges.ts), through the npm package `acme-client`.
 *
 * Control keeps one ACME account; its key is made on first use and kept in
 * Redis (`<prefix>acme-account`, a secret like the certificates' keys). Each
 * certificate gets a fresh P-256 key. Certificates that came from ACME are
 * renewed once a third of their lifetime is left: a timer wakes at the
 * earliest such time (at least 10 s, at most 12 h away; a minute after a
 * failure), and each new certificate brings it forward when due sooner.
 *
 * @module
 */

import https from "node:https";
import * as acme from "acme-client";
import type { ChallengeStore } from "../lib/acme_challenges.ts";
import { type CertRecord, type CertStore, checkCertPair } from "../lib/certs.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { withRedis } from "../lib/redis.ts";

/** Raised when a certificate could not be obtained; the message says which step failed. */
export class AcmeError extends Error {
  override name = "AcmeError";
}

/** What {@link AcmeIssuer} needs. */
export interface AcmeOptions {
  /** ACME directory URL (`https://acme-v02.api.letsencrypt.org/directory`). */
  directoryUrl: string;
  /** Account contact email ("" = none). */
  email: string;
  /** PEM CA the directory's TLS certificate is checked against (null = system roots). */
  caPem: string | null;
  certs: CertStore;
  challenges: ChallengeStore;
  /** Key prefix for the account key. */
  prefix: string;
  log: Logger;
}

const MIN_WAIT_MS = 10_000;
const MAX_WAIT_MS = 12 * 3600_000;
const RETRY_MS = 60_000;

/** When `record` is due for renewal (ms since the epoch): once a third of its lifetime is left. */
export function renewalTime(record: Pick<CertRecord, "notBefore" | "notAfter">): number {
  const notBefore = Date.parse(record.notBefore);
  const notAfter = Date.parse(record.notAfter);
  return notAfter - (notAfter - notBefore) / 3;
}

/** Obtains and renews certificates from one ACME directory. */
export class AcmeIssuer {
  #client: Promise<acme.Client> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the renewal timer fires (ms since the epoch); null when renewals are not started. */
  #wakeAt: number | null = null;
  #running = new Map<string, Promise<CertRecord>>();

  /** Creates the issuer; nothing is sent until {@link issue} or {@link startRenewals}. */
  constructor(readonly options: AcmeOptions) {
    if (options.caPem !== null) {
      // Trust for this client's requests only: acme-client sends every request through this axios.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: options.caPem });
    }
  }

  /** Obtains a certificate for `hostname`, stores it (gateways serve it at once) and returns it. */
  issue(hostname: string): Promise<CertRecord> {
    const running = this.#running.get(hostname);
    if (running) return running; // one order per name at a time
    const order = this.#issue(hostname).finally(() => this.#running.delete(hostname));
    this.#running.set(hostname, order);
    return order;
  }

  /** Renews due ACME certificates now and whenever the next one falls due. */
  startRenewals(): void {
    this.#wakeAt = Date.now();
    this.#timer = setTimeout(() => this.#tick(), 0);
  }

  /** Stops the renewal timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#wakeAt = null;
  }

  async #tick(): Promise<void> {
    this.#wakeAt = Number.POSITIVE_INFINITY; // a check runs: issues in it do not reschedule
    let wait = RETRY_MS;
    try {
      wait = await this.renewDue(Date.now());
    } catch (e) {
      this.options.log.warn("acme renewal check failed", { error: errorMessage(e) });
    }
    if (this.#wakeAt === null) return; // stopped meanwhile
    this.#wakeAt = 0;
    this.#wakeIn(wait);
  }

  /** Moves the renewal timer to `ms` from now (10 s - 12 h) when that is sooner. */
  #wakeIn(ms: number): void {
    const at = Date.now() + Math.min(Math.max(ms, MIN_WAIT_MS), MAX_WAIT_MS);
    if (this.#wakeAt === null || this.#wakeAt === Number.POSITIVE_INFINITY) return;
    if (this.#wakeAt !== 0 && this.#wakeAt <= at) return;
    clearTimeout(this.#timer);
    this.#wakeAt = at;
    this.#timer = setTimeout(() => this.#tick(), at - Date.now());
  }

  /** Renews every ACME certificate due at `now`; returns the ms until the next one is due. */
  async renewDue(now: number): Promise<number> {
    const { certs } = await this.options.certs.list();
    let next = Number.POSITIVE_INFINITY;
    let failed = false;
    for (const record of certs.filter((c) => c.source === "acme")) {
      const due = renewalTime(record);
      if (due > now) {
        next = Math.min(next, due - now);
        continue;
      }
      try {
        const renewed = await this.issue(record.hostname);
        next = Math.min(next, renewalTime(renewed) - Date.now());
      } catch (e) {
        failed = true;
        this.options.log.warn("acme renewal failed", {
          hostname: record.hostname,
          error: errorMessage(e),
        });
      }
    }
    return failed ? Math.min(next, RETRY_MS) : next;
  }

  async #issue(hostname: string): Promise<CertRecord> {
    const { log, challenges } = this.options;
    const started = Date.now();
    const client = await this.#account();
    const [key, csr] = await acme.crypto.createCsr(
      { commonName: hostname, altNames: [hostname] },
      await acme.crypto.createPrivateEcdsaKey("P-256"),
    );
    let cert: string;
    try {
      cert = await client.auto({
        csr,
        email: this.options.email || undefined,
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        // The ACME server checks through the gateways; control may not reach them by that name.
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) =>
          challenges.put(challenge.token, keyAuthorization),
        challengeRemoveFn: (_authz, challenge) => challenges.remove(challenge.token),
      });
    } catch (e) {
      throw new AcmeError(`ACME order for ${hostname} failed: ${errorMessage(e)}`);
    }
    const keyPem = key.toString();
    const info = checkCertPair(hostname, cert, keyPem);
    const record: CertRecord = {
      ...info,
      source: "acme",
      updatedAt: new Date().toISOString(),
      cert,
      key: keyPem,
    };
    await this.options.certs.set(record);
    this.#wakeIn(renewalTime(record) - Date.now());
    log.info("acme certificate stored", {
      hostname,
      notAfter: record.notAfter,
      fingerprint: record.fingerprint,
      ms: Date.now() - started,
    });
    return record;
  }

  /** The ACME client with control's account key (made and stored on first use). */
  #account(): Promise<acme.Client> {
    this.#client ??= (async () => {
      const { redis } = this.options.certs;
      const keyName = `${this.options.prefix}acme-account`;
      const fresh = (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
      await withRedis(redis, () => redis.set(keyName, fresh, "NX"));
      const accountKey = await withRedis(redis, () => redis.get(keyName));
      if (accountKey === null) throw new AcmeError("ACME account key missing from Redis");
      return new acme.Client({ directoryUrl: this.options.directoryUrl, accountKey });
    })().catch((e) => {
      this.#client = null; // try again next time
      throw e;
    });
    return this.#client;
  }
}
