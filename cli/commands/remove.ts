/**
 * `dn remove [NAME]`: removes the application and its containers on every
 * host. Prints `hello-world removed`.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { targetName } from "../target.ts";

/** `dn remove`. */
export const remove: Command = {
  name: "remove",
  summary: "remove application",
  description: "Remove the application and its containers on every host.\n" +
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "remove");
    const app = await ctx.control().removeApp(name);
    ctx.out(`${app.name} removed`);
  },
};
