/**
 * Help texts: the overview `dn help` prints (the seed's table) and each
 * command's usage.
 *
 * @module
 */

import { type Command, type FlagName, FLAGS } from "./command.ts";

/**
 * The overview, as `dn help` prints it (the seed's text, a blank line first).
 *
 * @example
 * ```ts
 * console.log(usageText(COMMANDS));
 * ```
 */
export function usageText(commands: readonly Command[]): string {
  return [
    "",
    "Usage: dn COMMAND",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(12)}${c.summary}`),
  ].join("\n");
}

/** Usage line of one flag, e.g. `-C, --dir DIR`. */
export function flagUsage(name: FlagName): string {
  const spec = FLAGS[name];
  const short = "short" in spec ? `-${spec.short}, ` : "";
  const value = "value" in spec ? ` ${spec.value}` : "";
  return `${short}--${name}${value}`;
}

/**
 * Usage of one command: usage line, description, options.
 *
 * @example
 * ```ts
 * console.log(commandUsageText(status));
 * ```
 */
export function commandUsageText(command: Command): string {
  const flags: FlagName[] = [...command.flags, "help"];
  const args = command.args === "" ? "" : ` ${command.args}`;
  return [
    "",
    `Usage: dn ${command.name}${command.flags.length > 0 ? " [OPTIONS]" : ""}${args}`,
    "",
    command.description,
    "",
    "Options:",
    ...flags.map((f) => `  ${flagUsage(f).padEnd(26)}${FLAGS[f].help}`),
  ].join("\n");
}
