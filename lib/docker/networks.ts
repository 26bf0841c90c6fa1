/**
 * User-defined Docker networks: inspect one by name and create a bridge
 * network with labels and driver options (`com.docker.network.bridge.name`,
 * `com.docker.network.bridge.enable_icc`, ...).
 *
 * @module
 */

import type { DockerClient } from "./client.ts";
import { DockerError, DockerInputError } from "./errors.ts";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/** A network as the engine describes it (the fields dn reads). */
export interface NetworkInfo {
  /** Full network id. */
  id: string;
  /** Network name. */
  name: string;
  /** Driver (`bridge`). */
  driver: string;
  /** True for an internal network (no route out). */
  internal: boolean;
  /** Labels. */
  labels: Record<string, string>;
  /** Driver options (`com.docker.network.bridge.enable_icc: "false"`). */
  options: Record<string, string>;
  /** Subnets of its address pools (`172.18.0.0/16`). */
  subnets: string[];
}

/** What {@linkcode createNetwork} creates: a network of the `bridge` driver. */
export interface NetworkSpec {
  /** Labels. */
  labels: Record<string, string>;
  /** Driver options. */
  options: Record<string, string>;
}

/**
 * True when `name` is a valid network name (`[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}`).
 *
 * @example
 * ```ts
 * import { isNetworkName } from "./networks.ts";
 *
 * isNetworkName("dn-apps"); // true
 * ```
 */
export function isNetworkName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name);
}

/**
 * The network named `name`, or null when there is none.
 *
 * @example
 * ```ts ignore
 * const net = await inspectNetwork(docker, "dn-apps");
 * ```
 */
export async function inspectNetwork(
  docker: DockerClient,
  name: string,
): Promise<NetworkInfo | null> {
  checkName(name);
  const { status, body } = await docker.call("GET", `/networks/${name}`, { allow: [404] });
  if (status === 404) return null;
  const v = (body ?? {}) as RawNetwork;
  // The engine also finds a network by an id prefix: only an exact name counts.
  if (v.Name !== name) return null;
  return {
    id: String(v.Id ?? ""),
    name: v.Name,
    driver: String(v.Driver ?? ""),
    internal: v.Internal === true,
    labels: v.Labels ?? {},
    options: v.Options ?? {},
    subnets: (v.IPAM?.Config ?? []).map((c) => String(c.Subnet ?? "")).filter((s) => s !== ""),
  };
}

/**
 * Creates the bridge network `name` and returns its id. Throws a
 * {@linkcode DockerError} with status 409 when a network of that name exists.
 *
 * @example
 * ```ts ignore
 * await createNetwork(docker, "dn-apps", {
 *   labels: { "network.dn.managed": "true" },
 *   options: { "com.docker.network.bridge.enable_icc": "false" },
 * });
 * ```
 */
export async function createNetwork(
  docker: DockerClient,
  name: string,
  spec: NetworkSpec,
): Promise<string> {
  checkName(name);
  for (const map of [spec.labels, spec.options]) {
    for (const [k, v] of Object.entries(map)) {
      if (k === "" || typeof v !== "string") {
        throw new DockerInputError(`invalid network label or option: ${JSON.stringify(k)}`);
      }
    }
  }
  const { body } = await docker.call("POST", "/networks/create", {
    json: {
      Name: name,
      Driver: "bridge",
      CheckDuplicate: true,
      Labels: spec.labels,
      Options: spec.options,
    },
  });
  const id = (body as { Id?: unknown } | null)?.Id;
  if (typeof id !== "string") {
    throw new DockerError(`the engine created network ${name} without an id`, {
      status: 0,
      method: "POST",
      path: "/networks/create",
    });
  }
  return id;
}

function checkName(name: string): void {
  if (!isNetworkName(name)) throw new DockerInputError(`invalid network name: ${String(name)}`);
}

interface RawNetwork {
  Id?: string;
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: { Subnet?: string }[] | null };
}
