/**
 * Follows the Docker engine's events about this host's containers, so a
 * container that dies, is removed or paused loses its routes at once rather
 * than at the next heartbeat: the request server suspends it (no request goes
 * to its address, which Docker may hand to another container a moment later)
 * and the agent checks it again before it serves. After the stream breaks
 * (the engine restarted), it is opened again and every served container is
 * looked up, since events may have been missed meanwhile.
 *
 * @module
 */

import type { ContainerEvent, DockerClient } from "../lib/docker/mod.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName } from "../lib/names.ts";
import { LABEL } from "./containers.ts";

/** Events that end a container's run (a restart is a `die`, then a `start`). */
export const RUN_ENDING_EVENTS = ["die", "destroy", "pause"] as const;

/** Exit codes of this host's containers' last runs, from their `die` events (1000 kept). */
export class LastExits {
  #codes = new Map<string, number>();

  /** Notes the exit code of a `die` event. */
  record(event: ContainerEvent): void {
    const code = Number(event.attributes.exitCode);
    if (event.action !== "die" || event.attributes.exitCode === undefined) return;
    if (!Number.isSafeInteger(code)) return;
    this.#codes.delete(event.id);
    this.#codes.set(event.id, code);
    const oldest = this.#codes.keys().next().value;
    if (this.#codes.size > 1000 && oldest !== undefined) this.#codes.delete(oldest);
  }

  /** The exit code of container `id`'s last run, if heard of. */
  get(id: string): number | undefined {
    return this.#codes.get(id);
  }
}

/** Options of {@link followContainerEvents}. */
export interface ContainerEventsOptions {
  docker: DockerClient;
  hostName: string;
  log: Logger;
  /** Container `id` of `app` stopped answering (died, removed, paused). */
  onEnded: (app: string, id: string, event: ContainerEvent) => void;
  /** Where exit codes are noted. */
  exits: LastExits;
  /** The stream was (re)opened: events may have been missed before. */
  onResync: () => void;
  /** Stops following. */
  signal: AbortSignal;
}

/** Follows the events until `signal` aborts; reopens the stream 1 s after it breaks. */
export async function followContainerEvents(options: ContainerEventsOptions): Promise<void> {
  const { docker, hostName, log, signal } = options;
  while (!signal.aborted) {
    try {
      const events = docker.containerEvents(
        { [LABEL.host]: hostName },
        RUN_ENDING_EVENTS,
        signal,
      );
      for await (const event of events) {
        options.exits.record(event);
        const app = event.attributes[LABEL.app];
        if (!isAppName(app)) continue;
        log.debug("container event", { app, action: event.action, container: event.id });
        options.onEnded(app, event.id, event);
      }
    } catch (e) {
      if (signal.aborted) return;
      log.warn("docker events interrupted", { error: errorMessage(e) });
    }
    if (signal.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    options.onResync();
  }
}
