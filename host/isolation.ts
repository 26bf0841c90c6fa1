/**
 * Network isolation of app containers on this host's engine.
 *
 * Every app container joins one bridge network, {@link APP_NETWORK}, shared
 * by all dn hosts on the engine and created with inter-container traffic off
 * (`enable_icc=false`): containers on it cannot reach each other, and
 * Docker's isolation rules drop traffic between it and any other bridge. Two
 * iptables chains the host keeps close the rest, for connections an app
 * container opens (replies to connections made to it pass):
 *
 * - `DN-APPS-INPUT` (from `INPUT`): none to this machine's own addresses, so
 *   no listener of the machine (host, gateway, control, Redis, RabbitMQ,
 *   registry, published ports) answers an app, whatever address it binds;
 * - `DN-APPS-FORWARD` (from `DOCKER-USER`): none to private, shared and
 *   link-local ranges ({@link DENIED_NETWORKS}: other machines of the
 *   network, cloud metadata), DNS (port 53) excepted; the public internet
 *   stays reachable.
 *
 * The gateway and the host reach containers from the machine itself, which
 * the rules do not touch.
 *
 * @module
 */

import { createNetwork, DockerError, inspectNetwork, type NetworkInfo } from "../lib/docker/mod.ts";
import type { DockerClient } from "../lib/docker/mod.ts";
import { LABEL } from "./containers.ts";

/** The network every app container joins. */
export const APP_NETWORK = "dn-apps";
/** Linux name of its bridge (the firewall rules match it). */
export const APP_BRIDGE = "dn-apps0";
/** Destinations app containers may not open connections to (DNS excepted). */
export const DENIED_NETWORKS: readonly string[] = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
];

const ICC = "com.docker.network.bridge.enable_icc";
const BRIDGE_NAME = "com.docker.network.bridge.name";
const BRIDGE_NF = "net.bridge.bridge-nf-call-iptables";

/** Isolation cannot be set up; the host does not start without it. */
export class IsolationError extends Error {
  override name = "IsolationError";
}

/** Runs `iptables` with `args`; returns how it ended and what it printed. */
export type Iptables = (args: string[]) => Promise<Output>;

/** Reads a kernel setting of this network namespace (`sysctl -n <key>`). */
export type Sysctl = (key: string) => Promise<Output>;

/** What a command printed and how it ended. */
export interface Output {
  /** Exit code. */
  code: number;
  /** Standard output, trimmed. */
  stdout: string;
  /** Standard error, trimmed. */
  stderr: string;
}

/** `iptables -w` (waiting for the lock other hosts on this machine may hold). */
export const iptables: Iptables = (args) => output("iptables", ["-w", ...args]);

const sysctl: Sysctl = (key) => output("sysctl", ["-n", key]);

/** What `iptables` and `sysctl` run with: a search path and the C locale, none of the host's env. */
const COMMAND_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

/**
 * Runs `command` with `args` and only {@link COMMAND_ENV} (the host's own
 * environment may hold secrets, or LD_PRELOAD, which Deno refuses to pass on);
 * throws {@link IsolationError} when it cannot start.
 */
async function output(command: string, args: string[]): Promise<Output> {
  try {
    const out = await new Deno.Command(command, {
      args,
      clearEnv: true,
      env: COMMAND_ENV,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  } catch (e) {
    throw new IsolationError(`cannot run ${command}: ${(e as Error).message}`);
  }
}

/**
 * Makes sure network `name` ({@link APP_NETWORK}) exists with inter-container
 * traffic off on bridge `bridge` ({@link APP_BRIDGE}), creating it or taking
 * the one another host made meanwhile, and returns it. A network of that name
 * set up otherwise is refused, never changed.
 */
export async function ensureAppNetwork(
  docker: DockerClient,
  name = APP_NETWORK,
  bridge = APP_BRIDGE,
): Promise<NetworkInfo> {
  let net = await inspectNetwork(docker, name);
  if (net === null) {
    let refused: unknown = null;
    try {
      await createNetwork(docker, name, {
        labels: { [LABEL.managed]: "true" },
        options: { [ICC]: "false", [BRIDGE_NAME]: bridge },
      });
    } catch (e) {
      // Another host on this engine may have been first: the engine answers 409 (same name)
      // or 403 (same bridge name) to the others. Whichever, look again.
      if (!(e instanceof DockerError && [403, 409].includes(e.status))) throw e;
      refused = e;
    }
    net = await inspectNetwork(docker, name);
    // The winner's network may not be visible yet when the engine refuses ours: wait for it.
    for (let i = 0; net === null && refused !== null && i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      net = await inspectNetwork(docker, name);
    }
    if (net === null && refused !== null) throw refused;
  }
  if (net === null) throw new IsolationError(`network ${name} vanished after creation`);
  if (
    net.driver !== "bridge" || net.options[ICC] !== "false" ||
    net.options[BRIDGE_NAME] !== bridge
  ) {
    throw new IsolationError(
      `network ${name} exists but is not a bridge ${bridge} with ${ICC}=false; ` +
        `remove it (docker network rm ${name}) and start the host again`,
    );
  }
  return net;
}

/** The two chains, their rules in order and the jumps to them, each `[chain, ...rule]`. */
export function firewallRules(): { chains: string[]; rules: string[][]; jumps: string[][] } {
  const input = "DN-APPS-INPUT";
  const forward = "DN-APPS-FORWARD";
  const established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"];
  return {
    chains: [input, forward],
    rules: [
      [input, ...established],
      [input, "-j", "REJECT"],
      [forward, ...established],
      [forward, "-p", "udp", "--dport", "53", "-j", "RETURN"],
      [forward, "-p", "tcp", "--dport", "53", "-j", "RETURN"],
      ...DENIED_NETWORKS.map((cidr) => [forward, "-d", cidr, "-j", "REJECT"]),
    ],
    jumps: [
      ["INPUT", "-i", APP_BRIDGE, "-j", input],
      ["DOCKER-USER", "-i", APP_BRIDGE, "-j", forward],
    ],
  };
}

/**
 * Adds the rules of {@link firewallRules} that are missing, keeping their
 * order; rules already there (from an earlier run or another host on this
 * machine) stay as they are. Throws {@link IsolationError} naming the rule
 * iptables refused.
 */
export async function ensureFirewall(run: Iptables = iptables): Promise<void> {
  const { chains, rules, jumps } = firewallRules();
  for (const chain of chains) {
    if ((await run(["-n", "-L", chain])).code !== 0) await runOrThrow(run, ["-N", chain], true);
  }
  for (const [chain, ...rule] of rules) {
    if ((await run(["-C", chain, ...rule])).code !== 0) {
      await runOrThrow(run, ["-A", chain, ...rule]);
    }
  }
  for (const [chain, ...rule] of jumps) {
    if ((await run(["-C", chain, ...rule])).code !== 0) {
      await runOrThrow(run, ["-I", chain, ...rule]);
    }
  }
}

/**
 * Sets up isolation before any app container starts: the network, the
 * firewall, and a check that bridged traffic passes iptables (without it the
 * engine cannot keep containers on one bridge apart).
 */
export async function isolateApps(
  docker: DockerClient,
  run: Iptables = iptables,
  read: Sysctl = sysctl,
): Promise<void> {
  await ensureAppNetwork(docker);
  await ensureFirewall(run);
  const bridged = await read(BRIDGE_NF);
  if (bridged.code !== 0 || bridged.stdout !== "1") {
    throw new IsolationError(
      `${BRIDGE_NF} is ${bridged.stdout || bridged.stderr || "unknown"}, not 1: bridged traffic ` +
        `skips iptables, so app containers on one bridge are not kept apart ` +
        `(modprobe br_netfilter; sysctl -w ${BRIDGE_NF}=1)`,
    );
  }
}

/** Runs iptables `args`; throws {@link IsolationError} unless it succeeds (or, with `existsOk`, found it there). */
export async function runOrThrow(run: Iptables, args: string[], existsOk = false): Promise<void> {
  const { code, stderr } = await run(args);
  if (code === 0 || (existsOk && /exists/i.test(stderr))) return;
  throw new IsolationError(`iptables ${args.join(" ")} failed: ${stderr || `exit ${code}`}`);
}
