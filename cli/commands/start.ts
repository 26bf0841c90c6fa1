/**
 * `dn start [NAME]`: Start the application on every host.
 * Prints `hello-world (hello-world.dn.local) started`.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { targetName } from "../target.ts";

/** `dn start`. */
export const start: Command = {
  name: "start",
  summary: "start application",
  description: "Start the application on every host.\nNAME defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...APP_FLAGS, ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "start");
    const app = await ctx.control().startApp(name);
    ctx.out(`${appLabel(app)} started`);
  },
};
