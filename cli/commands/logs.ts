/**
 * `dn logs [NAME]`: the app's container logs from every host, each line
 * prefixed by its host (`vaermina | line`), in time order; `-f` keeps
 * printing new lines until interrupted. Terminal escape codes and other
 * control characters in the lines are taken out unless `--raw`. `--json`
 * prints control's NDJSON lines as they come.
 *
 * @module
 */

import { type Command, CONTROL_FLAGS, NAME_FLAGS } from "../command.ts";
import { CliError, UsageError } from "../errors.ts";
import { stripTerminalCodes } from "../format/terminal.ts";
import { targetName } from "../target.ts";
import { isHostName } from "../../lib/names.ts";

/** Largest `--tail` (control's limit). */
export const MAX_TAIL = 5000;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME =
  /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * `--since`: a duration back from `now` (`90s`, `10m`, `1h30m`, `2d`) or a
 * time (`2024-05-01`, UTC midnight; `2024-05-01T12:00:00Z`; without a zone,
 * local time), as ms since the epoch. Throws a message for anything else.
 *
 * @example
 * ```ts
 * parseSince("10m", new Date("2024-05-01T12:00:00Z")); // Date.parse("2024-05-01T11:50:00Z")
 * ```
 */
export function parseSince(text: string, now: Date): number {
  const value = text.trim();
  if (DURATION.test(value)) {
    let ms = 0;
    for (const [, n, unit] of value.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * UNIT_MS[unit];
    if (!Number.isSafeInteger(ms) || ms > now.getTime()) throw new Error("too far back");
    return now.getTime() - ms;
  }
  if (DATE.test(value) || DATE_TIME.test(value)) {
    const ms = Date.parse(value.replace(" ", "T").replace(/([+-]\d{2})(\d{2})$/, "$1:$2"));
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw new Error("not a duration or a time");
}

/** `--tail N`: an integer 0–{@link MAX_TAIL}. */
export function parseTail(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > MAX_TAIL) {
    throw new Error(`must be a whole number 0-${MAX_TAIL}`);
  }
  return Number(text);
}

/** `dn logs`. */
export const logs: Command = {
  name: "logs",
  summary: "show application logs",
  description: "Print the application's container logs from every host, oldest first, each line\n" +
    "prefixed by its host. NAME (or --app NAME) defaults to APP_NAME from App.config.\n" +
    "--since takes a duration (30s, 10m, 1h30m, 2d) or a time (2024-05-01,\n" +
    "2024-05-01T12:00:00Z). -f keeps printing new lines until interrupted.\n" +
    "Terminal escape codes in the lines are taken out unless --raw.",
  args: "[NAME]",
  maxArgs: 1,
  flags: [...NAME_FLAGS, "follow", "host", "since", "tail", "raw", "json", ...CONTROL_FLAGS],
  async run(ctx, args) {
    const { options } = ctx;
    let since: number | undefined;
    let tail: number | undefined;
    if (options.since !== undefined) {
      try {
        since = parseSince(options.since, ctx.now());
      } catch (e) {
        throw new UsageError(
          `invalid --since ${JSON.stringify(options.since)}: ${(e as Error).message}` +
            " (use 10m, 1h30m, or 2024-05-01T12:00:00Z)",
          "logs",
        );
      }
    }
    if (options.tail !== undefined) {
      try {
        tail = parseTail(options.tail);
      } catch (e) {
        throw new UsageError(
          `invalid --tail ${JSON.stringify(options.tail)}: ${(e as Error).message}`,
          "logs",
        );
      }
    }
    if (options.host !== undefined && !isHostName(options.host)) {
      throw new UsageError(
        `invalid --host ${
          JSON.stringify(options.host)
        }: must be a host name (lower-case DNS label)`,
        "logs",
      );
    }
    const name = await targetName(ctx, args, "logs");
    const stream = ctx.control().logs(name, {
      since,
      tail,
      host: options.host,
      follow: options.follow === true,
    });
    for await (const event of stream) {
      if (options.json) {
        ctx.out(JSON.stringify(event));
        if ("error" in event) throw new CliError(event.error);
      } else if ("host" in event) {
        ctx.out(`${event.host} | ${options.raw ? event.line : stripTerminalCodes(event.line)}`);
      } else if ("warning" in event) {
        ctx.err(event.warning);
      } else {
        throw new CliError(event.error);
      }
    }
  },
};
