/**
 * `DELETE /v1/apps/:name` returns when the hosts removed the app's
 * containers: after the remove command went out, control asks every host
 * about the app until none reports a container, for at most
 * {@link REMOVAL_WAIT_MS}; what is left is named in the answer.
 *
 * @module
 */

import type { HostReport } from "../lib/apps.ts";

/** Longest a removal waits for the hosts (a container gets 10 s to stop, plus draining). */
export const REMOVAL_WAIT_MS = 25_000;
/** Time between two looks at the hosts. */
const POLL_MS = 250;

/** Asks every host about an app (control's status RPC). */
export type AskHosts = () => Promise<HostReport[]>;

/**
 * Asks the hosts until none reports a container of the app, or `timeoutMs`
 * passed; resolves to the containers left on each host (`{}` when none).
 *
 * @example
 * ```ts ignore
 * const left = await awaitRemoval(() => broker.status(name, live, 1500, members));
 * ```
 */
export async function awaitRemoval(
  ask: AskHosts,
  timeoutMs = REMOVAL_WAIT_MS,
): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left: Record<string, number> = {};
    for (const host of await ask()) {
      if (host.containers.length > 0) left[host.host] = host.containers.length;
    }
    if (Object.keys(left).length === 0 || Date.now() >= deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
