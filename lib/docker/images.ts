/**
 * The Docker Engine's image calls: build, import, tag, push, pull, inspect
 * and remove, with the engine's JSON progress streams turned into the lines
 * the docker CLI prints.
 *
 * @module
 */

import {
  DockerBuildError,
  type DockerError,
  type DockerErrorInit,
  DockerInputError,
  DockerPullError,
  DockerPushError,
  DockerUnavailableError,
} from "./errors.ts";
import { checkImageRef, checkRepository, checkTag, parseImageRef, show } from "./refs.ts";
import { followProgress, ProgressPrinter } from "./streams.ts";
import {
  checkStringMap,
  DockerTransport,
  drain,
  encodeRegistryAuth,
  readJson,
  reason,
  type RegistryAuth,
  type RequestOptions,
} from "./transport.ts";

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

const DOCKERFILE = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,255}$/;

/** The image calls of the engine; {@linkcode DockerClient} adds the container calls. */
export class DockerImages extends DockerTransport {
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
    const res = await this.request("POST", "/build", {
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
    const res = await this.request("POST", "/images/create", {
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
    const res = await this.request("POST", `/images/${source}/tag`, {
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
    const res = await this.request("POST", path, {
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
    const res = await this.request("POST", path, {
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
    const res = await this.request("GET", `/images/${ref}/json`, { allow: [404] });
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
    const res = await this.request("DELETE", `/images/${ref}`, {
      query: { force: opts.force ?? false },
      allow: [404],
    });
    await drain(res);
    return res.status !== 404;
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
    await followProgress(res.body, printer, {
      onAux,
      onError: (message) => new ErrorClass(wrap(message), init),
      onLost: (err) =>
        new DockerUnavailableError(
          `lost the Docker engine at ${this.socketPath} during ${method} ${path}: ${reason(err)}`,
          { ...init, cause: err },
        ),
    });
    return init;
  }
}

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
