/**
 * The request sections of BENCHMARKS.md: requests per second and latency of
 * every target side by side, every wrk run, and their raw output.
 *
 * @module
 */

import type { Results } from "./report_results.ts";
import { type Emit, errors, int, label, ms, ratio, table } from "./report_format.ts";

/** The targets of every cell, in table order. */
const TARGETS = ["direct", "nginx-1", "nginx", "dn", "dn-broker"] as const;

/** Writes "Side by side" (requests per second, latency) and "Every wrk run". */
export function sideBySideSection(results: Results, p: Emit) {
  const { runs, find, cases } = results;
  p("## Side by side", "", "### Requests per second", "");
  p(table(
    [
      "response",
      "c",
      "direct",
      "nginx, 1 container",
      "nginx",
      "dn",
      "dn broker path",
      "dn / direct",
      "dn / nginx, 1 container",
      "dn / nginx",
      "dn / broker path",
    ],
    cases.map(({ path, conc }) => {
      const [d, n1, n, g, b] = TARGETS.map((t) => find(t, path, conc));
      return [
        label(path),
        conc,
        int(d?.rps ?? 0),
        int(n1?.rps ?? 0),
        int(n?.rps ?? 0),
        int(g?.rps ?? 0),
        int(b?.rps ?? 0),
        ratio(g?.rps ?? 0, d?.rps ?? 0),
        ratio(g?.rps ?? 0, n1?.rps ?? 0),
        ratio(g?.rps ?? 0, n?.rps ?? 0),
        ratio(g?.rps ?? 0, b?.rps ?? 0),
      ];
    }),
  ));
  p("", "### Latency (ms)", "");
  p(table(
    [
      "response",
      "c",
      "p50 direct",
      "p50 nginx, 1 container",
      "p50 nginx",
      "p50 dn",
      "p50 dn broker path",
      "dn / direct",
      "dn / nginx",
      "dn − nginx, 1 container",
      "dn − nginx",
      "p99 direct",
      "p99 nginx",
      "p99 dn",
    ],
    cases.map(({ path, conc }) => {
      const [d, n1, n, g, b] = TARGETS.map((t) => find(t, path, conc)?.wrk?.latency_us);
      return [
        label(path),
        conc,
        ms(d?.p50),
        ms(n1?.p50),
        ms(n?.p50),
        ms(g?.p50),
        ms(b?.p50),
        ratio(g?.p50 ?? 0, d?.p50 ?? 0),
        ratio(g?.p50 ?? 0, n?.p50 ?? 0),
        g && n1 ? ((g.p50 - n1.p50) / 1000).toFixed(2) : "–",
        g && n ? ((g.p50 - n.p50) / 1000).toFixed(2) : "–",
        ms(d?.p99),
        ms(n?.p99),
        ms(g?.p99),
      ];
    }),
  ));

  p("", "### Every wrk run", "");
  p(table(
    [
      "target",
      "response",
      "c",
      "threads",
      "requests",
      "req/s",
      "MB/s",
      "mean",
      "p50",
      "p75",
      "p90",
      "p99",
      "p99.9",
      "max",
      "errors",
    ],
    runs.map((r) => {
      const w = r.wrk, l = w?.latency_us;
      return [
        r.target,
        label(r.path),
        r.conc,
        r.threads,
        w ? int(w.requests) : "–",
        int(r.rps),
        w ? (w.bytes / (w.duration_us / 1e6) / 1e6).toFixed(1) : "–",
        ms(l?.mean),
        ms(l?.p50),
        ms(l?.p75),
        ms(l?.p90),
        ms(l?.p99),
        ms(l?.p999),
        ms(l?.max),
        errors(w),
      ];
    }),
  ));
  p(
    "",
    "Latencies in ms. errors: non-2xx answers, socket errors (connect/read/write) and wrk timeouts.",
    "",
  );
}

/** Writes "Raw wrk output": what every wrk run printed. */
export function rawOutputSection(results: Results, p: Emit) {
  const { runs } = results;
  p("## Raw wrk output", "", "<details><summary>every run</summary>", "");
  for (const r of runs) {
    p(`**${r.target} ${r.path} c=${r.conc}**`, "", "```", r.raw.trim(), "```", "");
  }
  p("</details>", "");
}
