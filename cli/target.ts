/**
 * Which app a command acts on: the NAME argument when given, else APP_NAME
 * from App.config.
 *
 * @module
 */

import { isAppName } from "../lib/names.ts";
import type { Context } from "./context.ts";
import { CliError, UsageError } from "./errors.ts";

/** The app name from `args[0]`, or from App.config when there is no argument. */
export async function targetName(
  ctx: Context,
  args: readonly string[],
  command: string,
): Promise<string> {
  if (args.length === 0) return (await ctx.app()).name;
  const name = args[0];
  if (!isAppName(name)) {
    throw new UsageError(
      `${JSON.stringify(name)} is not a valid app name (lower-case DNS label)`,
      command,
    );
  }
  return name;
}

/**
 * Fails early, before any build, when control already has an app with the
 * same name or hostname (control checks again when the app is created).
 */
export async function ensureNewApp(
  ctx: Context,
  app: { name: string; hostname: string },
): Promise<void> {
  const apps = await ctx.control().listApps();
  const same = apps.find((a) => a.name === app.name);
  if (same) {
    throw new CliError(
      `${app.name} already exists (v${same.version}, ${same.status}): ` +
        `use dn update to deploy a new version`,
    );
  }
  const owner = apps.find((a) => a.hostname.toLowerCase() === app.hostname);
  if (owner) throw new CliError(`hostname ${app.hostname} is already used by ${owner.name}`);
}
