/**
 * Whether an app is really served, as its hosts report it: each status row
 * says when a container is starting, not ready or crash-looping; the app's
 * status line says `running` only when some host serves the current version;
 * and a line under the table names each host's reason.
 *
 * @module
 */

import type { ContainerReport, HostReport } from "../../lib/apps.ts";
import {
  failureOf,
  hostProblem,
  isCrashLooping,
  isCurrent,
  isServing,
  type ReleaseOf,
  restarts,
} from "../../lib/readiness.ts";
import { containerStatus } from "./time.ts";

/**
 * A status row's STATUS text: the container's state in the seed's words,
 * and for the current release of a running app whether it serves:
 * `up 12 seconds` (serving), `up 2 seconds, starting`, `up 9 seconds, not
 * ready` (its probe fails), `crash-looping (exit 1), 8 restarts`.
 *
 * @example
 * ```ts
 * rowStatus({ ...c, state: "restarting", exitCode: 1, restartCount: 8 }, app, now);
 * // "crash-looping (exit 1), 8 restarts"
 * ```
 */
export function rowStatus(c: ContainerReport, app: ReleaseOf, now: Date): string {
  const text = containerStatus(c, now);
  if (app.status !== "running" || !isCurrent(c, app)) return text;
  if (isCrashLooping(c)) return `crash-looping (exit ${c.exitCode}), ${restarts(c)}`;
  if (c.state !== "running" || isServing(c)) {
    return (c.restartCount ?? 0) > 0 ? `${text}, ${restarts(c)}` : text;
  }
  return c.probeError ? `${text}, not ready` : `${text}, starting`;
}

/**
 * The app's status as its hosts show it, so the header and the rows agree:
 * control's `running` stays `running` only when some host serves the current
 * release; else it is `starting`, or `not serving (...)` when hosts failed
 * to start it or it crash-loops. `stopped` is `stopping` while a container
 * still runs. Other statuses, and apps no host reported on, are as control says.
 *
 * @example
 * ```ts
 * observedStatus({ status: "stopped", version: 1 }, [{ host: "a", latencyMs: 1, containers: [up] }]);
 * // "stopping"
 * ```
 */
export function observedStatus(app: ReleaseOf, hosts: readonly HostReport[]): string {
  if (hosts.length === 0) return app.status;
  const containers = hosts.flatMap((h) => h.containers);
  if (app.status === "stopped" && containers.some((c) => c.state === "running")) return "stopping";
  if (app.status !== "running") return app.status;
  const current = containers.filter((c) => isCurrent(c, app));
  if (current.some((c) => c.state === "running" && isServing(c))) return "running";
  if (current.some(isCrashLooping)) return "not serving (crash-looping)";
  if (hosts.some((h) => failureOf(h, app) !== undefined)) return "not serving (failed to start)";
  if (current.some((c) => c.state === "exited")) return "not serving (its containers exited)";
  return "starting";
}

/**
 * Why hosts do not serve the app's current release, one line each
 * (`! vaermina: did not become ready in time: connection refused`), after a
 * blank line; none when every host serves it or the app is not running.
 */
export function problemLines(app: ReleaseOf, hosts: readonly HostReport[]): string[] {
  if (app.status !== "running") return [];
  const lines: string[] = [];
  for (const host of hosts) {
    const reason = hostProblem(host, app);
    if (reason !== undefined) lines.push(`! ${host.host}: ${reason}`);
  }
  return lines.length > 0 ? ["", ...lines] : [];
}
