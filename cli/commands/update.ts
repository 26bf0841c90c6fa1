/**
 * `dn update`: builds and pushes the app's next version and moves the app to
 * it (hosts start the new version, switch traffic, then stop the old one).
 * A changed APP_HOSTNAME or APP_PORT in App.config goes with it.
 * Prints `hello-world (hello-world.dn.local) updated to v2`.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import type { UpdateAppRequest } from "../control_client.ts";
import { CliError } from "../errors.ts";
import { appLabel } from "../format/views.ts";
import { buildImage, checkLogin, pushImage } from "../images.ts";

/** `dn update`. */
export const update: Command = {
  name: "update",
  summary: "build, push, update application",
  description: "Build and push the application's next version (v<N+1>) and deploy it.\n" +
    "A changed APP_HOSTNAME or APP_PORT in App.config is applied too.",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    const control = ctx.control();
    const current = await control.findApp(app.name);
    if (!current) throw new CliError(`${app.name} not found`);
    const version = current.version + 1;
    await checkLogin(ctx);
    await buildImage(ctx, app, version);
    const digest = await pushImage(ctx, app.name, version);
    const request: UpdateAppRequest = { version, digest };
    if (app.hostname !== current.hostname) request.hostname = app.hostname;
    if (app.port !== current.port) request.port = app.port;
    const updated = await control.updateApp(app.name, request);
    ctx.out(`${appLabel(updated)} updated to v${updated.version}`);
  },
};
