/**
 * The control API's bodies as the CLI sends and reads them, and the checks
 * that an answer has the shape the CLI relies on.
 *
 * @module
 */

import type { AppRecord, AppSettingKey, AppStatusReport, PublicAppRecord } from "../lib/apps.ts";

/** How an app runs (create and update may send any of them; control keeps the rest). */
export type AppSettingsRequest = Partial<Pick<AppRecord, AppSettingKey>>;

/** An app as the API answers it: the record without its environment's values, with `envKeys`. */
export type AppInfo = PublicAppRecord;

/** Body of `GET /v1/apps/:name/status`: the app (without environment values) and every host. */
export type StatusReport = Omit<AppStatusReport, "app"> & { app: AppInfo };

/** Body of `POST /v1/apps/:name/env`: variables to set and names to remove. */
export interface EnvChange {
  /** Variables to set (values are secret: never printed or logged). */
  set?: Record<string, string>;
  /** Names to remove. */
  unset?: string[];
}

/** Body of `POST /v1/apps`. */
export interface CreateAppRequest extends AppSettingsRequest {
  /** App name (DNS label). */
  name: string;
  /** Hostname the gateway routes to the app. */
  hostname: string;
  /** Port the app listens on in its container. */
  port: number;
  /** Digest of the pushed `v1` image. */
  digest: string;
}

/** Body of `POST /v1/apps/:name/update`. */
export interface UpdateAppRequest extends AppSettingsRequest {
  /** New version: the highest version so far (`latestVersion`) + 1. */
  version: number;
  /** Digest of the pushed `v<version>` image. */
  digest: string;
  /** New hostname, when it changes. */
  hostname?: string;
  /** New port, when it changes. */
  port?: number;
}

/** Query of `GET /v1/apps/:name/logs`. */
export interface LogsQuery {
  /** Lines since this time, in ms since the epoch. */
  since?: number;
  /** Only the last N lines of each host. */
  tail?: number;
  /** Only this host's lines. */
  host?: string;
  /** Keep the stream open for new lines. */
  follow?: boolean;
}

/** One line of the logs stream: a log line, a warning, or the error that ended it. */
export type LogEvent =
  | {
    host: string;
    time: string;
    stream: "stdout" | "stderr";
    line: string;
    version: number;
  }
  | { warning: string }
  | { error: string };

/** Body of `DELETE /v1/apps/:name`: the app as it was, and the containers hosts still remove. */
export interface RemovedApp {
  /** The app as it was. */
  app: AppInfo;
  /** Containers left on each host when control stopped waiting (`{}`: all gone). */
  removing: Record<string, number>;
}

/** `body[key]` when `body` is an object. */
export function field(body: unknown, key: string): unknown {
  return typeof body === "object" && body !== null
    ? (body as Record<string, unknown>)[key]
    : undefined;
}

/** One NDJSON line of the logs stream, checked, or null when it is not one. */
export function parseLogEvent(text: string): LogEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.warning === "string") return { warning: v.warning };
  if (typeof v.error === "string") return { error: v.error };
  if (
    typeof v.host === "string" && typeof v.time === "string" && typeof v.line === "string" &&
    (v.stream === "stdout" || v.stream === "stderr") && typeof v.version === "number"
  ) {
    return { host: v.host, time: v.time, stream: v.stream, line: v.line, version: v.version };
  }
  return null;
}

/** True when `value` is a list of strings. */
export function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** True when `value` has the fields of an app record the CLI relies on. */
export function isAppRecord(value: unknown): value is AppInfo {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.hostname === "string" &&
    typeof v.status === "string" && typeof v.version === "number" &&
    typeof v.createdAt === "string";
}

/** True when `value` has the fields of a host's status report the CLI relies on. */
export function isHostReport(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.host === "string" && typeof v.latencyMs === "number" &&
    Array.isArray(v.containers) &&
    v.containers.every((c) =>
      typeof c === "object" && c !== null && typeof c.imageId === "string" &&
      typeof c.state === "string" && (c.digest === undefined || typeof c.digest === "string")
    );
}
