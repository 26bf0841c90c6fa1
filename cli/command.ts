/**
 * The shape of a `dn` command module (`cli/commands/<name>.ts`) and the flags
 * commands may accept.
 *
 * @module
 */

import type { Context } from "./context.ts";

/** A flag's definition: parse type and help text. */
export interface FlagSpec {
  /** `string` takes a value, `boolean` does not. */
  type: "string" | "boolean";
  /** One-letter alias (`C` for `-C`). */
  short?: string;
  /** Name of the value in help (`DIR`). */
  value?: string;
  /** One-line help text. */
  help: string;
}

/** Every flag a command may accept, by long name. */
export const FLAGS = {
  dir: {
    type: "string",
    short: "C",
    value: "DIR",
    help: "app directory (default: the working directory)",
  },
  "app-config": {
    type: "string",
    value: "FILE",
    help: "App.config file (default: DIR/App.config)",
  },
  config: { type: "string", value: "FILE", help: "deprecated name of --app-config" },
  app: { type: "string", value: "NAME", help: "act on app NAME; no App.config is read" },
  json: { type: "boolean", help: "print control's answer as JSON" },
  "control-url": { type: "string", value: "URL", help: "control API URL (DN_CONTROL_URL)" },
  token: { type: "string", value: "TOKEN", help: "control API token (DN_TOKEN)" },
  registry: { type: "string", value: "HOST:PORT", help: "image registry (DN_REGISTRY)" },
  "docker-socket": {
    type: "string",
    value: "PATH",
    help: "Docker engine socket (DN_DOCKER_SOCKET)",
  },
  "network-config": {
    type: "string",
    value: "FILE",
    help: "network config (DN_CONFIG, else ~/.config/dn/config.json, /var/lib/dn/config/cli.json)",
  },
  follow: { type: "boolean", short: "f", help: "keep printing new lines as they are written" },
  host: { type: "string", value: "HOST", help: "only the lines of host HOST" },
  since: { type: "string", value: "DURATION|TIME", help: "only lines since 10m ago, or a time" },
  tail: { type: "string", value: "N", help: "only the last N lines of each host (0-5000)" },
  cert: { type: "string", value: "FILE", help: "PEM certificate chain, leaf first" },
  key: {
    type: "string",
    value: "FILE",
    help: "PEM private key (mode 600: no group or other access)",
  },
  raw: { type: "boolean", help: "keep terminal escape codes in the lines" },
  "no-wait": {
    type: "boolean",
    help: "return once control accepted it; do not wait for the hosts",
  },
  verbose: { type: "boolean", help: "print the whole docker build and push output" },
  help: { type: "boolean", short: "h", help: "show this help" },
} as const satisfies Record<string, FlagSpec>;

/** Long name of a flag. */
export type FlagName = keyof typeof FLAGS;

/** Flags of commands that talk to control. */
export const CONTROL_FLAGS: readonly FlagName[] = ["control-url", "token", "network-config"];
/** Flags of commands that read App.config. */
export const APP_FLAGS: readonly FlagName[] = ["dir", "app-config"];
/**
 * Old flag names still accepted, with the flag each now means; no command
 * lists them, so help and completions show only the new names.
 */
export const DEPRECATED_FLAGS: Readonly<Partial<Record<FlagName, FlagName>>> = {
  config: "app-config",
};
/** Flags of commands that need only the app's name: App.config's, or `--app NAME`. */
export const NAME_FLAGS: readonly FlagName[] = [...APP_FLAGS, "app"];
/** Flags of commands that build or push images. */
export const IMAGE_FLAGS: readonly FlagName[] = ["registry", "docker-socket", "verbose"];

/**
 * A `dn` command. Each module in `cli/commands/` exports one.
 *
 * `run` prints its results through the context and resolves when done; it
 * throws {@link UsageError} for a wrong command line (exit 2) and any other
 * error for an operational failure (exit 1, the message printed as is).
 */
export interface Command {
  /** Name typed after `dn`. */
  readonly name: string;
  /** One-line summary for `dn help`. */
  readonly summary: string;
  /** Longer description for `dn <name> --help`. */
  readonly description: string;
  /** Positional arguments in the usage line (`[NAME]`), or "". */
  readonly args: string;
  /** Most positional arguments accepted. */
  readonly maxArgs: number;
  /** Flags accepted besides `--help`. */
  readonly flags: readonly FlagName[];
  /** Runs the command. */
  run(ctx: Context, args: readonly string[]): Promise<void>;
}
