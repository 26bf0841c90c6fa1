/**
 * `dn create`: builds `<registry>/<name>:v1-<build id>` (layers come from the cache
 * when nothing changed), pushes it, and registers the app with control at
 * version 1.
 * Prints `hello-world (hello-world.dn.local) created`.
 *
 * @module
 */

import { givenSettings } from "../app_config.ts";
import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { ensurePushed } from "../images.ts";
import { ensureNewApp } from "../target.ts";

/** `dn create`. */
export const create: Command = {
  name: "create",
  summary: "create new application",
  description: "Create the application from App.config at version 1 (status created).\n" +
    "Builds <registry>/<name>:v1-<build id> (cached layers are reused) and pushes it first.",
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
      ...givenSettings(app),
    });
    ctx.out(`${appLabel(record)} created`);
  },
};
