/**
 * The Docker Engine API transport: HTTP over the engine's Unix socket with
 * `fetch` and `Deno.createHttpClient({ proxy: { transport: "unix", path } })`
 * (no unstable flag), to URLs like `http://docker/v1.41/containers/json`, the
 * API version negotiation, and the error mapping every call shares. The image
 * calls (images.ts), the container calls (client.ts) and the event stream
 * (events.ts) build on it.
 *
 * Permissions (Deno 2.9), all four are needed:
 * `--allow-read=/var/run/docker.sock --allow-write=/var/run/docker.sock
 * --allow-net=unix:/var/run/docker.sock,docker:80` (the last because `fetch`
 * checks the URL's host `docker` even though the socket is used).
 *
 * @module
 */

import {
  DockerError,
  type DockerErrorInit,
  DockerInputError,
  DockerUnavailableError,
} from "./errors.ts";
import { show } from "./refs.ts";

/** The default Docker Engine socket. */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
/** The API version dn is written against, and the lowest it uses. */
export const MIN_API_VERSION = "1.41";

/** Options for a {@linkcode DockerClient}. */
export interface DockerClientOptions {
  /** The engine's Unix socket. Default `/var/run/docker.sock`. */
  socketPath?: string;
  /**
   * Pin the API version (`"1.41"`) instead of asking the engine once. By
   * default the client uses the lowest version the engine accepts that is at
   * least {@linkcode MIN_API_VERSION}.
   */
  apiVersion?: string;
}

/** Credentials for a registry, sent as the `X-Registry-Auth` header. */
export interface RegistryAuth {
  /** Registry user name. */
  username: string;
  /** Registry password. */
  password: string;
  /** Registry address (`127.0.0.1:5055`). */
  serverAddress: string;
}

/**
 * Encodes registry credentials for the `X-Registry-Auth` header: JSON
 * `{username, password, serveraddress}` in URL-safe base64 with padding, as
 * the engine decodes it. `null` encodes no credentials (`{}`).
 *
 * @example
 * ```ts
 * import { encodeRegistryAuth } from "./transport.ts";
 *
 * encodeRegistryAuth({ username: "dn", password: "pw", serverAddress: "127.0.0.1:5055" });
 * ```
 */
export function encodeRegistryAuth(auth: RegistryAuth | null): string {
  const json = auth === null ? "{}" : JSON.stringify({
    username: auth.username,
    password: auth.password,
    serveraddress: auth.serverAddress,
  });
  let binary = "";
  for (const byte of new TextEncoder().encode(json)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_");
}

/** What `/version` says about the engine. */
export interface DockerVersion {
  /** Engine version (`20.10.24+dfsg1`). */
  version: string;
  /** Highest API version the engine speaks (`1.41`). */
  apiVersion: string;
  /** Lowest API version the engine accepts (`1.12`). */
  minApiVersion: string;
  /** Operating system (`linux`). */
  os: string;
  /** Architecture (`amd64`). */
  arch: string;
  /** Host kernel version. */
  kernelVersion: string;
}

/** Options of one engine request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: Uint8Array | ReadableStream<Uint8Array> | string;
  json?: unknown;
  headers?: Record<string, string>;
  /** Path without the `/v1.xx` prefix. */
  versioned?: boolean;
  /** Statuses returned instead of thrown (304, 404). */
  allow?: number[];
  /** Error class for engine error answers. */
  error?: new (message: string, init: DockerErrorInit) => DockerError;
  /** Cancels the request, and its streamed answer. */
  signal?: AbortSignal;
}

/**
 * The engine connection every Docker call goes through. Close it (or use
 * `using`) to free its connection pool.
 */
export class DockerTransport {
  /** The engine's Unix socket. */
  readonly socketPath: string;
  #http: Deno.HttpClient;
  #pinned: string | undefined;
  #apiVersion: Promise<string> | undefined;

  /** Makes a client; no connection is made until the first call. */
  constructor(opts: DockerClientOptions = {}) {
    this.socketPath = opts.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.#pinned = opts.apiVersion;
    this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socketPath } });
  }

  /** Closes the connection pool. Streams still open fail afterwards. */
  close(): void {
    this.#http.close();
  }

  /** Closes the client (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * True when the engine answers `/_ping`, false when it cannot be reached.
   *
   * @example
   * ```ts ignore
   * if (!await docker.ping()) console.error("docker is down");
   * ```
   */
  async ping(): Promise<boolean> {
    try {
      const res = await this.request("GET", "/_ping", { versioned: false });
      await res.body?.cancel();
      return true;
    } catch (err) {
      if (err instanceof DockerUnavailableError) return false;
      throw err;
    }
  }

  /**
   * The engine's version and API versions.
   *
   * @example
   * ```ts ignore
   * const { version, apiVersion } = await docker.version();
   * ```
   */
  async version(): Promise<DockerVersion> {
    const res = await this.request("GET", "/version", { versioned: false });
    const v = await readJson(res) as Record<string, string>;
    return {
      version: String(v.Version ?? ""),
      apiVersion: String(v.ApiVersion ?? ""),
      minApiVersion: String(v.MinAPIVersion ?? ""),
      os: String(v.Os ?? ""),
      arch: String(v.Arch ?? ""),
      kernelVersion: String(v.KernelVersion ?? ""),
    };
  }

  /**
   * The API version in use: pinned, or negotiated with the engine on first use.
   *
   * @example
   * ```ts ignore
   * await docker.apiVersion(); // "1.41"
   * ```
   */
  apiVersion(): Promise<string> {
    if (this.#pinned !== undefined) return Promise.resolve(this.#pinned);
    this.#apiVersion ??= this.#negotiate().catch((err) => {
      this.#apiVersion = undefined; // try again next time (the engine may come up)
      throw err;
    });
    return this.#apiVersion;
  }

  async #negotiate(): Promise<string> {
    const v = await this.version();
    if (v.apiVersion !== "" && compareVersions(v.apiVersion, MIN_API_VERSION) < 0) {
      throw new DockerError(
        `Docker Engine ${v.version} speaks API ${v.apiVersion}; dn needs ${MIN_API_VERSION} or later`,
        { status: 0, method: "GET", path: "/version" },
      );
    }
    if (v.minApiVersion !== "" && compareVersions(v.minApiVersion, MIN_API_VERSION) > 0) {
      return v.minApiVersion;
    }
    return MIN_API_VERSION;
  }

  /**
   * One request to the versioned API with a JSON answer (null when empty),
   * for the adapter's other modules (networks.ts), which check their inputs
   * first. Statuses in `allow` are returned, without their body, instead of
   * thrown.
   */
  async call(
    method: string,
    path: string,
    opts: { json?: unknown; allow?: number[] } = {},
  ): Promise<{ status: number; body: unknown }> {
    const res = await this.request(method, path, opts);
    if (res.status === 204 || res.status === 304 || opts.allow?.includes(res.status)) {
      await drain(res);
      return { status: res.status, body: null };
    }
    return { status: res.status, body: await readJson(res) };
  }

  /** Sends a request; answers with status ≥ 400 (and not in `allow`) are thrown. */
  protected async request(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<Response> {
    const prefix = opts.versioned === false ? "" : `/v${await this.apiVersion()}`;
    const fullPath = `${prefix}${path}`;
    const url = `http://docker${fullPath}${queryString(opts.query)}`;
    const headers = new Headers(opts.headers);
    let body: BodyInit | undefined;
    let bodyError: { error: unknown } | undefined;
    if (opts.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(opts.json);
    } else if (opts.body instanceof ReadableStream) {
      // Remember why the body failed (a file vanished), so it is not taken for the engine being down.
      bodyError = { error: undefined };
      body = watchErrors(opts.body, bodyError);
    } else if (opts.body !== undefined) {
      body = opts.body as BodyInit;
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, client: this.#http, signal: opts.signal });
    } catch (err) {
      if (bodyError?.error !== undefined) throw bodyError.error;
      if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
        throw err; // missing --allow-net=docker:80 and the like: not the engine's fault
      }
      throw new DockerUnavailableError(
        `Docker engine not reachable at ${this.socketPath}: ${reason(err)}`,
        { status: 0, method, path: fullPath, cause: err },
      );
    }
    if (res.status < 400 || opts.allow?.includes(res.status)) return res;
    const message = await errorMessage(res);
    const ErrorClass = opts.error ?? DockerError;
    throw new ErrorClass(message, { status: res.status, method, path: fullPath });
  }
}

function queryString(query: RequestOptions["query"]): string {
  if (query === undefined) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      const text = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
    }
  }
  return parts.length === 0 ? "" : `?${parts.join("&")}`;
}

/** Passes `body` through, keeping the error it fails with (if any) in `errors.error`. */

/** Passes `body` through, keeping the error it fails with (if any) in `errors.error`. */
function watchErrors(
  body: ReadableStream<Uint8Array>,
  errors: { error: unknown },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const { done, value } = await reader.read();
        if (done) ctl.close();
        else ctl.enqueue(value);
      } catch (err) {
        errors.error = err;
        ctl.error(err);
      }
    },
    async cancel(why) {
      await reader.cancel(why);
    },
  });
}

export async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new DockerError(`the engine answered with invalid JSON: ${show(text)}`, {
      status: res.status,
      method: "",
      path: new URL(res.url || "http://docker/").pathname,
    });
  }
}

export async function drain(res: Response): Promise<void> {
  if (res.body !== null && !res.bodyUsed) await res.body.cancel();
}

async function errorMessage(res: Response): Promise<string> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // the connection broke; the status is all there is
  }
  try {
    const json = JSON.parse(text);
    if (typeof json?.message === "string" && json.message !== "") return json.message;
  } catch {
    // not JSON
  }
  text = text.trim();
  return text !== "" ? text : `HTTP ${res.status} ${res.statusText}`.trim();
}

export function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch wraps the socket error: "error sending request ...: client error (Connect): No such file ..."
  const text = err.cause instanceof Error ? err.cause.message : err.message;
  const m = /\(Connect\): (.*)$/.exec(text) ?? /: ([^:]*\(os error \d+\))$/.exec(text);
  return m ? m[1] : text;
}

export function checkStringMap(map: Record<string, string>, what: string): Record<string, string> {
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new DockerInputError(`invalid ${what}s: expected an object of strings`);
  }
  for (const [k, v] of Object.entries(map)) {
    if (k === "" || typeof v !== "string") {
      throw new DockerInputError(`invalid ${what}: ${show(k)}`);
    }
  }
  return map;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
