/**
 * `dn` waits until it is true: after control accepted a change, the command
 * asks control for the app's status until every host the app is placed on
 * serves the new release (`serve`), or no container of it runs any more
 * (`stop`). On a terminal a progress line shows who is behind; `--no-wait`
 * returns at once. After the bound it says which host is behind and why:
 * a failure (exit 1) when no host serves the release, a warning otherwise.
 *
 * @module
 */

import type { HostReport } from "../lib/apps.ts";
import type { Context } from "./context.ts";
import { type AppInfo, ControlError } from "./control_client.ts";
import { CliError } from "./errors.ts";
import { failureOf, hostProblem, isCurrent, isServing, type ReleaseOf } from "../lib/readiness.ts";

/** How long hosts get to serve a release: a pull, the readiness wait (30 s) and a retry. */
export const SERVE_TIMEOUT_MS = 90_000;
/** How long hosts get to stop an app's containers (SIGTERM, 10 s, SIGKILL). */
export const STOP_TIMEOUT_MS = 30_000;
/** Time between two looks at the hosts. */
export const POLL_MS = 500;

/** Raised when no host serves a release within the bound; names each host's reason. */
export class NotServingError extends CliError {
  override name = "NotServingError";
}

/** The release to wait for and where it is placed. */
export type Release = ReleaseOf & Pick<AppInfo, "name" | "placement">;

/** One look at the hosts: who serves, who is still behind and why, who gave up and why. */
export interface Progress {
  /** Hosts that serve the release (or, for `stop`, run nothing). */
  done: string[];
  /** Hosts still on their way, with what they are doing. */
  behind: Map<string, string>;
  /** Hosts that reported they could not run the release, with why. */
  failed: Map<string, string>;
}

/**
 * Where `hosts` stand on serving `app`'s current release: every host it is
 * placed on (with no placement: every host that answered) must have a
 * container of the release that it sends requests to.
 */
export function serveProgress(app: Release, hosts: readonly HostReport[]): Progress {
  const byName = new Map(hosts.map((h) => [h.host, h]));
  const expected = app.placement.length > 0 ? app.placement : [...byName.keys()];
  const progress: Progress = { done: [], behind: new Map(), failed: new Map() };
  for (const name of expected) {
    const host = byName.get(name);
    if (!host) {
      progress.behind.set(name, "did not answer");
      continue;
    }
    const current = host.containers.filter((c) => isCurrent(c, app));
    if (current.some((c) => c.state === "running" && isServing(c))) {
      progress.done.push(name);
    } else if (failureOf(host, app) !== undefined) {
      progress.failed.set(name, hostProblem(host, app) ?? "failed");
    } else {
      progress.behind.set(name, hostProblem(host, app) ?? behindReason(current.length > 0));
    }
  }
  return progress;
}

function behindReason(hasContainer: boolean): string {
  return hasContainer ? "starting" : "no container of it yet (pulling or queued)";
}

/** Where `hosts` stand on stopping every container of the app. */
export function stopProgress(hosts: readonly HostReport[]): Progress {
  const progress: Progress = { done: [], behind: new Map(), failed: new Map() };
  for (const host of hosts) {
    const running = host.containers.filter((c) =>
      c.state === "running" || c.state === "restarting"
    );
    if (running.length === 0) progress.done.push(host.host);
    else progress.behind.set(host.host, `${running.length} container(s) still running`);
  }
  return progress;
}

/** `vaermina: starting; sanguine: did not answer` */
function reasons(map: Map<string, string>): string {
  return [...map].map(([host, why]) => `${host}: ${why}`).join("; ");
}

async function poll(
  ctx: Context,
  name: string,
  what: string,
  look: (hosts: readonly HostReport[]) => Progress,
  timeoutMs: number,
  needsHosts: boolean,
): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let progress: Progress;
  try {
    while (true) {
      const report = await ctx.control().appStatus(name).catch((e) => {
        // Control's state store (or control) briefly away: look again until the bound.
        if (e instanceof ControlError && (e.status === 503 || e.status === 0)) {
          if (Date.now() < deadline) return null;
        }
        throw e;
      });
      if (report === null) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        continue;
      }
      progress = look(report.hosts);
      const total = progress.done.length + progress.behind.size + progress.failed.size;
      if (progress.behind.size === 0 && (total > 0 || !needsHosts)) return progress;
      if (Date.now() >= deadline) return progress;
      ctx.progress(`${what}: ${progress.done.length}/${total} hosts; ${reasons(progress.behind)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    ctx.progress("");
  }
}

/**
 * Waits until every host the app is placed on serves `app`'s current
 * release (unless `--no-wait`). Throws {@link NotServingError} naming each
 * host's reason when none serves it by the bound or every host gave up;
 * when some serve it, names the others on standard error.
 */
export async function awaitServing(
  ctx: Context,
  app: Release,
  timeoutMs = SERVE_TIMEOUT_MS,
): Promise<void> {
  if (ctx.options.noWait || app.status !== "running") return;
  const release = app.revision ? `v${app.version} r${app.revision}` : `v${app.version}`;
  const progress = await poll(
    ctx,
    app.name,
    `waiting for hosts to serve ${app.name} ${release}`,
    (hosts) => serveProgress(app, hosts),
    timeoutMs,
    true,
  );
  const behind = new Map([...progress.failed, ...progress.behind]);
  if (progress.done.length === 0) {
    const why = behind.size > 0 ? reasons(behind) : "no host answered";
    throw new NotServingError(`${app.name} ${release} is not served by any host: ${why}`);
  }
  for (const [host, why] of behind) {
    ctx.err(`dn: ${host} does not serve ${app.name} ${release} yet: ${why}`);
  }
}

/** Waits until no container of the app runs (unless `--no-wait`); names hosts still running it. */
export async function awaitStopped(
  ctx: Context,
  name: string,
  timeoutMs = STOP_TIMEOUT_MS,
): Promise<void> {
  if (ctx.options.noWait) return;
  const what = `waiting for hosts to stop ${name}`;
  const progress = await poll(ctx, name, what, stopProgress, timeoutMs, false);
  for (const [host, why] of progress.behind) ctx.err(`dn: ${host} has not stopped ${name}: ${why}`);
}
