/**
 * Entry point of the `dn` CLI: wires the real outside world (environment,
 * terminal, fetch, Docker engine) to {@link runCli} and exits with its code.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read --allow-write=/var/run/docker.sock \
 *   cli/main.ts status
 * ```
 *
 * @module
 */

import { runCli } from "./cli.ts";
import type { Deps } from "./context.ts";

const encoder = new TextEncoder();

function writeLine(file: { writeSync(p: Uint8Array): number }, line: string): void {
  let bytes = encoder.encode(line + "\n");
  try {
    while (bytes.length > 0) bytes = bytes.subarray(file.writeSync(bytes));
  } catch (e) {
    // The reader went away (`dn list | head`): stop quietly, as other tools do.
    if (e instanceof Deno.errors.BrokenPipe) Deno.exit(0);
    throw e;
  }
}

/** A progress line on the terminal, rewritten in place; undefined when stderr is not one. */
function terminalProgress(): ((text: string) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  let shown = "";
  return (text) => {
    let columns = 80;
    try {
      columns = Deno.consoleSize().columns || 80; // 0 when the terminal does not say
    } catch {
      // no size known: 80 columns
    }
    const width = Math.max(20, columns - 1);
    const line = text.length > width ? text.slice(0, width - 3) + "..." : text;
    if (line === shown) return;
    shown = line;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${line}`));
  };
}

/** The real outside world. */
export function realDeps(): Deps {
  return {
    env: Deno.env.toObject(),
    cwd: Deno.cwd(),
    now: () => new Date(),
    io: {
      out: (line) => writeLine(Deno.stdout, line),
      err: (line) => writeLine(Deno.stderr, line),
      progress: terminalProgress(),
    },
    fetch: globalThis.fetch,
    images: async (config) => (await import("./docker.ts")).dockerBackend(config),
    readStdin: () => new Response(Deno.stdin.readable).text(),
  };
}

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, realDeps()));
}
