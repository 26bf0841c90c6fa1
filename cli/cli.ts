/**
 * The `dn` command line: parses flags, picks the command, runs it and turns
 * the outcome into an exit code (0 success, 1 operational error, 2 usage
 * error). Errors are printed as one line on standard error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Command, DEPRECATED_FLAGS, type FlagName, FLAGS } from "./command.ts";
import { COMMANDS, findCommand } from "./commands/mod.ts";
import { Context, type Deps, type GlobalOptions } from "./context.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, unknownCommandError, UsageError } from "./errors.ts";
import { closestName } from "./suggest.ts";
import { commandUsageText, usageText } from "./usage.ts";

/** Options for node's parseArgs: every flag, plus top-level `--version`. */
function parseOptions() {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    version: { type: "boolean" },
  };
  for (const [name, spec] of Object.entries(FLAGS)) {
    options[name] = "short" in spec ? { type: spec.type, short: spec.short } : { type: spec.type };
  }
  return options;
}

/** Turns node's parseArgs errors into short usage messages. */
function parseErrorMessage(e: Error & { code?: string }): string {
  const flag = /'(?:-\w, )?(-{1,2}[\w-]+)/.exec(e.message)?.[1] ?? "";
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(e.message)) return `flag ${flag} takes no value`;
      if (/ambiguous/.test(e.message)) {
        return `flag ${flag} needs a value (use ${flag}=VALUE for a value starting with -)`;
      }
      return `flag ${flag} needs a value`;
    default:
      return e.message.split("\n")[0];
  }
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function toGlobalOptions(values: Record<string, unknown>): GlobalOptions {
  return {
    dir: str(values.dir),
    appConfig: str(values["app-config"]),
    app: str(values.app),
    networkConfig: str(values["network-config"]),
    controlUrl: str(values["control-url"]),
    token: str(values.token),
    registry: str(values.registry),
    dockerSocket: str(values["docker-socket"]),
    json: values.json === true,
    follow: values.follow === true,
    host: str(values.host),
    since: str(values.since),
    tail: str(values.tail),
    cert: str(values.cert),
    key: str(values.key),
    raw: values.raw === true,
    noWait: values["no-wait"] === true,
    verbose: values.verbose === true,
  };
}

/** Which command and arguments an argument list asks for, checked against the command's flags. */
export interface Invocation {
  /** The command, or undefined for the overview (`dn`, `dn --help`). */
  command: Command | undefined;
  /** Positional arguments after the command name. */
  args: string[];
  /** `--help` was given. */
  help: boolean;
  /** Parsed global flags. */
  options: GlobalOptions;
  /** Lines for standard error before the command runs (a deprecated flag's new name). */
  warnings: string[];
}

/** Moves deprecated flags' values to their new names; returns a warning line for each. */
function renameDeprecated(values: Record<string, unknown>, command: string | undefined): string[] {
  const warnings: string[] = [];
  for (const [old, now] of Object.entries(DEPRECATED_FLAGS)) {
    if (values[old] === undefined) continue;
    if (values[now] !== undefined) {
      throw new UsageError(`give --${now} only (--${old} is its old name)`, command);
    }
    values[now] = values[old];
    delete values[old];
    warnings.push(`dn: --${old} is deprecated, use --${now}`);
  }
  return warnings;
}

/**
 * Parses `argv` (without the program name). Throws {@link UsageError} for
 * unknown commands or flags, flags the command does not take, missing values
 * and extra arguments.
 */
export function parseInvocation(argv: readonly string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: parseOptions(),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const guess = argv.find((a) => findCommand(a) !== undefined);
    throw new UsageError(parseErrorMessage(e as Error), guess);
  }
  const values = parsed.values as Record<string, unknown>;
  const [name, ...args] = parsed.positionals;
  const warnings = renameDeprecated(
    values,
    name !== undefined && findCommand(name) ? name : undefined,
  );
  const options = toGlobalOptions(values);
  const help = values.help === true;
  if (name === undefined) {
    if (values.version === true) {
      return { command: findCommand("version"), args: [], help, options, warnings };
    }
    return { command: undefined, args: [], help: true, options, warnings };
  }
  const command = findCommand(name);
  if (!command) {
    throw unknownCommandError(name, closestName(name, COMMANDS.map((c) => c.name)));
  }
  if (help) return { command, args, help, options, warnings };
  for (const key of Object.keys(values)) {
    if (key === "help") continue;
    if (!(command.flags as readonly string[]).includes(key)) {
      const flag = key === "version" ? "--version" : `--${key as FlagName}`;
      throw new UsageError(`dn ${command.name} does not take ${flag}`, command.name);
    }
  }
  if (args.length > command.maxArgs) {
    throw new UsageError(
      `dn ${command.name}: unexpected argument ${JSON.stringify(args[command.maxArgs])}`,
      command.name,
    );
  }
  return { command, args, help, options, warnings };
}

/**
 * Runs the `dn` command line and resolves to the exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(["status", "--json"], deps);
 * ```
 */
export async function runCli(argv: readonly string[], deps: Deps): Promise<number> {
  const { io } = deps;
  try {
    const invocation = parseInvocation(argv);
    for (const line of invocation.warnings) io.err(line);
    if (invocation.command === undefined) {
      io.out(usageText(COMMANDS));
      return EXIT_OK;
    }
    if (invocation.help) {
      io.out(commandUsageText(invocation.command));
      return EXIT_OK;
    }
    const ctx = new Context(invocation.options, deps);
    await invocation.command.run(ctx, invocation.args);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(e.message);
      if (e.hint !== undefined) io.err(e.hint);
      else if (e.command === undefined) io.err(usageText(COMMANDS));
      else io.err(`See 'dn ${e.command} --help'.`);
      return EXIT_USAGE;
    }
    io.err(errorLine(e));
    return EXIT_FAILURE;
  }
}

/** One line describing `e`, as printed on standard error. */
export function errorLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/\s*\n\s*/g, " ").trim() || "unknown error";
}
