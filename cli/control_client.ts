/**
 * Typed client for the control API (`/v1/apps...`), used by the CLI.
 *
 * Every request carries `Authorization: Bearer <token>`. Error answers
 * (`{ "error": "message" }`) become a {@link ControlError} with the HTTP
 * status and the server's message; a control that cannot be reached becomes
 * a ControlError with status 0 and `cannot reach control at URL: ...`.
 * The token is never part of any message.
 *
 * @module
 */

import { readLines } from "../lib/lines.ts";
import {
  type AppInfo,
  type CreateAppRequest,
  type EnvChange,
  field,
  isAppRecord,
  isHostReport,
  isStringList,
  type LogEvent,
  type LogsQuery,
  parseLogEvent,
  type RemovedApp,
  type StatusReport,
  type UpdateAppRequest,
} from "./control_api.ts";

export type {
  AppInfo,
  AppSettingsRequest,
  CreateAppRequest,
  EnvChange,
  LogEvent,
  LogsQuery,
  RemovedApp,
  StatusReport,
  UpdateAppRequest,
} from "./control_api.ts";
import { ControlUrls, trustingFetch } from "./control_urls.ts";

/** An error answer from control, or no answer (status 0). */
export class ControlError extends Error {
  override name = "ControlError";
  /** HTTP status of the answer, 0 when control could not be reached. */
  readonly status: number;

  /** Creates an error with control's message and the HTTP status. */
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Options of a {@link ControlClient}. */
export interface ControlClientOptions {
  /**
   * Base URL of control (`http://127.0.0.1:7070`), or several separated by
   * commas (controls of one network): a request that cannot connect to one
   * goes to the next.
   */
  url: string;
  /** API token. */
  token: string;
  /** fetch to use (tests); defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * CA certificate (PEM file) an `https://` control's certificate must chain
   * to (`controlCaFile`); without it, the system's roots.
   */
  caFile?: string;
  /** Time a request may take before it is abandoned, in ms (default 60 s). */
  timeoutMs?: number;
}

/**
 * Client for control's app API.
 *
 * @example
 * ```ts
 * const control = new ControlClient({ url: "http://127.0.0.1:7070", token });
 * const app = await control.startApp("hello-world");
 * ```
 */
export class ControlClient {
  readonly #controls: ControlUrls;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  /** Creates a client; nothing is sent until a method is called. */
  constructor(options: ControlClientOptions) {
    this.#controls = new ControlUrls(options.url);
    this.#token = options.token;
    this.#fetch = trustingFetch(options.fetch ?? fetch, options.caFile);
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** The control URL as shown in messages (any user:password part removed). */
  get displayUrl(): string {
    return displayUrl(this.#controls.current);
  }

  /** `GET /v1/apps`: every app. */
  async listApps(): Promise<AppInfo[]> {
    const body = await this.request("GET", "/v1/apps");
    const apps = field(body, "apps");
    if (!Array.isArray(apps) || !apps.every(isAppRecord)) throw this.#malformed("/v1/apps");
    return apps;
  }

  /** `GET /v1/apps/:name`; a ControlError with status 404 when there is no such app. */
  async getApp(name: string): Promise<AppInfo> {
    return this.#app(await this.request("GET", appPath(name)), appPath(name));
  }

  /** Like {@link getApp}, but `null` when the app does not exist. */
  async findApp(name: string): Promise<AppInfo | null> {
    try {
      return await this.getApp(name);
    } catch (e) {
      if (e instanceof ControlError && e.status === 404) return null;
      throw e;
    }
  }

  /** `POST /v1/apps`: registers an app at version 1, status `created`. */
  async createApp(request: CreateAppRequest): Promise<AppInfo> {
    return this.#app(await this.request("POST", "/v1/apps", request), "/v1/apps");
  }

  /** `POST /v1/apps/:name/start`. */
  async startApp(name: string): Promise<AppInfo> {
    const path = `${appPath(name)}/start`;
    return this.#app(await this.request("POST", path), path);
  }

  /** `POST /v1/apps/:name/stop`. */
  async stopApp(name: string): Promise<AppInfo> {
    const path = `${appPath(name)}/stop`;
    return this.#app(await this.request("POST", path), path);
  }

  /** `POST /v1/apps/:name/update`: moves the app to a new version. */
  async updateApp(name: string, request: UpdateAppRequest): Promise<AppInfo> {
    const path = `${appPath(name)}/update`;
    return this.#app(await this.request("POST", path, request), path);
  }

  /**
   * `DELETE /v1/apps/:name`: returns the record as it was and the containers
   * hosts were still removing when control stopped waiting for them.
   */
  async removeApp(name: string): Promise<RemovedApp> {
    const body = await this.request("DELETE", appPath(name));
    const removing = field(body, "removing") ?? {};
    const counts = typeof removing === "object" && removing !== null ? removing : null;
    if (counts === null || !Object.values(counts).every((n) => typeof n === "number")) {
      throw this.#malformed(appPath(name));
    }
    return { app: this.#app(body, appPath(name)), removing: counts as Record<string, number> };
  }

  /** `GET /v1/apps/:name/status`: the app and every host's containers. */
  async appStatus(name: string): Promise<StatusReport> {
    const path = `${appPath(name)}/status`;
    const body = await this.request("GET", path);
    const app = field(body, "app");
    const hosts = field(body, "hosts");
    if (!isAppRecord(app) || !Array.isArray(hosts) || !hosts.every(isHostReport)) {
      throw this.#malformed(path);
    }
    return body as StatusReport;
  }

  /**
   * `POST /v1/apps/:name/rollback`: back to `version` (default: the current
   * one - 1); with `from`, only while the app still runs version `from`.
   */
  async rollbackApp(name: string, version?: number, from?: number): Promise<AppInfo> {
    const path = `${appPath(name)}/rollback`;
    const body = { ...(version === undefined ? {} : { version }), ...(from ? { from } : {}) };
    return this.#app(await this.request("POST", path, body), path);
  }

  /** `GET /v1/apps/:name/env`: the names of the app's environment variables (never values). */
  async envKeys(name: string): Promise<string[]> {
    const path = `${appPath(name)}/env`;
    const keys = field(await this.request("GET", path), "keys");
    if (!isStringList(keys)) throw this.#malformed(path);
    return keys;
  }

  /**
   * `POST /v1/apps/:name/env`: sets and removes variables; hosts replace the
   * app's containers to pick them up. Returns the names now set.
   */
  async changeEnv(name: string, change: EnvChange): Promise<{ keys: string[]; revision: number }> {
    const path = `${appPath(name)}/env`;
    const body = await this.request("POST", path, change);
    const keys = field(body, "keys");
    const revision = field(body, "revision");
    if (!isStringList(keys) || typeof revision !== "number") throw this.#malformed(path);
    return { keys, revision };
  }

  /**
   * `GET /v1/apps/:name/logs`: the app's log lines from every host, as they
   * arrive (NDJSON), until control ends the stream (with `follow`: until the
   * caller stops reading). Only the wait for the answer's head is timed.
   */
  async *logs(name: string, query: LogsQuery = {}): AsyncGenerator<LogEvent> {
    const params = new URLSearchParams();
    if (query.since !== undefined) params.set("since", String(query.since));
    if (query.tail !== undefined) params.set("tail", String(query.tail));
    if (query.host !== undefined) params.set("host", query.host);
    if (query.follow) params.set("follow", "1");
    const qs = params.toString();
    const path = `${appPath(name)}/logs${qs === "" ? "" : "?" + qs}`;
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new DOMException("timeout", "TimeoutError")),
      this.#timeoutMs,
    );
    let response: Response;
    try {
      response = await this.#controls.send(this.#fetch, path, () => ({
        method: "GET",
        headers: { "authorization": `Bearer ${this.#token}`, "accept": "application/x-ndjson" },
        signal: abort.signal,
      }));
    } catch (e) {
      throw this.#unreachable(abort.signal.aborted, e);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok || response.body === null) {
      const text = await response.text().catch(() => "");
      let error: unknown;
      try {
        error = field(JSON.parse(text), "error");
      } catch {
        // not JSON
      }
      let message = typeof error === "string" && error !== ""
        ? oneLine(error)
        : `control answered ${response.status} ${response.statusText} to GET ${path}`;
      if (response.status === 401) {
        message = `control at ${this.displayUrl} refused the token (${message}): ` +
          `check token, DN_TOKEN or --token`;
      }
      throw new ControlError(response.status, message);
    }
    try {
      for await (const line of readLines(response.body)) {
        if (line.trim() === "") continue; // keep-alive
        const event = parseLogEvent(line);
        if (event === null) throw this.#malformed(path);
        yield event;
      }
    } catch (e) {
      if (e instanceof ControlError) throw e;
      throw new ControlError(0, `lost control at ${this.displayUrl}: ${errorText(e)}`);
    }
  }

  /**
   * Sends one request and returns the parsed JSON body of a 2xx answer.
   * Throws a ControlError for error answers and unreachable control.
   */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {
      "authorization": `Bearer ${this.#token}`,
      "accept": "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.#controls.send(this.#fetch, path, () => ({
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      }));
    } catch (e) {
      throw this.#unreachable(e instanceof DOMException && e.name === "TimeoutError", e);
    }
    const text = await response.text().catch(() => "");
    let parsed: unknown = undefined;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      // not JSON: handled below
    }
    if (!response.ok) {
      const error = field(parsed, "error");
      let message = typeof error === "string" && error !== ""
        ? oneLine(error)
        : `control answered ${response.status} ${response.statusText} to ${method} ${path}`;
      if (response.status === 401) {
        message = `control at ${this.displayUrl} refused the token (${message}): ` +
          `check token, DN_TOKEN or --token`;
      }
      throw new ControlError(response.status, message);
    }
    if (parsed === undefined) {
      throw new ControlError(response.status, `control sent no JSON for ${method} ${path}`);
    }
    return parsed;
  }

  #app(body: unknown, path: string): AppInfo {
    const app = field(body, "app");
    if (!isAppRecord(app)) throw this.#malformed(path);
    return app;
  }

  /** The error for a request that got no answer: timed out, refused, or a certificate not trusted. */
  #unreachable(timedOut: boolean, e: unknown): ControlError {
    if (timedOut) {
      const seconds = Math.round(this.#timeoutMs / 1000);
      return new ControlError(
        0,
        `cannot reach control at ${this.displayUrl}: no answer within ${seconds} s`,
      );
    }
    const text = errorText(e);
    const certificate = /invalid peer certificate: ?([A-Za-z]+)/.exec(text)?.[1];
    if (certificate !== undefined) {
      return new ControlError(
        0,
        `control at ${this.displayUrl} presented a certificate that does not verify ` +
          `(${certificate}): check controlCaFile (DN_CONTROL_CA_FILE)`,
      );
    }
    if (this.displayUrl.startsWith("http:") && text.includes("invalid HTTP version")) {
      return new ControlError(
        0,
        `control at ${this.displayUrl} does not answer plain HTTP: use https:// in controlUrl`,
      );
    }
    return new ControlError(0, `cannot reach control at ${this.displayUrl}: ${text}`);
  }

  #malformed(path: string): ControlError {
    return new ControlError(502, `control sent an unexpected answer for ${path}`);
  }
}

/** `http://user:pw@host:7070/` → `http://host:7070`. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/+$/, "");
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//");
  }
}

function appPath(name: string): string {
  return `/v1/apps/${encodeURIComponent(name)}`;
}

/** `e`'s message and its cause's, on one line (fetch puts what failed in the cause). */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return oneLine(String(e));
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return oneLine(e.message + cause);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
