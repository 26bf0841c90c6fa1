/**
 * `dn remove [NAME]`: removes the application: control forgets it and waits
 * until the hosts removed its containers (naming those still being removed
 * when it stops waiting), then its images go from the registry (every tag,
 * by digest; `scripts/infra gc` frees the layers) and from the local Docker
 * engine. Prints `hello-world removed`.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, IMAGE_FLAGS, NAME_FLAGS } from "../command.ts";
import type { Context } from "../context.ts";
import { deleteRepository } from "../registry.ts";
import { targetName } from "../target.ts";

/** `dn remove`. */
export const remove: Command = {
  name: "remove",
  summary: "remove application",
  description: "Remove the application, its containers on every host, and its images in the\n" +
    "registry and the local Docker engine.\n" +
    "NAME (or --app NAME) defaults to APP_NAME from App.config.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, ...IMAGE_FLAGS.filter((f) => f !== "verbose"), ...CONTROL_FLAGS],
  async run(ctx, args) {
    const name = await targetName(ctx, args, "remove");
    const { app, removing } = await ctx.control().removeApp(name);
    const left = Object.entries(removing);
    if (left.length > 0) {
      const where = left.map(([host, n]) => `${host} (${n})`).join(", ");
      ctx.err(`dn: containers of ${name} are still being removed on ${where}`);
    }
    await removeImages(ctx, name, app.latestVersion ?? app.version);
    ctx.out(`${app.name} removed`);
  },
};

/**
 * Deletes the app's images from the registry and the local engine; a
 * failure is said on standard error (the app itself is gone already).
 */
async function removeImages(ctx: Context, name: string, latest: number): Promise<void> {
  const config = ctx.config();
  const repo = `${config.registry}/${name}`;
  let tags: string[] = [];
  try {
    tags = await deleteRepository({
      registry: config.registry,
      user: config.registryUser,
      password: config.registryPassword,
      fetch: ctx.registryFetch(),
    }, name);
  } catch (e) {
    ctx.err(`dn: ${name}'s images stay in the registry: ${(e as Error).message}`);
  }
  const versions = Array.from({ length: latest }, (_, i) => `v${i + 1}`);
  try {
    const images = await ctx.images();
    for (const tag of new Set([...versions, ...tags])) await images.remove(`${repo}:${tag}`);
  } catch (e) {
    ctx.err(`dn: ${name}'s images stay in the local engine: ${(e as Error).message}`);
  }
}
