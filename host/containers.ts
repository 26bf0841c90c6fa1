/**
 * An app's containers on this host, through the Docker client adapter.
 *
 * Containers are named `dn-<host>-<app>-v<version>` and labelled with host,
 * app, version, revision, image digest and the app's incarnation (its
 * creation time), so several host services can share one engine and a
 * container left from an earlier incarnation of the same name, or from other
 * code, is never taken for the current one. They run with the app's limits
 * on the isolated app network (host/limits.ts, host/isolation.ts). Images are
 * pulled and run by the digest control recorded (`<registry>/<app>@sha256:…`),
 * never by a tag. Requests reach the app on the container's IP on that
 * network; its port is also published on 127.0.0.1, at a port Docker picks,
 * for operators and benchmarks, and with `publishAddress` on that machine
 * address too, for gateways on other machines (container routes; only
 * gateway addresses may connect there: host/publish_firewall.ts).
 *
 * @module
 */

import { type AppRecord, type ContainerReport, digestRef } from "../lib/apps.ts";
import type { DockerClient, RegistryAuth } from "../lib/docker/mod.ts";
import { type Http1Pool, UpstreamTimeoutError } from "../lib/http1.ts";
import { isDigest } from "../lib/names.ts";
import type { ContainerStates } from "./container_states.ts";
import { appLimits } from "./limits.ts";
import { ContainerStartError, targetOf, waitReady } from "./readiness.ts";
import type { Target } from "./requests.ts";

export { ContainerStartError };

/** Labels dn puts on every container it runs. */
export const LABEL = {
  managed: "network.dn.managed",
  host: "network.dn.host",
  app: "network.dn.app",
  version: "network.dn.version",
  revision: "network.dn.revision",
  digest: "network.dn.digest",
  incarnation: "network.dn.incarnation",
} as const;

/** A container of an app on this host, as its labels describe it. */
export interface AppContainer {
  id: string;
  version: number;
  revision: number;
  /** Image digest it was created from ("" when unlabelled). */
  digest: string;
  /** Creation time of the app incarnation it belongs to ("" when unlabelled). */
  incarnation: string;
  running: boolean;
}

/** True when `c` is the container `app`'s desired state asks for: same incarnation, version, revision and digest. */
export function isCurrent(c: Omit<AppContainer, "id" | "running">, app: AppRecord): boolean {
  return c.version === app.version && c.revision === app.revision && c.digest === app.digest &&
    c.incarnation === app.createdAt;
}

function describe(labels: Record<string, string>): Omit<AppContainer, "id" | "running"> {
  return {
    version: Number(labels[LABEL.version]) || 0,
    revision: Number(labels[LABEL.revision]) || 0,
    digest: labels[LABEL.digest] ?? "",
    incarnation: labels[LABEL.incarnation] ?? "",
  };
}

/** The version, revision and digest a container's labels name. */
function releaseLabels(labels: Record<string, string>) {
  const { version, revision, digest } = describe(labels);
  return { version, revision, digest };
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
  /** The exit code of a container's last run, when the host heard of it (Docker's events). */
  lastExit?: (id: string) => number | undefined;
  /** Machine address to publish app ports on for gateways (`containerPublishAddress`), if any. */
  publishAddress?: string;
  /** Told each failed readiness probe of an app's new container, and how many failed so far. */
  onProbeFailed?: (app: string, problem: string, tries: number) => void;
  /** This host's containers kept from Docker's events: status reports come from it when synced. */
  states?: ContainerStates;
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
      ...describe(c.labels),
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

  /**
   * Makes sure `app`'s current container (its incarnation, version, revision
   * and digest) runs and answers; returns where to reach it. A container of
   * that name made for anything else is removed first. With `stableMs`, the
   * container must also have stayed up that long since it started (an
   * update: the old version serves meanwhile, and a new one that crashes
   * after a few seconds never gets traffic).
   */
  async ensureRunning(app: AppRecord, stableMs = 0): Promise<Target> {
    const { docker } = this.options;
    if (!isDigest(app.digest)) {
      throw new ContainerStartError(
        `${app.name} v${app.version} has no recorded image digest and is never run from a tag: ` +
          `deploy it again with dn update`,
      );
    }
    const name = this.name(app.name, app.version, app.revision);
    let info = await docker.inspectContainer(name, app.port);
    if (info !== null && !isCurrent(describe(info.labels), app)) {
      // Left by an earlier incarnation of the app (removed while this host was away) or other code.
      await docker.removeContainer(info.id, { force: true });
      info = null;
    }
    if (info === null) {
      // Built from validated parts and our registry, never taken from the record as is.
      const image = digestRef(this.options.registryAuth.serverAddress, app.name, app.digest);
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
          [LABEL.digest]: app.digest,
          [LABEL.incarnation]: app.createdAt,
        },
        containerPort: app.port,
        publishAddress: this.options.publishAddress,
        restartPolicy: "unless-stopped",
        init: true,
        ...appLimits(app, this.options.network),
      });
      info = await docker.inspectContainer(name, app.port);
    }
    if (info === null) throw new ContainerStartError(`container ${name} vanished`);
    if (!info.state.running) await docker.startContainer(info.id);
    return await waitReady({
      docker,
      probe: (target) => this.probe(target, app.healthPath, 1000),
      id: info.id,
      name,
      port: app.port,
      timeoutMs: this.options.readyTimeoutMs,
      lastExit: this.options.lastExit,
      publishAddress: this.options.publishAddress,
      stableMs,
      onProbeFailed: (problem, tries) => this.options.onProbeFailed?.(app.name, problem, tries),
    });
  }

  /**
   * Where container `id` answers now, if it still runs: its bridge IP or
   * published port, and when it started (which tells a restart apart).
   */
  async locate(id: string, port: number): Promise<Target | null> {
    const info = await this.options.docker.inspectContainer(id, port);
    if (info === null || !info.state.running) return null;
    return targetOf(info, port, this.options.publishAddress);
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

  /**
   * Reports the app's containers on this host, newest version first; `served`
   * takes its requests. From the state kept from Docker's events when it is
   * synced (no Docker call), else, or with `fresh`, inspected now.
   */
  async report(app: string, served?: Target, fresh = false): Promise<ContainerReport[]> {
    const { states, docker } = this.options;
    const found = states?.synced && !fresh
      ? states.of(app)
      : (await Promise.all((await this.list(app)).map((c) => docker.inspectContainer(c.id))))
        .filter((info) => info !== null);
    return found.map((info) => ({
      id: info.id,
      imageId: info.imageId,
      ...releaseLabels(info.labels),
      serving: info.id === served?.containerId,
      state: info.state.status,
      exitCode: info.state.exitCode,
      createdAt: info.created,
      startedAt: info.state.startedAt ?? "",
      finishedAt: info.state.finishedAt ?? "",
      oomKilled: info.state.oomKilled,
      restartCount: info.restartCount,
      ...(this.#problems.has(info.id) ? { probeError: this.#problems.get(info.id) } : {}),
    })).sort((a, b) => b.version - a.version);
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
}
