/**
 * The dashboard's static files, embedded in the module graph with text
 * imports: no build step, no read permission, and `deno compile` keeps them
 * inside the binary. The page is plain HTML, CSS and JavaScript in ui/; the
 * chart library is vendored from npm into vendor/ by scripts/vendor-ui.
 *
 * @module
 */

import indexHtml from "./ui/index.html" with { type: "text" };
import appJs from "./ui/app.js" with { type: "text" };
import chartsJs from "./ui/charts.js" with { type: "text" };
import domJs from "./ui/dom.js" with { type: "text" };
import logsJs from "./ui/logs.js" with { type: "text" };
import styleCss from "./ui/style.css" with { type: "text" };
import uPlotJs from "./vendor/uPlot.iife.min.js" with { type: "text" };
import uPlotCss from "./vendor/uPlot.min.css" with { type: "text" };
import uPlotLicense from "./vendor/uPlot.LICENSE" with { type: "text" };

/** One file the dashboard serves. */
export interface Asset {
  /** Content-Type header. */
  type: string;
  /** The file. */
  body: string;
}

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** The files by path below `/ui/` (`index.html` is also `/ui/`). */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["index.html", { type: HTML, body: indexHtml }],
  ["app.js", { type: JS, body: appJs }],
  ["charts.js", { type: JS, body: chartsJs }],
  ["dom.js", { type: JS, body: domJs }],
  ["logs.js", { type: JS, body: logsJs }],
  ["style.css", { type: CSS, body: styleCss }],
  ["vendor/uPlot.iife.min.js", { type: JS, body: uPlotJs }],
  ["vendor/uPlot.min.css", { type: CSS, body: uPlotCss }],
  ["vendor/uPlot.LICENSE", { type: "text/plain; charset=utf-8", body: uPlotLicense }],
]);
