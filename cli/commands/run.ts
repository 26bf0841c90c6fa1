/**
 * `dn run`: build, push, create and start a new app in one go.
 *
 * @module
 */

import { givenSettings } from "../app_config.ts";
import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import { appLabel } from "../format/views.ts";
import { ensurePushed } from "../images.ts";
import { ensureNewApp } from "../target.ts";
import { awaitServing } from "../wait.ts";

/** `dn run`. */
export const run: Command = {
  name: "run",
  summary: "build, push, create, and start application",
  description: "Build and push the image, create the application from App.config, and start it.",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, "no-wait", ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    const control = ctx.control();
    await ensureNewApp(ctx, app);
    const digest = await ensurePushed(ctx, app, 1);
    const created = await control.createApp({
      name: app.name,
      hostname: app.hostname,
      port: app.port,
      digest,
      ...givenSettings(app),
    });
    ctx.out(`${appLabel(created)} created`);
    const started = await control.startApp(app.name);
    await awaitServing(ctx, started);
    ctx.out(`${appLabel(started)} started`);
  },
};
