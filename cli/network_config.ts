/**
 * Where the CLI finds the network's configuration (control URL, token,
 * registry credentials) when neither `--network-config` nor `DN_CONFIG`
 * names it: `~/.config/dn/config.json`, then the file `scripts/up` writes,
 * `$DN_STATE_DIR/config/cli.json` (`/var/lib/dn/config/cli.json`). So a
 * plain `dn` works from any directory on the machine that runs the network.
 *
 * @module
 */

/** The state directory `scripts/up` uses when `DN_STATE_DIR` is not set. */
export const DEFAULT_STATE_DIR = "/var/lib/dn";

/** Where a network config was looked for, and the one found. */
export interface NetworkConfigSearch {
  /** The file to read, or undefined when none of `looked` exists. */
  file: string | undefined;
  /** The paths looked at, in order, as messages name them. */
  looked: string[];
}

/**
 * The files the CLI tries in order when neither `--network-config` nor
 * `DN_CONFIG` is given.
 *
 * @example
 * ```ts
 * networkConfigCandidates({ HOME: "/root" });
 * // ["/root/.config/dn/config.json", "/var/lib/dn/config/cli.json"]
 * ```
 */
export function networkConfigCandidates(env: Record<string, string | undefined>): string[] {
  const paths: string[] = [];
  if (env.HOME) paths.push(`${env.HOME}/.config/dn/config.json`);
  paths.push(`${env.DN_STATE_DIR || DEFAULT_STATE_DIR}/config/cli.json`);
  return paths;
}

/**
 * The network config to read: `flagFile` (`--network-config`, resolved),
 * else `$DN_CONFIG`, else the first of {@link networkConfigCandidates} that
 * `exists`. An explicit file is returned even when it does not exist, so
 * reading it fails naming it.
 */
export function findNetworkConfig(
  flagFile: string | undefined,
  env: Record<string, string | undefined>,
  exists: (path: string) => boolean,
): NetworkConfigSearch {
  if (flagFile !== undefined) return { file: flagFile, looked: [flagFile] };
  if (env.DN_CONFIG) return { file: env.DN_CONFIG, looked: [env.DN_CONFIG] };
  const looked = networkConfigCandidates(env);
  return { file: looked.find(exists), looked: ["$DN_CONFIG (not set)", ...looked] };
}

/**
 * The message for a CLI without a control token: which config it read, or
 * every place it looked, and how to get one.
 *
 * @example
 * ```ts
 * missingTokenMessage({ file: undefined, looked: ["$DN_CONFIG (not set)", "/var/lib/dn/config/cli.json"] });
 * ```
 */
export function missingTokenMessage(search: NetworkConfigSearch): string {
  if (search.file !== undefined) {
    return `no control token in ${search.file}: set token (or tokenFile) there, DN_TOKEN or --token`;
  }
  return `no network config: looked in ${search.looked.join(", ")}; ` +
    `scripts/up writes one for the local network, or give --network-config FILE, ` +
    `DN_CONFIG=FILE, or DN_TOKEN and DN_CONTROL_URL`;
}

/** True when `path` is an existing file (any error: false). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
