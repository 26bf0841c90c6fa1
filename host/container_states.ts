/**
 * This host's containers as Docker last described them, kept in memory so a
 * status request is answered without asking Docker (which, with three hosts
 * asking at once on a busy machine, took milliseconds each time).
 *
 * The state follows the engine's events (host/events.ts): every event about
 * a container has it inspected again, one inspection at a time per
 * container (an event during one has it inspected once more after it, so
 * the last inspection always started after the last event). When the
 * stream is (re)opened, and every {@link RECONCILE_MS} as a backstop, every
 * container of this host is listed and inspected again, and any that is no
 * longer listed is looked up once more before it is dropped. While the
 * stream is down, or before the first full look after it opened, the state
 * is not {@link ContainerStates.synced}, and callers ask Docker instead.
 *
 * @module
 */

import type { ContainerInfo, DockerClient } from "../lib/docker/mod.ts";
import { errorMessage, type Logger } from "../lib/log.ts";

/** How often every container is looked at again though no event said so, in ms. */
export const RECONCILE_MS = 30_000;

/** Options of {@link ContainerStates}. */
export interface ContainerStatesOptions {
  docker: DockerClient;
  /** Label whose value names the host a container belongs to. */
  hostLabel: string;
  hostName: string;
  /** Label naming a container's app. */
  appLabel: string;
  log: Logger;
}

/** This host's containers, kept from Docker's events. */
export class ContainerStates {
  readonly #containers = new Map<string, ContainerInfo>();
  /** Inspections under way, by container id. */
  readonly #inspecting = new Map<string, Promise<void>>();
  /** Containers to inspect once more when the one under way ends (an event came meanwhile). */
  readonly #again = new Set<string>();
  /** Bumped when the event stream breaks: a full look started before that does not count. */
  #epoch = 0;
  #synced = false;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Creates an empty state; {@link resync} fills it. */
  constructor(readonly options: ContainerStatesOptions) {}

  /** True when the state follows Docker: the event stream is open and was followed by a full look. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The app's containers on this host, as last seen. */
  of(app: string): ContainerInfo[] {
    const { appLabel } = this.options;
    return [...this.#containers.values()].filter((c) => c.labels[appLabel] === app);
  }

  /**
   * Container `id` may have changed (an event named it): inspects it again.
   * When Docker cannot say, the state is no longer synced (until the next
   * {@link resync}).
   */
  changed(id: string): void {
    this.#look(id).catch((e) => {
      this.lost();
      this.options.log.warn("container state lost", { container: id, error: errorMessage(e) });
    });
  }

  /** Inspects `id` again, or once more after the inspection under way. */
  #look(id: string): Promise<void> {
    const under = this.#inspecting.get(id);
    if (under !== undefined) {
      this.#again.add(id);
      return under;
    }
    const done = this.#inspect(id);
    this.#inspecting.set(id, done);
    return done;
  }

  async #inspect(id: string): Promise<void> {
    const { docker, hostLabel, hostName } = this.options;
    try {
      do {
        this.#again.delete(id);
        const info = await docker.inspectContainer(id);
        if (info !== null && info.labels[hostLabel] === hostName) this.#containers.set(id, info);
        else this.#containers.delete(id);
      } while (this.#again.has(id));
    } finally {
      // At once, with no await between the last check and this: a later event starts anew.
      this.#inspecting.delete(id);
      this.#again.delete(id);
    }
  }

  /**
   * The stream was (re)opened (or the backstop timer fired): inspects every
   * container listed, and again those no longer listed; synced once done,
   * unless the stream broke meanwhile.
   */
  async resync(): Promise<void> {
    const { docker, hostLabel, hostName, log } = this.options;
    const epoch = this.#epoch;
    try {
      const listed = await docker.listContainers({ [hostLabel]: hostName }, true);
      const ids = new Set([...listed.map((c) => c.id), ...this.#containers.keys()]);
      await Promise.all([...ids].map((id) => this.#look(id)));
      if (epoch === this.#epoch) this.#synced = true;
    } catch (e) {
      log.warn("container state resync failed", { error: errorMessage(e) });
    }
  }

  /** The event stream broke: answers come from Docker until the next {@link resync}. */
  lost(): void {
    this.#epoch++;
    this.#synced = false;
  }

  /** Starts the backstop: a full look every {@link RECONCILE_MS}. */
  start(intervalMs = RECONCILE_MS): void {
    this.#timer ??= setInterval(() => void this.resync(), intervalMs);
  }

  /** Stops the backstop. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
