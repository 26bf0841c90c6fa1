/**
 * `dn update`: builds and pushes the app's next version and moves the app to
 * it (hosts start the new version, switch traffic, then stop the old one),
 * then waits until every host serves it (cli/rollout.ts): a version that
 * does not start is rolled back and the command fails naming the reason.
 * A changed APP_HOSTNAME, APP_PORT or setting (APP_REPLICAS, APP_HEALTH,
 * APP_TIMEOUT, APP_BODY_LIMIT, APP_STREAM_IDLE, APP_MEMORY, APP_CPUS, ...) in
 * App.config goes with it; a setting no longer in App.config goes back to its
 * default.
 * Prints `hello-world (hello-world.dn.local) updated to v2`.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import type { AppInfo, UpdateAppRequest } from "../control_client.ts";
import type { Context } from "../context.ts";
import { appSettings, changedSettings } from "../app_config.ts";
import { CliError } from "../errors.ts";
import { appLabel } from "../format/views.ts";
import { ensurePushed, followingVersion } from "../images.ts";
import { awaitServing, NotServingError } from "../wait.ts";

/** `dn update`. */
export const update: Command = {
  name: "update",
  summary: "build, push, update application",
  description: "Build and push the application's next version (v<N+1>) and deploy it.\n" +
    "A changed APP_HOSTNAME, APP_PORT, APP_REPLICAS, APP_HEALTH, APP_TIMEOUT,\n" +
    "APP_BODY_LIMIT, APP_STREAM_IDLE, APP_MEMORY or APP_CPUS in App.config is\n" +
    "applied too (a removed one goes back to its default).",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, "no-wait", ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    const control = ctx.control();
    const current = await control.findApp(app.name);
    if (!current) throw new CliError(`${app.name} not found`);
    const version = followingVersion(current);
    const digest = await ensurePushed(ctx, app, version);
    const request: UpdateAppRequest = { version, digest };
    if (app.hostname !== current.hostname) request.hostname = app.hostname;
    if (app.port !== current.port) request.port = app.port;
    Object.assign(request, changedSettings(appSettings(app), current));
    const updated = await control.updateApp(app.name, request);
    try {
      await awaitServing(ctx, updated);
    } catch (e) {
      if (!(e instanceof NotServingError)) throw e;
      throw await rolledBack(ctx, updated, current.version, e);
    }
    ctx.out(`${appLabel(updated)} updated to v${updated.version}`);
  },
};

/**
 * After a version no host would serve: moves the app back to `previous`
 * (only if it still runs `failed`; the old version kept serving meanwhile)
 * and returns the error to fail with, naming why and what runs now.
 */
async function rolledBack(
  ctx: Context,
  failed: AppInfo,
  previous: number,
  why: NotServingError,
): Promise<CliError> {
  try {
    await ctx.control().rollbackApp(failed.name, previous, failed.version);
  } catch (e) {
    return new CliError(`${why.message}; not rolled back: ${(e as Error).message}`);
  }
  return new CliError(`${why.message}; rolled back to v${previous}, which keeps serving`);
}
