/**
 * An app's HTTPS policy at the gateway (`APP_HTTPS`, `APP_HSTS` in
 * App.config): what a plain HTTP request gets, and the
 * `Strict-Transport-Security` header of HTTPS answers.
 *
 * - `off` (default): plain HTTP is served like HTTPS.
 * - `redirect`: 301 (GET, HEAD) or 308 (other methods, which keep their
 *   method and body) to the same URL over HTTPS.
 * - `only`: 403 naming the HTTPS URL; nothing reaches the app.
 *
 * HSTS is sent on HTTPS answers only (RFC 6797 7.2: never over plain HTTP).
 *
 * @module
 */

import type { AppRecord } from "../lib/apps.ts";

/** The gateway's own answer to a plain HTTP request. */
export interface PolicyAnswer {
  status: number;
  message: string;
  headers: Record<string, string>;
}

/**
 * The answer to a plain HTTP request for `app`, or null to serve it.
 * `host` is the Host header (validated); `httpsPort` the port clients reach
 * the gateway's HTTPS on (443 is left out of the URL).
 */
export function plainHttpAnswer(
  app: Pick<AppRecord, "https">,
  method: string,
  url: URL,
  host: string,
  httpsPort: number,
): PolicyAnswer | null {
  if (app.https === "off") return null;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  const port = httpsPort === 443 ? "" : `:${httpsPort}`;
  const location = `https://${name}${port}${url.pathname}${url.search}`;
  if (app.https === "only") {
    return { status: 403, message: `HTTPS only: ${location}`, headers: {} };
  }
  const status = method === "GET" || method === "HEAD" ? 301 : 308;
  return { status, message: `moved to ${location}`, headers: { location } };
}

/** The `Strict-Transport-Security` value for `app`'s HTTPS answers, or null for none. */
export function hstsValue(app: Pick<AppRecord, "hstsSeconds">): string | null {
  return app.hstsSeconds > 0 ? `max-age=${app.hstsSeconds}` : null;
}
