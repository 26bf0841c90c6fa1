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
 * @module
 */

import { isAppName, isHostname, isPort } from "../lib/names.ts";

/** An app's settings from its `App.config`. */
export interface AppConfig {
  /** App name, a lower-case DNS label. */
  name: string;
  /** Hostname the gateway routes to the app, lower case. */
  hostname: string;
  /** Port the app listens on inside its container. */
  port: number;
}

/** An `App.config` that cannot be read or is invalid; the message names file and line. */
export class AppConfigError extends Error {
  override name = "AppConfigError";
}

/** Port used when `APP_PORT` is not given. */
export const DEFAULT_APP_PORT = 80;

const KEYS = ["APP_NAME", "APP_HOSTNAME", "APP_PORT"] as const;
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
      fail(`unknown key ${quote(key)} (expected APP_NAME, APP_HOSTNAME or APP_PORT)`);
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

  const missing = KEYS.filter((k) => k !== "APP_PORT" && !values.has(k));
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
  return { name, hostname, port };
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
        `${display}: no such file (run dn in the app's directory, or give -C DIR or --config FILE)`,
      );
    }
    throw new AppConfigError(`${display}: cannot read: ${(e as Error).message}`);
  }
  return parseAppConfig(text, display);
}

function quote(text: string): string {
  return JSON.stringify(text);
}
