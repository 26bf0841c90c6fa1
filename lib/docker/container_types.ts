/**
 * Types of the Docker Engine's container calls (lib/docker/containers.ts):
 * what a container is created from, and what inspect and list report.
 *
 * @module
 */

import type { ContainerSandbox } from "./sandbox.ts";

/** How the engine restarts a container. */
export type RestartPolicy = "no" | "on-failure" | "unless-stopped" | "always";

/** What {@linkcode DockerContainers.createContainer} creates. */
export interface ContainerSpec {
  /** Image reference or id. */
  image: string;
  /** Environment variables. */
  env: Record<string, string>;
  /** Container labels. */
  labels: Record<string, string>;
  /** TCP port the app listens on; published on 127.0.0.1, on a random host port. */
  containerPort: number;
  /**
   * An IPv4 address of this machine to publish `containerPort` on as well,
   * on another random host port ({@linkcode ContainerInfo.bindings}).
   */
  publishAddress?: string;
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
  /** Every address and host port the container port is published on (empty when not running). */
  bindings: PortBinding[];
  /** The container's IP address (on its network: the default bridge or its own), or null. */
  ipAddress: string | null;
}

/** A host address and port a container port is published on. */
export interface PortBinding {
  /** Host address (`127.0.0.1`, a machine address). */
  address: string;
  /** Host port. */
  port: number;
}

/** One row of {@linkcode DockerContainers.listContainers}. */
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
