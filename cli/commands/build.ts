/**
 * `dn build`: builds the app directory into `<registry>/<name>:v<N>`, N being
 * the version the next create or update gives the app (1 for a new app,
 * else its highest version so far + 1). Shows the engine's progress (all of
 * it with `--verbose`), then `Successfully tagged <ref>`.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import { buildImage, nextVersion } from "../images.ts";

/** `dn build`. */
export const build: Command = {
  name: "build",
  summary: "build application image",
  description: "Build the application image from the app directory's Dockerfile, tagged\n" +
    "<registry>/<name>:v<N> for the app's next version (1 for a new app).",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    const { ref } = await buildImage(ctx, app, `v${await nextVersion(ctx, app.name)}`);
    if (!ctx.options.verbose) ctx.out(`Successfully tagged ${ref}`);
  },
};
