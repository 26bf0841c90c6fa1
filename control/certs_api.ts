/**
 * Control's certificate endpoints (HTTPS at the gateway, lib/certs.ts):
 *
 * ```
 * GET    /v1/certs              list {certs: [CertInfo]}   (never a key)
 * PUT    /v1/certs/:hostname    set {cert, key} (PEM) → {cert: CertInfo}
 * DELETE /v1/certs/:hostname    remove → {cert: CertInfo}
 * POST   /v1/certs/:hostname/acme  obtain (or renew) from the ACME directory → {cert: CertInfo}
 * ```
 *
 * A certificate is checked before it is stored (PEM chain, matching key,
 * names the hostname, valid now); errors say what is wrong, never quote the
 * key, and the log names the hostname and fingerprint only.
 *
 * @module
 */

import {
  CertError,
  certInfo,
  type CertRecord,
  type CertStore,
  checkCertPair,
} from "../lib/certs.ts";
import { brief, HttpError, json, readJsonObject } from "../lib/http/json.ts";
import type { Logger } from "../lib/log.ts";
import { AcmeError, type AcmeIssuer } from "./acme.ts";
import { isHostname } from "../lib/names.ts";

/** Path of the certificate endpoints: `/v1/certs` or `/v1/certs/<hostname>`. */
export const CERTS_ROUTE = /^\/v1\/certs(?:\/([^/]+)(\/acme)?)?$/;

/** Largest body of `PUT /v1/certs/:hostname`: two PEM texts and JSON around them. */
const BODY_LIMIT = 160 * 1024;

/** What the certificate endpoints need. */
export interface CertsDeps {
  store: CertStore;
  /** The ACME issuer, or null when control has no `acmeDirectoryUrl`. */
  acme: AcmeIssuer | null;
  log: Logger;
}

/** Answers a request whose path matched {@link CERTS_ROUTE} (`match` is the match). */
export async function certsEndpoint(
  req: Request,
  match: RegExpExecArray,
  deps: CertsDeps,
): Promise<Response> {
  const { store, log } = deps;
  const [, rawHostname, acme] = match;
  if (rawHostname === undefined) {
    if (req.method !== "GET") throw methodNotAllowed(["GET"]);
    const { certs, invalid } = await store.list();
    if (invalid.length > 0) log.warn("invalid stored certificates", { hostnames: invalid });
    return json(200, { certs: certs.map(certInfo) });
  }
  let hostname = "";
  try {
    hostname = decodeURIComponent(rawHostname).toLowerCase();
  } catch {
    // reported below
  }
  if (!isHostname(hostname)) {
    throw new HttpError(400, `invalid hostname ${brief(rawHostname)}: must be a DNS name`);
  }
  if (acme) {
    if (req.method !== "POST") throw methodNotAllowed(["POST"]);
    if (!deps.acme) {
      throw new HttpError(409, "ACME is not configured: set control's acmeDirectoryUrl");
    }
    await req.body?.cancel();
    try {
      return json(200, { cert: certInfo(await deps.acme.issue(hostname)) });
    } catch (e) {
      if (e instanceof AcmeError || e instanceof CertError) throw new HttpError(502, e.message);
      throw e;
    }
  }
  if (req.method === "PUT") {
    const body = await readJsonObject(req, ["cert", "key"], BODY_LIMIT);
    if (typeof body.cert !== "string" || body.cert === "") {
      throw new HttpError(400, "cert must be the PEM certificate chain, leaf first");
    }
    if (typeof body.key !== "string" || body.key === "") {
      throw new HttpError(400, "key must be the PEM private key");
    }
    let record: CertRecord;
    try {
      const info = checkCertPair(hostname, body.cert, body.key);
      record = {
        ...info,
        source: "file",
        updatedAt: new Date().toISOString(),
        cert: body.cert,
        key: body.key,
      };
    } catch (e) {
      if (e instanceof CertError) throw new HttpError(400, e.message);
      throw e;
    }
    await store.set(record);
    log.info("certificate set", { hostname, fingerprint: record.fingerprint });
    return json(200, { cert: certInfo(record) });
  }
  if (req.method === "DELETE") {
    const current = await store.get(hostname).catch((e) => {
      if (e instanceof CertError) return null; // an unreadable record can still be removed
      throw e;
    });
    if (!(await store.remove(hostname))) {
      throw new HttpError(404, `no certificate for ${hostname}`);
    }
    log.info("certificate removed", { hostname });
    return json(200, { cert: current ? certInfo(current) : { hostname } });
  }
  throw methodNotAllowed(["PUT", "DELETE"]);
}

function methodNotAllowed(allowed: string[]): HttpError {
  return new HttpError(405, `method not allowed; use ${allowed.join(" or ")}`, {
    allow: allowed.join(", "),
  });
}
