/**
 * A small Prometheus client: counters, gauges and histograms with labels,
 * rendered in the text exposition format 0.0.4.
 *
 * Series are children of a metric, one per combination of label values.
 * {@link Counter.labels} (and the same on gauges and histograms) returns the
 * child; callers on a hot path keep the child they got once and call
 * `inc`/`observe` on it, so a request costs a number update, no label map.
 *
 * Gauges that mirror state elsewhere (in-flight requests, containers) are set
 * by {@link Registry.onCollect} callbacks, run at every scrape.
 *
 * @example
 * ```ts
 * import { Registry } from "./metrics.ts";
 *
 * const registry = new Registry();
 * const requests = registry.counter("dn_requests_total", "Requests served.", ["app", "code"]);
 * const ok = requests.labels("hello-world", "200"); // keep it
 * ok.inc();
 * console.log(await registry.render());
 * // # HELP dn_requests_total Requests served.
 * // # TYPE dn_requests_total counter
 * // dn_requests_total{app="hello-world",code="200"} 1
 * ```
 *
 * @module
 */

/** Content type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Latency buckets in seconds: 1 ms to 30 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value escaped for the text format: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : "\\" + c);
}

/** A HELP text escaped for the text format: `\` → `\\`, newline → `\n`. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value as the text format writes it (`+Inf`, `-Inf`, `NaN`, or the number). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) {
    parts.push(`${names[i]}="${escapeLabelValue(values[i])}"`);
  }
  if (extra !== "") parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

abstract class Metric<C> {
  readonly #children = new Map<string, { values: string[]; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
        throw new Error(`invalid label name ${label} on ${name}`);
      }
    }
  }

  abstract readonly type: "counter" | "gauge" | "histogram";
  protected abstract make(): C;
  protected abstract lines(child: C, labels: (extra?: string) => string): string[];

  /** The series for these label values (one per label name, in order), made on first use. */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (!entry) {
      entry = { values: [...values], child: this.make() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Drops the series for these label values (an app that is gone). */
  remove(...values: string[]): void {
    this.#children.delete(values.join("\u0000"));
  }

  /** Drops every series. */
  clear(): void {
    this.#children.clear();
  }

  /** Number of series. */
  get size(): number {
    return this.#children.size;
  }

  /** The metric in the text format, HELP and TYPE first; series in the order they were made. */
  render(): string {
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    for (const { values, child } of this.#children.values()) {
      out.push(...this.lines(child, (extra) => labelText(this.labelNames, values, extra)));
    }
    return out.join("\n") + "\n";
  }
}

/** One counter series. */
export class CounterChild {
  /** Current value. */
  value = 0;

  /** Adds `n` (default 1); negative amounts are ignored. */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** A value that only goes up (requests, errors). */
export class Counter extends Metric<CounterChild> {
  readonly type = "counter";
  protected make(): CounterChild {
    return new CounterChild();
  }
  protected lines(child: CounterChild, labels: (extra?: string) => string): string[] {
    return [`${this.name}${labels()} ${formatValue(child.value)}`];
  }
}

/** One gauge series. */
export class GaugeChild {
  /** Current value. */
  value = 0;

  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }

  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/** A value that goes up and down (in flight, containers). */
export class Gauge extends Metric<GaugeChild> {
  readonly type = "gauge";
  protected make(): GaugeChild {
    return new GaugeChild();
  }
  protected lines(child: GaugeChild, labels: (extra?: string) => string): string[] {
    return [`${this.name}${labels()} ${formatValue(child.value)}`];
  }
}

/** One histogram series. */
export class HistogramChild {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: number[];
  /** Sum of all observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** Creates a series over `bounds` (upper bounds, ascending). */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one observation. */
  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A distribution (latency) in cumulative buckets, with `_sum` and `_count`. */
export class Histogram extends Metric<HistogramChild> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (buckets.length === 0 || buckets.some((b, i) => !(b > (buckets[i - 1] ?? -Infinity)))) {
      throw new Error(`${name}: buckets must be ascending`);
    }
    this.buckets = buckets.filter((b) => b !== Infinity);
  }

  protected make(): HistogramChild {
    return new HistogramChild(this.buckets);
  }

  protected lines(child: HistogramChild, labels: (extra?: string) => string): string[] {
    const out: string[] = [];
    let cumulative = 0;
    for (let i = 0; i < child.bounds.length; i++) {
      cumulative += child.counts[i];
      out.push(
        `${this.name}_bucket${labels(`le="${formatValue(child.bounds[i])}"`)} ${cumulative}`,
      );
    }
    cumulative += child.counts[child.bounds.length];
    out.push(`${this.name}_bucket${labels('le="+Inf"')} ${cumulative}`);
    out.push(`${this.name}_sum${labels()} ${formatValue(child.sum)}`);
    out.push(`${this.name}_count${labels()} ${child.count}`);
    return out;
  }
}

/** A set of metrics rendered together. */
export class Registry {
  readonly #metrics = new Map<string, Metric<unknown>>();
  readonly #collectors: (() => void | Promise<void>)[] = [];

  /** Registers a counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  /** Registers a gauge. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  /** Registers a histogram (default buckets: {@link LATENCY_BUCKETS}). */
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = LATENCY_BUCKETS,
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs `fn` before every render (to set gauges from state); a throw is ignored. */
  onCollect(fn: () => void | Promise<void>): void {
    this.#collectors.push(fn);
  }

  /** Runs the collectors, then renders every metric in registration order. */
  async render(): Promise<string> {
    await Promise.all(this.#collectors.map(async (fn) => {
      try {
        await fn();
      } catch {
        // a collector that fails leaves its gauges as they were
      }
    }));
    let text = "";
    for (const metric of this.#metrics.values()) text += metric.render();
    return text;
  }

  #add<M extends Metric<unknown>>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}
