/**
 * `dn stop [NAME]`: Stop the application's containers on every host; they are kept, so start is quick.
 * Prints `hello-world (hello-world.dn.local) stopped`.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { targetName } from "../target.ts";
import { awaitStopped } from "../wait.ts";

/** `dn stop`. */
export const stop: Command = {
  name: "stop",
  summary: "stop application",
  description:
    "Stop the application's containers on every host; they are kept, so start is quick.\n" +
    "Waits until they stopped (--no-wait: return at once).\n" +
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, "no-wait", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "stop");
    const app = await ctx.control().stopApp(name);
    await awaitStopped(ctx, app.name);
    ctx.out(`${appLabel(app)} stopped`);
  },
};
