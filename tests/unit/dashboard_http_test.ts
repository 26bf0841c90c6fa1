/**
 * The dashboard's HTTP side without a network: sessions (expiry, limit,
 * cookie parsing), login, the CSRF and Origin checks on every POST, bad
 * bodies and methods, the security headers, and that API calls go to the
 * API with control's token.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { Logger } from "../../lib/log.ts";
import type { AppRecord } from "../../lib/apps.ts";
import { AppNotFoundError } from "../../lib/store.ts";
import { withDashboard } from "../../control/dashboard/routes.ts";
import { cookieValue, Sessions } from "../../control/dashboard/session.ts";
import { ASSETS } from "../../control/dashboard/assets.ts";

const TOKEN = "t0ken-t0ken-t0ken-t0ken";
const BASE = "http://control.test:7070";

Deno.test("Sessions expire after their ttl, keep at most max, and read one cookie", () => {
  let now = 1000;
  const sessions = new Sessions(5000, 2, () => now);
  const a = sessions.create();
  assertMatch(a.id, /^[\w-]{43}$/);
  assertMatch(a.csrf, /^[\w-]{43}$/);
  assert(a.id !== a.csrf);
  assertEquals(sessions.fromCookie(`other=1; dn_session=${a.id}`), a);
  assertEquals(sessions.fromCookie(null), "missing");
  assertEquals(sessions.fromCookie("dn_session=short"), "malformed");
  assertEquals(sessions.fromCookie(`dn_session=${a.id}; dn_session=${a.id}`), "malformed");
  assertEquals(sessions.fromCookie(`dn_session=${"x".repeat(43)}`), "expired");
  assert(sessions.checkCsrf(a, a.csrf));
  assert(!sessions.checkCsrf(a, null));
  assert(!sessions.checkCsrf(a, a.id));
  now += 5000;
  assertEquals(sessions.fromCookie(`dn_session=${a.id}`), "expired");
  const b = sessions.create();
  sessions.create();
  sessions.create(); // the oldest (b) goes
  assertEquals(sessions.size, 2);
  assertEquals(sessions.fromCookie(`dn_session=${b.id}`), "expired");
  assertEquals(cookieValue("a=1;b = 2", "b"), "2");
});

const APP = {
  name: "hello",
  hostname: "hello.test",
  status: "running",
  version: 2,
  placement: [],
  env: { SECRET: "not shown" },
} as unknown as AppRecord;

function dashboard() {
  const calls: { method: string; path: string; auth: string | null; body: string }[] = [];
  const handler = withDashboard(async (req) => {
    const url = new URL(req.url);
    calls.push({
      method: req.method,
      path: url.pathname + url.search,
      auth: req.headers.get("authorization"),
      body: await req.text(),
    });
    return Response.json({ app: { name: "hello", status: "stopped", version: 2 } });
  }, {
    token: TOKEN,
    checkToken: (h) => h === `Bearer ${TOKEN}`,
    sessions: new Sessions(60_000),
    traffic: {
      series: () => ({ t: [1], rps: [2], errors: [0], p50: [1], p99: [3] }),
      gateways: [{ url: "http://g/metrics", ok: true, at: 1 }],
    },
    store: {
      list: () => Promise.resolve({ apps: [APP], invalid: [] }),
      get: (name: string) =>
        name === "hello"
          ? Promise.resolve({ app: APP, raw: "" })
          : Promise.reject(new AppNotFoundError(name)),
      hostsSeen: () => Promise.resolve([{ name: "vaermina", ageMs: 1200 }]),
    },
    log: new Logger("test", "error"),
  });
  return { handler, calls };
}

function request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  return new Request(BASE + path, {
    ...init,
    headers: { host: "control.test:7070", ...init.headers },
  });
}

async function login(handler: (req: Request) => Promise<Response>) {
  const res = await handler(request("/ui/login", {
    method: "POST",
    headers: { origin: BASE, "content-type": "application/json" },
    body: JSON.stringify({ token: TOKEN }),
  }));
  assertEquals(res.status, 200);
  const { csrf } = await res.json();
  return { csrf, cookie: res.headers.get("set-cookie")!.split(";")[0] };
}

Deno.test("the page and its files are served with a strict CSP; other paths pass through", async () => {
  const { handler, calls } = dashboard();
  const page = await handler(request("/ui/"));
  assertEquals(page.status, 200);
  assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
  assertMatch(page.headers.get("content-security-policy")!, /script-src 'self';/);
  assertEquals(page.headers.get("x-frame-options"), "DENY");
  assertMatch(await page.text(), /<script src="app.js" type="module">/);
  const uplot = await handler(request("/ui/vendor/uPlot.iife.min.js"));
  assertEquals(uplot.headers.get("content-type"), "text/javascript; charset=utf-8");
  await uplot.body?.cancel();
  assertEquals((await handler(request("/ui"))).headers.get("location"), "/ui/");
  const missing = await handler(request("/ui/nope.js"));
  assertEquals([missing.status, (await missing.json()).error], [404, "no such page"]);
  const post = await handler(request("/ui/app.js", { method: "POST", body: "x" }));
  assertEquals(post.status, 405);
  await post.body?.cancel();
  await (await handler(request("/v1/apps"))).body?.cancel();
  assertEquals(calls.map((c) => c.path), ["/v1/apps"]);
});

Deno.test("login checks the Origin, the body and the token", async () => {
  const { handler } = dashboard();
  const cases: [RequestInit & { headers?: Record<string, string> }, number, string][] = [
    [{ body: `{"token":"${TOKEN}"}` }, 403, "missing Origin header"],
    [
      { headers: { origin: "http://evil.test" }, body: "{}" },
      403,
      'cross-origin request from "http://evil.test" refused',
    ],
    [{ headers: { origin: "null" }, body: "{}" }, 403, 'invalid Origin "null"'],
    [{ headers: { origin: BASE }, body: "not json" }, 400, "body must be valid UTF-8 JSON"],
    [
      { headers: { origin: BASE }, body: '{"token":1}' },
      400,
      "token must be the control token: printable text, no spaces",
    ],
    [
      { headers: { origin: BASE }, body: '{"user":"x"}' },
      400,
      'unknown field "user"; allowed: token',
    ],
    [{ headers: { origin: BASE }, body: '{"token":"guess-guess-guess"}' }, 401, "wrong token"],
    [
      { headers: { origin: BASE, "sec-fetch-site": "cross-site" }, body: "{}" },
      403,
      'cross-site request ("cross-site") refused',
    ],
  ];
  for (const [init, status, error] of cases) {
    const res = await handler(request("/ui/login", { method: "POST", ...init }));
    assertEquals([res.status, (await res.json()).error], [status, error]);
    assertEquals(res.headers.get("set-cookie"), null);
  }
  const get = await handler(request("/ui/login"));
  assertEquals([get.status, get.headers.get("allow")], [405, "POST"]);
  await get.body?.cancel();
  const res = await handler(request("/ui/login", {
    method: "POST",
    headers: { origin: BASE },
    body: JSON.stringify({ token: TOKEN }),
  }));
  assertMatch(
    res.headers.get("set-cookie")!,
    /^dn_session=[\w-]{43}; Path=\/ui\/; HttpOnly; SameSite=Strict; Max-Age=60$/,
  );
  await res.body?.cancel();
});

Deno.test("reads need the session; actions also the CSRF token and the Origin", async () => {
  const { handler, calls } = dashboard();
  const anonymous = await handler(request("/ui/api/overview"));
  assertEquals([anonymous.status, (await anonymous.json()).error], [401, "not logged in"]);
  const { csrf, cookie } = await login(handler);
  const query = await handler(request("/ui/api/overview?x=1", { headers: { cookie } }));
  assertEquals([query.status, (await query.json()).error], [
    400,
    "no query parameters here (only logs takes since, tail, host, follow)",
  ]);
  const overview = await (await handler(request("/ui/api/overview", { headers: { cookie } })))
    .json();
  assertEquals(overview.apps[0].envKeys, ["SECRET"]);
  assertEquals(overview.apps[0].env, undefined);
  assertEquals(overview.hosts, [{
    name: "vaermina",
    heartbeatAgeMs: 1200,
    apps: [{ name: "hello", status: "running" }],
  }]);
  const traffic = await handler(request("/ui/api/apps/hello/traffic", { headers: { cookie } }));
  assertEquals((await traffic.json()).rps, [2]);
  const unknown = await handler(request("/ui/api/apps/nope/traffic", { headers: { cookie } }));
  assertEquals(unknown.status, 404);
  await unknown.body?.cancel();
  const bad = await handler(request("/ui/api/apps/Bad%20Name/status", { headers: { cookie } }));
  assertEquals([bad.status, (await bad.json()).error], [
    400,
    "invalid name \"Bad Name\": must be a lower-case DNS label: a-z, 0-9 and '-', 1-63 characters, no leading or trailing '-'",
  ]);
  await (await handler(request("/ui/api/apps/hello/logs?tail=5&follow=1", { headers: { cookie } })))
    .body?.cancel();

  const action = (headers: Record<string, string>, body = "{}", what = "stop") =>
    handler(request(`/ui/api/apps/hello/${what}`, { method: "POST", headers, body }));
  const refused: [Record<string, string>, number, string][] = [
    [{ origin: BASE, "x-dn-csrf": csrf }, 401, "not logged in"],
    [{ origin: BASE, cookie }, 403, "missing or wrong x-dn-csrf header"],
    [
      { origin: BASE, cookie, "x-dn-csrf": "A".repeat(43) },
      403,
      "missing or wrong x-dn-csrf header",
    ],
    [{ cookie, "x-dn-csrf": csrf }, 403, "missing Origin header"],
    [
      { origin: "http://control.test:8080", cookie, "x-dn-csrf": csrf },
      403,
      'cross-origin request from "http://control.test:8080" refused',
    ],
  ];
  for (const [headers, status, error] of refused) {
    const res = await action(headers);
    assertEquals([res.status, (await res.json()).error], [status, error]);
  }
  const good = { origin: BASE, cookie, "x-dn-csrf": csrf };
  const badBody = await action(good, '{"version":1}');
  assertEquals([badBody.status, (await badBody.json()).error], [
    400,
    'unknown field "version"; allowed: none',
  ]);
  const getAction = await handler(request("/ui/api/apps/hello/stop", { headers: { cookie } }));
  assertEquals(getAction.status, 405);
  await getAction.body?.cancel();
  assertEquals((await action(good)).status, 200);
  assertEquals((await action(good, '{"version":1}', "rollback")).status, 200);
  assertEquals(calls.map((c) => [c.method, c.path, c.auth, c.body]), [
    ["GET", "/v1/apps/hello/logs?tail=5&follow=1", `Bearer ${TOKEN}`, ""],
    ["POST", "/v1/apps/hello/stop", `Bearer ${TOKEN}`, "{}"],
    ["POST", "/v1/apps/hello/rollback", `Bearer ${TOKEN}`, '{"version":1}'],
  ]);

  const logout = await handler(request("/ui/logout", { method: "POST", headers: good }));
  assertMatch(logout.headers.get("set-cookie")!, /^dn_session=; .*Max-Age=0$/);
  await logout.body?.cancel();
  const after = await handler(request("/ui/session", { headers: { cookie } }));
  assertEquals([after.status, (await after.json()).error], [401, "session expired: log in again"]);
});

Deno.test("the page's own scripts never put HTML on the page", () => {
  const scripts = [...ASSETS].filter(([path]) =>
    path.endsWith(".js") && !path.startsWith("vendor/")
  );
  assertEquals(scripts.map(([path]) => path).sort(), ["app.js", "charts.js", "dom.js", "logs.js"]);
  for (const [path, { body }] of scripts) {
    assertEquals(
      body.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|eval\(/g),
      null,
      path,
    );
  }
});
