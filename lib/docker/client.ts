/**
 * The Docker Engine API client: the only code in dn that talks to Docker.
 *
 * It speaks HTTP over the engine's Unix socket with `fetch` and
 * `Deno.createHttpClient({ proxy: { transport: "unix", path } })` (no unstable
 * flag), to URLs like `http://docker/v1.41/containers/json`, and checks every
 * name it puts in a URL (container names and ids, image references, tags)
 * before sending anything.
 *
 * Permissions (Deno 2.9), all four are needed:
 * `--allow-read=/var/run/docker.sock --allow-write=/var/run/docker.sock
 * --allow-net=unix:/var/run/docker.sock,docker:80` (the last because `fetch`
 * checks the URL's host `docker` even though the socket is used).
 *
 * @example Build, run and read an app
 * ```ts ignore
 * import { DockerClient } from "./client.ts";
 * import { tarDirectory } from "./tar.ts";
 * import { readDockerignore } from "./dockerignore.ts";
 *
 * using docker = new DockerClient();
 * const dir = "apps/hello-world";
 * const { imageId } = await docker.build(
 *   tarDirectory(dir, await readDockerignore(dir)),
 *   { tag: "127.0.0.1:5055/hello-world:v1" },
 *   console.log,
 * );
 * const id = await docker.createContainer("dn-vaermina-hello-world-v1", {
 *   image: imageId,
 *   env: { APP_PORT: "80" },
 *   labels: { "dn.app": "hello-world" },
 *   containerPort: 80,
 *   restartPolicy: "unless-stopped",
 * });
 * await docker.startContainer(id);
 * const info = await docker.inspectContainer(id);
 * console.log(`http://127.0.0.1:${info?.hostPort}/`);
 * ```
 *
 * @module
 */

import {
  DockerBuildError,
  DockerError,
  type DockerErrorInit,
  DockerInputError,
  DockerPullError,
  DockerPushError,
  DockerUnavailableError,
} from "./errors.ts";
import {
  checkContainerName,
  checkImageRef,
  checkRepository,
  checkTag,
  parseImageRef,
  show,
} from "./refs.ts";
import { type ContainerSandbox, sandboxHostConfig } from "./sandbox.ts";
import {
  demuxLogs,
  type JsonMessage,
  type LogLine,
  ProgressPrinter,
  readJsonMessages,
} from "./streams.ts";

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

/** Options for {@linkcode DockerClient.build}. */
export interface BuildOptions {
  /** Image reference to tag the result with (`127.0.0.1:5055/hello-world:v2`). */
  tag: string;
  /** Dockerfile path inside the context. Default `Dockerfile`. */
  dockerfile?: string;
  /** `ARG` values. */
  buildArgs?: Record<string, string>;
  /** Labels to set on the image. */
  labels?: Record<string, string>;
  /** Do not use the build cache. */
  noCache?: boolean;
}

/** Options for {@linkcode DockerClient.importImage}. */
export interface ImportOptions {
  /** Repository to tag the image as (`dn/deno`). */
  repository: string;
  /** Tag (`2.9.6`). */
  tag: string;
  /** Dockerfile instructions to apply (`CMD ["/bin/app"]`, `ENV A=b`, `WORKDIR /app`). */
  changes?: string[];
  /** Commit message. */
  message?: string;
}

/** A subset of an image's inspect data. */
export interface ImageInfo {
  /** Image id (`sha256:…`). */
  id: string;
  /** Tags (`["dn/deno:2.9.6"]`). */
  repoTags: string[];
  /** Registry digests (`["127.0.0.1:5055/app@sha256:…"]`). */
  repoDigests: string[];
  /** Creation time (ISO 8601). */
  created: string;
  /** Size in bytes. */
  size: number;
  /** Image labels. */
  labels: Record<string, string>;
  /** Ports the image exposes (`["80/tcp"]`). */
  exposedPorts: string[];
}

/** How the engine restarts a container. */
export type RestartPolicy = "no" | "on-failure" | "unless-stopped" | "always";

/** What {@linkcode DockerClient.createContainer} creates. */
export interface ContainerSpec {
  /** Image reference or id. */
  image: string;
  /** Environment variables. */
  env: Record<string, string>;
  /** Container labels. */
  labels: Record<string, string>;
  /** TCP port the app listens on; published on 127.0.0.1 only, on a random host port. */
  containerPort: number;
  /** Restart policy. */
  restartPolicy: RestartPolicy;
  /** Memory limit in bytes (at least 6 MiB), swap included: the container gets no swap. */
  memoryBytes?: number;
  /** CPU, processes, capabilities, privileges and network (lib/docker/sandbox.ts). */
  sandbox?: ContainerSandbox;
  /** Command to run instead of the image's `CMD`. */
  cmd?: string[];
  /**
   * Run a tiny init as PID 1 (`docker run --init`) that forwards signals and
   * reaps zombies. Without one, a process that is PID 1 and sets no SIGTERM
   * handler (Deno, Node, busybox) ignores SIGTERM and is killed only when the
   * stop timeout ends.
   */
  init?: boolean;
}

/** Container states the engine reports. */
export type ContainerStatus =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";

/** A container's state. */
export interface ContainerState {
  /** State name. */
  status: ContainerStatus;
  /** True while running (also when paused or restarting). */
  running: boolean;
  /** Exit code of the last run (0 if it never ended). */
  exitCode: number;
  /** When it last started (ISO 8601), or null if never. */
  startedAt: string | null;
  /** When it last ended (ISO 8601), or null if never. */
  finishedAt: string | null;
  /** Health check status (`healthy`), when the image defines one. */
  health?: string;
  /** True when the kernel killed it for memory. */
  oomKilled: boolean;
  /** The engine's error for the last start, or `""`. */
  error: string;
}

/** A subset of a container's inspect data. */
export interface ContainerInfo {
  /** Full container id. */
  id: string;
  /** Name, without the leading `/`. */
  name: string;
  /** Image reference it was created from. */
  image: string;
  /** Image id (`sha256:…`). */
  imageId: string;
  /** Current state. */
  state: ContainerState;
  /** Creation time (ISO 8601). */
  created: string;
  /** Container labels. */
  labels: Record<string, string>;
  /** How many times the engine restarted it. */
  restartCount: number;
  /**
   * The 127.0.0.1 host port published for the container port, or null (not
   * running, or nothing published). It changes when the container restarts.
   */
  hostPort: number | null;
  /** The container's IP address (on its network: the default bridge or its own), or null. */
  ipAddress: string | null;
}

/** One row of {@linkcode DockerClient.listContainers}. */
export interface ContainerSummary {
  /** Full container id. */
  id: string;
  /** Names, without the leading `/`. */
  names: string[];
  /** Image reference it was created from. */
  image: string;
  /** Image id (`sha256:…`). */
  imageId: string;
  /** Container labels. */
  labels: Record<string, string>;
  /** State name (`running`, `exited`). */
  state: ContainerStatus;
  /** Human status (`Up 12 seconds`, `Exited (0) 15 seconds ago`). */
  status: string;
  /** Creation time (ISO 8601). */
  created: string;
  /** First TCP port published on 127.0.0.1, or null. */
  hostPort: number | null;
}

/** Options for {@linkcode DockerClient.containerLogs}. */
export interface LogOptions {
  /** Keep the stream open and send new lines as they are written. */
  follow?: boolean;
  /** Only lines written after this time (a `Date`, or seconds since the epoch). */
  since?: Date | number;
  /** Only the last `tail` lines (default all). */
  tail?: number | "all";
  /** Prefix each line with its RFC 3339 timestamp. */
  timestamps?: boolean;
}

interface RequestOptions {
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
}

const DOCKERFILE = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,255}$/;
const ENV_KEY = /^[^=\0]+$/;
const MIN_MEMORY = 6 * 1024 * 1024;
const NEVER = "0001-01-01T00:00:00Z";

/**
 * A Docker Engine API client over the engine's Unix socket. Close it (or use
 * `using`) to free its connection pool.
 *
 * All methods throw {@linkcode DockerUnavailableError} when the engine cannot
 * be reached, {@linkcode DockerInputError} (before any request) for a bad
 * name, and {@linkcode DockerError} with the engine's message otherwise.
 *
 * @example
 * ```ts ignore
 * import { DockerClient } from "./client.ts";
 *
 * using docker = new DockerClient({ socketPath: "/var/run/docker.sock" });
 * console.log(await docker.ping(), (await docker.version()).version);
 * ```
 */
export class DockerClient {
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
      const res = await this.#request("GET", "/_ping", { versioned: false });
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
    const res = await this.#request("GET", "/version", { versioned: false });
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
   * Builds an image from a tar of the build context (see `tarDirectory`) with
   * the classic builder, tags it `opts.tag`, and sends each output line to
   * `onLine` as the docker CLI prints it (`Step 1/3 : FROM …`, ` ---> 3c1b2a`,
   * `Successfully built 3c1b2a`). Throws {@linkcode DockerBuildError} with the
   * engine's message when the build fails.
   *
   * @example
   * ```ts ignore
   * const { imageId } = await docker.build(tar, { tag: "hello:v1" }, console.log);
   * ```
   */
  async build(
    context: ReadableStream<Uint8Array> | Uint8Array,
    opts: BuildOptions,
    onLine: (line: string) => void,
  ): Promise<{ imageId: string }> {
    checkImageRef(opts.tag);
    const dockerfile = opts.dockerfile ?? "Dockerfile";
    if (!DOCKERFILE.test(dockerfile)) {
      throw new DockerInputError(`invalid Dockerfile path: ${show(dockerfile)}`);
    }
    const query: RequestOptions["query"] = {
      t: opts.tag,
      dockerfile,
      rm: true,
      forcerm: true,
      nocache: opts.noCache ?? false,
    };
    if (opts.buildArgs) {
      query.buildargs = JSON.stringify(checkStringMap(opts.buildArgs, "build arg"));
    }
    if (opts.labels) query.labels = JSON.stringify(checkStringMap(opts.labels, "label"));
    const res = await this.#request("POST", "/build", {
      query,
      body: context,
      headers: { "Content-Type": "application/x-tar" },
      error: DockerBuildError,
    });
    let imageId = "";
    let shortId = "";
    const printer = new ProgressPrinter((line) => {
      const built = /^Successfully built ([0-9a-f]{12,64})$/.exec(line);
      if (built) shortId = built[1];
      onLine(line);
    });
    const init = await this.#progress(res, "POST", "/build", DockerBuildError, printer, (aux) => {
      if (typeof aux.ID === "string") imageId = aux.ID;
    });
    if (imageId === "") {
      const info = await this.inspectImage(shortId !== "" ? shortId : opts.tag);
      if (info === null) throw new DockerBuildError("build ended without an image", init);
      imageId = info.id;
    }
    return { imageId };
  }

  /**
   * Imports a root file system tar as an image (`docker import`):
   * `POST /images/create?fromSrc=-`. Returns the new image id.
   *
   * @example
   * ```ts ignore
   * await docker.importImage(tarEntries(files), {
   *   repository: "dn/deno",
   *   tag: "2.9.6",
   *   changes: ['ENTRYPOINT ["/bin/deno"]'],
   * });
   * ```
   */
  async importImage(
    rootfs: ReadableStream<Uint8Array> | Uint8Array,
    opts: ImportOptions,
    onLine?: (line: string) => void,
  ): Promise<{ imageId: string }> {
    checkRepository(opts.repository);
    checkTag(opts.tag);
    const res = await this.#request("POST", "/images/create", {
      query: {
        fromSrc: "-",
        repo: opts.repository,
        tag: opts.tag,
        changes: opts.changes ?? [],
        message: opts.message,
      },
      body: rootfs,
      headers: { "Content-Type": "application/x-tar" },
      error: DockerPullError,
    });
    let imageId = "";
    const printer = new ProgressPrinter((line) => {
      if (/^sha256:[0-9a-f]{64}$/.test(line)) imageId = line;
      onLine?.(line);
    });
    const init = await this.#progress(res, "POST", "/images/create", DockerPullError, printer);
    if (imageId === "") {
      const info = await this.inspectImage(`${opts.repository}:${opts.tag}`);
      if (info === null) throw new DockerPullError("import ended without an image", init);
      imageId = info.id;
    }
    return { imageId };
  }

  /**
   * Tags the image `source` (reference or id) as `repository:tag`.
   *
   * @example
   * ```ts ignore
   * await docker.tagImage(imageId, "127.0.0.1:5055/hello-world", "v2");
   * ```
   */
  async tagImage(source: string, repository: string, tag: string): Promise<void> {
    checkImageRef(source);
    checkRepository(repository);
    checkTag(tag);
    const res = await this.#request("POST", `/images/${source}/tag`, {
      query: { repo: repository, tag },
    });
    await drain(res);
  }

  /**
   * Pushes `repository:tag` to its registry with `auth`, sending progress
   * lines (`cc33bc1d2d56: Layer already exists`,
   * `v1: digest: sha256:… size: 2634`) to `onLine`. Returns the manifest
   * digest. Throws {@linkcode DockerPushError} (`unauthorized: …`, no such
   * image, registry unreachable).
   *
   * @example
   * ```ts ignore
   * const { digest } = await docker.pushImage("127.0.0.1:5055/hello-world", "v2", auth, console.log);
   * ```
   */
  async pushImage(
    repository: string,
    tag: string,
    auth: RegistryAuth,
    onLine: (line: string) => void,
    onBytes?: (layer: string, current: number, total: number) => void,
  ): Promise<{ digest: string }> {
    checkRepository(repository);
    checkTag(tag);
    const path = `/images/${repository}/push`;
    const res = await this.#request("POST", path, {
      query: { tag },
      headers: { "X-Registry-Auth": encodeRegistryAuth(auth) },
      error: DockerPushError,
    });
    let digest = "";
    const printer = new ProgressPrinter((line) => {
      const m = /digest: (sha256:[0-9a-f]{64})/.exec(line);
      if (m) digest = m[1];
      onLine(line);
    }, onBytes);
    const init = await this.#progress(res, "POST", path, DockerPushError, printer, (aux) => {
      if (typeof aux.Digest === "string") digest = aux.Digest;
    }, (message) => `push ${repository}:${tag}: ${message}`);
    if (digest === "") {
      throw new DockerPushError(`push ${repository}:${tag}: the engine reported no digest`, init);
    }
    return { digest };
  }

  /**
   * Pulls an image (`repository:tag` or `repository@sha256:…`; `latest` if
   * neither is given) with `auth` (null: anonymous). Returns the digest the
   * registry reported, if any. Throws {@linkcode DockerPullError}.
   *
   * @example
   * ```ts ignore
   * await docker.pullImage("127.0.0.1:5055/hello-world:v2", auth, console.log);
   * ```
   */
  async pullImage(
    ref: string,
    auth: RegistryAuth | null,
    onLine?: (line: string) => void,
  ): Promise<{ digest: string | null }> {
    const parsed = parseImageRef(ref);
    if (parsed.repository.startsWith("sha256:")) {
      throw new DockerInputError(`cannot pull an image id: ${show(ref)}`);
    }
    const path = "/images/create";
    const res = await this.#request("POST", path, {
      query: { fromImage: parsed.repository, tag: parsed.digest ?? parsed.tag ?? "latest" },
      headers: { "X-Registry-Auth": encodeRegistryAuth(auth) },
      error: DockerPullError,
    });
    let digest: string | null = parsed.digest ?? null;
    const printer = new ProgressPrinter((line) => {
      const m = /^Digest: (sha256:[0-9a-f]{64})$/.exec(line);
      if (m) digest = m[1];
      onLine?.(line);
    });
    await this.#progress(res, "POST", path, DockerPullError, printer, undefined, (message) => {
      return `pull ${ref}: ${message}`;
    });
    return { digest };
  }

  /**
   * Inspects an image; null when there is no such image.
   *
   * @example
   * ```ts ignore
   * const info = await docker.inspectImage("dn/deno:2.9.6");
   * ```
   */
  async inspectImage(ref: string): Promise<ImageInfo | null> {
    checkImageRef(ref);
    const res = await this.#request("GET", `/images/${ref}/json`, { allow: [404] });
    if (res.status === 404) {
      await drain(res);
      return null;
    }
    const v = await readJson(res) as RawImage;
    return {
      id: v.Id,
      repoTags: v.RepoTags ?? [],
      repoDigests: v.RepoDigests ?? [],
      created: v.Created ?? "",
      size: v.Size ?? 0,
      labels: v.Config?.Labels ?? {},
      exposedPorts: Object.keys(v.Config?.ExposedPorts ?? {}),
    };
  }

  /**
   * Removes an image (untags it; deletes it when no tag is left). Returns
   * false when there was no such image.
   *
   * @example
   * ```ts ignore
   * await docker.removeImage("127.0.0.1:5055/hello-world:v1");
   * ```
   */
  async removeImage(ref: string, opts: { force?: boolean } = {}): Promise<boolean> {
    checkImageRef(ref);
    const res = await this.#request("DELETE", `/images/${ref}`, {
      query: { force: opts.force ?? false },
      allow: [404],
    });
    await drain(res);
    return res.status !== 404;
  }

  /**
   * Creates a container named `name` and returns its id. The container port
   * is published on 127.0.0.1 only, on a random host port (see
   * {@linkcode ContainerInfo.hostPort}). Throws a {@linkcode DockerError} with
   * status 409 when the name is taken.
   *
   * @example
   * ```ts ignore
   * const id = await docker.createContainer("dn-vaermina-hello-world-v2", {
   *   image: "127.0.0.1:5055/hello-world:v2",
   *   env: { APP_PORT: "80" },
   *   labels: { "dn.app": "hello-world", "dn.host": "vaermina" },
   *   containerPort: 80,
   *   restartPolicy: "unless-stopped",
   *   memoryBytes: 256 * 1024 * 1024,
   * });
   * ```
   */
  async createContainer(name: string, spec: ContainerSpec): Promise<string> {
    checkContainerName(name);
    checkImageRef(spec.image);
    const port = spec.containerPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DockerInputError(`invalid container port: ${show(port)}`);
    }
    if (!["no", "on-failure", "unless-stopped", "always"].includes(spec.restartPolicy)) {
      throw new DockerInputError(`invalid restart policy: ${show(spec.restartPolicy)}`);
    }
    const mem = spec.memoryBytes;
    if (mem !== undefined && (!Number.isSafeInteger(mem) || mem < MIN_MEMORY)) {
      throw new DockerInputError(
        `invalid memory limit: ${show(mem)} (at least ${MIN_MEMORY} bytes)`,
      );
    }
    const env = Object.entries(checkStringMap(spec.env, "environment variable")).map(([k, v]) => {
      if (!ENV_KEY.test(k) || v.includes("\0")) {
        throw new DockerInputError(`invalid environment variable: ${show(k)}`);
      }
      return `${k}=${v}`;
    });
    if (spec.cmd !== undefined && !spec.cmd.every((arg) => typeof arg === "string")) {
      throw new DockerInputError("invalid command: every argument must be a string");
    }
    const key = `${port}/tcp`;
    const body: Record<string, unknown> = {
      Image: spec.image,
      Env: env,
      Labels: checkStringMap(spec.labels, "label"),
      ExposedPorts: { [key]: {} },
      HostConfig: {
        PortBindings: { [key]: [{ HostIp: "127.0.0.1", HostPort: "" }] },
        RestartPolicy: { Name: spec.restartPolicy },
        ...(mem === undefined ? {} : { Memory: mem, MemorySwap: mem }),
        ...sandboxHostConfig(spec.sandbox),
        ...(spec.init === undefined ? {} : { Init: spec.init }),
      },
    };
    if (spec.cmd !== undefined) body.Cmd = spec.cmd;
    const res = await this.#request("POST", "/containers/create", { query: { name }, json: body });
    const created = await readJson(res) as { Id: string };
    return created.Id;
  }

  /**
   * Starts a container (no error if it is already running).
   *
   * @example
   * ```ts ignore
   * await docker.startContainer(id);
   * ```
   */
  async startContainer(id: string): Promise<void> {
    checkContainerName(id);
    await drain(await this.#request("POST", `/containers/${id}/start`, { allow: [304] }));
  }

  /**
   * Stops a container: SIGTERM (or its stop signal), then SIGKILL after
   * `timeoutSeconds`. No error if it is already stopped.
   *
   * @example
   * ```ts ignore
   * await docker.stopContainer(id, 10);
   * ```
   */
  async stopContainer(id: string, timeoutSeconds = 10): Promise<void> {
    checkContainerName(id);
    checkSeconds(timeoutSeconds);
    const res = await this.#request("POST", `/containers/${id}/stop`, {
      query: { t: timeoutSeconds },
      allow: [304],
    });
    await drain(res);
  }

  /**
   * Restarts a container, stopping it first with `timeoutSeconds` of grace.
   *
   * @example
   * ```ts ignore
   * await docker.restartContainer(id);
   * ```
   */
  async restartContainer(id: string, timeoutSeconds = 10): Promise<void> {
    checkContainerName(id);
    checkSeconds(timeoutSeconds);
    const res = await this.#request("POST", `/containers/${id}/restart`, {
      query: { t: timeoutSeconds },
    });
    await drain(res);
  }

  /**
   * Removes a container (`force` kills it first if running) with its anonymous
   * volumes. Returns false when there was no such container.
   *
   * @example
   * ```ts ignore
   * await docker.removeContainer(id, { force: true });
   * ```
   */
  async removeContainer(id: string, opts: { force?: boolean } = {}): Promise<boolean> {
    checkContainerName(id);
    const res = await this.#request("DELETE", `/containers/${id}`, {
      query: { force: opts.force ?? false, v: true },
      allow: [404],
    });
    await drain(res);
    return res.status !== 404;
  }

  /**
   * Inspects a container; null when there is no such container. `hostPort` is
   * the 127.0.0.1 port published for `containerPort` (default: the first TCP
   * port published on 127.0.0.1).
   *
   * @example
   * ```ts ignore
   * const info = await docker.inspectContainer("dn-vaermina-hello-world-v2");
   * if (info?.state.running) console.log(info.hostPort);
   * ```
   */
  async inspectContainer(idOrName: string, containerPort?: number): Promise<ContainerInfo | null> {
    checkContainerName(idOrName);
    const res = await this.#request("GET", `/containers/${idOrName}/json`, { allow: [404] });
    if (res.status === 404) {
      await drain(res);
      return null;
    }
    const v = await readJson(res) as RawContainer;
    const s = v.State ?? {};
    const ip = v.NetworkSettings?.IPAddress ||
      Object.values(v.NetworkSettings?.Networks ?? {}).map((n) => n.IPAddress).find((a) => a);
    return {
      id: v.Id,
      name: (v.Name ?? "").replace(/^\//, ""),
      image: v.Config?.Image ?? "",
      imageId: v.Image ?? "",
      state: {
        status: (s.Status ?? "created") as ContainerStatus,
        running: s.Running ?? false,
        exitCode: s.ExitCode ?? 0,
        startedAt: time(s.StartedAt),
        finishedAt: time(s.FinishedAt),
        ...(s.Health?.Status ? { health: s.Health.Status } : {}),
        oomKilled: s.OOMKilled ?? false,
        error: s.Error ?? "",
      },
      created: v.Created ?? "",
      labels: v.Config?.Labels ?? {},
      restartCount: v.RestartCount ?? 0,
      hostPort: publishedPort(v.NetworkSettings?.Ports ?? {}, containerPort),
      ipAddress: ip ? ip : null,
    };
  }

  /**
   * Lists containers having every label in `labels` (`{ "dn.app": "x" }`;
   * an empty value matches any value), stopped ones too unless `all` is false.
   *
   * @example
   * ```ts ignore
   * const mine = await docker.listContainers({ "dn.host": "vaermina" });
   * ```
   */
  async listContainers(
    labels: Record<string, string>,
    all = true,
  ): Promise<ContainerSummary[]> {
    const filters = Object.entries(checkStringMap(labels, "label")).map(([k, v]) => {
      if (k === "" || k.includes("=")) throw new DockerInputError(`invalid label: ${show(k)}`);
      return v === "" ? k : `${k}=${v}`;
    });
    const res = await this.#request("GET", "/containers/json", {
      query: { all, filters: JSON.stringify({ label: filters }) },
    });
    const rows = await readJson(res) as RawSummary[];
    return rows.map((c) => ({
      id: c.Id,
      names: (c.Names ?? []).map((n) => n.replace(/^\//, "")),
      image: c.Image ?? "",
      imageId: c.ImageID ?? "",
      labels: c.Labels ?? {},
      state: (c.State ?? "created") as ContainerStatus,
      status: c.Status ?? "",
      created: new Date((c.Created ?? 0) * 1000).toISOString(),
      hostPort: summaryPort(c.Ports ?? []),
    }));
  }

  /**
   * A container's output as lines tagged `stdout` or `stderr`, demultiplexed
   * from the engine's framed stream. With `follow`, the stream stays open
   * until the container stops or the stream is cancelled.
   *
   * @example
   * ```ts ignore
   * for await (const { stream, line } of await docker.containerLogs(id, { tail: 100 })) {
   *   console.log(stream, line);
   * }
   * ```
   */
  async containerLogs(id: string, opts: LogOptions = {}): Promise<ReadableStream<LogLine>> {
    checkContainerName(id);
    const tail = opts.tail ?? "all";
    if (tail !== "all" && (!Number.isSafeInteger(tail) || tail < 0)) {
      throw new DockerInputError(`invalid tail: ${show(tail)}`);
    }
    let since: number | undefined;
    if (opts.since !== undefined) {
      since = opts.since instanceof Date ? opts.since.getTime() / 1000 : opts.since;
      if (!Number.isFinite(since) || since < 0) {
        throw new DockerInputError(`invalid since: ${show(since)}`);
      }
    }
    // Containers with a TTY send raw output; the others frame it.
    const res0 = await this.#request("GET", `/containers/${id}/json`);
    const tty = ((await readJson(res0)) as RawContainer).Config?.Tty === true;
    const res = await this.#request("GET", `/containers/${id}/logs`, {
      query: {
        stdout: true,
        stderr: true,
        follow: opts.follow ?? false,
        timestamps: opts.timestamps ?? false,
        tail: String(tail),
        since: since === undefined ? undefined : since.toFixed(3),
      },
    });
    if (res.body === null) return ReadableStream.from([]);
    return demuxLogs(res.body, !tty);
  }

  /** Sends a request; answers with status ≥ 400 (and not in `allow`) are thrown. */
  async #request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
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
      res = await fetch(url, { method, headers, body, client: this.#http });
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
    const res = await this.#request(method, path, opts);
    if (res.status === 204 || res.status === 304 || opts.allow?.includes(res.status)) {
      await drain(res);
      return { status: res.status, body: null };
    }
    return { status: res.status, body: await readJson(res) };
  }

  /**
   * Reads a JSON progress stream to its end, printing it; throws `ErrorClass`
   * on an `error` message. Returns where the answer came from, for errors.
   */
  async #progress(
    res: Response,
    method: string,
    path: string,
    ErrorClass: new (message: string, init: DockerErrorInit) => DockerError,
    printer: ProgressPrinter,
    onAux?: (aux: Record<string, unknown>) => void,
    wrap: (message: string) => string = (m) => m,
  ): Promise<DockerErrorInit> {
    const init = { status: res.status, method, path: `/v${await this.apiVersion()}${path}` };
    if (res.body === null) return init;
    const messages = readJsonMessages(res.body);
    try {
      while (true) {
        let next: IteratorResult<JsonMessage>;
        try {
          next = await messages.next();
        } catch (err) {
          throw new DockerUnavailableError(
            `lost the Docker engine at ${this.socketPath} during ${method} ${path}: ${reason(err)}`,
            { ...init, cause: err },
          );
        }
        if (next.done) return init;
        const msg = next.value;
        const error = messageError(msg);
        if (error !== undefined) {
          printer.flush();
          throw new ErrorClass(wrap(error), init);
        }
        if (msg.aux !== undefined && msg.aux !== null && typeof msg.aux === "object") {
          onAux?.(msg.aux);
        } else {
          printer.message(msg);
        }
      }
    } finally {
      await messages.return(undefined); // cancels the body if we stopped early
      printer.flush();
    }
  }
}

/**
 * Encodes registry credentials for the `X-Registry-Auth` header: JSON
 * `{username, password, serveraddress}` in URL-safe base64 with padding, as
 * the engine decodes it. `null` encodes no credentials (`{}`).
 *
 * @example
 * ```ts
 * import { encodeRegistryAuth } from "./client.ts";
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

// ---- raw engine shapes (the fields read) ----

interface RawImage {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: string;
  Size?: number;
  Config?: {
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
  };
}

type RawPorts = Record<string, { HostIp: string; HostPort: string }[] | null>;

interface RawContainer {
  Id: string;
  Name?: string;
  Image?: string;
  Created?: string;
  RestartCount?: number;
  State?: {
    Status?: string;
    Running?: boolean;
    ExitCode?: number;
    StartedAt?: string;
    FinishedAt?: string;
    OOMKilled?: boolean;
    Error?: string;
    Health?: { Status?: string };
  };
  Config?: { Image?: string; Labels?: Record<string, string> | null; Tty?: boolean };
  NetworkSettings?: {
    IPAddress?: string;
    Ports?: RawPorts | null;
    Networks?: Record<string, { IPAddress?: string }> | null;
  };
}

interface RawSummary {
  Id: string;
  Names?: string[];
  Image?: string;
  ImageID?: string;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
  Created?: number;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

// ---- helpers ----

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

async function readJson(res: Response): Promise<unknown> {
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

async function drain(res: Response): Promise<void> {
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

function messageError(msg: JsonMessage): string | undefined {
  if (typeof msg.error === "string" && msg.error !== "") return msg.error.trim();
  const detail = msg.errorDetail?.message;
  if (typeof detail === "string" && detail !== "") return detail.trim();
  return undefined;
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch wraps the socket error: "error sending request ...: client error (Connect): No such file ..."
  const text = err.cause instanceof Error ? err.cause.message : err.message;
  const m = /\(Connect\): (.*)$/.exec(text) ?? /: ([^:]*\(os error \d+\))$/.exec(text);
  return m ? m[1] : text;
}

function checkStringMap(map: Record<string, string>, what: string): Record<string, string> {
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

function checkSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new DockerInputError(`invalid timeout: ${show(seconds)}`);
  }
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

function time(value: string | undefined): string | null {
  return value === undefined || value === "" || value === NEVER ? null : value;
}

function publishedPort(ports: RawPorts, containerPort?: number): number | null {
  const keys = containerPort === undefined
    ? Object.keys(ports).filter((k) => k.endsWith("/tcp")).sort()
    : [`${containerPort}/tcp`];
  for (const key of keys) {
    for (const binding of ports[key] ?? []) {
      if (binding.HostIp === "127.0.0.1" && binding.HostPort !== "") {
        return Number(binding.HostPort);
      }
    }
  }
  return null;
}

function summaryPort(ports: NonNullable<RawSummary["Ports"]>): number | null {
  const sorted = [...ports].sort((a, b) => a.PrivatePort - b.PrivatePort);
  for (const p of sorted) {
    if (p.Type === "tcp" && p.IP === "127.0.0.1" && p.PublicPort) return p.PublicPort;
  }
  return null;
}
