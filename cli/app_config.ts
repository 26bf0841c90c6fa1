/**
 * `App.config`: the file in an app's directory that names the app.
 *
 * ```
 * #
 * # hello-world example app config file
 * #
 * APP_NAME      hello-world
 * APP_HOSTNAME  hello-world.dn.local
 * APP_PORT      8080
 * ```
 *
 * One `KEY value` pair per line, separated by whitespace; `#` starts a comment
 * (whole line or after the value); blank lines are ignored. `APP_NAME` (a
 * lower-case DNS label) and `APP_HOSTNAME` are required; `APP_PORT`, the port
 * the app listens on inside its container, defaults to 80. Hostnames are
 * lower-cased. Every error names the file and, where there is one, the line.
 *
 * Optional settings of how the app runs (control's defaults when absent):
 *
 * ```
 * APP_REPLICAS    2          # run on 2 hosts (0 = every host, the default); 0-100
 * APP_HEALTH      /healthz   # path that must answer 2xx/3xx for the app to get traffic
 * APP_TIMEOUT     30s        # request timeout: 100ms-10m (ms, s, m; 1m30s)
 * APP_BODY_LIMIT  16m        # largest request/response body: bytes, or k, m, g (KiB...); <= 1g
 * APP_STREAM_IDLE 5m         # a streamed body with no byte either way for this long is cut: 1s-60m
 * APP_MEMORY      256m       # memory of each container, swap none: 16m-256g (default 512m)
 * APP_CPUS        0.5        # CPU time of each container: 0.01-64 CPUs (default 1)
 * APP_HTTPS       redirect   # plain HTTP: off (served, the default), redirect, only (refused)
 * APP_HSTS        1y         # Strict-Transport-Security max-age on HTTPS: s, m, h, d, y; <= 2y
 * ```
 *
 * @module
 */

import {
  APP_SETTING_DEFAULTS,
  type AppRecord,
  type AppSettingKey,
  type HttpsMode,
  isHttpsMode,
  MAX_APP_MEMORY,
  MAX_APP_MILLI_CPUS,
  MAX_HSTS_SECONDS,
  MAX_STREAM_IDLE_MS,
  MIN_APP_MEMORY,
  MIN_APP_MILLI_CPUS,
  MIN_STREAM_IDLE_MS,
} from "../lib/apps.ts";
import { isAppName, isHostname, isPort } from "../lib/names.ts";
import { parseAge, parseCpus, parseDuration, parseSize } from "./app_config_values.ts";

export { AGE_UNITS, parseAge, parseCpus, parseDuration, parseSize } from "./app_config_values.ts";

/** An app's settings from its `App.config`. */
export interface AppConfig {
  /** App name, a lower-case DNS label. */
  name: string;
  /** Hostname the gateway routes to the app, lower case. */
  hostname: string;
  /** Port the app listens on inside its container. */
  port: number;
  /** `APP_REPLICAS`: number of hosts to run on (0 = every host); absent when not given. */
  replicas?: number;
  /** `APP_HEALTH`: health check path; absent when not given. */
  healthPath?: string;
  /** `APP_TIMEOUT` in ms; absent when not given. */
  timeoutMs?: number;
  /** `APP_BODY_LIMIT` in bytes; absent when not given. */
  bodyLimit?: number;
  /** `APP_STREAM_IDLE` in ms; absent when not given. */
  streamIdleMs?: number;
  /** `APP_MEMORY` in bytes; absent when not given. */
  memory?: number;
  /** `APP_CPUS` in thousandths of a CPU; absent when not given. */
  milliCpus?: number;
  /** `APP_HTTPS`; absent when not given. */
  https?: HttpsMode;
  /** `APP_HSTS` in seconds; absent when not given. */
  hstsSeconds?: number;
}

/**
 * How an app runs, as control stores it: the optional App.config keys with
 * defaults (0 or "" = control's or the network's default; lib/apps.ts).
 */
export type AppSettings = Pick<AppRecord, AppSettingKey>;

/** The settings `app` asks for, defaults filled in. */
export function appSettings(app: AppConfig): AppSettings {
  return { ...APP_SETTING_DEFAULTS, ...givenSettings(app) };
}

/**
 * The settings in `wanted` that differ from `current`'s (what `dn update`
 * sends); a setting `current` lacks (an older control) is at its default.
 */
export function changedSettings(
  wanted: AppSettings,
  current: Partial<AppSettings>,
): Partial<AppSettings> {
  const changed: Partial<Record<AppSettingKey, AppSettings[AppSettingKey]>> = {};
  for (const key of Object.keys(wanted) as AppSettingKey[]) {
    if (wanted[key] !== (current[key] ?? APP_SETTING_DEFAULTS[key])) changed[key] = wanted[key];
  }
  return changed as Partial<AppSettings>;
}

/** The settings `app` gives explicitly (what `dn create` sends). */
export function givenSettings(app: AppConfig): Partial<AppSettings> {
  const out: Partial<AppSettings> = {};
  if (app.replicas !== undefined) out.replicas = app.replicas;
  if (app.healthPath !== undefined) out.healthPath = app.healthPath;
  if (app.timeoutMs !== undefined) out.timeoutMs = app.timeoutMs;
  if (app.bodyLimit !== undefined) out.bodyLimit = app.bodyLimit;
  if (app.streamIdleMs !== undefined) out.streamIdleMs = app.streamIdleMs;
  if (app.memory !== undefined) out.memory = app.memory;
  if (app.milliCpus !== undefined) out.milliCpus = app.milliCpus;
  if (app.https !== undefined) out.https = app.https;
  if (app.hstsSeconds !== undefined) out.hstsSeconds = app.hstsSeconds;
  return out;
}

/** An `App.config` that cannot be read or is invalid; the message names file and line. */
export class AppConfigError extends Error {
  override name = "AppConfigError";
}

/** Port used when `APP_PORT` is not given. */
export const DEFAULT_APP_PORT = 80;

/** Most hosts `APP_REPLICAS` may ask for. */
export const MAX_REPLICAS = 100;
/** Shortest `APP_TIMEOUT`, in ms. */
export const MIN_TIMEOUT_MS = 100;
/** Longest `APP_TIMEOUT`, in ms (10 minutes). */
export const MAX_TIMEOUT_MS = 600_000;
/** Bounds of a duration setting, in ms, and how an error says them. */
interface DurationRange {
  min: number;
  max: number;
  what: string;
}
const TIMEOUT_RANGE: DurationRange = {
  min: MIN_TIMEOUT_MS,
  max: MAX_TIMEOUT_MS,
  what: "a duration from 100ms to 10m (e.g. 30s, 1500ms, 2m)",
};
const STREAM_IDLE_RANGE: DurationRange = {
  min: MIN_STREAM_IDLE_MS,
  max: MAX_STREAM_IDLE_MS,
  what: "a duration from 1s to 60m (e.g. 30s, 5m, 1m30s)",
};
/** Largest `APP_BODY_LIMIT`, in bytes (1 GiB). */
export const MAX_BODY_LIMIT = 1024 * 1024 * 1024;

const KEYS = [
  "APP_NAME",
  "APP_HOSTNAME",
  "APP_PORT",
  "APP_REPLICAS",
  "APP_HEALTH",
  "APP_TIMEOUT",
  "APP_BODY_LIMIT",
  "APP_STREAM_IDLE",
  "APP_MEMORY",
  "APP_CPUS",
  "APP_HTTPS",
  "APP_HSTS",
] as const;
type Key = typeof KEYS[number];

/**
 * Parses the text of an `App.config`; `file` is the name used in errors.
 *
 * @example
 * ```ts
 * parseAppConfig("APP_NAME hello-world\nAPP_HOSTNAME hello-world.dn.local\n", "App.config");
 * // { name: "hello-world", hostname: "hello-world.dn.local", port: 80 }
 * ```
 */
export function parseAppConfig(text: string, file = "App.config"): AppConfig {
  const values = new Map<Key, { value: string; line: number }>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const fail = (message: string): never => {
      throw new AppConfigError(`${file}:${line}: ${message}`);
    };
    const hash = raw.indexOf("#");
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (content === "") return;
    const [key, value, ...extra] = content.split(/\s+/);
    if (!(KEYS as readonly string[]).includes(key)) {
      fail(
        `unknown key ${quote(key)} (expected ${KEYS.slice(0, -1).join(", ")} or ${KEYS.at(-1)})`,
      );
    }
    const known = key as Key;
    if (value === undefined) fail(`${known} has no value`);
    if (extra.length > 0) {
      fail(`${known} takes one value, found extra ${quote(extra.join(" "))}`);
    }
    const previous = values.get(known);
    if (previous) fail(`${known} is given twice (first on line ${previous.line})`);
    values.set(known, { value, line });
  });

  const missing = (["APP_NAME", "APP_HOSTNAME"] as const).filter((k) => !values.has(k));
  if (missing.length > 0) {
    throw new AppConfigError(`${file}: ${missing.join(" and ")} missing`);
  }
  const invalid = (key: Key, what: string): never => {
    const entry = values.get(key)!;
    throw new AppConfigError(`${file}:${entry.line}: ${key} ${quote(entry.value)} is not ${what}`);
  };

  const name = values.get("APP_NAME")!.value;
  if (!isAppName(name)) invalid("APP_NAME", "a valid app name (lower-case DNS label)");
  const hostname = values.get("APP_HOSTNAME")!.value.toLowerCase();
  if (!isHostname(hostname)) invalid("APP_HOSTNAME", "a valid hostname");
  let port = DEFAULT_APP_PORT;
  const portEntry = values.get("APP_PORT");
  if (portEntry) {
    port = /^[0-9]{1,5}$/.test(portEntry.value) ? Number(portEntry.value) : NaN;
    if (!isPort(port)) invalid("APP_PORT", "a valid port (1-65535)");
  }
  const config: AppConfig = { name, hostname, port };
  const replicas = values.get("APP_REPLICAS")?.value;
  if (replicas !== undefined) {
    config.replicas = /^[0-9]{1,3}$/.test(replicas) ? Number(replicas) : NaN;
    if (!(config.replicas <= MAX_REPLICAS)) {
      invalid("APP_REPLICAS", `a number of hosts (0-${MAX_REPLICAS}; 0 = every host)`);
    }
  }
  const health = values.get("APP_HEALTH")?.value;
  if (health !== undefined) {
    if (!/^\/[\x21-\x7e]{0,255}$/.test(health)) {
      invalid("APP_HEALTH", "a path starting with / (e.g. /healthz), at most 256 characters");
    }
    config.healthPath = health;
  }
  /** `key`'s duration in ms within `range`, absent when not given. */
  const duration = (key: Key, range: DurationRange): number | undefined => {
    const text = values.get(key)?.value;
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === null || ms < range.min || ms > range.max) invalid(key, range.what);
    return ms!;
  };
  const timeoutMs = duration("APP_TIMEOUT", TIMEOUT_RANGE);
  if (timeoutMs !== undefined) config.timeoutMs = timeoutMs;
  const bodyLimit = values.get("APP_BODY_LIMIT")?.value;
  if (bodyLimit !== undefined) {
    const bytes = parseSize(bodyLimit);
    if (bytes === null || bytes < 1 || bytes > MAX_BODY_LIMIT) {
      invalid("APP_BODY_LIMIT", "a size from 1 byte to 1g (e.g. 512k, 16m, 1g, or bytes)");
    }
    config.bodyLimit = bytes!;
  }
  const streamIdleMs = duration("APP_STREAM_IDLE", STREAM_IDLE_RANGE);
  if (streamIdleMs !== undefined) config.streamIdleMs = streamIdleMs;
  const memory = values.get("APP_MEMORY")?.value;
  if (memory !== undefined) {
    const bytes = parseSize(memory);
    if (bytes === null || bytes < MIN_APP_MEMORY || bytes > MAX_APP_MEMORY) {
      invalid("APP_MEMORY", "a size from 16m to 256g (e.g. 128m, 1g)");
    }
    config.memory = bytes!;
  }
  const cpus = values.get("APP_CPUS")?.value;
  if (cpus !== undefined) {
    const milli = parseCpus(cpus);
    if (milli === null || milli < MIN_APP_MILLI_CPUS || milli > MAX_APP_MILLI_CPUS) {
      invalid("APP_CPUS", "a number of CPUs from 0.01 to 64 (e.g. 0.5, 2)");
    }
    config.milliCpus = milli!;
  }
  const https = values.get("APP_HTTPS")?.value;
  if (https !== undefined) {
    if (!isHttpsMode(https)) invalid("APP_HTTPS", "off, redirect or only");
    config.https = https as HttpsMode;
  }
  const hsts = values.get("APP_HSTS")?.value;
  if (hsts !== undefined) {
    const seconds = hsts === "off" ? 0 : parseAge(hsts);
    if (seconds === null || seconds > MAX_HSTS_SECONDS) {
      invalid("APP_HSTS", "a time up to 2y (e.g. 1y, 180d, 12h; 0 or off: no HSTS)");
    }
    config.hstsSeconds = seconds!;
  }
  return config;
}

/**
 * Reads and parses the `App.config` at `path`; `display` is how errors name
 * the file (defaults to `path`).
 *
 * @example
 * ```ts
 * const app = await readAppConfig("apps/hello-world/App.config");
 * ```
 */
export async function readAppConfig(path: string, display = path): Promise<AppConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AppConfigError(
        `${display}: no such file (run dn in the app's directory, or give -C DIR or --app-config FILE)`,
      );
    }
    throw new AppConfigError(`${display}: cannot read: ${(e as Error).message}`);
  }
  return parseAppConfig(text, display);
}

function quote(text: string): string {
  return JSON.stringify(text);
}
