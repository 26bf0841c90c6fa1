/**
 * Shared configuration for the dn CLI and services.
 *
 * One JSON file format for all parts (the seed's "shared configuration"),
 * overridden by `DN_*` environment variables, overridden in turn by flags.
 * Keys are camelCase in the file, `DN_UPPER_SNAKE` in the environment and
 * `--kebab-case` as flags: `controlUrl`, `DN_CONTROL_URL`, `--control-url`.
 *
 * Secrets can be given inline or as `*File` keys naming a file that must not
 * be readable by group or others: `tokenFile`, `registryPasswordFile`,
 * `amqpUrlFile` and `redisUrlFile` (the URLs carry passwords), or
 * `DN_TOKEN_FILE` etc. in the environment. A layer may give a secret inline or
 * as a file, not both. Error messages name the key and the file, never the
 * secret.
 *
 * @module
 */

import { readSecretFile } from "./config_secrets.ts";
import {
  ConfigError,
  parseAmqpUrls,
  parseCidrList,
  parseIpv4,
  parseSentinels,
  parseUrlList,
} from "./config_values.ts";

import { DEFAULTS, type DnConfig } from "./config_keys.ts";

export { DEFAULTS, type DnConfig } from "./config_keys.ts";
export { readSecretFile } from "./config_secrets.ts";
export {
  ConfigError,
  parseAmqpUrls,
  parseCidrList,
  parseListen,
  parseSentinels,
  parseUrlList,
  type SentinelAddress,
} from "./config_values.ts";

type Key = keyof DnConfig;
const NUMBER_KEYS: ReadonlySet<Key> = new Set([
  "inlineBodyLimit",
  "bodyLimit",
  "requestTimeoutMs",
  "bodyTimeoutMs",
  "streamIdleTimeoutMs",
  "dashboardSessionMs",
  "redisWaitMs",
]);
/** Number keys that may also be 0. */
const ZERO_KEYS: ReadonlySet<Key> = new Set(["redisWaitReplicas"]);
/** Keys that may be read from a file (`tokenFile`, `DN_TOKEN_FILE`). */
export const SECRET_KEYS: ReadonlySet<Key> = new Set([
  "token",
  "requestToken",
  "registryPassword",
  "amqpUrl",
  "redisUrl",
]);
const LOG_LEVELS = ["debug", "info", "warn", "error"];
/** Values of `requestRoute`. */
const REQUEST_ROUTES = ["host", "container"];

/** `controlUrl` → `DN_CONTROL_URL`. */
export function envName(key: string): string {
  return "DN_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
}

/** `controlUrl` → `control-url`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** All configuration keys, in declaration order. */
export const CONFIG_KEYS: readonly Key[] = Object.keys(DEFAULTS) as Key[];

/** Where to read configuration from; each layer overrides the one before. */
export interface ConfigSources {
  /** Path of the JSON file; missing file is an error only when given explicitly. */
  file?: string;
  /** Environment (defaults to `Deno.env.toObject()`). */
  env?: Record<string, string | undefined>;
  /** Flag values by camelCase key, already parsed. */
  flags?: Partial<Record<string, string | undefined>>;
}

/** Default config file path: `$DN_CONFIG` or `~/.config/dn/config.json`. */
export function defaultConfigPath(env: Record<string, string | undefined>): string | undefined {
  if (env.DN_CONFIG) return env.DN_CONFIG;
  const home = env.HOME;
  return home ? `${home}/.config/dn/config.json` : undefined;
}

function coerce(key: Key, value: unknown, source: string): DnConfig[Key] {
  if (NUMBER_KEYS.has(key) || ZERO_KEYS.has(key)) {
    const n = typeof value === "number" ? value : Number(String(value).trim());
    const least = ZERO_KEYS.has(key) ? 0 : 1;
    if (!Number.isSafeInteger(n) || n < least) {
      const kind = least === 0 ? "a whole number" : "a positive integer";
      throw new ConfigError(`${key} from ${source} must be ${kind}, got ${value}`);
    }
    return n;
  }
  if (typeof value !== "string") {
    throw new ConfigError(`${key} from ${source} must be a string`);
  }
  if (key === "logLevel" && !LOG_LEVELS.includes(value)) {
    throw new ConfigError(`logLevel from ${source} must be one of ${LOG_LEVELS.join(", ")}`);
  }
  if (key === "gatewayMetricsUrls") return parseUrlList(value, `${key} from ${source}`).join(",");
  if (key === "amqpUrl" && value !== "") {
    return parseAmqpUrls(value, `${key} from ${source}`).join(",");
  }
  if (key === "redisSentinels") {
    parseSentinels(value, `${key} from ${source}`);
    return value.split(",").map((part) => part.trim()).filter((part) => part !== "").join(",");
  }
  if (key === "containerPublishAddress" && value !== "") {
    return parseIpv4(value, `${key} from ${source}`);
  }
  if (key === "gatewayAddresses") return parseCidrList(value, `${key} from ${source}`).join(",");
  if (key === "requestRoute" && !REQUEST_ROUTES.includes(value)) {
    throw new ConfigError(
      `requestRoute from ${source} must be one of ${REQUEST_ROUTES.join(", ")}`,
    );
  }
  return value;
}

function readFileLayer(path: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (!explicit && e instanceof Deno.errors.NotFound) return {};
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Resolves the configuration from defaults, file, environment and flags.
 *
 * @example
 * ```ts
 * const config = loadConfig({ file: "dn.json", flags: { hostName: "vaermina" } });
 * ```
 */
export function loadConfig(sources: ConfigSources = {}): DnConfig {
  const env = sources.env ?? Deno.env.toObject();
  const path = sources.file ?? defaultConfigPath(env);
  const fileLayer = path ? readFileLayer(path, sources.file !== undefined || !!env.DN_CONFIG) : {};
  const config: Record<string, unknown> = { ...DEFAULTS };
  const known = new Set<string>(CONFIG_KEYS);
  for (const [rawKey, value] of Object.entries(fileLayer)) {
    const isFileKey = rawKey.endsWith("File") && SECRET_KEYS.has(rawKey.slice(0, -4) as Key);
    if (!known.has(rawKey) && !isFileKey) {
      throw new ConfigError(`unknown key ${rawKey} in config file ${path}`);
    }
    if (isFileKey) {
      const key = rawKey.slice(0, -4);
      if (key in fileLayer) {
        throw new ConfigError(`config file ${path} gives both ${key} and ${rawKey}: keep one`);
      }
      if (typeof value !== "string" || value === "") {
        throw new ConfigError(`${rawKey} in config file ${path} must be a file path`);
      }
      config[key] = readSecretFile(value, key);
    } else {
      config[rawKey] = coerce(rawKey as Key, value, `config file ${path}`);
    }
  }
  for (const key of CONFIG_KEYS) {
    const fromEnv = env[envName(key)];
    if (fromEnv !== undefined && fromEnv !== "") {
      config[key] = coerce(key, fromEnv, envName(key));
    }
    const fromFileEnv = SECRET_KEYS.has(key) ? env[envName(key + "File")] : undefined;
    if (fromFileEnv) {
      if (fromEnv !== undefined && fromEnv !== "") {
        throw new ConfigError(
          `both ${envName(key)} and ${envName(key + "File")} are set: keep one`,
        );
      }
      config[key] = readSecretFile(fromFileEnv, key);
    }
    const fromFlag = sources.flags?.[key];
    if (fromFlag !== undefined) config[key] = coerce(key, fromFlag, `--${flagName(key)}`);
  }
  return config as unknown as DnConfig;
}

/** Throws a ConfigError naming each key in `keys` that is empty. */
export function requireKeys(config: DnConfig, keys: readonly Key[], who: string): void {
  const missing = keys.filter((k) => config[k] === "");
  if (missing.length > 0) {
    throw new ConfigError(
      `${who} needs ${missing.map((k) => `${k} (${envName(k)})`).join(", ")}`,
    );
  }
}
