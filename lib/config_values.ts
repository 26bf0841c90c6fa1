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

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** An IPv4 address, validated; neither a wildcard nor loopback (others must reach it). */
export function parseIpv4(value: string, what: string): string {
  const address = value.trim();
  if (!IPV4.test(address) || address === "0.0.0.0" || address.startsWith("127.")) {
    throw new ConfigError(`${what} must be an IPv4 address of this machine, got ${value}`);
  }
  return address;
}

/** A comma-separated list of IPv4 addresses or CIDRs (`10.0.0.1,10.1.0.0/16`; `""` = none). */
export function parseCidrList(value: string, what: string): string[] {
  const parts = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  for (const part of parts) {
    const [address, bits, ...rest] = part.split("/");
    const prefix = Number(bits ?? 32);
    if (
      !IPV4.test(address) || rest.length > 0 || !/^\d{1,2}$/.test(bits ?? "32") || prefix > 32
    ) {
      throw new ConfigError(`${what} must be IPv4 addresses or CIDRs separated by commas`);
    }
  }
  return parts;
}
