/**
 * The Docker Engine adapter: the only part of dn that talks to Docker.
 *
 * - {@linkcode DockerClient}: the Engine API over its Unix socket (build,
 *   import, tag, push, pull, containers, logs, container events), in layers:
 *   transport.ts, images.ts, containers.ts, client.ts;
 * - {@linkcode tarDirectory} and {@linkcode tarEntries}: streaming tar archives
 *   for build contexts and root file systems;
 * - {@linkcode readDockerignore}: which context files are sent;
 * - {@linkcode sandboxHostConfig}: a container's CPU, process and privilege
 *   limits; {@linkcode createNetwork}, {@linkcode inspectNetwork}: networks;
 * - name checks and the errors every call may throw.
 *
 * @example Build a context directory
 * ```ts ignore
 * import { DockerClient, readDockerignore, tarDirectory } from "./mod.ts";
 *
 * using docker = new DockerClient();
 * const dir = "apps/hello-world";
 * const context = tarDirectory(dir, await readDockerignore(dir));
 * await docker.build(context, { tag: "hello-world:v1" }, console.log);
 * ```
 *
 * @module
 */

export {
  type BuildOptions,
  type ContainerInfo,
  type ContainerSpec,
  type ContainerState,
  type ContainerStatus,
  type ContainerSummary,
  DEFAULT_DOCKER_SOCKET,
  DockerClient,
  type DockerClientOptions,
  type DockerVersion,
  encodeRegistryAuth,
  type ImageInfo,
  type ImportOptions,
  type LogOptions,
  MIN_API_VERSION,
  type PortBinding,
  type RegistryAuth,
  type RestartPolicy,
} from "./client.ts";
export {
  DockerBuildError,
  DockerError,
  type DockerErrorInit,
  DockerInputError,
  DockerPullError,
  DockerPushError,
  DockerUnavailableError,
} from "./errors.ts";
export { type ContainerEvent, parseContainerEvent } from "./events.ts";
export {
  createNetwork,
  inspectNetwork,
  isNetworkName,
  type NetworkInfo,
  type NetworkSpec,
} from "./networks.ts";
export { type ContainerSandbox, sandboxHostConfig } from "./sandbox.ts";
export { type DockerignoreOptions, parseDockerignore, readDockerignore } from "./dockerignore.ts";
export {
  type ImageRef,
  isContainerName,
  isImageRef,
  isRepository,
  isTag,
  parseImageRef,
} from "./refs.ts";
export { demuxLogs, type LogLine } from "./streams.ts";
export {
  type PathFilter,
  tarDirectory,
  type TarDirectoryEntry,
  tarEntries,
  type TarEntry,
  type TarEntryBase,
  type TarFileEntry,
  type TarSymlinkEntry,
} from "./tar.ts";
