/**
 * `dn status [NAME]`: the app's status and version, and a table of its
 * containers on every host (see `renderStatus`). `--json` prints control's
 * answer as is.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { renderStatus } from "../format/views.ts";
import { targetName } from "../target.ts";

/** `dn status`. */
export const status: Command = {
  name: "status",
  summary: "show application status",
  description: "Show the application's status and version, and its containers on every host.\n" +
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, "json", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "status");
    const report = await ctx.control().appStatus(name);
    if (ctx.options.json) {
      ctx.out(JSON.stringify(report, null, 2));
      return;
    }
    for (const line of renderStatus(report, ctx.now())) ctx.out(line);
  },
};
