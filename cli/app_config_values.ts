/**
 * The values of `App.config` settings: durations (`APP_TIMEOUT`,
 * `APP_STREAM_IDLE`), times (`APP_HSTS`), CPUs and sizes, each parsed or
 * null (cli/app_config.ts says which line was wrong).
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * A duration of whole numbers with units `ms`, `s`, `m` (`30s`, `1500ms`,
 * `2m`, `1m30s`) in ms, or null when `text` is not one.
 *
 * @example
 * ```ts
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(text: string): number | null {
  if (!/^(?:[0-9]{1,9}(?:ms|s|m))+$/.test(text)) return null;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)(ms|s|m)/g)) {
    ms += Number(n) * DURATION_UNITS[unit];
  }
  return ms;
}

/** Units of {@link parseAge}, in seconds (a year is 365 days). */
export const AGE_UNITS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  y: 365 * 86_400,
};

/**
 * A time of whole numbers with units `s`, `m`, `h`, `d`, `y` (`1y`, `180d`,
 * `1d12h`) or `0`, in seconds, or null when `text` is not one.
 *
 * @example
 * ```ts
 * parseAge("1y"); // 31536000
 * ```
 */
export function parseAge(text: string): number | null {
  if (text === "0") return 0;
  if (!/^(?:[0-9]{1,9}[smhdy])+$/.test(text)) return null;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)([smhdy])/g)) {
    seconds += Number(n) * AGE_UNITS[unit];
  }
  return seconds;
}

/**
 * A number of CPUs with at most three decimals (`0.5`, `2`, `1.25`) in
 * thousandths of a CPU, or null when `text` is not one.
 *
 * @example
 * ```ts
 * parseCpus("0.25"); // 250
 * ```
 */
export function parseCpus(text: string): number | null {
  const m = /^([0-9]{1,3})(?:\.([0-9]{1,3}))?$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 1000 + Number((m[2] ?? "").padEnd(3, "0"));
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A size in bytes: a whole number, optionally with `k`, `m` or `g` (binary:
 * 1k = 1024; `kb`, `KiB` and the like mean the same), or null when `text`
 * is not one.
 *
 * @example
 * ```ts
 * parseSize("16m"); // 16777216
 * ```
 */
export function parseSize(text: string): number | null {
  const m = /^([0-9]{1,10})(?:([kmg])(?:i?b)?|b)?$/i.exec(text);
  if (!m) return null;
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? "").toLowerCase()];
}
