/**
 * The engine's event stream about containers (`GET /events`): one JSON
 * object a line, each validated before use; malformed lines are skipped.
 *
 * @module
 */

import { readLines } from "../lines.ts";
import { DockerUnavailableError } from "./errors.ts";

/** One thing that happened to a container. */
export interface ContainerEvent {
  /** What happened: `die`, `start`, `destroy`, `stop`, ... */
  action: string;
  /** Full container id. */
  id: string;
  /** The container's labels, with the engine's attributes (`name`, `image`, `exitCode`). */
  attributes: Record<string, string>;
  /** When, in ms since the epoch. */
  time: number;
}

/** Parses one line of the stream; null when it is not a container event. */
export function parseContainerEvent(line: string): ContainerEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  const actor = v.Actor as Record<string, unknown> | undefined;
  const id = actor?.ID;
  const attributes = actor?.Attributes;
  if (
    v.Type !== "container" || typeof v.Action !== "string" || typeof id !== "string" ||
    !/^[0-9a-f]{64}$/.test(id) || typeof attributes !== "object" || attributes === null ||
    !Object.values(attributes).every((a) => typeof a === "string")
  ) {
    return null;
  }
  const nanos = typeof v.timeNano === "number" ? v.timeNano : 0;
  return {
    action: v.Action,
    id,
    attributes: attributes as Record<string, string>,
    time: Math.floor(nanos / 1e6),
  };
}

/**
 * The container events in `body` as they arrive. A stream that breaks
 * (other than by its own cancellation) ends with a
 * {@linkcode DockerUnavailableError} carrying `lost`.
 */
export async function* readContainerEvents(
  body: ReadableStream<Uint8Array>,
  lost: string,
): AsyncGenerator<ContainerEvent> {
  try {
    for await (const line of readLines(body)) {
      const event = parseContainerEvent(line);
      if (event !== null) yield event;
    }
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") return;
    throw new DockerUnavailableError(`${lost}: ${err instanceof Error ? err.message : err}`, {
      status: 0,
      method: "GET",
      path: "/events",
      cause: err,
    });
  }
}
