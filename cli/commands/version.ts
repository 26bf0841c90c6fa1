/**
 * `dn version`: prints `dn <version>`.
 *
 * @module
 */

import type { Command } from "../command.ts";
import { VERSION } from "../version.ts";

/** `dn version`. */
export const version: Command = {
  name: "version",
  summary: "show version",
  description: "Show the version of dn.",
  args: "",
  maxArgs: 0,
  flags: [],
  run(ctx) {
    ctx.out(`dn ${VERSION}`);
    return Promise.resolve();
  },
};
