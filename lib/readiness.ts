/**
 * Whether a host serves an app's current release, from its status report
 * (lib/apps.ts): the words `dn status` prints under its table and hosts
 * publish for gateways' 503s (lib/unready.ts) ("crash-looping (exit 3),
 * 4 restarts; ...").
 *
 * @module
 */

import type { ContainerReport, HostReport } from "./apps.ts";

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

/** `1 restart`, `4 restarts`: how often the engine restarted `c`. */
export function restarts(c: ContainerReport): string {
  const n = c.restartCount ?? 0;
  return n === 1 ? "1 restart" : `${n} restarts`;
}

/** The host's reported failure to run the app's current release, if any. */
export function failureOf(host: HostReport, app: ReleaseOf): string | undefined {
  const f = host.failure;
  if (!f || f.version !== app.version || f.revision !== (app.revision ?? 0)) return undefined;
  return f.message;
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
