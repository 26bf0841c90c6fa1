/**
 * Text meant for a terminal: escape codes taken out of app output, and a
 * progress line that rewrites itself in place.
 *
 * @module
 */

/** CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL|ST`), other `ESC x` and C0/C1 controls but tab. */
const TERMINAL_CODES =
  // deno-lint-ignore no-control-regex -- these are the characters to remove
  /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g;

/**
 * `text` without terminal escape codes and control characters (tabs stay),
 * so app output cannot move the cursor, recolour or retitle the terminal.
 *
 * @example
 * ```ts
 * stripTerminalCodes("\x1b[31merror\x1b[0m: x"); // "error: x"
 * ```
 */
export function stripTerminalCodes(text: string): string {
  return text.replace(TERMINAL_CODES, "");
}
