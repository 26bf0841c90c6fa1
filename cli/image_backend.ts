/**
 * What the CLI needs from a Docker engine: build an app directory into a
 * tagged image, push a tag with registry credentials, look an image up.
 * `cli/docker.ts` implements it with `lib/docker`; tests use a fake.
 *
 * @module
 */

/** Registry credentials, as the Docker engine's `X-Registry-Auth` takes them. */
export interface RegistryAuth {
  /** Registry user name. */
  username: string;
  /** Registry password. */
  password: string;
  /** Registry `host:port`. */
  serverAddress: string;
}

/** The facts the CLI uses about a local image. */
export interface LocalImage {
  /** Image id (`sha256:...`). */
  id: string;
  /** `repo@sha256:...` references of the image in registries. */
  repoDigests: string[];
}

/** A Docker engine as the CLI uses it. */
export interface ImageBackend {
  /**
   * Builds `dir` (its Dockerfile, honouring `.dockerignore`) and tags the
   * result `tag`, passing each progress line to `onLine`. Throws when the
   * build fails, with the engine's message.
   */
  build(dir: string, tag: string, onLine: (line: string) => void): Promise<{ imageId: string }>;
  /**
   * Pushes `repo:tag`, passing each progress line to `onLine` and each
   * layer's bytes sent so far to `onBytes`; resolves to the manifest digest.
   */
  push(
    repo: string,
    tag: string,
    auth: RegistryAuth,
    onLine: (line: string) => void,
    onBytes?: (layer: string, current: number, total: number) => void,
  ): Promise<{ digest: string }>;
  /** Tags the local image `source` as `repo:tag`. */
  tag(source: string, repo: string, tag: string): Promise<void>;
  /** The local image `ref`, or null when there is none. */
  inspect(ref: string): Promise<LocalImage | null>;
  /** Removes the local tag `ref` (the image with it when no other tag is left); false when absent. */
  remove(ref: string): Promise<boolean>;
}
