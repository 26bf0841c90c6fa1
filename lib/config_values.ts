/**
 * Configuration errors and the parsers of structured values (addresses and
 * URL lists), shared by lib/config.ts and the services.
 *
 * @module
 */

/** Raised for any invalid configuration value; the message names the key and source. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Splits `host:port` into its parts, validating the port. */
export function parseListen(value: string, key: string): { hostname: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new ConfigError(`${key} must be host:port, got ${value}`);
  }
  return { hostname: match[1].replace(/^\[|\]$/g, ""), port };
}

/**
 * A comma-separated list of http(s) URLs (`""` = none), validated; `what`
 * names the key and its source in the ConfigError.
 */
export function parseUrlList(value: string, what: string): string[] {
  const urls = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  for (const text of urls) {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new ConfigError(`${what} must be http:// or https:// URLs separated by commas`);
    }
  }
  return urls;
}

/** True when `value` is one or more amqp:// or amqps:// URLs separated by commas. */
export function isAmqpUrlList(value: string): boolean {
  return value.split(",").every((part) => {
    try {
      return ["amqp:", "amqps:"].includes(new URL(part.trim()).protocol);
    } catch {
      return false;
    }
  });
}

/**
 * The broker URLs of an `amqpUrl` value (comma-separated), validated; the
 * ConfigError never shows the URLs, which carry passwords.
 */
export function parseAmqpUrls(value: string, what = "amqpUrl"): string[] {
  if (!isAmqpUrlList(value)) {
    throw new ConfigError(`${what} must be amqp:// or amqps:// URLs separated by commas`);
  }
  return value.split(",").map((part) => part.trim());
}

/** A Sentinel's address. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** The `host:port` list of `redisSentinels` (`""` = none), validated. */
export function parseSentinels(value: string, what = "redisSentinels"): SentinelAddress[] {
  const parts = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  return parts.map((part) => {
    const { hostname, port } = parseListen(part, what);
    if (port === 0) throw new ConfigError(`${what} must name ports above 0, got ${part}`);
    return { host: hostname, port };
  });
}
