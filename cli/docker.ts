/**
 * The CLI's {@link ImageBackend} on the local Docker engine, through
 * `lib/docker`: tars the app directory (honouring `.dockerignore`), builds,
 * pushes, inspects.
 *
 * @module
 */

import type { DnConfig } from "../lib/config.ts";
import { DockerClient, readDockerignore, tarDirectory } from "../lib/docker/mod.ts";
import { humanSize } from "./format/views.ts";
import type { ImageBackend } from "./image_backend.ts";

/**
 * Makes the backend for the engine at `config.dockerSocket`.
 *
 * @example
 * ```ts ignore
 * const images = dockerBackend(loadConfig());
 * await images.build("apps/hello-world", "127.0.0.1:5055/hello-world:v1", console.log);
 * ```
 */
export function dockerBackend(config: Pick<DnConfig, "dockerSocket">): ImageBackend {
  const docker = new DockerClient({ socketPath: config.dockerSocket });
  return {
    async build(dir, tag, onLine) {
      const ignore = await readDockerignore(dir);
      let size = 0;
      let announced = false;
      // The docker CLI's first line; the engine reads the whole context before
      // it answers, so the size is complete when the stream ends.
      const announce = () => {
        if (announced) return;
        announced = true;
        onLine(`Sending build context to Docker daemon  ${humanSize(size)}`);
      };
      const context = tarDirectory(dir, ignore).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            size += chunk.length;
            controller.enqueue(chunk);
          },
          flush: announce,
        }),
      );
      return await docker.build(context, { tag }, (line) => {
        announce();
        onLine(line);
      });
    },
    push(repo, tag, auth, onLine, onBytes) {
      return docker.pushImage(repo, tag, auth, onLine, onBytes);
    },
    remove(ref) {
      return docker.removeImage(ref);
    },
    tag(source, repo, tag) {
      return docker.tagImage(source, repo, tag);
    },
    async inspect(ref) {
      const info = await docker.inspectImage(ref);
      return info && { id: info.id, repoDigests: info.repoDigests };
    },
  };
}
