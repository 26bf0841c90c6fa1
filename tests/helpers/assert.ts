/**
 * Small assertions for tests (JSR's std is not reachable here).
 *
 * @module
 */

import { deepStrictEqual, match, notStrictEqual } from "node:assert/strict";

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts two values are not strictly equal. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  notStrictEqual(actual, expected, message);
}

/** Asserts a string matches a regular expression. */
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  match(actual, pattern, message);
}

/** Asserts a condition holds. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Asserts `fn` throws, optionally an instance of `type`; returns the error. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type?: new (...args: any[]) => Error,
): Error {
  try {
    fn();
  } catch (e) {
    if (type && !(e instanceof type)) {
      throw new Error(`expected ${type.name}, got ${(e as Error).name}: ${(e as Error).message}`);
    }
    return e as Error;
  }
  throw new Error("expected a throw");
}

/** Asserts the promise rejects, optionally with an instance of `type`; returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type?: new (...args: any[]) => Error,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (type && !(e instanceof type)) {
      throw new Error(`expected ${type.name}, got ${(e as Error).name}: ${(e as Error).message}`);
    }
    return e as Error;
  }
  throw new Error("expected a rejection");
}
