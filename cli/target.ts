/**
 * Which app a command acts on: the NAME argument or `--app NAME` when given
 * (no App.config is read), else APP_NAME from App.config.
 *
 * @module
 */

import { isAppName } from "../lib/names.ts";
import type { Context } from "./context.ts";
import { CliError, UsageError } from "./errors.ts";

/** `name` when it is a valid app name, else a usage error of `command`; `what` prefixes the message. */
function checkName(name: string, command: string, what = ""): string {
  if (!isAppName(name)) {
    throw new UsageError(
      `${what}${JSON.stringify(name)} is not a valid app name (lower-case DNS label)`,
      command,
    );
  }
  return name;
}

/**
 * The app name from `--app NAME` (which excludes `-C` and `--app-config`), or
 * APP_NAME from App.config without it.
 */
export async function appName(ctx: Context, command: string): Promise<string> {
  const { app, dir, appConfig } = ctx.options;
  if (app === undefined) return (await ctx.app()).name;
  if (dir !== undefined || appConfig !== undefined) {
    throw new UsageError(
      `dn ${command}: --app cannot be combined with -C/--dir or --app-config`,
      command,
    );
  }
  return checkName(app, command, "--app ");
}

/** The app name from `args[0]` (not with `--app`), or {@link appName} when there is no argument. */
export async function targetName(
  ctx: Context,
  args: readonly string[],
  command: string,
): Promise<string> {
  if (args.length === 0) return await appName(ctx, command);
  if (ctx.options.app !== undefined) {
    throw new UsageError(`dn ${command}: give NAME or --app, not both`, command);
  }
  return checkName(args[0], command);
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
