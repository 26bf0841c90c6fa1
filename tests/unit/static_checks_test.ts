/**
 * The quality bar as a test, so CI holds every commit to it: `deno fmt
 * --check`, `deno lint` and `deno task check` (every entry point, the tests
 * and the bench scripts) are clean.
 *
 * @module
 */

import * as assert from "node:assert/strict";

const root = new URL("../..", import.meta.url).pathname;

/** Runs the deno of this test with `args` in the repository; output on failure. */
async function denoIn(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

for (const args of [["fmt", "--check"], ["lint"], ["task", "check"]]) {
  Deno.test(`static checks: deno ${args.join(" ")} is clean`, async () => {
    const { code, output } = await denoIn(args);
    assert.equal(code, 0, output.split("\n").slice(-40).join("\n"));
  });
}
