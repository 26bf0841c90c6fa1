/**
 * The app record kept by control and the reports hosts send about their
 * containers: the shapes shared by control, hosts and the CLI.
 *
 * @module
 */

/** Desired state of an app. */
export type AppStatus = "created" | "running" | "stopped";

/** All app statuses. */
export const APP_STATUSES: readonly AppStatus[] = ["created", "running", "stopped"];

/** An app as stored by control and sent to hosts. */
export interface AppRecord {
  /** App name, a DNS label; unique. */
  name: string;
  /** Hostname the gateway routes to this app; unique. */
  hostname: string;
  /** Port the app listens on inside its container. */
  port: number;
  /** Desired state. */
  status: AppStatus;
  /** Version, 1 at create, bumped by each update. */
  version: number;
  /** Image reference with version tag: `<registry>/<name>:v<version>`. */
  image: string;
  /** Content digest of the pushed image (`sha256:...`), or "" when unknown. */
  digest: string;
  /** ISO time the app was created. */
  createdAt: string;
  /** ISO time of the last change. */
  updatedAt: string;
}

/** One container of an app on one host, as reported by that host. */
export interface ContainerReport {
  /** Docker container id (full). */
  id: string;
  /** Image id (`sha256:...`) the container runs. */
  imageId: string;
  /** App version the container runs. */
  version: number;
  /** Docker state: `created`, `running`, `exited`, `restarting`, ... */
  state: string;
  /** Exit code when exited. */
  exitCode: number;
  /** ISO time the container was created. */
  createdAt: string;
  /** ISO time the container last started, or "". */
  startedAt: string;
  /** ISO time the container last stopped, or "". */
  finishedAt: string;
}

/** A host's answer to `status.<app>`, with the round trip control measured. */
export interface HostReport {
  /** Host service name. */
  host: string;
  /** Round trip from control to the host and back, in milliseconds. */
  latencyMs: number;
  /** The app's containers on that host (empty when none). */
  containers: ContainerReport[];
}

/** Body of `GET /v1/apps/:name/status`. */
export interface AppStatusReport {
  /** The app's record. */
  app: AppRecord;
  /** One entry per host that answered, sorted by host name. */
  hosts: HostReport[];
}

/** Image reference of an app version: `<registry>/<name>:v<version>`. */
export function imageRef(registry: string, name: string, version: number): string {
  return `${registry}/${name}:v${version}`;
}
