/**
 * What a container may use and do beyond its memory limit: CPU time, a cap on
 * processes and threads, its capabilities, privilege escalation and the
 * network it is attached to. {@linkcode sandboxHostConfig} checks a
 * {@linkcode ContainerSandbox} and turns it into the engine's `HostConfig`
 * fields for `POST /containers/create`.
 *
 * @module
 */

import { DockerInputError } from "./errors.ts";
import { isNetworkName } from "./networks.ts";

/** Limits and privileges of a container (every field optional: the engine's default). */
export interface ContainerSandbox {
  /** CPU time, in CPUs (`0.5` = half of one): 0.01 up to the engine's CPU count. */
  cpus?: number;
  /** Most processes and threads the container may have at once (at least 1). */
  pidsLimit?: number;
  /** Drop every Linux capability (`--cap-drop ALL`). */
  dropAllCapabilities?: boolean;
  /** Forbid gaining privileges through setuid binaries and the like (`no-new-privileges`). */
  noNewPrivileges?: boolean;
  /** A user-defined network to attach to instead of the default bridge. */
  network?: string;
}

/**
 * The `HostConfig` fields of `sandbox`; throws {@linkcode DockerInputError}
 * for an invalid value, before any request.
 *
 * @example
 * ```ts
 * import { sandboxHostConfig } from "./sandbox.ts";
 *
 * sandboxHostConfig({ cpus: 0.5, pidsLimit: 256, dropAllCapabilities: true });
 * // { NanoCpus: 500000000, PidsLimit: 256, CapDrop: ["ALL"] }
 * ```
 */
export function sandboxHostConfig(sandbox: ContainerSandbox = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const { cpus, pidsLimit, network } = sandbox;
  if (cpus !== undefined) {
    if (typeof cpus !== "number" || !Number.isFinite(cpus) || cpus < 0.01) {
      throw new DockerInputError(`invalid CPU limit: ${String(cpus)} (at least 0.01)`);
    }
    out.NanoCpus = Math.round(cpus * 1e9);
  }
  if (pidsLimit !== undefined) {
    if (!Number.isSafeInteger(pidsLimit) || pidsLimit < 1) {
      throw new DockerInputError(`invalid pids limit: ${String(pidsLimit)} (at least 1)`);
    }
    out.PidsLimit = pidsLimit;
  }
  if (sandbox.dropAllCapabilities) out.CapDrop = ["ALL"];
  if (sandbox.noNewPrivileges) out.SecurityOpt = ["no-new-privileges:true"];
  if (network !== undefined) {
    if (!isNetworkName(network)) throw new DockerInputError(`invalid network: ${String(network)}`);
    out.NetworkMode = network;
  }
  return out;
}
