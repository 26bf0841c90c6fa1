/**
 * `dn create`: registers a new app with control at version 1. Builds
 * `<registry>/<name>:v1` first when it is not there locally, and pushes it.
 * Prints `hello-world (hello-world.dn.local) created`.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { ensurePushed } from "../images.ts";
import { ensureNewApp } from "../target.ts";

/** `dn create`. */
export const create: Command = {
  name: "create",
  summary: "create new application",
  description: "Create the application from App.config at version 1 (status created).\n" +
    "Builds the image first when <registry>/<name>:v1 is not there locally, then pushes it.",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    await ensureNewApp(ctx, app);
    const digest = await ensurePushed(ctx, app, 1);
    const record = await ctx.control().createApp({
      name: app.name,
      hostname: app.hostname,
      port: app.port,
      digest,
    });
    ctx.out(`${appLabel(record)} created`);
  },
};
