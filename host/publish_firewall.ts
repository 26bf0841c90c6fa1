/**
 * Only gateways reach app ports a host publishes on its machine address
 * (`containerPublishAddress`, container routes across machines).
 *
 * Docker forwards a connection to a published port with DNAT in `nat
 * PREROUTING`, so it passes `FORWARD`, where `DOCKER-USER` comes first. The
 * host keeps one chain per publish address, `DN-PUB-<address>`, jumped to
 * from `DOCKER-USER` for new connections into the app bridge whose original
 * destination (before DNAT, conntrack `--ctorigdst`) is that address: it
 * lets the `gatewayAddresses` sources through (`RETURN`: Docker's own rules
 * follow) and rejects every other, so another machine, or an app container
 * on this one, is refused at once. Connections the machine opens itself (its
 * host's probes) never pass `FORWARD`.
 *
 * The host writes the chain at start: the new rules go after the old ones,
 * then the old ones are deleted from the top, so no source the old or the
 * new rules refuse is let through meanwhile.
 *
 * @module
 */

import { APP_BRIDGE, type Iptables, iptables, runOrThrow } from "./isolation.ts";

/** The chain of `publishAddress`, the rules it should hold in order, and the jump to it. */
export function publishRules(
  publishAddress: string,
  gateways: readonly string[],
): { chain: string; rules: string[][]; jump: string[] } {
  const chain = `DN-PUB-${publishAddress}`;
  return {
    chain,
    rules: [
      ...gateways.map((source) => ["-s", source, "-j", "RETURN"]),
      ["-j", "REJECT"],
    ],
    jump: [
      "DOCKER-USER",
      "-o",
      APP_BRIDGE,
      "-m",
      "conntrack",
      "--ctstate",
      "NEW",
      "--ctorigdst",
      publishAddress,
      "-j",
      chain,
    ],
  };
}

/**
 * Makes `DN-PUB-<publishAddress>` hold exactly the rules of {@link
 * publishRules} and jumps to it from `DOCKER-USER`. Throws an IsolationError
 * naming the rule iptables refused.
 */
export async function ensurePublishFirewall(
  publishAddress: string,
  gateways: readonly string[],
  run: Iptables = iptables,
): Promise<void> {
  const { chain, rules, jump } = publishRules(publishAddress, gateways);
  if ((await run(["-n", "-L", chain])).code !== 0) await runOrThrow(run, ["-N", chain], true);
  const listed = await run(["-S", chain]);
  if (listed.code !== 0) await runOrThrow(run, ["-S", chain]);
  const old = listed.stdout.split("\n").filter((line) => line.startsWith("-A ")).length;
  for (const rule of rules) await runOrThrow(run, ["-A", chain, ...rule]);
  for (let i = 0; i < old; i++) await runOrThrow(run, ["-D", chain, "1"]);
  const [from, ...match] = jump;
  if ((await run(["-C", from, ...match])).code !== 0) await runOrThrow(run, ["-I", from, ...match]);
}
