/**
 * An app's stream idle timeout on the host route: the gateway sends the
 * app's `APP_STREAM_IDLE` (or the network's `streamIdleTimeoutMs`) with each
 * request to a host's direct listener, so the host cuts a stalled stream
 * between it and the app's container when the gateway does.
 *
 * @module
 */

import { HttpError } from "./http/json.ts";

/** Request header to a host's direct listener: the stream idle timeout in ms. */
export const STREAM_IDLE_HEADER = "dn-stream-idle-ms";

/**
 * The idle timeout a request to a host's direct listener asks for: the
 * header's whole number of ms, `fallback` when absent; HttpError 400 when
 * the header is not a positive whole number.
 *
 * @example
 * ```ts
 * streamIdleOf("2000", 60_000); // 2000
 * streamIdleOf(null, 60_000); // 60000
 * ```
 */
export function streamIdleOf(value: string | null, fallback: number): number {
  if (value === null) return fallback;
  const ms = /^[0-9]{1,12}$/.test(value) ? Number(value) : 0;
  if (ms <= 0) {
    throw new HttpError(400, `${STREAM_IDLE_HEADER} must be a whole number of ms above 0`);
  }
  return ms;
}
