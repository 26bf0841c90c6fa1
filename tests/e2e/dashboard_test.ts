/**
 * The web dashboard at control's `/ui/`, in a real browser (Debian's
 * Chromium, headless, driven by playwright-core) against a real network of
 * control, gateway and two hosts: logging in (and a wrong token), the app
 * with its hosts and containers, log lines holding HTML shown as text, the
 * traffic chart moving under load, stop and start from the page through the
 * confirm dialog, forged actions without the CSRF token or from another
 * origin, a session cookie that expired or that control never gave, and
 * logging out. Screenshots at 1280 px and phone width go to the test log
 * directory with every run.
 *
 * The app is hello-world printing a line of HTML at start.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { launchChromium, openPage } from "../helpers/browser.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import {
  freePort,
  LOG_DIR,
  ROOT,
  startNetwork,
  testHostNames,
  type TestNetwork,
} from "../helpers/network.ts";

const NAME = "dash";
const HOSTNAME = "dash.dn.test";
const HTML_LINE = `<b id="pwned">bold</b><img src=x onerror="document.title='xss'">`;
const opts = { sanitizeOps: false, sanitizeResources: false };
let net: TestNetwork;
let dir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

Deno.test.beforeAll(async () => {
  dir = await Deno.makeTempDir({ prefix: "dn-dashboard-" });
  await Deno.copyFile(`${ROOT}/apps/hello-world/Dockerfile`, `${dir}/Dockerfile`);
  const source = await Deno.readTextFile(`${ROOT}/apps/hello-world/main.ts`);
  await Deno.writeTextFile(
    `${dir}/main.ts`,
    `console.log(${JSON.stringify(HTML_LINE)});\n${source}`,
  );
  net = await startNetwork(testHostNames(2));
  await net.deploy(dir, NAME, HOSTNAME);
  browser = await launchChromium({ trustCaFile: net.caFile });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
});
Deno.test.afterAll(async () => {
  await browser?.close();
  await net?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

/**
 * Run in the page: how many visible elements with text it checked, and those
 * whose colour against their background (the nearest opaque one) is below
 * 4.5:1, as "tag.class ratio".
 */
const CONTRAST_CHECK = `(() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const back = (node) => {
    for (let e = node; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if ((c[3] ?? 1) > 0.5) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  let checked = 0;
  for (const node of document.querySelectorAll("body *")) {
    if (!node.checkVisibility() || node.closest("button:disabled")) continue;
    if (![...node.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const [a, b] = [lum(rgb(getComputedStyle(node).color)), lum(back(node))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    checked++;
    if (ratio < 4.5) low.push(node.tagName + "." + node.className + " " + ratio.toFixed(2));
  }
  return { checked, low };
})()`;

const ui = () => `${net.controlUrl}/ui/`;

async function appStatus(): Promise<string> {
  return (await net.api("GET", `/v1/apps/${NAME}`)).body.app.status;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

reliabilityTest("dashboard: a wrong token is refused on the login form, no cookie set", {
  fault: "log in to /ui/ with a wrong token (typed, Enter)",
  expected: '"Wrong token." on the form, 401, no cookie, dashboard hidden',
}, async () => {
  await openPage(page, ui());
  await page.locator("#login-view").waitFor();
  await page.fill("#token", "not-the-token-0123456789");
  await page.press("#token", "Enter"); // by keyboard
  await page.locator("#login-error", { hasText: "Wrong token." }).waitFor();
  assertEquals((await context.cookies()).length, 0);
  assert(await page.locator("#dash-view").isHidden());
});

Deno.test("logging in shows the app, its hosts and each host's container", opts, async () => {
  await page.fill("#token", net.token);
  await page.click("#login-form button[type=submit]");
  const row = page.locator(`#apps tr[data-app="${NAME}"]`);
  await row.waitFor();
  assertEquals(await row.locator("td").nth(1).textContent(), HOSTNAME);
  assertEquals(await row.locator("td").nth(2).textContent(), "running");
  assertEquals(await row.locator("td").nth(3).textContent(), "v1");
  await page.locator(`#apps tr[data-app="${NAME}"] td.ok`, { hasText: "2/2 hosts running" })
    .waitFor();
  const [cookie] = await context.cookies();
  assertEquals(cookie.name, "dn_session");
  assert(cookie.httpOnly, "the session cookie is HttpOnly");
  assertEquals(cookie.sameSite, "Strict");
  assert(cookie.secure, "the session cookie is Secure (control serves HTTPS)");
  for (const host of net.hostNames) {
    const hostRow = page.locator(`#hosts tr[data-host="${host}"]`);
    await hostRow.waitFor();
    assertMatch((await hostRow.locator("td").nth(1).textContent())!, /^\d+s ago$/);
    assertEquals(await hostRow.locator("td").nth(2).textContent(), NAME);
  }
  await row.locator("button").focus(); // by keyboard
  await page.keyboard.press("Enter");
  for (const host of net.hostNames) {
    const container = page.locator(`#containers tr[data-host="${host}"]`);
    await container.waitFor();
    const cells = await container.locator("td").allTextContents();
    assertEquals(cells[2], "running");
    assertEquals(cells[3], `${NAME}:v1`);
    assertMatch(cells[4], /^\d+(s|m \d+s)$/);
    assertMatch(cells[5], /^\d+(\.\d+)? ms$/);
  }
});

reliabilityTest("dashboard: log lines holding HTML are shown as text, never run", {
  fault: "an app prints HTML to stdout: a b element with an id, an img with an onerror script",
  expected: "the line shown verbatim in the logs box; no such element made, no script run",
}, async () => {
  await page.locator("#logs", { hasText: HTML_LINE }).waitFor();
  assertEquals(await page.locator("#pwned").count(), 0);
  assertEquals(await page.locator("#logs img").count(), 0);
  assertEquals(await page.title(), "dn dashboard");
});

Deno.test("the traffic chart moves under load; screenshots at both widths", opts, async () => {
  let stop = false;
  let sent = 0;
  // Two clients, a request every few ms each, one in ten a 500: the machine is shared.
  const load = Array.from({ length: 2 }, async () => {
    while (!stop) {
      const res = await net.gateway(HOSTNAME, sent % 10 === 0 ? "/status/500" : "/");
      await res.body?.cancel();
      sent++;
      await new Promise((r) => setTimeout(r, 3));
    }
  });
  try {
    // Two points with traffic (a scrape every 5 s): a line, not a dot.
    await until(
      "the chart to show traffic",
      async () => Number(await page.locator("#traffic-summary").getAttribute("data-busy")) >= 2,
      40_000,
    );
  } finally {
    stop = true;
    await Promise.all(load);
  }
  assert(sent > 0);
  assertMatch(
    (await page.locator("#traffic-summary").textContent())!,
    /^Now: [\d.]+ req\/s, [\d.]+ errors\/s \([\d.]+%\), p50 [\d.]+ ms, p99 [\d.]+ ms$/,
  );
  // uPlot drew both charts (a canvas each).
  assertEquals(await page.locator(".chart canvas").count(), 2);
  await page.screenshot({ path: `${LOG_DIR}/dashboard-1280.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${LOG_DIR}/dashboard-390.png`, fullPage: true });
  const overflow = await page.evaluate(
    "document.documentElement.scrollWidth - document.documentElement.clientWidth",
  );
  const wide = await page.evaluate(`[...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map((e) => e.tagName + "#" + e.id + "." + e.className).slice(0, 8).join(" ")`);
  assertEquals(overflow, 0, `no sideways scrolling at phone width; too wide: ${wide}`);
  await page.setViewportSize({ width: 1280, height: 900 });
});

Deno.test("text has readable contrast (WCAG AA, 4.5:1) at both widths", opts, async () => {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const { checked, low } = await page.evaluate(CONTRAST_CHECK) as {
      checked: number;
      low: string[];
    };
    assert(checked > 40, `checked only ${checked} elements`);
    assertEquals(low, [], `low contrast at ${width} px`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

Deno.test("stop and start from the page, each after a confirm; logs follow", opts, async () => {
  const htmlLines = () => page.locator("#logs div", { hasText: HTML_LINE }).count();
  const before = await htmlLines();
  const stopButton = page.locator('[data-action="stop"]');
  await stopButton.click();
  await page.locator("#confirm").waitFor();
  await page.keyboard.press("Escape"); // cancelled: nothing happens
  await page.locator("#confirm").waitFor({ state: "hidden" });
  assertEquals(await appStatus(), "running");

  await stopButton.click();
  await page.click("#confirm-ok");
  await page.locator("#notice", { hasText: `${NAME}: stopped` }).waitFor();
  assertEquals(await appStatus(), "stopped");
  await page.locator(`#apps tr[data-app="${NAME}"] td`, { hasText: "stopped" }).first().waitFor();
  await net.waitForApp(HOSTNAME, (res) => res.status === 503);

  await page.locator('[data-action="start"]').click();
  await page.click("#confirm-ok");
  await page.locator("#notice", { hasText: `${NAME}: running` }).waitFor();
  assertEquals(await appStatus(), "running");
  await net.waitForApp(HOSTNAME, (res) => res.status === 200);
  // The new containers printed the line again, and the followed logs show it.
  await until(
    "followed logs to show the new containers' lines",
    async () => await htmlLines() > before,
  );
});

Deno.test("roll back from the page after a confirm", opts, async () => {
  const digest = await net.buildAndPush(dir, NAME, 2);
  const updated = await net.api("POST", `/v1/apps/${NAME}/update`, { version: 2, digest });
  assertEquals(updated.status, 200);
  await net.waitForRunning(NAME, 2);
  await page.locator("#app-h", { hasText: "v2)" }).waitFor();
  await page.locator('[data-action="rollback"]').click();
  await page.locator("#confirm-text", { hasText: `Roll ${NAME} back from v2 to v1?` }).waitFor();
  await page.click("#confirm-ok");
  await page.locator("#notice", { hasText: `${NAME}: running, v1` }).waitFor();
  assertEquals((await net.api("GET", `/v1/apps/${NAME}`)).body.app.version, 1);
  await net.waitForRunning(NAME, 2);
});

reliabilityTest("dashboard: forged actions without the CSRF token or from another origin", {
  fault: "POST stop with the session cookie but no or a wrong x-dn-csrf, or the right one " +
    "from another Origin or with none",
  expected: "403 each, naming the check; the app keeps running",
}, async () => {
  const post = (headers: Record<string, string>) =>
    page.evaluate(
      async ([url, h]) => {
        const res = await fetch(url, { method: "POST", headers: h, body: "{}" });
        return { status: res.status, body: await res.json() };
      },
      [`${ui()}api/apps/${NAME}/stop`, {
        "content-type": "application/json",
        ...headers,
      }] as const,
    );
  const noToken = await post({});
  assertEquals(noToken.status, 403);
  assertEquals(noToken.body.error, "missing or wrong x-dn-csrf header");
  const wrong = await post({ "x-dn-csrf": "A".repeat(43) });
  assertEquals(wrong.status, 403);
  // The cookie and the right token, from another origin (what a page on
  // another port of this machine, same site, could try).
  const { csrf } = await page.evaluate(
    async (url) => (await fetch(url)).json(),
    `${ui()}session`,
  );
  const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  for (const origin of ["http://evil.test", null]) {
    const res = await net.controlFetch(`/ui/api/apps/${NAME}/stop`, {
      method: "POST",
      headers: {
        cookie,
        "x-dn-csrf": csrf,
        "content-type": "application/json",
        ...(origin ? { origin } : {}),
      },
      body: "{}",
    });
    assertEquals(res.status, 403);
    assertMatch((await res.json()).error, origin ? /cross-origin/ : /missing Origin/);
  }
  assertEquals(await appStatus(), "running");
});

Deno.test(
  "a host that stops sending heartbeats shows its age and is not counted",
  opts,
  async () => {
    const [gone, left] = net.hostNames;
    await net.services.get(gone)!.stop("SIGKILL"); // no goodbye: its heartbeat just ages
    await page.locator(`#hosts tr[data-host="${gone}"] td.bad`, { hasText: "ago (not live)" })
      .waitFor({ timeout: 30_000 });
    assertMatch(
      (await page.locator(`#hosts tr[data-host="${left}"] td`).nth(1).textContent())!,
      /^\d+s ago$/,
    );
    await page.locator(`#apps tr[data-app="${NAME}"] td.ok`, { hasText: "1/1 hosts running" })
      .waitFor();
  },
);

reliabilityTest("dashboard: an expired, unknown or malformed session cookie", {
  fault: "a cookie control never gave, a malformed one, one past dashboardSessionMs (1.5 s)",
  expected: "401 naming why, the login form says so; in the browser the cookie goes at Max-Age",
}, async () => {
  // A cookie control never gave (as after control restarts).
  const other = await browser.newContext();
  try {
    await other.addCookies([{
      name: "dn_session",
      value: "x".repeat(43),
      url: net.controlUrl + "/ui/",
      httpOnly: true,
      sameSite: "Strict",
    }]);
    const p = await other.newPage();
    await openPage(p, ui());
    await p.locator("#login-error", { hasText: "session expired: log in again" }).waitFor();
    // A malformed one.
    const res = await net.controlFetch("/ui/api/overview", {
      headers: { cookie: "dn_session=<script>" },
    });
    assertEquals(res.status, 401);
    assertEquals((await res.json()).error, "invalid session cookie: log in again");
  } finally {
    await other.close();
  }
  // A session that really expired: a second control whose logins last 1.5 s.
  const port = freePort();
  const control = net.spawn("control", "control-short", [], {
    DN_CONTROL_LISTEN: `127.0.0.1:${port}`,
    DN_CONTROL_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    DN_DASHBOARD_SESSION_MS: "1500",
  });
  await control.waitFor("control listening");
  const origin = net.controlUrlAt(port);
  const login = await net.controlFetch("/ui/login", {
    method: "POST",
    headers: { origin, "content-type": "application/json" },
    body: JSON.stringify({ token: net.token }),
  }, port);
  assertEquals(login.status, 200);
  await login.body?.cancel();
  const setCookie = login.headers.get("set-cookie")!;
  assertMatch(
    setCookie,
    /^dn_session=[\w-]{43}; Path=\/ui\/; HttpOnly; SameSite=Strict; Max-Age=1; Secure$/,
  );
  const cookie = setCookie.split(";")[0];
  const fresh = await net.controlFetch("/ui/api/overview", { headers: { cookie } }, port);
  assertEquals(fresh.status, 200);
  await fresh.body?.cancel();
  await new Promise((r) => setTimeout(r, 1600));
  const expired = await net.controlFetch("/ui/api/overview", { headers: { cookie } }, port);
  assertEquals(expired.status, 401);
  assertEquals((await expired.json()).error, "session expired: log in again");
  // In the browser the cookie goes at its Max-Age, and the page says the session ended.
  const short = await browser.newContext();
  try {
    const p = await short.newPage();
    await openPage(p, `${origin}/ui/`);
    await p.fill("#token", net.token);
    await p.press("#token", "Enter");
    await p.locator("#dash-view").waitFor();
    await p.locator("#login-error", { hasText: "Your session ended: log in again." })
      .waitFor({ timeout: 15_000 });
  } finally {
    await short.close();
    await control.stop();
  }
});

Deno.test("logging out ends the session", opts, async () => {
  const [before] = await context.cookies();
  await page.click("#logout");
  await page.locator("#login-error", { hasText: "Logged out." }).waitFor();
  assertEquals((await context.cookies()).length, 0);
  const res = await net.controlFetch("/ui/api/overview", {
    headers: { cookie: `${before.name}=${before.value}` },
  });
  assertEquals(res.status, 401);
  await res.body?.cancel();
});
