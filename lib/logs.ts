/**
 * The `logs.<app>` RPC between control and hosts, and the log lines it
 * carries.
 *
 * Control publishes one request on the `dn` exchange with routing key
 * `logs.<app>`, `reply_to` (direct reply-to) and a correlation id; every host
 * receives it on its queue `dn.host.<name>.logs` and answers with the app's
 * container log lines, oldest first, at most {@link LOGS_MAX_LINES} lines and
 * about {@link LOGS_MAX_BYTES} bytes a reply. A reply with `truncated` set has
 * more: control asks again with the host's cursor (the time of the last line
 * it got) in `after`.
 *
 * Times are RFC 3339 UTC with nine fraction digits
 * (`2024-05-01T12:00:00.123456789Z`), so they order as strings.
 *
 * @module
 */

import { EnvelopeError, parseJsonObject } from "./envelope.ts";
import { isHostName } from "./names.ts";

/** AMQP `type` of a logs request. */
export const LOGS_REQUEST_TYPE = "dn.logs-request.v1";
/** AMQP `type` of a logs reply. */
export const LOGS_REPLY_TYPE = "dn.logs-reply.v1";
/** Most lines in one reply; also the largest `tail`. */
export const LOGS_MAX_LINES = 5000;
/** About the most bytes of log text in one reply. */
export const LOGS_MAX_BYTES = 2 * 1024 * 1024;
/** Longest line kept, in characters; longer lines are cut and end with `…`. */
export const LOG_LINE_MAX = 16 * 1024;
/** Most hosts one request names. */
const MAX_HOSTS = 1000;

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;
const DOCKER_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** What control asks a host for. */
export interface LogsRequest {
  /** Only these hosts answer (absent: every host). */
  hosts?: string[];
  /** Lines written at or after this time, in ms since the epoch. */
  since?: number;
  /** Only the last `tail` lines (0–{@link LOGS_MAX_LINES}). */
  tail?: number;
  /** Per host: only lines after this time (the host's cursor); overrides since and tail. */
  after?: Record<string, string>;
}

/** One line a container wrote. */
export interface LogEntry {
  /** When it was written ({@link normaliseTime} form). */
  time: string;
  /** Which output. */
  stream: "stdout" | "stderr";
  /** The text, without its line ending. */
  line: string;
  /** App version of the container that wrote it. */
  version: number;
}

/** A host's answer. */
export interface LogsReply {
  /** Host name. */
  host: string;
  /** Lines, oldest first. */
  lines: LogEntry[];
  /** More lines follow the last one: ask again with `after`. */
  truncated: boolean;
}

const encoder = new TextEncoder();

/**
 * A Docker log timestamp (RFC 3339, any fraction length, `Z` or an offset)
 * in the fixed form `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, or null when it is not
 * one.
 */
export function normaliseTime(text: string): string | null {
  const m = DOCKER_TIME.exec(text);
  if (!m) return null;
  const fraction = (m[2] ?? "").padEnd(9, "0");
  if (m[3] === "Z") return `${m[1]}.${fraction}Z`;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms)) return null;
  return `${new Date(ms).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** Epoch milliseconds as a log time. */
export function timeFromMs(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-05-01T12:00:00.123Z
  return `${iso.slice(0, 23)}000000Z`;
}

/** A log time as (fractional) seconds since the epoch, for Docker's `since`, rounded down to ms. */
export function timeToSeconds(time: string): number {
  return Math.floor(Date.parse(time.slice(0, 23) + "Z")) / 1000;
}

/** Splits a `timestamps=true` log line into its time and text; null time when it has none. */
export function splitTimestamp(raw: string): { time: string | null; text: string } {
  const space = raw.indexOf(" ");
  const time = space > 0 ? normaliseTime(raw.slice(0, space)) : normaliseTime(raw);
  if (time === null) return { time: null, text: raw };
  return { time, text: space > 0 ? raw.slice(space + 1) : "" };
}

/** `line` cut to {@link LOG_LINE_MAX} characters. */
export function clipLine(line: string): string {
  return line.length > LOG_LINE_MAX ? line.slice(0, LOG_LINE_MAX - 1) + "…" : line;
}

function isTime(v: unknown): v is string {
  return typeof v === "string" && TIME.test(v);
}

function isCount(v: unknown, max: number): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function onlyKeys(object: Record<string, unknown>, allowed: readonly string[], what: string) {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new EnvelopeError(`${what}: unknown field ${key}`);
  }
}

/** Encodes a logs request. */
export function encodeLogsRequest(request: LogsRequest): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, ...request }));
}

/** Decodes and validates a logs request. */
export function decodeLogsRequest(bytes: Uint8Array): LogsRequest {
  const body = parseJsonObject(bytes, "logs request");
  onlyKeys(body, ["v", "hosts", "since", "tail", "after"], "logs request");
  const out: LogsRequest = {};
  if (body.hosts !== undefined) {
    if (
      !Array.isArray(body.hosts) || body.hosts.length > MAX_HOSTS || !body.hosts.every(isHostName)
    ) {
      throw new EnvelopeError("logs request hosts must be a list of host names");
    }
    out.hosts = body.hosts;
  }
  if (body.since !== undefined) {
    if (!isCount(body.since, 8.64e15)) throw new EnvelopeError("logs request since is invalid");
    out.since = body.since;
  }
  if (body.tail !== undefined) {
    if (!isCount(body.tail, LOGS_MAX_LINES)) {
      throw new EnvelopeError("logs request tail is invalid");
    }
    out.tail = body.tail;
  }
  if (body.after !== undefined) {
    const after = body.after;
    if (typeof after !== "object" || after === null || Array.isArray(after)) {
      throw new EnvelopeError("logs request after must be an object");
    }
    const entries = Object.entries(after);
    if (entries.length > MAX_HOSTS || !entries.every(([h, t]) => isHostName(h) && isTime(t))) {
      throw new EnvelopeError("logs request after must map host names to times");
    }
    out.after = Object.fromEntries(entries);
  }
  return out;
}

/** Encodes a logs reply. */
export function encodeLogsReply(reply: LogsReply): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, ...reply }));
}

/** Decodes and validates a logs reply. */
export function decodeLogsReply(bytes: Uint8Array): LogsReply {
  const body = parseJsonObject(bytes, "logs reply");
  onlyKeys(body, ["v", "host", "lines", "truncated"], "logs reply");
  if (!isHostName(body.host)) throw new EnvelopeError("logs reply host is not a valid name");
  if (typeof body.truncated !== "boolean") throw new EnvelopeError("logs reply truncated");
  if (!Array.isArray(body.lines) || body.lines.length > LOGS_MAX_LINES) {
    throw new EnvelopeError(`logs reply lines must be a list of at most ${LOGS_MAX_LINES}`);
  }
  const lines = body.lines.map((value): LogEntry => {
    if (typeof value !== "object" || value === null) throw new EnvelopeError("bad log line");
    const e = value as Record<string, unknown>;
    if (
      !isTime(e.time) || (e.stream !== "stdout" && e.stream !== "stderr") ||
      typeof e.line !== "string" || e.line.length > LOG_LINE_MAX ||
      !isCount(e.version, Number.MAX_SAFE_INTEGER)
    ) {
      throw new EnvelopeError("log line must have time, stream, line and version");
    }
    return { time: e.time, stream: e.stream, line: e.line, version: e.version };
  });
  return { host: body.host, lines, truncated: body.truncated };
}
