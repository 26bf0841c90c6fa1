/**
 * Fixed-width text tables in the seed's layout: every column but the last has
 * a width that includes a two-space gap; text longer than the width minus the
 * gap is cut and ends in `...`, except in columns marked `fit`, which widen
 * to their longest text; the last column takes the rest of the line.
 *
 * @module
 */

/** One table column. */
export interface Column {
  /** Header text, printed as given (`HOST`). */
  title: string;
  /** Width including the gap after it; omitted for the last column (no limit). */
  width?: number;
  /** Widen the column to its longest text instead of cutting it. */
  fit?: boolean;
}

/** Spaces kept between a cell's text and the next column. */
export const GAP = 2;

/**
 * Cuts `text` to at most `max` characters, ending in `...` when it was cut.
 *
 * @example
 * ```ts
 * cut("vaermina.dispersed.network", 20); // "vaermina.disperse..."
 * ```
 */
export function cut(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  if (max <= 3) return ".".repeat(Math.max(0, max));
  return chars.slice(0, max - 3).join("") + "...";
}

/** Fits `text` into a column of `width` (gap included): cut, then padded. */
export function cell(text: string, width: number): string {
  const fitted = cut(text, width - GAP);
  return fitted + " ".repeat(width - Array.from(fitted).length);
}

/** Renders one line: each cell fitted to its column, trailing spaces removed. */
export function renderRow(columns: readonly Column[], cells: readonly string[]): string {
  let line = "";
  columns.forEach((column, i) => {
    const text = (cells[i] ?? "").replace(/[\r\n\t]/g, " ");
    line += column.width === undefined ? text : cell(text, column.width);
  });
  return line.trimEnd();
}

/**
 * Renders a header line and one line per row.
 *
 * @example
 * ```ts
 * renderTable(
 *   [{ title: "APPLICATION", width: 30 }, { title: "CREATED", width: 22 }, { title: "STATUS" }],
 *   [["blog (v4)", "a day ago", "running"]],
 * );
 * // ["APPLICATION                   CREATED               STATUS",
 * //  "blog (v4)                     a day ago             running"]
 * ```
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string[] {
  const fitted = columns.map((column, i) => {
    if (!column.fit || column.width === undefined) return column;
    const longest = Math.max(0, ...rows.map((row) => Array.from(row[i] ?? "").length));
    return { ...column, width: Math.max(column.width, longest + GAP) };
  });
  return [
    renderRow(fitted, fitted.map((c) => c.title)),
    ...rows.map((row) => renderRow(fitted, row)),
  ];
}
