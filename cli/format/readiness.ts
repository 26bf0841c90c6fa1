/**
 * Whether an app is really served, as its hosts report it: each status row
 * says when a container is starting, not ready or crash-looping; the app's
 * status line says `running` only when some host serves the current version;
 * and a line under the table names each host's reason.
 *
 * @module
 */

import type { ContainerReport, HostReport } from "../../lib/apps.ts";
import { containerStatus } from "./time.ts";

/** What readiness needs of an app: its status and current release. */
export interface ReleaseOf {
  /** Control's status: `created`, `running`, `stopped`. */
  status: string;
  /** Current version. */
  version: number;
  /** Current environment revision (absent: 0). */
  revision?: number;
  /** The accepted image digest, when control says. */
  digest?: string;
}

/** True when `c` runs the app's current release (version and environment revision). */
export function isCurrent(c: ContainerReport, app: ReleaseOf): boolean {
  // Same version and revision, and the accepted image (hosts that do not say: any).
  const sameImage = c.digest === undefined || !app.digest || c.digest === app.digest;
  return c.version === app.version && (c.revision ?? 0) === (app.revision ?? 0) && sameImage;
}

/** True when the host sends the app's requests to `c` (hosts that do not say: when it runs). */
export function isServing(c: ContainerReport): boolean {
  return c.serving ?? c.state === "running";
}

/** True when `c` keeps dying: the engine is restarting it, or it restarted and does not serve. */
export function isCrashLooping(c: ContainerReport): boolean {
  return c.state === "restarting" ||
    (c.state === "running" && !isServing(c) && (c.restartCount ?? 0) > 0);
}

function restarts(c: ContainerReport): string {
  const n = c.restartCount ?? 0;
  return n === 1 ? "1 restart" : `${n} restarts`;
}

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

/** The host's reported failure to run the app's current release, if any. */
export function failureOf(host: HostReport, app: ReleaseOf): string | undefined {
  const f = host.failure;
  if (!f || f.version !== app.version || f.revision !== (app.revision ?? 0)) return undefined;
  return f.message;
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

/**
 * Why `host` does not serve the app's current release (undefined when it
 * does, or has no container of it and no failure: not placed there, or not
 * yet begun).
 */
export function hostProblem(host: HostReport, app: ReleaseOf): string | undefined {
  const current = host.containers.filter((c) => isCurrent(c, app));
  if (current.some((c) => c.state === "running" && isServing(c))) return undefined;
  const failure = failureOf(host, app);
  const c = current[0];
  const probe = c?.probeError ? `last probe: ${c.probeError}` : undefined;
  if (c && isCrashLooping(c)) {
    return [`crash-looping (exit ${c.exitCode}), ${restarts(c)}`, failure ?? probe]
      .filter(Boolean).join("; ");
  }
  return failure ?? (c?.state === "running" ? probe : undefined);
}
