/**
 * `dn help [COMMAND]`: the overview of commands, or one command's usage.
 *
 * @module
 */

import type { Command } from "../command.ts";
import { unknownCommandError } from "../errors.ts";
import { closestName } from "../suggest.ts";
import { commandUsageText, usageText } from "../usage.ts";

/**
 * Makes `dn help` over the commands `commands()` returns (a function, so the
 * list can include help itself).
 */
export function helpCommand(commands: () => readonly Command[]): Command {
  return {
    name: "help",
    summary: "show usage",
    description: "Show the list of commands, or the usage of COMMAND.",
    args: "[COMMAND]",
    maxArgs: 1,
    flags: [],
    run(ctx, args) {
      if (args.length === 0) {
        ctx.out(usageText(commands()));
        return Promise.resolve();
      }
      const command = commands().find((c) => c.name === args[0]);
      if (!command) {
        throw unknownCommandError(args[0], closestName(args[0], commands().map((c) => c.name)));
      }
      ctx.out(commandUsageText(command));
      return Promise.resolve();
    },
  };
}
