/**
 * `dn rollback [vN]`: moves the app back to an earlier version kept in the
 * registry (default: the version before the current one). Hosts switch the
 * way an update does: the older version starts, takes the traffic, then the
 * current one stops. The next `dn update` still builds a new version after
 * the highest one. Prints `hello-world (hello-world.dn.local) rolled back to v2`.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { CliError, UsageError } from "../errors.ts";
import { appLabel } from "../format/views.ts";
import { appName } from "../target.ts";
import { awaitServing } from "../wait.ts";

/** `v2` or `2` → 2; null for anything else. */
export function parseVersionArg(text: string): number | null {
  const m = /^v?([0-9]{1,9})$/i.exec(text);
  if (!m || Number(m[1]) < 1) return null;
  return Number(m[1]);
}

/** `dn rollback`. */
export const rollback: Command = {
  name: "rollback",
  summary: "roll back application to an earlier version",
  description: "Move the application back to version N (default: the one before the current\n" +
    "one), kept in the registry. Hosts start it before they stop the current version.\n" +
    "The app is APP_NAME from App.config (-C DIR, --app-config FILE), or --app NAME.",
  args: "[vN]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, "no-wait", ...CONTROL_FLAGS],
  async run(ctx, args) {
    let wanted: number | undefined;
    if (args.length > 0) {
      const parsed = parseVersionArg(args[0]);
      if (parsed === null) {
        throw new UsageError(
          `invalid version ${JSON.stringify(args[0])}: use vN, e.g. v2`,
          "rollback",
        );
      }
      wanted = parsed;
    }
    const name = await appName(ctx, "rollback");
    const control = ctx.control();
    const current = await control.findApp(name);
    if (!current) throw new CliError(`${name} not found`);
    const latest = current.latestVersion ?? current.version;
    const target = wanted ?? current.version - 1;
    if (target < 1) throw new CliError(`${name} runs v1: there is no earlier version`);
    if (target === current.version) throw new CliError(`${name} already runs v${target}`);
    if (target > latest) {
      throw new CliError(`${name} has no v${target} (versions v1-v${latest})`);
    }
    const app = await control.rollbackApp(name, target);
    await awaitServing(ctx, app);
    const verb = app.version < current.version ? "rolled back" : "rolled forward";
    ctx.out(`${appLabel(app)} ${verb} to v${app.version}`);
  },
};
