/**
 * Errors the CLI turns into exit codes: {@link UsageError} exits 2 (and shows
 * the usage), every other error exits 1 with its one-line message.
 *
 * @module
 */

/** Exit code of a successful command. */
export const EXIT_OK = 0;
/** Exit code of an operational error (not found, unreachable, build failed). */
export const EXIT_FAILURE = 1;
/** Exit code of a usage error (unknown command or flag, bad argument). */
export const EXIT_USAGE = 2;

/**
 * The command line was wrong; `command` is the command whose usage to show,
 * `hint` a line shown instead of any usage (`See 'dn help'.`).
 */
export class UsageError extends Error {
  override name = "UsageError";
  /** Command whose usage is shown after the message, or undefined for the overview. */
  readonly command: string | undefined;
  /** A line printed instead of the usage, when set. */
  readonly hint: string | undefined;

  /** Creates a usage error for `command` (undefined: the top-level usage). */
  constructor(message: string, command?: string, hint?: string) {
    super(message);
    this.command = command;
    this.hint = hint;
  }
}

/**
 * The usage error for a command name nobody knows: with a close known name,
 * `unknown command "stauts": did you mean "status"?` and a pointer to
 * `dn help` instead of the whole usage.
 */
export function unknownCommandError(typed: string, suggestion: string | undefined): UsageError {
  const message = `unknown command ${JSON.stringify(typed)}`;
  if (suggestion === undefined) return new UsageError(message);
  return new UsageError(
    `${message}: did you mean ${JSON.stringify(suggestion)}?`,
    undefined,
    "See 'dn help' for every command.",
  );
}

/** An operational error with a message fit to print as is. */
export class CliError extends Error {
  override name = "CliError";
}
