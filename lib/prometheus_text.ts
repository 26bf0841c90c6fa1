/**
 * Reads the Prometheus text exposition format 0.0.4 (what lib/metrics.ts
 * writes): one sample a line, `name{label="value",...} value [timestamp]`.
 * Comments and blank lines are skipped; a malformed line is an error, so a
 * scraper notices when it reads something that is not metrics.
 *
 * @example
 * ```ts
 * import { parsePrometheusText } from "./prometheus_text.ts";
 *
 * const samples = parsePrometheusText('dn_gateway_requests_total{app="hello",code="200"} 3\n');
 * // [{ name: "dn_gateway_requests_total", labels: { app: "hello", code: "200" }, value: 3 }]
 * ```
 *
 * @module
 */

/** One sample. */
export interface Sample {
  /** Series name, with any `_bucket`/`_sum`/`_count` suffix. */
  name: string;
  /** Label values by name, unescaped. */
  labels: Record<string, string>;
  /** The value (`+Inf`, `-Inf` and `NaN` as numbers). */
  value: number;
}

/** Raised for text that is not in the exposition format; names the line. */
export class PrometheusTextError extends Error {
  override name = "PrometheusTextError";
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => c === "n" ? "\n" : c);
}

function parseValue(text: string): number {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const n = Number(text);
  return text.trim() === "" ? NaN : n;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (!match || match.index !== start) {
      throw new PrometheusTextError(`line ${line}: malformed labels`);
    }
    labels[match[1]] = unescape(match[2]);
    if (match[3] === "") break;
  }
  return labels;
}

/** Parses a whole exposition; throws PrometheusTextError at the first malformed line. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    const value = match ? parseValue(match[3]) : NaN;
    if (!match || (Number.isNaN(value) && match[3] !== "NaN")) {
      throw new PrometheusTextError(`line ${i + 1}: not a sample`);
    }
    samples.push({ name: match[1], labels: parseLabels(match[2] ?? "", i + 1), value });
  }
  return samples;
}
