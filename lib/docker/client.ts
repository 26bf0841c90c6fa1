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

import { DockerInputError } from "./errors.ts";
import { DockerContainers, labelFilters } from "./containers.ts";
import { type ContainerEvent, readContainerEvents } from "./events.ts";
import { checkContainerName, show } from "./refs.ts";
import { demuxLogs, type LogLine } from "./streams.ts";
import { readJson } from "./transport.ts";

export {
  type ContainerInfo,
  type ContainerSpec,
  type ContainerState,
  type ContainerStatus,
  type ContainerSummary,
  DockerContainers,
  type PortBinding,
  type RestartPolicy,
} from "./containers.ts";
export { type BuildOptions, DockerImages, type ImageInfo, type ImportOptions } from "./images.ts";
export {
  DEFAULT_DOCKER_SOCKET,
  type DockerClientOptions,
  DockerTransport,
  type DockerVersion,
  encodeRegistryAuth,
  MIN_API_VERSION,
  type RegistryAuth,
} from "./transport.ts";

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
export class DockerClient extends DockerContainers {
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
    const res0 = await this.request("GET", `/containers/${id}/json`);
    const tty = ((await readJson(res0)) as { Config?: { Tty?: boolean } }).Config?.Tty === true;
    const res = await this.request("GET", `/containers/${id}/logs`, {
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

  /**
   * The engine's events about containers having every label in `labels`, as
   * they happen, until `signal` aborts (or the engine goes away: the stream
   * then ends with a {@linkcode DockerUnavailableError}). Only the `actions`
   * named are sent (`die`, `start`, `destroy`, ...). With `since` (seconds
   * since the epoch, by this machine's clock, which the engine shares) the
   * engine first replays its recent events from then on, so nothing that
   * happened while the stream was being opened is missed.
   *
   * @example
   * ```ts ignore
   * for await (const e of docker.containerEvents({ "dn.host": "vaermina" }, ["die"], signal)) {
   *   console.log(e.action, e.id);
   * }
   * ```
   */
  async *containerEvents(
    labels: Record<string, string>,
    actions: readonly string[],
    signal: AbortSignal,
    since?: number,
  ): AsyncGenerator<ContainerEvent> {
    const label = labelFilters(labels);
    for (const action of actions) {
      if (!/^[a-z_]{1,32}$/.test(action)) {
        throw new DockerInputError(`invalid event: ${show(action)}`);
      }
    }
    const filters = JSON.stringify({ type: ["container"], label, event: actions });
    const query = { filters, since: since === undefined ? undefined : since.toFixed(3) };
    const res = await this.request("GET", "/events", { query, signal });
    if (res.body === null) return;
    yield* readContainerEvents(res.body, `lost the Docker engine at ${this.socketPath} (events)`);
  }
}
