/**
 * Bearer token check in constant time: both sides are hashed first so neither
 * content nor length leaks through timing.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { json } from "../lib/http/json.ts";

/**
 * Returns a checker that accepts `Authorization: Bearer <token>` headers (the
 * scheme is case-insensitive, RFC 9110 11.1; the token is not).
 */
export function tokenChecker(token: string): (header: string | null) => boolean {
  if (token.length < 16) throw new Error("control token must be at least 16 characters");
  const expected = createHash("sha256").update(token).digest();
  return (header) => {
    const match = /^bearer ([\x21-\x7e]{1,1024})$/i.exec(header ?? "");
    const given = createHash("sha256").update(match ? match[1] : "").digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/**
 * The 401 answer for a request without a valid token, or null when the token
 * is good. The body of a refused request is cancelled, never read.
 */
export async function refuseWithoutToken(
  req: Request,
  checkToken: (header: string | null) => boolean,
): Promise<Response | null> {
  const authorization = req.headers.get("authorization");
  if (checkToken(authorization)) return null;
  await req.body?.cancel().catch(() => {});
  const error = authorization === null
    ? "missing token: send Authorization: Bearer <token>"
    : "invalid token";
  return json(401, { error }, { "www-authenticate": 'Bearer realm="dn"' });
}
