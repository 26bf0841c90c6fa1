/**
 * What control's API accepts in its bodies and paths: each field's check and
 * the rule its 400 names, and the settings of create and update.
 *
 * @module
 */

import {
  type AppRecord,
  isAppMemory,
  isAppMilliCpus,
  isHealthPath,
  isHstsSeconds,
  isHttpsMode,
  isStreamIdleMs,
} from "../lib/apps.ts";
import { brief, HttpError } from "../lib/http/json.ts";
import { isAppName, isHostname } from "../lib/names.ts";

/** Fields of create and update that tune how the app runs. */
export const SETTINGS = [
  "replicas",
  "healthPath",
  "timeoutMs",
  "bodyLimit",
  "streamIdleMs",
  "memory",
  "milliCpus",
  "https",
  "hstsSeconds",
] as const;

function isReplicas(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 100;
}

function isTimeoutMs(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && (v === 0 || (v >= 100 && v <= 600_000));
}

function isBodyLimit(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 1024 * 1024 * 1024;
}

/** The app name in a path segment, decoded and validated; throws HttpError 400. */
export function appName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `invalid app name ${brief(raw)}: not valid percent-encoding`);
  }
  if (!isAppName(name)) throw invalid("name", name);
  return name;
}

/** What each field must be, for error messages. */
const RULES: Record<string, string> = {
  name: "a lower-case DNS label: a-z, 0-9 and '-', 1-63 characters, no leading or trailing '-'",
  hostname:
    "a lower-case DNS name: labels of a-z, 0-9 and '-' separated by '.', at most 253 characters",
  port: "an integer 1-65535",
  digest: "sha256: followed by 64 hex digits (the pushed image's manifest digest)",
  version: "a positive integer",
  from: "a positive integer (the version the app must run now)",
  replicas: "an integer 0-100 (0 = every host)",
  healthPath: '"" or an absolute path without spaces, at most 256 characters',
  timeoutMs: "0 (the default) or an integer 100-600000",
  bodyLimit: "0 (the default) or an integer number of bytes up to 1 GiB",
  streamIdleMs: "0 (the network's default) or an integer 1000-3600000 (ms)",
  memory: "0 (the default, 512 MiB) or an integer number of bytes from 16 MiB to 256 GiB",
  milliCpus: "0 (the default, one CPU) or an integer 10-64000 (thousandths of a CPU)",
  https: '"off" (the default: plain HTTP served), "redirect" or "only"',
  hstsSeconds: "0 (no HSTS) or whole seconds up to 63072000 (2 years)",
  set: "an object of environment variables: names of letters, digits and _, values of text",
  unset: "a list of environment variable names",
};

/** A 400 naming `key`, the value given and what it must be. */
export function invalid(key: string, value: unknown): HttpError {
  const given = value === undefined ? `missing ${key}` : `invalid ${key} ${brief(value)}`;
  return new HttpError(400, `${given}: must be ${RULES[key] ?? "valid"}`);
}

/** `body[key]`, checked by `check`; throws a 400 naming the rule otherwise. */
export function field<T>(
  body: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
): T {
  const value = body[key];
  if (!check(value)) throw invalid(key, value);
  return value;
}

/** Like {@linkcode field}, but `undefined` when the key is absent. */
export function optional<T>(
  body: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
): T | undefined {
  return body[key] === undefined ? undefined : field(body, key, check);
}

/** A hostname as control stores it: valid and lower-case. */
export function isHostnameLower(v: unknown): v is string {
  return isHostname(v) && v === v.toLowerCase();
}

/** The check of each setting. */
const SETTING_CHECKS: { [K in typeof SETTINGS[number]]: (v: unknown) => v is AppRecord[K] } = {
  replicas: isReplicas,
  healthPath: isHealthPath,
  timeoutMs: isTimeoutMs,
  bodyLimit: isBodyLimit,
  streamIdleMs: isStreamIdleMs,
  memory: isAppMemory,
  milliCpus: isAppMilliCpus,
  https: isHttpsMode,
  hstsSeconds: isHstsSeconds,
};

/** The settings given in `body`, validated; absent ones are left out. */
export function settingsOf(body: Record<string, unknown>): Partial<AppRecord> {
  const out: Record<string, unknown> = {};
  for (const key of SETTINGS) {
    const check: (v: unknown) => boolean = SETTING_CHECKS[key];
    const value = optional(body, key, check as (v: unknown) => v is unknown);
    if (value !== undefined) out[key] = value;
  }
  return out as Partial<AppRecord>;
}
