/**
 * Bearer token check in constant time: both sides are hashed first so neither
 * content nor length leaks through timing. Control checks the CLI's token
 * with it, hosts the gateway's on direct requests.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** Shortest token accepted. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Returns a checker that accepts `Authorization: Bearer <token>` headers (the
 * scheme is case-insensitive, RFC 9110 11.1; the token is not).
 */
export function tokenChecker(
  token: string,
  what = "control token",
): (header: string | null) => boolean {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`${what} must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  const expected = createHash("sha256").update(token).digest();
  return (header) => {
    const match = /^bearer ([\x21-\x7e]{1,1024})$/i.exec(header ?? "");
    const given = createHash("sha256").update(match ? match[1] : "").digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}
