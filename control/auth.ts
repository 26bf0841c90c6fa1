/**
 * Control's answer to a request without a valid token (the check itself is
 * lib/token.ts).
 *
 * @module
 */

import { json } from "../lib/http/json.ts";

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
