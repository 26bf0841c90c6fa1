/**
 * An app's containers on this host, through the Docker client adapter.
 *
 * Containers are named `dn-<host>-<app>-v<version>` and labelled with host,
 * app and version, so several host services can share one engine. They run
 * with the app's limits on the isolated app network (host/limits.ts,
 * host/isolation.ts). Requests reach the app on the container's IP on that
 * network; its port is also published on 127.0.0.1 only, at a port Docker
 * picks, for operators and benchmarks.
 *
 * @module
 */

import { type AppRecord, type ContainerReport, imageRef } from "../lib/apps.ts";
import type { ContainerInfo, DockerClient, RegistryAuth } from "../lib/docker/mod.ts";
import { type Http1Pool, UpstreamTimeoutError } from "../lib/http1.ts";
import { appLimits } from "./limits.ts";
import type { Target } from "./requests.ts";

/** Labels dn puts on every container it runs. */
export const LABEL = {
  managed: "network.dn.managed",
  host: "network.dn.host",
  app: "network.dn.app",
  version: "network.dn.version",
  revision: "network.dn.revision",
} as const;

/** Raised when a container does not become ready. */
export class ContainerStartError extends Error {
  override name = "ContainerStartError";
}

/** A container of an app on this host. */
export interface AppContainer {
  id: string;
  version: number;
  revision: number;
  running: boolean;
}

/** Options of {@link Containers}. */
export interface ContainersOptions {
  docker: DockerClient;
  hostName: string;
  registryAuth: RegistryAuth;
  pool: Http1Pool;
  /** How long a new container may take to answer HTTP, in ms. */
  readyTimeoutMs: number;
  /** Network app containers join (host/isolation.ts). */
  network: string;
}

/** Creates, starts, stops and reports an app's containers on this host. */
export class Containers {
  /** Last failed probe of each container, by container id, until one passes. */
  readonly #problems = new Map<string, string>();

  /** Creates the manager. */
  constructor(readonly options: ContainersOptions) {}

  /** Name of the container running `app` at `version` (and environment `revision`) on this host. */
  name(app: string, version: number, revision = 0): string {
    const base = `dn-${this.options.hostName}-${app}-v${version}`;
    return revision > 0 ? `${base}-r${revision}` : base;
  }

  /** The app's containers on this host, newest version first. */
  async list(app: string): Promise<AppContainer[]> {
    const found = await this.options.docker.listContainers({
      [LABEL.host]: this.options.hostName,
      [LABEL.app]: app,
    }, true);
    return found.map((c) => ({
      id: c.id,
      version: Number(c.labels[LABEL.version]) || 0,
      revision: Number(c.labels[LABEL.revision]) || 0,
      running: c.state === "running",
    })).sort((a, b) => b.version - a.version);
  }

  /** All apps with containers on this host. */
  async apps(): Promise<Set<string>> {
    const found = await this.options.docker.listContainers(
      { [LABEL.host]: this.options.hostName },
      true,
    );
    return new Set(found.map((c) => c.labels[LABEL.app]).filter((a): a is string => !!a));
  }

  /** Makes sure `app`'s current version runs and answers; returns where to reach it. */
  async ensureRunning(app: AppRecord): Promise<Target> {
    const { docker } = this.options;
    const name = this.name(app.name, app.version, app.revision);
    let info = await docker.inspectContainer(name, app.port);
    if (info === null) {
      // Built from validated parts and our registry, never taken from the record as is.
      const image = imageRef(this.options.registryAuth.serverAddress, app.name, app.version);
      if ((await docker.inspectImage(image)) === null) {
        await docker.pullImage(image, this.options.registryAuth);
      }
      await docker.createContainer(name, {
        image,
        env: {
          ...app.env,
          APP_NAME: app.name,
          APP_VERSION: String(app.version),
          PORT: String(app.port),
          DN_HOST: this.options.hostName,
        },
        labels: {
          [LABEL.managed]: "true",
          [LABEL.host]: this.options.hostName,
          [LABEL.app]: app.name,
          [LABEL.version]: String(app.version),
          [LABEL.revision]: String(app.revision),
        },
        containerPort: app.port,
        restartPolicy: "unless-stopped",
        init: true,
        ...appLimits(app, this.options.network),
      });
      info = await docker.inspectContainer(name, app.port);
    }
    if (info === null) throw new ContainerStartError(`container ${name} vanished`);
    if (!info.state.running) {
      await docker.startContainer(info.id);
      info = await docker.inspectContainer(info.id, app.port);
    }
    const target = info === null ? null : targetOf(info, app.port);
    if (target === null) throw new ContainerStartError(`container ${name} has no address`);
    await this.#waitReady(name, target, app.healthPath);
    return target;
  }

  /** Where the running container of `app` (its current version) is reachable now, if it runs. */
  async locate(app: AppRecord): Promise<Target | null> {
    const name = this.name(app.name, app.version, app.revision);
    const info = await this.options.docker.inspectContainer(name, app.port);
    if (info === null || !info.state.running) return null;
    return targetOf(info, app.port);
  }

  /** Stops a container (SIGTERM, then SIGKILL after 10 s). */
  async stop(id: string): Promise<void> {
    await this.options.docker.stopContainer(id, 10);
  }

  /**
   * Removes a container. A running one gets SIGTERM and 10 s to finish the
   * requests it is serving first (gateways on container routes may still
   * have some in flight), as on `dn stop`; then it is killed and removed.
   */
  async remove(id: string): Promise<void> {
    await this.options.docker.stopContainer(id, 10).catch(() => {}); // not running, or gone
    await this.options.docker.removeContainer(id, { force: true });
    this.#problems.delete(id);
  }

  /** Reports the app's containers on this host (their inspections run at once). */
  async report(app: string): Promise<ContainerReport[]> {
    const listed = await this.list(app);
    const inspected = await Promise.all(
      listed.map((c) => this.options.docker.inspectContainer(c.id)),
    );
    const reports: ContainerReport[] = [];
    listed.forEach((c, i) => {
      const info = inspected[i];
      if (info === null) return;
      reports.push({
        id: info.id,
        imageId: info.imageId,
        version: c.version,
        revision: c.revision,
        state: info.state.status,
        exitCode: info.state.exitCode,
        createdAt: info.created,
        startedAt: info.state.startedAt ?? "",
        finishedAt: info.state.finishedAt ?? "",
        oomKilled: info.state.oomKilled,
        restartCount: info.restartCount,
        ...(this.#problems.has(info.id) ? { probeError: this.#problems.get(info.id) } : {}),
      });
    });
    return reports;
  }

  /** Restarts a container (it may come back on a new address and port). */
  async restart(id: string): Promise<void> {
    await this.options.docker.restartContainer(id, 10);
  }

  /**
   * Probes the app once: healthy when `healthPath` answers 2xx or 3xx, or,
   * without a health path, when `/` answers at all. A status line and headers
   * are the answer: the body is not waited for (a path that streams, such as
   * Server-Sent Events, is ready once its head is in). Returns the reason
   * when not.
   */
  async probe(target: Target, healthPath: string, timeoutMs = 2000): Promise<string | null> {
    const url = healthPath || "/";
    try {
      const res = await this.options.pool.exchange(target.address, target.port, {
        method: "GET",
        url,
        headers: [["host", "localhost"], ["user-agent", "dn-host-probe"]],
        body: null,
        length: 0,
      }, { connectMs: timeoutMs, headMs: timeoutMs, idleMs: timeoutMs });
      await res.body?.cancel();
      if (healthPath && (res.status < 200 || res.status >= 400)) {
        return this.#problem(target, `${healthPath} answered ${res.status}`);
      }
      return this.#problem(target, null);
    } catch (e) {
      const why = e instanceof UpstreamTimeoutError
        ? `GET ${url} no answer in ${timeoutMs} ms`
        : `GET ${url}: ${(e as Error).message}`;
      return this.#problem(target, why);
    }
  }

  /** Remembers the container's last probe problem (null: it passed) for status reports. */
  #problem(target: Target, problem: string | null): string | null {
    if (problem === null) this.#problems.delete(target.containerId);
    else this.#problems.set(target.containerId, problem.slice(0, 300));
    return problem;
  }

  async #waitReady(name: string, target: Target, healthPath: string): Promise<void> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    let last = "";
    let tries = 0;
    while (Date.now() < deadline) {
      const problem = await this.probe(target, healthPath, 1000);
      if (problem === null) return;
      last = problem;
      tries++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new ContainerStartError(
      `container ${name} did not become ready in time: ${last} (${tries} tries)`,
    );
  }
}

/** Where a running container's app answers: its bridge IP, else its published loopback port. */
function targetOf(info: ContainerInfo, appPort: number): Target | null {
  if (info.ipAddress !== null) {
    return { containerId: info.id, address: info.ipAddress, port: appPort };
  }
  if (info.hostPort !== null) {
    return { containerId: info.id, address: "127.0.0.1", port: info.hostPort };
  }
  return null;
}
