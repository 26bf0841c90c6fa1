/**
 * The Docker Engine's container calls: create (publishing the app port on
 * 127.0.0.1, and on a given machine address), start, stop, restart, remove,
 * inspect and list by label.
 *
 * @module
 */

import { DockerInputError } from "./errors.ts";
import { DockerImages } from "./images.ts";
import { checkContainerName, checkImageRef, show } from "./refs.ts";
import { sandboxHostConfig } from "./sandbox.ts";
import { checkStringMap, drain, readJson } from "./transport.ts";
import type {
  ContainerInfo,
  ContainerSpec,
  ContainerStatus,
  ContainerSummary,
  PortBinding,
} from "./container_types.ts";

export type {
  ContainerInfo,
  ContainerSpec,
  ContainerState,
  ContainerStatus,
  ContainerSummary,
  PortBinding,
  RestartPolicy,
} from "./container_types.ts";

const ENV_KEY = /^[^=\0]+$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;
const MIN_MEMORY = 6 * 1024 * 1024;
const NEVER = "0001-01-01T00:00:00Z";

/** The container calls of the engine; {@linkcode DockerClient} adds logs and events. */
export class DockerContainers extends DockerImages {
  /**
   * Creates a container named `name` and returns its id. The container port
   * is published on 127.0.0.1 (and `publishAddress`), on a random host port (see
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
    const publish = spec.publishAddress;
    if (publish !== undefined && !IPV4.test(publish)) {
      throw new DockerInputError(`invalid publish address: ${show(publish)}`);
    }
    const key = `${port}/tcp`;
    const bindings = [{ HostIp: "127.0.0.1", HostPort: "" }];
    if (publish !== undefined && publish !== "127.0.0.1") {
      bindings.push({ HostIp: publish, HostPort: "" });
    }
    const body: Record<string, unknown> = {
      Image: spec.image,
      Env: env,
      Labels: checkStringMap(spec.labels, "label"),
      ExposedPorts: { [key]: {} },
      HostConfig: {
        PortBindings: { [key]: bindings },
        RestartPolicy: { Name: spec.restartPolicy },
        ...(mem === undefined ? {} : { Memory: mem, MemorySwap: mem }),
        ...sandboxHostConfig(spec.sandbox),
        ...(spec.init === undefined ? {} : { Init: spec.init }),
      },
    };
    if (spec.cmd !== undefined) body.Cmd = spec.cmd;
    const res = await this.request("POST", "/containers/create", { query: { name }, json: body });
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
    await drain(await this.request("POST", `/containers/${id}/start`, { allow: [304] }));
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
    const res = await this.request("POST", `/containers/${id}/stop`, {
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
    const res = await this.request("POST", `/containers/${id}/restart`, {
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
    const res = await this.request("DELETE", `/containers/${id}`, {
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
    const res = await this.request("GET", `/containers/${idOrName}/json`, { allow: [404] });
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
      bindings: portBindings(v.NetworkSettings?.Ports ?? {}, containerPort),
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
    const filters = labelFilters(labels);
    const res = await this.request("GET", "/containers/json", {
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
}

// ---- raw engine shapes (the fields read) ----

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

/** Engine label filters (`key` or `key=value`) for `labels`; an empty value matches any. */
export function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(checkStringMap(labels, "label")).map(([k, v]) => {
    if (k === "" || k.includes("=")) throw new DockerInputError(`invalid label: ${show(k)}`);
    return v === "" ? k : `${k}=${v}`;
  });
}

function checkSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new DockerInputError(`invalid timeout: ${show(seconds)}`);
  }
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

function portBindings(ports: RawPorts, containerPort?: number): PortBinding[] {
  const key = containerPort === undefined
    ? Object.keys(ports).filter((k) => k.endsWith("/tcp")).sort()[0]
    : `${containerPort}/tcp`;
  return (ports[key ?? ""] ?? []).filter((b) => b.HostPort !== "")
    .map((b) => ({ address: b.HostIp, port: Number(b.HostPort) }));
}

function summaryPort(ports: NonNullable<RawSummary["Ports"]>): number | null {
  const sorted = [...ports].sort((a, b) => a.PrivatePort - b.PrivatePort);
  for (const p of sorted) {
    if (p.Type === "tcp" && p.IP === "127.0.0.1" && p.PublicPort) return p.PublicPort;
  }
  return null;
}
