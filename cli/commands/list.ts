/**
 * `dn list`: a table of every application with its version, age and status.
 * `--json` prints control's answer as is.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS } from "../command.ts";
import { renderList } from "../format/views.ts";

/** `dn list`. */
export const list: Command = {
  name: "list",
  summary: "list applications",
  description: "List every application on the network with its version, age and status.",
  args: "",
  maxArgs: 0,
  flags: ["json", ...CONTROL_FLAGS],
  async run(ctx) {
    const apps = await ctx.control().listApps();
    if (ctx.options.json) {
      ctx.out(JSON.stringify({ apps }, null, 2));
      return;
    }
    for (const line of renderList(apps, ctx.now())) ctx.out(line);
  },
};
