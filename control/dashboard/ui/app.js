// dn dashboard: plain browser JavaScript, no build step. Every value that
// comes from apps, hosts or logs is put on the page as text (textContent,
// Node.append of strings), never as HTML.
"use strict";
(() => {
  /** @type {(id: string) => HTMLElement} */
  const $ = (id) => {
    const node = document.getElementById(id);
    if (!node) throw new Error(`page has no #${id}`);
    return node;
  };
  const REFRESH_MS = 5000;
  const MAX_LOG_LINES = 1000;
  const STALE_HEARTBEAT_MS = 15000;

  let csrf = "";
  let selected = "";
  let refreshTimer = 0;
  let logAbort = null;
  let charts = null;
  /** @type {Map<string, any>} */
  const reports = new Map();
  /** @type {any[]} */
  let apps = [];

  /** An element with properties and children (strings become text nodes). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** Calls the dashboard's API; a 401 shows the login form. */
  async function call(method, path, body) {
    const headers = {};
    if (method === "POST") {
      headers["content-type"] = "application/json";
      if (csrf) headers["x-dn-csrf"] = csrf;
    }
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await res.json().catch(() => ({}));
    if (res.status === 401 && path !== "login") {
      showLogin(data.error === "not logged in" ? "" : data.error);
    }
    if (!res.ok) throw new ApiError(res.status, data.error || `HTTP ${res.status}`);
    return data;
  }

  function notice(text, bad = false) {
    const node = $("notice");
    node.textContent = text;
    node.classList.toggle("bad", bad);
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  // ------------------------------------------------------------ login

  function showLogin(message) {
    stopRefresh();
    stopLogs();
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
    stopRefresh();
    refresh();
    refreshTimer = setInterval(refresh, REFRESH_MS);
  }

  function stopRefresh() {
    clearInterval(refreshTimer);
    refreshTimer = 0;
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("token"));
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
      showLogin("Logged out.");
    }
  });

  // ------------------------------------------------------------ overview

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
    const wanted = app.placement.length > 0 ? app.placement.length : report.hosts.length;
    const text = `${serving}/${wanted} hosts running`;
    if (wanted > 0 && serving >= wanted) return { text, cls: "ok" };
    return { text, cls: serving === 0 ? "bad" : "warn" };
  }

  function renderApps() {
    const body = $("apps").querySelector("tbody");
    body.replaceChildren(...apps.map((app) => {
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
    }));
    $("no-apps").hidden = apps.length > 0;
  }

  function renderHosts(hosts) {
    $("hosts").querySelector("tbody").replaceChildren(...hosts.map((host) => {
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
    }));
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
    renderApps();
    renderHosts(overview.hosts);
    renderGateways(overview.gateways);
    if (selected && !apps.some((a) => a.name === selected)) {
      selected = "";
      stopLogs();
      $("app-view").hidden = true;
    }
    await Promise.all(
      apps.slice(0, 50).map(async (app) => {
        try {
          reports.set(
            app.name,
            await call("GET", `api/apps/${encodeURIComponent(app.name)}/status`),
          );
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
    $("app-h").textContent = name;
    charts?.rate.destroy();
    charts?.latency.destroy();
    charts = null;
    $("logs").replaceChildren();
    renderApps();
    renderApp();
    loadTraffic();
    startLogs();
  }

  function renderApp() {
    const app = apps.find((a) => a.name === selected);
    const report = reports.get(selected);
    if (!app) return;
    $("app-h").textContent = `${app.name} (${app.hostname}, v${app.version})`;
    document.querySelector('[data-action="start"]').disabled = app.status === "running";
    document.querySelector('[data-action="stop"]').disabled = app.status !== "running";
    document.querySelector('[data-action="rollback"]').disabled = app.version <= 1;
    const rows = [];
    for (const host of report?.hosts ?? []) {
      if (host.containers.length === 0) {
        rows.push(el(
          "tr",
          {},
          el("td", { textContent: host.host }),
          el("td", { class: "muted", textContent: "no container" }),
          el("td"),
          el("td"),
          el("td"),
          el("td", { textContent: `${host.latencyMs} ms` }),
        ));
      }
      for (const c of host.containers) {
        const running = c.state === "running";
        const up = running && c.startedAt ? duration(Date.now() - Date.parse(c.startedAt)) : "—";
        const state = c.state === "exited" ? `exited (${c.exitCode})` : c.state;
        rows.push(el(
          "tr",
          { "data-host": host.host },
          el("td", { textContent: host.host }),
          el("td", { textContent: c.id.slice(0, 12), title: c.id }),
          el("td", { class: running ? "ok" : "warn", textContent: state }),
          el("td", { textContent: `${app.name}:v${c.version}`, title: c.imageId }),
          el("td", { textContent: up }),
          el("td", { textContent: `${host.latencyMs} ms` }),
        ));
      }
    }
    $("containers").querySelector("tbody").replaceChildren(...rows);
  }

  function chartWidth(id) {
    return Math.max(260, $(id).clientWidth || 300);
  }

  function makeChart(id, series) {
    return new uPlot(
      {
        width: chartWidth(id),
        height: 200,
        // Always the last 15 minutes, however few points there are yet.
        scales: { x: { time: true, range: () => [Date.now() / 1000 - 900, Date.now() / 1000] } },
        series: [{}, ...series.map(([label, stroke, dash]) => ({ label, stroke, width: 2, dash }))],
        axes: [{ stroke: "#1a1a1a" }, { stroke: "#1a1a1a" }],
        legend: { live: false },
      },
      [[], ...series.map(() => [])],
      $(id),
    );
  }

  async function loadTraffic() {
    const name = selected;
    let t;
    try {
      t = await call("GET", `api/apps/${encodeURIComponent(name)}/traffic`);
    } catch {
      return;
    }
    if (name !== selected) return;
    if (!charts && typeof uPlot === "function") {
      charts = {
        rate: makeChart("chart-rate", [["req/s", "#0b57d0"], ["5xx/s", "#b3261e", [6, 3]]]),
        latency: makeChart("chart-latency", [["p50 ms", "#146c2e"], ["p99 ms", "#8a4b00", [6, 3]]]),
      };
    }
    charts?.rate.setData([t.t, t.rps, t.errors]);
    charts?.latency.setData([t.t, t.p50, t.p99]);
    const last = t.t.length - 1;
    const summary = $("traffic-summary");
    summary.dataset.busy = String(t.rps.filter((rps) => rps > 0).length);
    if (last < 0) {
      summary.textContent = "No traffic seen yet (points every 5 s from the gateways' metrics).";
      return;
    }
    const pct = t.rps[last] > 0 ? ((100 * t.errors[last]) / t.rps[last]).toFixed(1) : "0.0";
    const ms = (v) => v === null ? "—" : `${v} ms`;
    summary.textContent = `Now: ${t.rps[last]} req/s, ${t.errors[last]} errors/s (${pct}%), ` +
      `p50 ${ms(t.p50[last])}, p99 ${ms(t.p99[last])}`;
  }

  globalThis.addEventListener("resize", () => {
    if (!charts) return;
    charts.rate.setSize({ width: chartWidth("chart-rate"), height: 200 });
    charts.latency.setSize({ width: chartWidth("chart-latency"), height: 200 });
  });

  // ------------------------------------------------------------ logs

  function stopLogs() {
    logAbort?.abort();
    logAbort = null;
  }

  function appendLog(entry) {
    const box = $("logs");
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    let line;
    if (entry.line !== undefined) {
      line = el(
        "div",
        {},
        el("span", { class: "meta", textContent: `${entry.time.slice(11, 23)} ${entry.host} ` }),
        entry.line,
      );
    } else if (entry.warning !== undefined || entry.error !== undefined) {
      line = el("div", { class: "warning", textContent: entry.warning ?? entry.error });
    } else {
      return;
    }
    box.append(line);
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  async function startLogs() {
    stopLogs();
    const abort = new AbortController();
    logAbort = abort;
    const follow = /** @type {HTMLInputElement} */ ($("follow")).checked;
    const path = `api/apps/${encodeURIComponent(selected)}/logs?tail=200${
      follow ? "&follow=1" : ""
    }`;
    try {
      const res = await fetch(path, { signal: abort.signal, credentials: "same-origin" });
      if (!res.ok) {
        const data = await res.json().catch(() => ({}));
        if (res.status === 401) showLogin(data.error);
        else appendLog({ error: `logs: ${data.error || res.status}` });
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = "";
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        const lines = (rest + value).split("\n");
        rest = lines.pop();
        for (const text of lines) {
          if (text.trim() === "") continue;
          try {
            appendLog(JSON.parse(text));
          } catch {
            appendLog({ warning: "unreadable log line" });
          }
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) appendLog({ error: `logs stopped: ${e.message}` });
    }
  }

  $("follow").addEventListener("change", () => {
    $("logs").replaceChildren();
    startLogs();
  });

  // ------------------------------------------------------------ actions

  /** Asks in a modal dialog; resolves true on Confirm. */
  function confirmAction(text, label) {
    const dialog = /** @type {HTMLDialogElement} */ ($("confirm"));
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = label;
    return new Promise((resolve) => {
      const finish = (answer) => {
        $("confirm-ok").removeEventListener("click", ok);
        $("confirm-cancel").removeEventListener("click", cancel);
        dialog.removeEventListener("cancel", cancel);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const ok = () => finish(true);
      const cancel = () => finish(false);
      $("confirm-ok").addEventListener("click", ok);
      $("confirm-cancel").addEventListener("click", cancel);
      dialog.addEventListener("cancel", cancel);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.getAttribute("data-action");
      const app = apps.find((a) => a.name === selected);
      if (!app) return;
      const question = action === "rollback"
        ? `Roll ${app.name} back from v${app.version} to v${app.version - 1}?`
        : `${action === "stop" ? "Stop" : "Start"} ${app.name} on every host it is placed on?`;
      const label = action === "rollback" ? "Roll back" : action === "stop" ? "Stop" : "Start";
      if (!(await confirmAction(question, label))) {
        button.focus();
        return;
      }
      try {
        const result = await call("POST", `api/apps/${encodeURIComponent(app.name)}/${action}`, {});
        notice(`${app.name}: ${result.app.status}, v${result.app.version}`);
      } catch (e) {
        notice(`${app.name}: ${action} failed: ${e.message}`, true);
      }
      button.focus();
      await refresh();
    });
  }

  // ------------------------------------------------------------ start

  (async () => {
    try {
      const session = await call("GET", "session");
      csrf = session.csrf;
      showDashboard();
    } catch (e) {
      if (e.status !== 401) showLogin(`Control does not answer: ${e.message}`);
    }
  })();
})();
