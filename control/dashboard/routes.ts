/**
 * The web dashboard at `/ui/`, served by control:
 *
 * ```
 * GET  /ui/                              the page (and its scripts, styles, vendored uPlot)
 * POST /ui/login                         {token} → session cookie, {csrf, expires}
 * POST /ui/logout                        ends the session
 * GET  /ui/session                       {csrf, expires} of the current session
 * GET  /ui/api/overview                  apps, hosts with heartbeat age, gateway scrapes
 * GET  /ui/api/apps/:name/status         = GET /v1/apps/:name/status
 * GET  /ui/api/apps/:name/logs?...       = GET /v1/apps/:name/logs?... (NDJSON, follow)
 * GET  /ui/api/apps/:name/traffic        requests, errors, p50, p99 over 15 min
 * POST /ui/api/apps/:name/start|stop|rollback   = POST /v1/apps/:name/...
 * ```
 *
 * Everything but the page, its files and login needs the session cookie
 * (HttpOnly, SameSite=Strict, Path=/ui/); every POST but login also needs
 * the session's CSRF token in `x-dn-csrf`, and every POST an `Origin` of
 * this very host (SECURITY.md). Calls into the API are made in-process with
 * control's token, so the dashboard can do no more than the API allows.
 *
 * @module
 */

import { publicApp, type PublicAppRecord } from "../../lib/apps.ts";
import { brief, HttpError, json, readJsonObject } from "../../lib/http/json.ts";
import { errorMessage, type Logger } from "../../lib/log.ts";
import { RedisUnavailableError } from "../../lib/redis.ts";
import { AppNotFoundError, type AppStore } from "../../lib/store.ts";
import { appName } from "../api_fields.ts";
import { ASSETS } from "./assets.ts";
import { CSRF_HEADER, type Session, SESSION_COOKIE, type Sessions } from "./session.ts";
import type { ScrapeState, Traffic } from "./traffic.ts";

/** What the dashboard needs. */
export interface DashboardDeps {
  /** Control's token: the dashboard calls the API with it, and checks logins against it. */
  token: string;
  checkToken: (header: string | null) => boolean;
  sessions: Sessions;
  traffic: Pick<Traffic, "series" | "gateways">;
  store: Pick<AppStore, "list" | "get" | "hostsSeen">;
  log: Logger;
}

/** A host as the overview shows it. */
export interface HostView {
  name: string;
  /** Time since its last heartbeat, by Redis's clock. */
  heartbeatAgeMs: number;
  /** Apps placed on it (every host runs an app with replicas 0). */
  apps: { name: string; status: string }[];
}

/** Body of `GET /ui/api/overview`. */
export interface Overview {
  apps: PublicAppRecord[];
  hosts: HostView[];
  gateways: ScrapeState[];
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

const APP_ROUTE = /^\/ui\/api\/apps\/([^/]+)\/(status|logs|traffic|start|stop|rollback)$/;
const ACTIONS = new Set(["start", "stop", "rollback"]);

function secured(res: Response, cache = "no-store"): Response {
  const out = new Response(res.body, res);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) out.headers.set(name, value);
  out.headers.set("cache-control", cache);
  return out;
}

/** Refuses a POST whose `Origin` is missing or another host's, or that a browser calls cross-site. */
function checkOrigin(req: Request): void {
  const origin = req.headers.get("origin");
  if (origin === null) throw new HttpError(403, "missing Origin header");
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new HttpError(403, `invalid Origin ${brief(origin)}`);
  }
  // HTTP/2 (browsers over HTTPS) has no Host header: its :authority is the URL's host.
  if (host === "" || host !== (req.headers.get("host") ?? new URL(req.url).host)) {
    throw new HttpError(403, `cross-origin request from ${brief(origin)} refused`);
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") {
    throw new HttpError(403, `cross-site request (${brief(site)}) refused`);
  }
}

function cookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/ui/; HttpOnly; SameSite=Strict; ` +
    `Max-Age=${maxAgeSeconds}${secure ? "; Secure" : ""}`;
}

const PROBLEMS = {
  missing: "not logged in",
  malformed: "invalid session cookie: log in again",
  expired: "session expired: log in again",
} as const;

/**
 * Wraps control's handler: `/ui` and below go to the dashboard, everything
 * else to `inner` (which the dashboard also calls for the API routes it
 * reuses).
 */
export function withDashboard(
  inner: (req: Request) => Promise<Response>,
  deps: DashboardDeps,
): (req: Request) => Promise<Response> {
  const { sessions } = deps;

  function session(req: Request): Session {
    const found = sessions.fromCookie(req.headers.get("cookie"));
    if (typeof found === "string") {
      throw new HttpError(401, PROBLEMS[found], {
        "set-cookie": cookie("", 0, false),
      });
    }
    return found;
  }

  function checkedPost(req: Request): Session {
    checkOrigin(req);
    const found = session(req);
    if (!sessions.checkCsrf(found, req.headers.get(CSRF_HEADER))) {
      throw new HttpError(403, `missing or wrong ${CSRF_HEADER} header`);
    }
    return found;
  }

  /** Calls the API in-process as the CLI would. */
  function callApi(req: Request, path: string, body?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${deps.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return inner(
      new Request(new URL(path, req.url), {
        method: body === undefined ? "GET" : "POST",
        headers,
        body,
        signal: req.signal,
      }),
    );
  }

  async function login(req: Request): Promise<Response> {
    checkOrigin(req);
    const body = await readJsonObject(req, ["token"], 4096);
    const token = body.token;
    if (typeof token !== "string" || !/^[\x21-\x7e]{1,1024}$/.test(token)) {
      throw new HttpError(400, "token must be the control token: printable text, no spaces");
    }
    if (!deps.checkToken(`Bearer ${token}`)) {
      deps.log.warn("dashboard login refused: wrong token");
      throw new HttpError(401, "wrong token");
    }
    const created = sessions.create();
    // Secure when served over HTTPS, here or by a TLS proxy in front.
    const secure = new URL(req.url).protocol === "https:" ||
      (req.headers.get("origin")?.startsWith("https:") ?? false);
    deps.log.info("dashboard login");
    return json(200, { csrf: created.csrf, expires: created.expires }, {
      "set-cookie": cookie(created.id, Math.floor(sessions.ttlMs / 1000), secure),
    });
  }

  async function overview(): Promise<Response> {
    const [{ apps }, seen] = await Promise.all([deps.store.list(), deps.store.hostsSeen()]);
    const hosts: HostView[] = seen.map(({ name, ageMs }) => ({
      name,
      heartbeatAgeMs: ageMs,
      apps: apps.filter((app) => app.placement.length === 0 || app.placement.includes(name))
        .map((app) => ({ name: app.name, status: app.status })),
    }));
    const body: Overview = {
      apps: apps.map(publicApp),
      hosts,
      gateways: [...deps.traffic.gateways],
    };
    return json(200, body);
  }

  async function appRoute(req: Request, rawName: string, what: string): Promise<Response> {
    const name = appName(rawName);
    if (ACTIONS.has(what)) {
      if (req.method !== "POST") {
        throw new HttpError(405, "method not allowed; use POST", { allow: "POST" });
      }
      checkedPost(req);
      const body = await readJsonObject(req, what === "rollback" ? ["version"] : []);
      deps.log.info("dashboard action", { app: name, action: what });
      return await callApi(req, `/v1/apps/${name}/${what}`, JSON.stringify(body));
    }
    if (req.method !== "GET") {
      throw new HttpError(405, "method not allowed; use GET", { allow: "GET" });
    }
    session(req);
    if (what === "traffic") {
      await deps.store.get(name); // 404 for an unknown app
      return json(200, deps.traffic.series(name));
    }
    const search = what === "logs" ? new URL(req.url).search : "";
    return await callApi(req, `/v1/apps/${name}/${what}${search}`);
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    const asset = ASSETS.get(path === "/ui/" ? "index.html" : path.slice("/ui/".length));
    if (asset) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        throw new HttpError(405, "method not allowed; use GET", { allow: "GET, HEAD" });
      }
      return secured(
        new Response(req.method === "HEAD" ? null : asset.body, {
          headers: { "content-type": asset.type },
        }),
        "no-cache",
      );
    }
    if (url.search !== "" && !path.endsWith("/logs")) {
      throw new HttpError(
        400,
        "no query parameters here (only logs takes since, tail, host, follow)",
      );
    }
    if (path === "/ui/login" || path === "/ui/logout") {
      if (req.method !== "POST") {
        throw new HttpError(405, "method not allowed; use POST", { allow: "POST" });
      }
      if (path === "/ui/login") return await login(req);
      sessions.end(checkedPost(req));
      return json(200, { ok: true }, { "set-cookie": cookie("", 0, false) });
    }
    if (path === "/ui/session" || path === "/ui/api/overview") {
      if (req.method !== "GET") {
        throw new HttpError(405, "method not allowed; use GET", { allow: "GET" });
      }
      const found = session(req);
      if (path === "/ui/session") return json(200, { csrf: found.csrf, expires: found.expires });
      return await overview();
    }
    const match = APP_ROUTE.exec(path);
    if (match) return await appRoute(req, match[1], match[2]);
    throw new HttpError(404, "no such page");
  }

  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path !== "/ui" && !path.startsWith("/ui/")) return await inner(req);
    if (path === "/ui") {
      return secured(new Response(null, { status: 308, headers: { location: "/ui/" } }));
    }
    try {
      return secured(await route(req, url));
    } catch (e) {
      await req.body?.cancel().catch(() => {});
      if (e instanceof HttpError) return secured(json(e.status, { error: e.message }, e.headers));
      if (e instanceof AppNotFoundError) return secured(json(404, { error: e.message }));
      if (e instanceof RedisUnavailableError) {
        return secured(json(503, { error: "state store unavailable, try again" }));
      }
      deps.log.error("dashboard request failed", { path, error: errorMessage(e) });
      return secured(json(500, { error: "internal error" }));
    }
  };
}
