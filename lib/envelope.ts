/**
 * HTTP request and response envelopes exchanged on the `dn` exchange (the
 * broker path), and the validation helpers the JSON messages of
 * `lib/commands.ts` share with them.
 *
 * HTTP requests and responses travel as a small binary envelope, so bodies are
 * never base64-encoded or copied into JSON:
 *
 * ```
 * | u32 big-endian head length | head: UTF-8 JSON | body bytes |
 * ```
 *
 * The AMQP `type` property names the envelope and its version
 * (`dn.request.v2`, `dn.response.v1`). Every decoder validates all fields and
 * throws {@link EnvelopeError}.
 *
 * @module
 */

/**
 * Methods delivered at most once: a host acks them on receipt and they are
 * never retried on another host. Every other method is idempotent (acked
 * after the reply, retried elsewhere when its host fails).
 */
export const AT_MOST_ONCE_METHODS: ReadonlySet<string> = new Set(["POST", "PATCH"]);

/** AMQP `type` of a request envelope (v2: the head carries `timeoutMs`, not a deadline). */
export const REQUEST_TYPE = "dn.request.v2";
/** AMQP `type` of a response envelope. */
export const RESPONSE_TYPE = "dn.response.v1";

/**
 * Header of an upgrade request (a WebSocket) sent to a host's direct
 * listener: the request envelope's head, base64 (the upgrade has no body to
 * carry it).
 */
export const ENVELOPE_HEADER = "dn-envelope";

/** Raised when a message does not match its envelope. */
export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

/** Ordered header list; names lower-case, repeated names kept (set-cookie). */
export type HeaderList = [string, string][];

/** Head of an HTTP request envelope. */
export interface RequestHead {
  /** Request method, upper case. */
  method: string;
  /** Path with query string, as received (`/a/b?c=d`). */
  url: string;
  /** Request headers. */
  headers: HeaderList;
  /** Redis key holding the body when it was too large to travel inline. */
  bodyKey?: string;
  /** Request id, also passed to the app as `x-request-id`. */
  id: string;
  /**
   * Epoch milliseconds, by this process's clock, after which nobody waits for
   * the answer. On the wire it travels as `timeoutMs`, the time left when the
   * envelope was encoded, so no two machines' clocks need agree: the decoder
   * turns it back into a deadline by its own clock.
   */
  deadline: number;
}

/** Head of an HTTP response envelope. */
export interface ResponseHead {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: HeaderList;
  /** Redis key holding the body when it was too large to travel inline. */
  bodyKey?: string;
}

/** A decoded envelope: its head and its inline body. */
export interface Envelope<H> {
  /** The JSON head. */
  head: H;
  /** Inline body bytes (empty when the body is in Redis or absent). */
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters a header value may not hold (HTAB is allowed). */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const VALUE_CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
/**
 * An origin-form request target as the client sent it: `/` then printable
 * ASCII or any text beyond it (raw UTF-8, as Deno.serve decodes it; U+0080
 * to U+009F too, two bytes on the wire as on the container route), no space,
 * ASCII control character or DEL.
 */
const ORIGIN_FORM = /^\/[^\0-\x20\x7f]*$/;
const MAX_HEAD = 1024 * 1024;
const MAX_HEADERS = 1000;
/** Longest `timeoutMs` a request may carry (an app's timeout is at most 10 minutes). */
const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Encodes a head and body into one binary envelope. A request head's
 * `deadline` goes on the wire as `timeoutMs`, the time left now (at least 1).
 */
export function encodeEnvelope(head: RequestHead | ResponseHead, body: Uint8Array): Uint8Array {
  const wire = "deadline" in head ? requestWireHead(head) : head;
  const json = encoder.encode(JSON.stringify(wire));
  const out = new Uint8Array(4 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(body, 4 + json.length);
  return out;
}

function requestWireHead(head: RequestHead): Record<string, unknown> {
  const { deadline, ...rest } = head;
  return { ...rest, timeoutMs: Math.max(1, Math.ceil(deadline - Date.now())) };
}

function splitEnvelope(bytes: Uint8Array): { head: Record<string, unknown>; body: Uint8Array } {
  if (bytes.length < 4) throw new EnvelopeError("envelope shorter than its length prefix");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (length > MAX_HEAD || 4 + length > bytes.length) {
    throw new EnvelopeError("envelope head length out of range");
  }
  let head: unknown;
  try {
    head = JSON.parse(decoder.decode(bytes.subarray(4, 4 + length)));
  } catch {
    throw new EnvelopeError("envelope head is not UTF-8 JSON");
  }
  if (typeof head !== "object" || head === null || Array.isArray(head)) {
    throw new EnvelopeError("envelope head is not an object");
  }
  return { head: head as Record<string, unknown>, body: bytes.subarray(4 + length) };
}

function checkHeaders(value: unknown): HeaderList {
  if (!Array.isArray(value)) throw new EnvelopeError("headers must be a list");
  if (value.length > MAX_HEADERS) throw new EnvelopeError(`more than ${MAX_HEADERS} headers`);
  for (const pair of value) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string" || !TOKEN.test(pair[0]) || VALUE_CONTROL.test(pair[1])
    ) {
      throw new EnvelopeError("headers must be [name, value] pairs of valid strings");
    }
  }
  return value as HeaderList;
}

function checkBodyKey(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^[A-Za-z0-9:._-]{1,200}$/.test(value)) {
    throw new EnvelopeError("bodyKey must be a short key");
  }
  return value;
}

/** Rejects a decoded object that holds a key outside `allowed`. */
export function onlyKeys(head: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(head)) {
    if (!allowed.includes(key)) throw new EnvelopeError(`unknown field ${key}`);
  }
}

/**
 * Decodes and validates a request envelope; its `deadline` is `timeoutMs`
 * from now by this process's clock.
 */
export function decodeRequest(bytes: Uint8Array): Envelope<RequestHead> {
  const received = Date.now();
  const { head, body } = splitEnvelope(bytes);
  onlyKeys(head, ["method", "url", "headers", "bodyKey", "id", "timeoutMs"]);
  const { method, url, id, timeoutMs } = head;
  if (typeof method !== "string" || !TOKEN.test(method) || method.length > 32) {
    throw new EnvelopeError("method must be an HTTP token");
  }
  if (typeof url !== "string" || !ORIGIN_FORM.test(url) || url.length > 65536) {
    throw new EnvelopeError(
      "url must be an origin-form target without spaces or control characters",
    );
  }
  if (typeof id !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(id)) {
    throw new EnvelopeError("id must be a short token");
  }
  if (
    typeof timeoutMs !== "number" || !Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 ||
    timeoutMs > MAX_TIMEOUT_MS
  ) {
    throw new EnvelopeError(`timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  const deadline = received + timeoutMs;
  const bodyKey = checkBodyKey(head.bodyKey);
  if (bodyKey !== undefined && body.length > 0) {
    throw new EnvelopeError("body must be either inline or in Redis, not both");
  }
  return {
    head: { method, url, headers: checkHeaders(head.headers), bodyKey, id, deadline },
    body,
  };
}

/** Decodes and validates a response envelope. */
export function decodeResponse(bytes: Uint8Array): Envelope<ResponseHead> {
  const { head, body } = splitEnvelope(bytes);
  onlyKeys(head, ["status", "headers", "bodyKey"]);
  const { status } = head;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new EnvelopeError("status must be an integer 200-599");
  }
  const bodyKey = checkBodyKey(head.bodyKey);
  return { head: { status, headers: checkHeaders(head.headers), bodyKey }, body };
}

/** Parses a versioned (`v: 1`) JSON object message, naming it `what` in errors. */
export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new EnvelopeError(`${what} is not UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new EnvelopeError(`${what} is not a JSON object`);
  }
  const object = value as Record<string, unknown>;
  if (object.v !== 1) throw new EnvelopeError(`${what} has unknown version ${object.v}`);
  return object;
}
