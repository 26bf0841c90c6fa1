/**
 * Formatting shared by the sections of BENCHMARKS.md that report.ts writes.
 *
 * @module
 */

import type { WrkJson } from "./report_results.ts";

/** Appends lines to the report. */
export type Emit = (...lines: string[]) => void;

/** A response path as the tables name it. */
export const label = (path: string) =>
  path === "/"
    ? "`/` (14 B)"
    : path === "/bytes/65536"
    ? "64 KiB"
    : path === "/bytes/1048576"
    ? "1 MiB"
    : path;
/** A whole number with thousands separators. */
export const int = (n: number) => Math.round(n).toLocaleString("en-US");
/** Microseconds as milliseconds, to 3 significant digits ("–" when absent). */
export const ms = (us: number | undefined) => {
  if (us === undefined) return "–";
  const v = us / 1000;
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
};
/** x / y to two decimals ("–" unless both are positive). */
export const ratio = (x: number, y: number) => (y > 0 && x > 0 ? (x / y).toFixed(2) : "–");
/** A percentage, rounded. */
export const pct = (x: number) => `${x.toFixed(0)} %`;
/** wrk's errors of a run, in words. */
export const errors = (w: WrkJson | null) => {
  if (!w) return "no result";
  const e = w.errors;
  const parts = [];
  if (e.status) parts.push(`${e.status} non-2xx`);
  if (e.connect + e.read + e.write) parts.push(`${e.connect + e.read + e.write} socket`);
  if (e.timeout) parts.push(`${e.timeout} timeout`);
  return parts.join(", ") || "0";
};
/** KiB as whole MiB ("–" when absent). */
export const mib = (kb: number | undefined) => (kb === undefined ? "–" : (kb / 1024).toFixed(0));
/** Columns that align left besides the first. */
const LEFT = new Set(["response", "target", "value", "process", "group", "notes", "step"]);
/** A markdown table; the first column and those named in LEFT align left, the rest right. */
export const table = (head: string[], rows: (string | number)[][]) =>
  [
    `| ${head.join(" | ")} |`,
    `| ${head.map((h, i) => (i === 0 || LEFT.has(h) ? "---" : "---:")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
