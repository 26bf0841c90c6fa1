/**
 * Every `dn` command, in the order `dn help` lists them.
 *
 * @module
 */

import type { Command } from "../command.ts";
import { build } from "./build.ts";
import { certs } from "./certs.ts";
import { complete } from "./complete.ts";
import { completionCommand } from "./completion.ts";
import { create } from "./create.ts";
import { env } from "./env.ts";
import { helpCommand } from "./help.ts";
import { list } from "./list.ts";
import { logs } from "./logs.ts";
import { push } from "./push.ts";
import { remove } from "./remove.ts";
import { rollback } from "./rollback.ts";
import { run } from "./run.ts";
import { start } from "./start.ts";
import { status } from "./status.ts";
import { stop } from "./stop.ts";
import { update } from "./update.ts";
import { version } from "./version.ts";

/** All commands, sorted by name. */
export const COMMANDS: readonly Command[] = [
  build,
  certs,
  completionCommand(() => COMMANDS),
  create,
  env,
  helpCommand(() => COMMANDS),
  list,
  logs,
  push,
  remove,
  rollback,
  run,
  start,
  status,
  stop,
  update,
  version,
];

/** Commands for scripts, not people: runnable, but not in `dn help` nor completed. */
export const HIDDEN_COMMANDS: readonly Command[] = [complete];

/** The command called `name` (hidden ones too), or undefined. */
export function findCommand(name: string): Command | undefined {
  return [...COMMANDS, ...HIDDEN_COMMANDS].find((c) => c.name === name);
}
