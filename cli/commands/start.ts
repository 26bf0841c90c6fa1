/**
 * `dn start [NAME]`: Start the application on every host.
 * Prints `hello-world (hello-world.dn.local) started`.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { ControlError } from "../control_client.ts";
import { CliError } from "../errors.ts";
import { targetName } from "../target.ts";
import { awaitServing } from "../wait.ts";

/** `dn start`. */
export const start: Command = {
  name: "start",
  summary: "start application",
  description: "Start the application on every host, and wait until every host serves it\n" +
    "(--no-wait: return at once); fails naming the reason when no host can.\n" +
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, "no-wait", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "start");
    const app = await ctx.control().startApp(name).catch((e) => {
      if (e instanceof ControlError && e.status === 404) {
        throw new CliError(
          `${name} not found: create it first with dn create (or dn run: build, create and start)`,
        );
      }
      throw e;
    });
    await awaitServing(ctx, app);
    ctx.out(`${appLabel(app)} started`);
  },
};
