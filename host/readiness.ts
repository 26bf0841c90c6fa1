/**
 * When a container is ready: readiness belongs to one container run (its id
 * and start time), never to an address. Docker hands a dead container's
 * bridge IP to the next container that starts, possibly another app's, so a
 * probe counts only when the same run of the same container holds that
 * address before and after it. A container that exits or restarts while it
 * is awaited fails at once, naming its exit code.
 *
 * @module
 */

import type { ContainerInfo, DockerClient } from "../lib/docker/mod.ts";
import { sameRun, type Target } from "./served.ts";

/** Raised when a container does not become ready. */
export class ContainerStartError extends Error {
  override name = "ContainerStartError";
}

/** What {@link waitReady} needs. */
export interface ReadyWait {
  docker: DockerClient;
  /** Probes the app at `target` once: null when it answered as required, else why not. */
  probe: (target: Target) => Promise<string | null>;
  /** Container id and name (for messages). */
  id: string;
  name: string;
  /** The app's port in the container. */
  port: number;
  /** How long the container may take to answer, in ms. */
  timeoutMs: number;
  /** How long the container must stay up (the same run) before it counts, in ms. */
  stableMs: number;
  /** The exit code of the container's last run, when the host heard of it (Docker's events). */
  lastExit?: (id: string) => number | undefined;
  /** The machine address the app's port is published on for gateways, if any. */
  publishAddress?: string;
  /** Told each failed probe: why, and how many probes failed so far. */
  onProbeFailed?: (problem: string, tries: number) => void;
}

/**
 * Where a running container's app answers: its bridge IP, else its published
 * loopback port; with `publishAddress`, also the port published there.
 */
export function targetOf(
  info: ContainerInfo,
  appPort: number,
  publishAddress?: string,
): Target | null {
  const startedAt = info.state.startedAt ?? "";
  const target: Target | null = info.ipAddress !== null
    ? { containerId: info.id, startedAt, address: info.ipAddress, port: appPort }
    : info.hostPort !== null
    ? { containerId: info.id, startedAt, address: "127.0.0.1", port: info.hostPort }
    : null;
  const binding = info.bindings.find((b) => b.address === publishAddress);
  if (target !== null && binding) target.published = `${binding.address}:${binding.port}`;
  return target;
}

/**
 * Waits until container `id` answers its probe, still the same run before
 * and after the probe, and (with `stableMs`) has stayed up that long since this host first saw
 * it running. Returns
 * where it answers; throws {@link ContainerStartError} when it exits,
 * restarts, vanishes or does not answer in time.
 */
export async function waitReady(wait: ReadyWait): Promise<Target> {
  const deadline = Date.now() + wait.timeoutMs + wait.stableMs;
  // Up time by this host's own monotonic clock from when it first saw the run (its wall clock
  // need not agree with the engine's).
  const seen = performance.now();
  let first: Target | null = null;
  let last = "it never answered";
  let failed = 0;
  while (Date.now() < deadline) {
    const before = await current(wait, first);
    first ??= before;
    const problem = await wait.probe(before);
    await current(wait, first); // still the same run: the answer came from this container
    if (problem === null) {
      const upMs = performance.now() - seen;
      if (upMs >= wait.stableMs) return before;
      last = `it had been up only ${Math.round(upMs / 1000)} s`;
    } else {
      last = problem;
      wait.onProbeFailed?.(problem, ++failed);
    }
    await new Promise((resolve) => setTimeout(resolve, problem === null ? 250 : 100));
  }
  throw new ContainerStartError(`container ${wait.name} did not become ready in time: ${last}`);
}

/** The container's run now; throws when it stopped, restarted since `first`, or has no address. */
async function current(wait: ReadyWait, first: Target | null): Promise<Target> {
  const info = await wait.docker.inspectContainer(wait.id, wait.port);
  if (info === null) {
    throw new ContainerStartError(`container ${wait.name} vanished while starting`);
  }
  const { state } = info;
  if (!state.running || state.status === "restarting") {
    const why = state.oomKilled
      ? "was killed for lack of memory"
      : `exited with code ${state.exitCode}`;
    throw new ContainerStartError(`container ${wait.name} ${why} while starting`);
  }
  const target = targetOf(info, wait.port, wait.publishAddress);
  if (target === null) throw new ContainerStartError(`container ${wait.name} has no address`);
  if (first !== null && !sameRun(first, target)) {
    // Running again: the engine reset the exit code; the die event kept it.
    const code = wait.lastExit?.(wait.id);
    const why = code === undefined ? "it crashed" : `it exited with code ${code}`;
    throw new ContainerStartError(`container ${wait.name} restarted while starting (${why})`);
  }
  return target;
}
