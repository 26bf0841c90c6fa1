// dn dashboard: plain browser JavaScript modules, no build step. Every value
// that comes from apps, hosts or logs is put on the page as text
// (textContent, Node.append of strings), never as HTML.
import { $, confirmAction, duration, el, fillTable } from "./dom.js";
import { LogView } from "./logs.js";
import { TrafficCharts } from "./charts.js";

const REFRESH_MS = 5000;
const STALE_HEARTBEAT_MS = 15000;

let csrf = "";
let selected = "";
let refreshTimer = 0;
/** Status reports by app name. */
const reports = new Map();
let apps = [];
/** Hosts with a recent heartbeat: an app with replicas 0 should run on each. */
let liveHosts = 0;
const logs = new LogView($("logs"), (error) => showLogin(error));
const charts = new TrafficCharts();

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Tries of a request that may be sent again: a read, or a login. */
const SAFE_TRIES = 3;
const RETRY_DELAY_MS = 250;

/**
 * Calls the dashboard's API; a 401 shows the login form. A read or a login
 * that fails before an answer (the browser drops connections in setup when a
 * network interface comes or goes: "network changed") is sent again; an
 * action is sent once.
 */
async function call(method, path, body) {
  const headers = {};
  if (method === "POST") {
    headers["content-type"] = "application/json";
    if (csrf) headers["x-dn-csrf"] = csrf;
  }
  const tries = method === "GET" || path === "login" ? SAFE_TRIES : 1;
  let res;
  for (let attempt = 1; res === undefined; attempt++) {
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (e) {
      if (attempt >= tries) throw e;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== "login") {
    // The browser dropped the cookie at its Max-Age: say so if we were logged in.
    const ended = data.error === "not logged in" && csrf ? "Your session ended: log in again." : "";
    showLogin(data.error === "not logged in" ? ended : data.error);
  }
  if (!res.ok) throw new ApiError(res.status, data.error || `HTTP ${res.status}`);
  return data;
}

function notice(text, bad = false) {
  const node = $("notice");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

// ------------------------------------------------------------ login

function showLogin(message) {
  clearInterval(refreshTimer);
  logs.stop();
  csrf = "";
  $("dash-view").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function showDashboard() {
  $("login-view").hidden = true;
  $("dash-view").hidden = false;
  $("logout").hidden = false;
  clearInterval(refreshTimer);
  refresh();
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("token");
  if (input.value === "") {
    $("login-error").textContent = "Enter the control token.";
    return;
  }
  try {
    const session = await call("POST", "login", { token: input.value });
    csrf = session.csrf;
    input.value = "";
    $("login-error").textContent = "";
    showDashboard();
  } catch (e) {
    $("login-error").textContent = e.status === 401 ? "Wrong token." : String(e.message);
    input.select();
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await call("POST", "logout", {});
  } finally {
    selected = "";
    $("app-view").hidden = true;
    showLogin("Logged out.");
  }
});

// ------------------------------------------------------------ overview

/** The app's health from its status report: hosts running its version of those it is placed on. */
function health(app, report) {
  if (app.status === "created") return { text: "not started", cls: "muted" };
  if (!report) return { text: "…", cls: "muted" };
  const serving =
    report.hosts.filter((h) =>
      h.containers.some((c) => c.state === "running" && c.version === app.version)
    ).length;
  if (app.status === "stopped") {
    return serving === 0
      ? { text: "stopped", cls: "muted" }
      : { text: `stopping (${serving} left)`, cls: "warn" };
  }
  const wanted = app.placement.length > 0 ? app.placement.length : liveHosts;
  const text = `${serving}/${wanted} hosts running`;
  if (wanted > 0 && serving >= wanted) return { text, cls: "ok" };
  return { text, cls: serving === 0 ? "bad" : "warn" };
}

function renderApps() {
  fillTable(
    $("apps"),
    apps.map((app) => {
      const h = health(app, reports.get(app.name));
      const open = el("button", { type: "button", class: "link", textContent: app.name });
      open.addEventListener("click", () => select(app.name));
      return el(
        "tr",
        { "aria-current": String(app.name === selected), "data-app": app.name },
        el("td", {}, open),
        el("td", { textContent: app.hostname }),
        el("td", { textContent: app.status }),
        el("td", { textContent: `v${app.version}` }),
        el("td", { textContent: app.replicas === 0 ? "every host" : String(app.replicas) }),
        el("td", { class: h.cls, textContent: h.text }),
      );
    }),
  );
  $("no-apps").hidden = apps.length > 0;
}

function renderHosts(hosts) {
  fillTable(
    $("hosts"),
    hosts.map((host) => {
      const stale = host.heartbeatAgeMs > STALE_HEARTBEAT_MS;
      const placed = host.apps.map((a) =>
        a.status === "running" ? a.name : `${a.name} (${a.status})`
      );
      return el(
        "tr",
        { "data-host": host.name },
        el("td", { textContent: host.name }),
        el("td", {
          class: stale ? "bad" : "",
          textContent: `${duration(host.heartbeatAgeMs)} ago${stale ? " (not live)" : ""}`,
        }),
        el("td", { textContent: placed.length > 0 ? placed.join(", ") : "none" }),
      );
    }),
  );
}

function renderGateways(gateways) {
  const ok = gateways.filter((g) => g.ok).length;
  const node = $("gateways");
  node.textContent = gateways.length === 0
    ? "no gateway metrics configured"
    : `gateway metrics: ${ok}/${gateways.length} answering`;
  node.title = gateways.filter((g) => !g.ok).map((g) => `${g.url}: ${g.error || "not yet"}`)
    .join("\n");
}

async function refresh() {
  let overview;
  try {
    overview = await call("GET", "api/overview");
  } catch (e) {
    if (e.status !== 401) notice(`Could not load the overview: ${e.message}`, true);
    return;
  }
  apps = overview.apps;
  liveHosts = overview.hosts.filter((h) => h.heartbeatAgeMs <= STALE_HEARTBEAT_MS).length;
  renderApps();
  renderHosts(overview.hosts);
  renderGateways(overview.gateways);
  if (selected && !apps.some((a) => a.name === selected)) {
    selected = "";
    logs.clear();
    $("app-view").hidden = true;
  }
  await Promise.all(
    apps.slice(0, 50).map(async (app) => {
      try {
        reports.set(app.name, await call("GET", `api/apps/${encodeURIComponent(app.name)}/status`));
      } catch {
        reports.delete(app.name);
      }
    }),
  );
  renderApps();
  if (selected) {
    renderApp();
    await loadTraffic();
  }
}

// ------------------------------------------------------------ one app

function select(name) {
  selected = name;
  $("app-view").hidden = false;
  charts.reset();
  renderApps();
  renderApp();
  loadTraffic();
  logs.start(name, $("follow").checked);
}

function renderApp() {
  const app = apps.find((a) => a.name === selected);
  if (!app) return;
  $("app-h").textContent = `${app.name} (${app.hostname}, v${app.version})`;
  document.querySelector('[data-action="start"]').disabled = app.status === "running";
  document.querySelector('[data-action="stop"]').disabled = app.status !== "running";
  document.querySelector('[data-action="rollback"]').disabled = app.version <= 1;
  const rows = [];
  for (const host of reports.get(selected)?.hosts ?? []) {
    // The bus round trip; the host's own Docker query time apart, when it says.
    const latency = el("td", {
      textContent: `${host.latencyMs} ms`,
      title: host.dockerMs === undefined ? "" : `host's Docker query: ${host.dockerMs} ms`,
    });
    if (host.containers.length === 0) {
      const none = el("td", { class: "muted", textContent: "no container" });
      rows.push(
        el(
          "tr",
          { "data-host": host.host },
          el("td", { textContent: host.host }),
          none,
          el("td"),
          el("td"),
          el("td"),
          latency,
        ),
      );
    }
    for (const c of host.containers) {
      const running = c.state === "running";
      const up = running && c.startedAt ? duration(Date.now() - Date.parse(c.startedAt)) : "—";
      rows.push(el(
        "tr",
        { "data-host": host.host },
        el("td", { textContent: host.host }),
        el("td", { textContent: c.id.slice(0, 12), title: c.id }),
        el("td", {
          class: running ? "ok" : "warn",
          textContent: c.state === "exited" ? `exited (${c.exitCode})` : c.state,
        }),
        el("td", { textContent: `${app.name}:v${c.version}`, title: c.imageId }),
        el("td", { textContent: up }),
        latency.cloneNode(true),
      ));
    }
  }
  fillTable($("containers"), rows);
}

async function loadTraffic() {
  const name = selected;
  try {
    const series = await call("GET", `api/apps/${encodeURIComponent(name)}/traffic`);
    if (name === selected) charts.show(series);
  } catch {
    // shown again at the next refresh
  }
}

$("follow").addEventListener("change", () => {
  if (selected) logs.start(selected, $("follow").checked);
});

// ------------------------------------------------------------ actions

const VERBS = { start: "Start", stop: "Stop", rollback: "Roll back" };

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", async () => {
    const action = button.getAttribute("data-action");
    const app = apps.find((a) => a.name === selected);
    if (!app) return;
    const question = action === "rollback"
      ? `Roll ${app.name} back from v${app.version} to v${app.version - 1}?`
      : `${VERBS[action]} ${app.name} on every host it is placed on?`;
    if (!(await confirmAction(question, VERBS[action]))) {
      button.focus();
      return;
    }
    try {
      const result = await call("POST", `api/apps/${encodeURIComponent(app.name)}/${action}`, {});
      notice(`${app.name}: ${result.app.status}, v${result.app.version}`);
    } catch (e) {
      notice(`${app.name}: ${VERBS[action].toLowerCase()} failed: ${e.message}`, true);
    }
    await refresh();
    if (!button.disabled) button.focus();
    else $("app-h").focus();
  });
}

// ------------------------------------------------------------ start

try {
  csrf = (await call("GET", "session")).csrf;
  showDashboard();
} catch (e) {
  if (e.status !== 401) showLogin(`Control does not answer: ${e.message}`);
}
