/**
 * JSON helpers for the HTTP services: bounded body reading and error answers.
 *
 * @module
 */

import { concatBytes } from "../streams.ts";

/** Raised for a request the service refuses; carries the HTTP status. */
export class HttpError extends Error {
  override name = "HttpError";
  /** Creates an error answered with `status`, `message` and extra response `headers`. */
  constructor(readonly status: number, message: string, readonly headers?: HeadersInit) {
    super(message);
  }
}

/**
 * A client-supplied value shown briefly and safely in an error message: JSON,
 * cut to `max` characters, so a 10 000-character name is not echoed back.
 */
export function brief(value: unknown, max = 80): string {
  let text: string;
  try {
    text = typeof value === "string"
      ? JSON.stringify(value)
      : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** A JSON response. */
export function json(status: number, body: unknown, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body) + "\n", { status, headers: h });
}

/**
 * Reads a request body up to `limit` bytes, else throws HttpError 413. With
 * `timeoutMs`, the whole body must arrive within that time, else HttpError
 * 408 (a client sending its body slowly holds no handler for longer).
 */
export async function readBody(
  req: Request,
  limit: number,
  timeoutMs?: number,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await req.body?.cancel().catch(() => {});
    throw new HttpError(413, `body larger than ${limit} bytes`);
  }
  if (req.body === null) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  let timedOut = false;
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (timedOut) throw new HttpError(408, `request body not received within ${timeoutMs} ms`);
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new HttpError(413, `body larger than ${limit} bytes`);
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    if (timedOut) throw new HttpError(408, `request body not received within ${timeoutMs} ms`);
    // The client broke the body's framing (bad chunk) or went away mid-body.
    throw new HttpError(400, "request body could not be read");
  } finally {
    clearTimeout(timer);
  }
  return concatBytes(parts);
}

/** Reads a JSON object body with only the `allowed` keys. */
export async function readJsonObject(
  req: Request,
  allowed: readonly string[],
  limit = 64 * 1024,
): Promise<Record<string, unknown>> {
  const bytes = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "body must be valid UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new HttpError(
        400,
        `unknown field ${brief(key)}; allowed: ${allowed.join(", ") || "none"}`,
      );
    }
  }
  return value as Record<string, unknown>;
}
