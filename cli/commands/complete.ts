/**
 * `dn __complete apps`: the hidden helper the completion scripts call for
 * app names. Prints the name of every app on the network, one a line, from
 * control's `GET /v1/apps`. Completion must never print into the prompt, so
 * it fails quietly: without a control URL or token, when control does not
 * answer within {@link COMPLETE_TIMEOUT_MS} or answers with an error, it
 * prints nothing and exits 0.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS } from "../command.ts";
import { ControlClient } from "../control_client.ts";

/** How long the helper waits for control, in ms. */
export const COMPLETE_TIMEOUT_MS = 1000;

/** `dn __complete apps` (not listed by `dn help` nor completed). */
export const complete: Command = {
  name: "__complete",
  summary: "list words for shell completion",
  description: "Print the name of every app, one a line, for the completion scripts.\n" +
    "Prints nothing, and exits 0, when control cannot tell.",
  args: "apps",
  maxArgs: 1,
  flags: CONTROL_FLAGS,
  async run(ctx, args) {
    if (args[0] !== "apps") return;
    try {
      const { controlUrl, token, controlCaFile } = ctx.config();
      if (controlUrl === "" || token === "") return;
      const control = new ControlClient({
        url: controlUrl,
        token,
        fetch: ctx.deps.fetch,
        caFile: controlCaFile,
        timeoutMs: COMPLETE_TIMEOUT_MS,
      });
      const names = (await control.listApps()).map((app) => app.name);
      if (names.length > 0) ctx.out(names.join("\n"));
    } catch {
      // Quiet on purpose: completion never prints errors into the prompt.
    }
  },
};
