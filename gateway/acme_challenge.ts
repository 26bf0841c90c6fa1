/**
 * The gateway's answer to ACME HTTP-01 validation requests
 * (`GET /.well-known/acme-challenge/<token>`, for any hostname, before the
 * app's own routing and HTTPS policy): the key authorization control left
 * in Redis (lib/acme_challenges.ts), else 404.
 *
 * @module
 */

import { CHALLENGE_PATH, type ChallengeStore } from "../lib/acme_challenges.ts";

/** The answer to `url` when it is an ACME challenge path, else null (the request goes on). */
export async function challengeAnswer(
  store: ChallengeStore,
  method: string,
  url: URL,
): Promise<Response | null> {
  if (!url.pathname.startsWith(CHALLENGE_PATH)) return null;
  const token = url.pathname.slice(CHALLENGE_PATH.length);
  const answer = method === "GET" || method === "HEAD"
    ? await store.get(token).catch(() => null)
    : null;
  if (answer === null) {
    return new Response("no such ACME challenge\n", {
      status: 404,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return new Response(method === "HEAD" ? null : answer, {
    headers: { "content-type": "application/octet-stream" },
  });
}
