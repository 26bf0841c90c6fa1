/**
 * Records what a fault or bad-input test tried and whether it held, so
 * `scripts/test` can write RELIABILITY.md from the run itself.
 *
 * @example
 * ```ts
 * reliabilityTest("kill a host under load", {
 *   fault: "SIGKILL one of three hosts while GETs flow",
 *   expected: "zero failed GETs",
 * }, async () => { ... });
 * ```
 *
 * @module
 */

import { LOG_DIR } from "./network.ts";

/** What a reliability test tries and expects. */
export interface ReliabilityCase {
  /** The fault injected or the input sent. */
  fault: string;
  /** What must hold. */
  expected: string;
}

/** Where rows are appended (one JSON object a line). */
export const RELIABILITY_FILE = `${LOG_DIR}/reliability.jsonl`;

/**
 * Registers a Deno test that records its outcome, with a measured `observed`
 * note the test may set through the returned context.
 */
export function reliabilityTest(
  name: string,
  what: ReliabilityCase,
  fn: (note: (observed: string) => void) => Promise<void>,
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      let observed = "";
      const started = performance.now();
      try {
        await fn((text) => observed = text);
        record(name, what, "held", observed, started);
      } catch (e) {
        record(name, what, "FAILED", (e as Error).message.split("\n")[0], started);
        throw e;
      }
    },
  });
}

function record(
  name: string,
  what: ReliabilityCase,
  result: string,
  observed: string,
  started: number,
): void {
  const row = {
    test: name,
    ...what,
    result,
    observed,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  Deno.writeTextFileSync(RELIABILITY_FILE, JSON.stringify(row) + "\n", { append: true });
}
