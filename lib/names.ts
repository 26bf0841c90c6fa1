/**
 * Validation of the names dn builds identifiers from: app names (DNS labels),
 * hostnames, host names, versions. Every Docker name, image reference, queue
 * and Redis key is built only from values that passed these checks.
 *
 * @module
 */

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** True when `name` is a valid app name: a lower-case DNS label (RFC 1123), 1–63 chars. */
export function isAppName(name: unknown): name is string {
  return typeof name === "string" && DNS_LABEL.test(name);
}

/** True when `hostname` is a valid fully qualified or single-label hostname, ≤ 253 chars. */
export function isHostname(hostname: unknown): hostname is string {
  if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > 253) return false;
  return hostname.split(".").every((label) => HOSTNAME_LABEL.test(label));
}

/** True when `name` is a valid host service name (same rules as an app name). */
export function isHostName(name: unknown): name is string {
  return isAppName(name);
}

/** True when `port` is a TCP port number 1–65535. */
export function isPort(port: unknown): port is number {
  return typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** True when `version` is a positive integer app version. */
export function isVersion(version: unknown): version is number {
  return typeof version === "number" && Number.isSafeInteger(version) && version >= 1;
}

/** True when `digest` looks like an image content digest (`sha256:` + 64 hex). */
export function isDigest(digest: unknown): digest is string {
  return typeof digest === "string" && /^sha256:[0-9a-f]{64}$/.test(digest);
}

/**
 * Orders names by UTF-16 code units, as a plain `sort()` does. Unlike
 * `localeCompare`, the order never depends on the process's locale (under
 * `LANG=da_DK.UTF-8`, `"aa".localeCompare("zz")` is 1: Danish sorts "aa" as "å").
 *
 * @example
 * ```ts
 * ["zz", "aa", "b-c"].sort(compareNames); // ["aa", "b-c", "zz"]
 * ```
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Normalises a hostname for lookups: lower case, no trailing dot, no port. */
export function normaliseHostname(hostHeader: string): string {
  let host = hostHeader.trim().toLowerCase();
  if (host.startsWith("[")) return host; // IPv6 literal: never an app domain
  const colon = host.lastIndexOf(":");
  if (colon !== -1) host = host.slice(0, colon);
  return host.endsWith(".") ? host.slice(0, -1) : host;
}
