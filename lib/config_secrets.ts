/**
 * Secrets read from files (`tokenFile`, `DN_AMQP_URL_FILE` ...): the file
 * must be private to its owner, and a URL secret must have its scheme.
 *
 * @module
 */

import { ConfigError, isAmqpUrlList } from "./config_values.ts";

/** URL schemes a secret URL read from a file must have. */
const URL_SCHEMES: Record<string, readonly string[]> = {
  amqpUrl: ["amqp:", "amqps:"],
  redisUrl: ["redis:", "rediss:"],
};

/**
 * Reads a secret file, refusing files that group or others can read, empty
 * files, and for URL keys content that is not a URL of the right scheme.
 * Errors name the key and path, never the content.
 */
export function readSecretFile(path: string, key: string): string {
  let info: Deno.FileInfo;
  let text: string;
  try {
    info = Deno.statSync(path);
    if (!info.isFile) throw new Error("not a regular file");
  } catch (e) {
    throw new ConfigError(`${key}File: cannot read ${path}: ${(e as Error).message}`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new ConfigError(
      `${key}File: ${path} must not be readable by group or others (chmod 600)`,
    );
  }
  try {
    text = Deno.readTextFileSync(path).trim();
  } catch (e) {
    throw new ConfigError(`${key}File: cannot read ${path}: ${(e as Error).message}`);
  }
  if (text === "") throw new ConfigError(`${key}File: ${path} is empty`);
  const schemes = URL_SCHEMES[key];
  if (schemes) {
    let protocol = "";
    try {
      protocol = new URL(text).protocol;
    } catch {
      // reported below, without the content
    }
    const list = key === "amqpUrl";
    if (!schemes.includes(protocol) || (list && !isAmqpUrlList(text))) {
      throw new ConfigError(
        `${key}File: ${path} must hold ${list ? "comma-separated" : "one"} ${
          schemes.map((s) => s + "//").join(" or ")
        } URL${list ? "s" : ""}`,
      );
    }
  }
  return text;
}
