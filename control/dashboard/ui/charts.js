// The traffic charts (uPlot, vendored, loaded as a classic script before
// this module) and the one-line summary above them.
import { $ } from "./dom.js";

const HEIGHT = 200;
const WINDOW_S = 900;

function width(id) {
  return Math.max(260, $(id).clientWidth || 300);
}

function chart(id, series) {
  return new globalThis.uPlot(
    {
      width: width(id),
      height: HEIGHT,
      // Always the last 15 minutes, however few points there are yet.
      scales: { x: { time: true, range: () => [Date.now() / 1000 - WINDOW_S, Date.now() / 1000] } },
      series: [{}, ...series.map(([label, stroke, dash]) => ({ label, stroke, width: 2, dash }))],
      axes: [{ stroke: "#1a1a1a" }, { stroke: "#1a1a1a" }],
      legend: { live: false },
    },
    [[], ...series.map(() => [])],
    $(id),
  );
}

/** Two charts: requests and 5xx per second; p50 and p99 latency. */
export class TrafficCharts {
  constructor() {
    this.rate = null;
    this.latency = null;
    globalThis.addEventListener("resize", () => {
      this.rate?.setSize({ width: width("chart-rate"), height: HEIGHT });
      this.latency?.setSize({ width: width("chart-latency"), height: HEIGHT });
    });
  }

  /** Removes the charts (another app was picked). */
  reset() {
    this.rate?.destroy();
    this.latency?.destroy();
    this.rate = this.latency = null;
    $("traffic-summary").textContent = "";
  }

  /** Shows a series from `GET api/apps/:name/traffic`. */
  show(t) {
    if (!this.rate && typeof globalThis.uPlot === "function") {
      this.rate = chart("chart-rate", [["req/s", "#0b57d0"], ["5xx/s", "#b3261e", [6, 3]]]);
      this.latency = chart("chart-latency", [["p50 ms", "#146c2e"], ["p99 ms", "#8a4b00", [6, 3]]]);
    }
    this.rate?.setData([t.t, t.rps, t.errors]);
    this.latency?.setData([t.t, t.p50, t.p99]);
    const summary = $("traffic-summary");
    summary.dataset.busy = String(t.rps.filter((rps) => rps > 0).length);
    const last = t.t.length - 1;
    if (last < 0) {
      summary.textContent = "No traffic seen yet (a point every 5 s from the gateways' metrics).";
      return;
    }
    const pct = t.rps[last] > 0 ? ((100 * t.errors[last]) / t.rps[last]).toFixed(1) : "0.0";
    const ms = (v) => v === null ? "—" : `${v} ms`;
    summary.textContent = `Now: ${t.rps[last]} req/s, ${t.errors[last]} errors/s (${pct}%), ` +
      `p50 ${ms(t.p50[last])}, p99 ${ms(t.p99[last])}`;
  }
}
