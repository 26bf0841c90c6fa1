/**
 * Control's HTTP API: apps, versions and desired state.
 *
 * ```
 * GET    /v1/apps                  list
 * POST   /v1/apps                  create  {name, hostname, port?, digest, ...settings}
 * GET    /v1/apps/:name            get
 * POST   /v1/apps/:name/start      start
 * POST   /v1/apps/:name/stop       stop
 * POST   /v1/apps/:name/update     update  {version, digest, hostname?, port?, ...settings}
 * POST   /v1/apps/:name/rollback   back to an earlier version {version?, from?}
 * GET    /v1/apps/:name/env        environment keys (values are never sent back)
 * POST   /v1/apps/:name/env        change the environment {set?: {K: V}, unset?: [K]}
 * DELETE /v1/apps/:name            remove
 * GET    /v1/apps/:name/status     status with one report per host
 * GET    /v1/certs, PUT|DELETE /v1/certs/:hostname, POST .../acme   certificates (certs_api.ts)
 *
 * settings: replicas (0 = every host), healthPath, timeoutMs, bodyLimit, streamIdleMs,
 *   memory, milliCpus, https (off, redirect, only), hstsSeconds (0 = no HSTS)
 *           (0 = default)
 * GET    /healthz                  liveness (no token)
 * ```
 *
 * Every version is an image digest the CLI pushed (`digest`): control
 * records it per version, and hosts run `<registry>/<name>@<digest>`, never
 * a tag, so whoever can push to the registry cannot change what a version
 * runs. A rollback runs the old version's recorded digest.
 *
 * State changes are written to Redis first (the source of truth), then
 * broadcast to hosts; hosts also converge from Redis, so a command the broker
 * could not take is not lost.
 *
 * @module
 */

import {
  APP_DEFAULTS,
  type AppRecord,
  type AppStatus,
  digestOf,
  digestRef,
  isEnvKey,
  isEnvValue,
  publicApp,
} from "../lib/apps.ts";
import type { CommandKind } from "../lib/commands.ts";
import { HttpError, json, readJsonObject } from "../lib/http/json.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName, isDigest, isPort, isVersion } from "../lib/names.ts";
import { RedisUnavailableError } from "../lib/redis.ts";
import { AppNotFoundError, type AppStore, StoreConflictError } from "../lib/store.ts";
import type { CertStore } from "../lib/certs.ts";
import {
  appName,
  field,
  invalid,
  isHostnameLower,
  optional,
  SETTINGS,
  settingsOf,
} from "./api_fields.ts";
import { refuseWithoutToken } from "./auth.ts";
import { CERTS_ROUTE, certsEndpoint } from "./certs_api.ts";
import type { AcmeIssuer } from "./acme.ts";
import { BrokerUnavailableError, type ControlBroker } from "./broker.ts";
import { LIVE_WINDOW_MS, place, placementLoad } from "./placement.ts";
import { awaitRemoval } from "./removal.ts";

/** What the API needs. */
export interface ApiDeps {
  store: AppStore;
  /** Certificates of app hostnames, served by the gateways. */
  certs: CertStore;
  /** Obtains certificates from the ACME directory (null: not configured). */
  acme: AcmeIssuer | null;
  broker: ControlBroker;
  registry: string;
  checkToken: (header: string | null) => boolean;
  log: Logger;
  /** How long `status` waits for hosts, in ms. */
  statusTimeoutMs: number;
  /** How long `DELETE /v1/apps/:name` waits for hosts to remove the containers, in ms. */
  removalWaitMs?: number;
}

const ROUTE = /^\/v1\/apps(?:\/([^/]+)(?:\/(start|stop|update|status|rollback|env))?)?$/;

/** Methods each kind of route answers, for 405 and its `Allow` header. */
const METHODS = {
  list: ["GET", "POST"],
  app: ["GET", "DELETE"],
  status: ["GET"],
  env: ["GET", "POST"],
  action: ["POST"],
} as const;

function methodNotAllowed(allowed: readonly string[]): HttpError {
  return new HttpError(405, `method not allowed; use ${allowed.join(" or ")}`, {
    allow: allowed.join(", "),
  });
}

/** Builds the request handler. */
export function createApi(deps: ApiDeps): (req: Request) => Promise<Response> {
  const { store, broker, log } = deps;

  async function announce(kind: CommandKind, app: string): Promise<void> {
    try {
      await broker.publish({ kind, app });
    } catch (e) {
      // State is in Redis; hosts converge from it on their own (events, reconnect, timer).
      log.warn("command not broadcast", { kind, app, error: errorMessage(e) });
    }
  }

  /** `app` with its hosts chosen among the live ones (when it runs on only some). */
  async function placed(app: AppRecord): Promise<AppRecord> {
    if (app.replicas === 0) return { ...app, placement: [] };
    const live = await store.liveHosts(LIVE_WINDOW_MS);
    const { apps } = await store.list();
    return { ...app, placement: place(app, live, placementLoad(apps, app.name)) };
  }

  async function setStatus(name: string, status: AppStatus, kind: CommandKind) {
    const current = await store.get(name);
    const next = await placed({ ...current.app, status, updatedAt: new Date().toISOString() });
    await store.replace(current, next);
    await announce(kind, name);
    return json(200, { app: publicApp(next) });
  }

  async function rollback(req: Request, name: string): Promise<Response> {
    const body = await readJsonObject(req, ["version", "from"]);
    const current = await store.get(name);
    const version = optional(body, "version", isVersion) ?? current.app.version - 1;
    const from = optional(body, "from", isVersion);
    if (from !== undefined && from !== current.app.version) {
      throw new HttpError(409, `${name} runs v${current.app.version} now, not v${from}`);
    }
    if (version < 1 || version > current.app.latestVersion || version === current.app.version) {
      throw new HttpError(
        409,
        `${name} runs v${current.app.version}; roll back to one of v1-v${current.app.latestVersion} other than that`,
      );
    }
    const digest = digestOf(current.app, version);
    if (digest === "") {
      throw new HttpError(
        409,
        `${name} v${version} has no recorded image digest (deployed by an earlier release); ` +
          `deploy it again with dn update`,
      );
    }
    const next: AppRecord = {
      ...current.app,
      version,
      image: digestRef(deps.registry, name, digest),
      digest,
      updatedAt: new Date().toISOString(),
    };
    await store.replace(current, next);
    await announce("update", name);
    log.info("app rolled back", { app: name, from: current.app.version, to: version });
    return json(200, { app: publicApp(next) });
  }

  async function env(req: Request, name: string): Promise<Response> {
    if (req.method === "GET") {
      return json(200, { keys: Object.keys((await store.get(name)).app.env).sort() });
    }
    const body = await readJsonObject(req, ["set", "unset"]);
    const set = body.set ?? {};
    const unset = body.unset ?? [];
    const validSet = typeof set === "object" && set !== null && !Array.isArray(set) &&
      Object.entries(set).every(([k, v]) => isEnvKey(k) && isEnvValue(v));
    if (!validSet) throw invalid("set", "(not shown)");
    if (!Array.isArray(unset) || !unset.every(isEnvKey)) throw invalid("unset", unset);
    const current = await store.get(name);
    const next = { ...current.app.env, ...(set as Record<string, string>) };
    for (const key of unset) delete next[key];
    if (Object.keys(next).length > 200 || JSON.stringify(next).length > 256 * 1024) {
      throw new HttpError(413, "environment too large: at most 200 variables and 256 KiB");
    }
    const app: AppRecord = {
      ...current.app,
      env: next,
      revision: current.app.revision + 1,
      updatedAt: new Date().toISOString(),
    };
    await store.replace(current, app);
    await announce("update", name);
    log.info("app environment changed", { app: name, revision: app.revision });
    return json(200, { keys: Object.keys(next).sort(), revision: app.revision });
  }

  async function create(req: Request): Promise<Response> {
    const body = await readJsonObject(req, ["name", "hostname", "port", "digest", ...SETTINGS]);
    const name = field(body, "name", isAppName);
    const hostname = field(body, "hostname", isHostnameLower);
    const digest = field(body, "digest", isDigest);
    const now = new Date().toISOString();
    const app: AppRecord = {
      name,
      hostname,
      port: optional(body, "port", isPort) ?? 80,
      status: "created",
      version: 1,
      image: digestRef(deps.registry, name, digest),
      digest,
      createdAt: now,
      updatedAt: now,
      ...APP_DEFAULTS,
      digests: { "1": digest },
      latestVersion: 1,
      ...settingsOf(body),
    };
    await store.create(app);
    log.info("app created", { app: name, hostname });
    return json(201, { app: publicApp(app) });
  }

  async function update(req: Request, name: string): Promise<Response> {
    const body = await readJsonObject(req, ["version", "digest", "hostname", "port", ...SETTINGS]);
    const version = field(body, "version", isVersion);
    const digest = field(body, "digest", isDigest);
    const current = await store.get(name);
    const latest = current.app.latestVersion;
    if (version !== latest + 1) {
      throw new HttpError(409, `${name} has v${latest}; update must be to v${latest + 1}`);
    }
    const next: AppRecord = await placed({
      ...current.app,
      version,
      image: digestRef(deps.registry, name, digest),
      digest,
      digests: { ...current.app.digests, [String(version)]: digest },
      hostname: optional(body, "hostname", isHostnameLower) ?? current.app.hostname,
      port: optional(body, "port", isPort) ?? current.app.port,
      updatedAt: new Date().toISOString(),
      latestVersion: version,
      ...settingsOf(body),
    });
    await store.replace(current, next);
    await announce("update", name);
    log.info("app updated", { app: name, version });
    return json(200, { app: publicApp(next) });
  }

  /** Removes the app, then waits until no host reports a container of it (`removing`: those left). */
  async function remove(name: string): Promise<Response> {
    const current = await store.get(name);
    await store.remove(current);
    await announce("remove", name);
    log.info("app removed", { app: name });
    const removing = await awaitRemoval(() => askHosts(name), deps.removalWaitMs);
    return json(200, { app: publicApp(current.app), removing });
  }

  /** Every live host's report on the app. */
  async function askHosts(name: string) {
    const expected = await store.liveHosts(LIVE_WINDOW_MS);
    const members = await store.liveHosts(Number.MAX_SAFE_INTEGER); // every host of this network
    return await broker.status(name, expected, deps.statusTimeoutMs, members);
  }

  async function status(name: string): Promise<Response> {
    const { app } = await store.get(name);
    return json(200, { app: publicApp(app), hosts: await askHosts(name) });
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const certs = CERTS_ROUTE.exec(url.pathname);
    if (certs) return await certsEndpoint(req, certs, { store: deps.certs, acme: deps.acme, log });
    const match = ROUTE.exec(url.pathname);
    if (!match) throw new HttpError(404, "no such endpoint");
    const [, rawName, action] = match;
    const method = req.method;
    if (rawName === undefined) {
      if (method === "GET") return json(200, { apps: (await store.list()).apps.map(publicApp) });
      if (method === "POST") return await create(req);
      throw methodNotAllowed(METHODS.list);
    }
    const allowed = action === undefined
      ? METHODS.app
      : action === "status"
      ? METHODS.status
      : action === "env"
      ? METHODS.env
      : METHODS.action;
    if (!(allowed as readonly string[]).includes(method)) throw methodNotAllowed(allowed);
    const name = appName(rawName);
    if (action === undefined) {
      if (method === "GET") return json(200, { app: publicApp((await store.get(name)).app) });
      return await remove(name);
    }
    if (action === "status") return await status(name);
    if (action === "start") return await setStatus(name, "running", "start");
    if (action === "stop") return await setStatus(name, "stopped", "stop");
    if (action === "rollback") return await rollback(req, name);
    if (action === "env") return await env(req, name);
    return await update(req, name);
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") return json(200, { ok: true });
    const refused = await refuseWithoutToken(req, deps.checkToken);
    if (refused) return refused;
    try {
      return await route(req, url);
    } catch (e) {
      if (e instanceof HttpError) {
        await req.body?.cancel().catch(() => {});
        return json(e.status, { error: e.message }, e.headers);
      }
      if (e instanceof AppNotFoundError) return json(404, { error: e.message });
      if (e instanceof StoreConflictError) return json(409, { error: e.message });
      if (e instanceof RedisUnavailableError) {
        return json(503, { error: "state store unavailable, try again" });
      }
      if (e instanceof BrokerUnavailableError) return json(503, { error: e.message });
      log.error("request failed", { path: url.pathname, error: errorMessage(e) });
      return json(500, { error: "internal error" });
    }
  };
}
