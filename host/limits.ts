/**
 * What an app container may use and do: the app's `APP_MEMORY` and
 * `APP_CPUS` (or their defaults), a cap on processes and threads, no Linux
 * capabilities and no privilege escalation, on the isolated app network
 * (host/isolation.ts).
 *
 * @module
 */

import {
  APP_PIDS_LIMIT,
  type AppRecord,
  DEFAULT_APP_MEMORY,
  DEFAULT_APP_MILLI_CPUS,
} from "../lib/apps.ts";
import type { ContainerSpec } from "../lib/docker/mod.ts";

/**
 * The memory and sandbox of `app`'s containers on `network`. The CPU limit
 * is cut to the `hostCpus` this machine has (the engine refuses more).
 *
 * @example
 * ```ts
 * import { appLimits } from "./limits.ts";
 *
 * appLimits({ memory: 0, milliCpus: 500 }, "dn-apps", 2);
 * // { memoryBytes: 536870912, sandbox: { cpus: 0.5, pidsLimit: 512, ... } }
 * ```
 */
export function appLimits(
  app: Pick<AppRecord, "memory" | "milliCpus">,
  network: string,
  hostCpus: number = navigator.hardwareConcurrency,
): Pick<ContainerSpec, "memoryBytes" | "sandbox"> {
  const milliCpus = Math.min(app.milliCpus || DEFAULT_APP_MILLI_CPUS, Math.max(1, hostCpus) * 1000);
  return {
    memoryBytes: app.memory || DEFAULT_APP_MEMORY,
    sandbox: {
      cpus: milliCpus / 1000,
      pidsLimit: APP_PIDS_LIMIT,
      dropAllCapabilities: true,
      noNewPrivileges: true,
      network,
    },
  };
}
