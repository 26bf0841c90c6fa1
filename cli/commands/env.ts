/**
 * `dn env set KEY=VALUE...`, `dn env unset KEY...`, `dn env list`: the
 * environment of the app's containers. Values are secrets: they go to
 * control and never come back, and the CLI never prints them (not even in
 * errors). `KEY=-` reads that value from standard input, so it stays out of
 * the shell history and the process list. Changing the environment makes
 * every host replace the app's containers (new one first, no failed
 * requests).
 *
 * Prints `hello-world (hello-world.dn.local) env set: DB_URL, TOKEN`.
 *
 * @module
 */

import { isEnvKey, isEnvValue } from "../../lib/apps.ts";
import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import type { Context } from "../context.ts";
import { CliError, UsageError } from "../errors.ts";
import { appLabel } from "../format/views.ts";
import { appName } from "../target.ts";
import { awaitServing } from "../wait.ts";

/** Variables hosts set themselves; a value given for them would be overridden. */
export const RESERVED_KEYS: readonly string[] = ["APP_NAME", "APP_VERSION", "PORT", "DN_HOST"];

/** Most variables one command may set (control's limit for the whole environment). */
export const MAX_VARIABLES = 200;

const KEY_RULE = "letters, digits and _, not starting with a digit, at most 128";

/** What `dn env set` parsed: the values given, and the key whose value comes from stdin. */
export interface Assignments {
  /** Variables with their values, in the order given. */
  set: Record<string, string>;
  /** The key written `KEY=-`, whose value is read from standard input. */
  fromStdin?: string;
}

function usage(message: string): UsageError {
  return new UsageError(message, "env");
}

/** Checks a variable name given on the command line (names are not secret). */
function checkKey(key: string, command: string): void {
  if (!isEnvKey(key)) {
    throw usage(`dn env ${command}: invalid variable name ${JSON.stringify(key)} (${KEY_RULE})`);
  }
  if (RESERVED_KEYS.includes(key)) {
    throw usage(
      `dn env ${command}: ${key} is set by dn on every container (${RESERVED_KEYS.join(", ")})`,
    );
  }
}

/** Checks a value without ever showing it. */
function checkValue(key: string, value: string): void {
  if (value.includes("\0")) throw usage(`dn env set: the value of ${key} contains a NUL byte`);
  if (!isEnvValue(value)) throw usage(`dn env set: the value of ${key} is over 32 KiB`);
}

/**
 * Parses `KEY=VALUE` arguments (the value may be empty or contain `=`;
 * `KEY=-` means "from standard input"). Errors name the key or the
 * argument's position, never a value.
 *
 * @example
 * ```ts
 * parseAssignments(["DB_URL=postgres://db/app", "TOKEN=-"]);
 * // { set: { DB_URL: "postgres://db/app" }, fromStdin: "TOKEN" }
 * ```
 */
export function parseAssignments(args: readonly string[]): Assignments {
  if (args.length === 0) throw usage("dn env set needs KEY=VALUE (KEY=- reads it from stdin)");
  if (args.length > MAX_VARIABLES) {
    throw usage(`dn env set: at most ${MAX_VARIABLES} variables at once`);
  }
  const out: Assignments = { set: {} };
  const seen = new Set<string>();
  args.forEach((arg, i) => {
    const eq = arg.indexOf("=");
    if (eq === -1) {
      throw usage(
        isEnvKey(arg)
          ? `dn env set: ${arg} has no value (use ${arg}=VALUE, or ${arg}=- to read it from stdin)`
          : `dn env set: argument ${i + 2} is not KEY=VALUE`,
      );
    }
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    checkKey(key, "set");
    if (seen.has(key)) throw usage(`dn env set: ${key} is given twice`);
    seen.add(key);
    if (value === "-") {
      if (out.fromStdin !== undefined) {
        throw usage("dn env set: only one value can come from stdin (KEY=-)");
      }
      out.fromStdin = key;
      return;
    }
    checkValue(key, value);
    out.set[key] = value;
  });
  return out;
}

/** Parses `dn env unset` names: valid, each once (duplicates dropped). */
export function parseKeys(args: readonly string[]): string[] {
  if (args.length === 0) throw usage("dn env unset needs a KEY");
  for (const key of args) checkKey(key, "unset");
  return [...new Set(args)];
}

/** An argument quoted for an error, unless it may hold a value (`KEY=secret`). */
function shown(arg: string): string {
  return arg.includes("=") ? "KEY=..." : JSON.stringify(arg);
}

/** A value read from standard input, without the one line end a shell or editor adds. */
export function stdinValue(text: string): string {
  return text.replace(/\r?\n$/, "");
}

async function set(ctx: Context, args: readonly string[]): Promise<void> {
  const { set, fromStdin } = parseAssignments(args);
  const name = await appName(ctx, "env");
  if (fromStdin !== undefined) {
    const read = ctx.deps.readStdin;
    if (!read) throw new CliError(`cannot read the value of ${fromStdin}: no standard input`);
    const value = stdinValue(await read());
    checkValue(fromStdin, value);
    set[fromStdin] = value;
  }
  const control = ctx.control();
  const app = await control.getApp(name);
  const result = await control.changeEnv(name, { set });
  await awaitServing(ctx, { ...app, revision: result.revision });
  if (ctx.options.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return;
  }
  ctx.out(`${appLabel(app)} env set: ${Object.keys(set).join(", ")}`);
}

async function unset(ctx: Context, args: readonly string[]): Promise<void> {
  const keys = parseKeys(args);
  const name = await appName(ctx, "env");
  const control = ctx.control();
  const app = await control.getApp(name);
  const present = new Set(app.envKeys ?? await control.envKeys(name));
  const missing = keys.filter((k) => !present.has(k));
  for (const key of missing) ctx.err(`${key} is not set`);
  const remove = keys.filter((k) => present.has(k));
  if (remove.length === 0) {
    // Nothing to change: do not make every host replace the containers for nothing.
    if (ctx.options.json) {
      ctx.out(JSON.stringify({ keys: [...present].sort(), revision: app.revision }, null, 2));
    } else ctx.out(`${appLabel(app)} env unchanged`);
    return;
  }
  const result = await control.changeEnv(name, { unset: remove });
  await awaitServing(ctx, { ...app, revision: result.revision });
  if (ctx.options.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return;
  }
  ctx.out(`${appLabel(app)} env unset: ${remove.join(", ")}`);
}

async function list(ctx: Context, args: readonly string[]): Promise<void> {
  if (args.length > 0) throw usage(`dn env list: unexpected argument ${shown(args[0])}`);
  const keys = await ctx.control().envKeys(await appName(ctx, "env"));
  if (ctx.options.json) {
    ctx.out(JSON.stringify({ keys }, null, 2));
    return;
  }
  for (const key of keys) ctx.out(key);
}

/** `dn env`. */
export const env: Command = {
  name: "env",
  summary: "set, unset, or list application environment",
  description: "Set or remove the application's environment variables, or list their names.\n" +
    "Values are secret: they are never printed, and list shows names only.\n" +
    "KEY=- reads that value from standard input (keeps it out of shell history).\n" +
    "Hosts replace the app's containers to apply a change, without failed requests.\n" +
    "The app is APP_NAME from App.config (-C DIR, --app-config FILE), or --app NAME.",
  args: "set KEY=VALUE... | unset KEY... | list",
  maxArgs: MAX_VARIABLES + 1,
  flags: [...NAME_FLAGS, "json", "no-wait", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const [sub, ...rest] = args;
    const run = sub === "set" ? set : sub === "unset" ? unset : sub === "list" ? list : undefined;
    if (!run) {
      throw usage(
        sub === undefined
          ? "dn env needs set, unset or list"
          : sub.includes("=")
          ? "dn env: to set a variable use dn env set KEY=VALUE"
          : `dn env: unknown subcommand ${shown(sub)} (use set, unset or list)`,
      );
    }
    await run(ctx, rest);
  },
};
