/**
 * `dn push`: pushes the image `dn build` made (`<registry>/<name>:v<N>`, N the
 * app's next version) with the registry credentials; prints the engine's
 * progress and the digest line.
 *
 * @module
 */

import { APP_FLAGS, type Command, CONTROL_FLAGS, IMAGE_FLAGS } from "../command.ts";
import { nextVersion, pushImage } from "../images.ts";

/** `dn push`. */
export const push: Command = {
  name: "push",
  summary: "push application image to registry",
  description: "Push the image dn build made for the app's next version to the registry,\n" +
    "under a tag of its own (v<N>-<build id>), with registryUser and registryPassword\n" +
    "from the network config.",
  args: "",
  maxArgs: 0,
  flags: [...APP_FLAGS, ...IMAGE_FLAGS, ...CONTROL_FLAGS],
  async run(ctx) {
    const app = await ctx.app();
    await pushImage(ctx, app.name, `v${await nextVersion(ctx, app.name)}`);
  },
};
