/**
 * TLS certificates of app hostnames, served by the gateway (HTTPS by SNI).
 *
 * Kept in Redis like the apps' environment: the hash `<prefix>certs`
 * (hostname → JSON record with the PEM certificate chain and private key),
 * written by control only, each change one Lua script that also publishes
 * the hostname on `<prefix>certs`, so every gateway reloads at once. The
 * private key never leaves control's state except to gateways: the API, the
 * CLI and the logs show {@link CertInfo} only.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Redis } from "ioredis";
import { compareNames, isHostname } from "./names.ts";
import { withRedis } from "./redis.ts";

/** Raised for a certificate or key that cannot be served: the message never holds key material. */
export class CertError extends Error {
  override name = "CertError";
}

/** What may be shown about a certificate: everything but the key. */
export interface CertInfo {
  /** Hostname the certificate is served for (lower case). */
  hostname: string;
  /** Subject of the leaf certificate (`CN=...`). */
  subject: string;
  /** Issuer of the leaf certificate. */
  issuer: string;
  /** ISO time the leaf certificate becomes valid. */
  notBefore: string;
  /** ISO time the leaf certificate expires. */
  notAfter: string;
  /** SHA-256 fingerprint of the leaf certificate (`AB:CD:...`). */
  fingerprint: string;
  /** Where it came from: `file` (`dn certs set`) or `acme`. */
  source: CertSource;
  /** ISO time it was stored. */
  updatedAt: string;
}

/** Origin of a stored certificate. */
export type CertSource = "file" | "acme";

/** A stored certificate with its key (control and gateways only). */
export interface CertRecord extends CertInfo {
  /** PEM certificate chain, leaf first. */
  cert: string;
  /** PEM private key (PKCS#8, PKCS#1 or SEC1). */
  key: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;
const PEM_KEY =
  /^-----BEGIN (RSA |EC )?PRIVATE KEY-----[A-Za-z0-9+/=\r\n]+-----END \1PRIVATE KEY-----$/;
/** Largest PEM certificate chain or key accepted, in characters. */
export const PEM_LIMIT = 64 * 1024;

/**
 * Checks a certificate chain and private key for `hostname` and returns
 * what may be shown about them: the chain must be PEM certificates only,
 * the key one unencrypted PEM private key that matches the leaf, the leaf
 * must name `hostname` and be valid at `now` (`null`: not checked, for
 * stored ones). Errors never quote the key.
 */
export function checkCertPair(
  hostname: string,
  cert: string,
  key: string,
  now: Date | null = new Date(),
): Omit<CertInfo, "source" | "updatedAt"> {
  if (!isHostname(hostname) || hostname !== hostname.toLowerCase()) {
    throw new CertError(`invalid hostname: must be a lower-case DNS name`);
  }
  if (cert.length > PEM_LIMIT || key.length > PEM_LIMIT) {
    throw new CertError(`certificate and key must each be under ${PEM_LIMIT / 1024} KiB`);
  }
  const blocks = cert.trim().match(PEM_CERT) ?? [];
  if (blocks.length === 0 || cert.replace(PEM_CERT, "").trim() !== "") {
    throw new CertError("certificate: not a PEM certificate chain (BEGIN CERTIFICATE blocks only)");
  }
  const chain = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new CertError(`certificate: block ${i + 1} of the chain does not parse`);
    }
  });
  if (!PEM_KEY.test(key.trim())) {
    throw new CertError(
      "key: not one unencrypted PEM private key (BEGIN PRIVATE KEY, RSA or EC PRIVATE KEY)",
    );
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new CertError("key: the private key does not parse");
  }
  const leaf = chain[0];
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertError("key: does not match the certificate");
  }
  if (leaf.checkHost(hostname) === undefined) {
    throw new CertError(`certificate: not valid for ${hostname} (names: ${leaf.subjectAltName})`);
  }
  if (now !== null && leaf.validToDate.getTime() <= now.getTime()) {
    throw new CertError(`certificate: expired ${leaf.validToDate.toISOString()}`);
  }
  if (now !== null && leaf.validFromDate.getTime() > now.getTime()) {
    throw new CertError(`certificate: not valid before ${leaf.validFromDate.toISOString()}`);
  }
  return {
    hostname,
    subject: leaf.subject.replaceAll("\n", ", "),
    issuer: leaf.issuer.replaceAll("\n", ", "),
    notBefore: leaf.validFromDate.toISOString(),
    notAfter: leaf.validToDate.toISOString(),
    fingerprint: leaf.fingerprint256,
  };
}

/** The record without its key, for API answers and the CLI. */
export function certInfo(record: CertRecord): CertInfo {
  const { cert: _cert, key: _key, ...info } = record;
  return info;
}

/** Validates a stored record (from Redis); throws CertError. */
export function parseCertRecord(json: string): CertRecord {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(json);
  } catch {
    throw new CertError("certificate record is not JSON");
  }
  const ok = typeof value === "object" && value !== null && isHostname(value.hostname) &&
    typeof value.cert === "string" && typeof value.key === "string" &&
    (value.source === "file" || value.source === "acme") &&
    typeof value.updatedAt === "string";
  if (!ok) throw new CertError("certificate record does not validate");
  // A stored certificate that has since expired stays: served, listed, and shown with negative
  // days in the gateway's /metrics, so the operator sees it rather than a vanished one.
  const info = checkCertPair(
    value.hostname as string,
    value.cert as string,
    value.key as string,
    null,
  );
  return {
    ...info,
    source: value.source as CertSource,
    updatedAt: value.updatedAt as string,
    cert: value.cert as string,
    key: value.key as string,
  };
}

const SET = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 'ok'`;

const REMOVE = `local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n == 1 then redis.call('PUBLISH', KEYS[2], ARGV[1]) end
return n`;

/** Reads and changes the stored certificates. */
export class CertStore {
  readonly #hash: string;
  /** Channel a hostname is published on when its certificate changes. */
  readonly channel: string;

  /** Creates a store over `redis` with key `prefix`. */
  constructor(readonly redis: Redis, prefix: string) {
    this.#hash = `${prefix}certs`;
    this.channel = `${prefix}certs`;
  }

  /** Every stored certificate, sorted by hostname; records that fail validation are returned apart. */
  async list(): Promise<{ certs: CertRecord[]; invalid: string[] }> {
    const all = await withRedis(this.redis, () => this.redis.hgetall(this.#hash));
    const certs: CertRecord[] = [];
    const invalid: string[] = [];
    for (const [hostname, json] of Object.entries(all)) {
      try {
        certs.push(parseCertRecord(json));
      } catch {
        invalid.push(hostname);
      }
    }
    certs.sort((a, b) => compareNames(a.hostname, b.hostname));
    return { certs, invalid };
  }

  /** The certificate of `hostname`, or null. */
  async get(hostname: string): Promise<CertRecord | null> {
    const json = await withRedis(this.redis, () => this.redis.hget(this.#hash, hostname));
    return json === null ? null : parseCertRecord(json);
  }

  /** Stores (or replaces) a certificate and tells the gateways. */
  async set(record: CertRecord): Promise<void> {
    await withRedis(
      this.redis,
      () =>
        this.redis.eval(SET, 2, this.#hash, this.channel, record.hostname, JSON.stringify(record)),
    );
  }

  /** Removes the certificate of `hostname`; false when there was none. */
  async remove(hostname: string): Promise<boolean> {
    const n = await withRedis(
      this.redis,
      () => this.redis.eval(REMOVE, 2, this.#hash, this.channel, hostname),
    );
    return n === 1;
  }
}
