/** host/publish_firewall.ts against a fake iptables: the rules, their rewrite, and the jump. */
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { APP_BRIDGE, type Iptables, IsolationError } from "../../host/isolation.ts";
import { ensurePublishFirewall } from "../../host/publish_firewall.ts";

/** iptables over in-memory chains; `refuse` fails every command on that chain. */
function fakeIptables(refuse = "") {
  const chains = new Map<string, string[]>([["DOCKER-USER", []]]);
  const result = (ok: boolean, stdout = "") =>
    Promise.resolve({ code: ok ? 0 : 1, stdout, stderr: ok ? "" : "iptables: Bad rule" });
  const run: Iptables = (args) => {
    const [op, chain, ...rule] = args;
    const list = chains.get(chain);
    if (chain === refuse && op !== "-C" && op !== "-n") return result(false);
    const text = rule.join(" ");
    switch (op) {
      case "-n":
        return result(chains.has(args[2]));
      case "-N":
        if (list) return Promise.resolve({ code: 1, stdout: "", stderr: "Chain already exists." });
        chains.set(chain, []);
        return result(true);
      case "-S":
        return result(
          !!list,
          [`-N ${chain}`, ...(list ?? []).map((r) => `-A ${chain} ${r}`)].join("\n"),
        );
      case "-C":
        return result(list?.includes(text) ?? false);
      case "-A":
        list?.push(text);
        return result(!!list);
      case "-I":
        list?.unshift(text);
        return result(!!list);
      case "-D":
        list?.splice(Number(text) - 1, 1);
        return result(!!list);
    }
    return result(false);
  };
  return { run, chains };
}

const JUMP =
  `-o ${APP_BRIDGE} -m conntrack --ctstate NEW --ctorigdst 10.78.0.2 -j DN-PUB-10.78.0.2`;

Deno.test("publish firewall: gateways pass, the rest is rejected; a restart changes the list", async () => {
  const { run, chains } = fakeIptables();
  await ensurePublishFirewall("10.78.0.2", ["10.78.0.1", "192.0.2.0/24"], run);
  assertEquals(chains.get("DN-PUB-10.78.0.2"), [
    "-s 10.78.0.1 -j RETURN",
    "-s 192.0.2.0/24 -j RETURN",
    "-j REJECT",
  ]);
  assertEquals(chains.get("DOCKER-USER"), [JUMP]);
  await ensurePublishFirewall("10.78.0.2", ["10.78.0.9"], run);
  assertEquals(chains.get("DN-PUB-10.78.0.2"), ["-s 10.78.0.9 -j RETURN", "-j REJECT"]);
  assertEquals(chains.get("DOCKER-USER"), [JUMP], "one jump");
});

Deno.test("publish firewall: a refused rule is an IsolationError naming it", async () => {
  const { run } = fakeIptables("DOCKER-USER");
  const e = await assertRejects(
    () => ensurePublishFirewall("10.78.0.2", ["10.78.0.1"], run),
    IsolationError,
  );
  assertEquals(e.message, `iptables -I DOCKER-USER ${JUMP} failed: iptables: Bad rule`);
});
