/**
 * Follows the Docker engine's events about this host's containers, so a
 * container that dies, is removed or paused loses its routes at once rather
 * than at the next heartbeat: the request server suspends it (no request goes
 * to its address, which Docker may hand to another container a moment later)
 * and the agent checks it again before it serves. After the stream breaks
 * (the engine restarted), it is opened again and every served container is
 * looked up, since events may have been missed meanwhile. Every event that
 * changes what `dn status` shows of a container (created, started,
 * restarted, died, paused, removed, ...) is passed on too, for the
 * container state kept in memory (host/container_states.ts).
 *
 * @module
 */

import type { ContainerEvent, DockerClient } from "../lib/docker/mod.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName } from "../lib/names.ts";
import { LABEL } from "./containers.ts";

/** Events that end a container's run (a restart is a `die`, then a `start`). */
export const RUN_ENDING_EVENTS = ["die", "destroy", "pause"] as const;

/** Events after which a container's state (as `dn status` shows it) may differ. */
export const STATE_EVENTS = [
  ...RUN_ENDING_EVENTS,
  "create",
  "start",
  "restart",
  "stop",
  "kill",
  "oom",
  "unpause",
  "rename",
  "update",
] as const;

/** How far back, in s, a (re)opened stream replays events (those while it was being opened). */
const REPLAY_S = 2;

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
  /** Something happened to container `id` (any of {@link STATE_EVENTS}). */
  onChanged?: (id: string) => void;
  /** The stream is being (re)opened: what happened before it may need a look. */
  onOpening?: () => void;
  /** The stream broke: no events come until it is open again. */
  onLost?: () => void;
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
        STATE_EVENTS,
        signal,
        Date.now() / 1000 - REPLAY_S,
      );
      options.onOpening?.();
      for await (const event of events) {
        options.onChanged?.(event.id);
        if (!(RUN_ENDING_EVENTS as readonly string[]).includes(event.action)) continue;
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
    options.onLost?.();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    options.onResync();
  }
}
