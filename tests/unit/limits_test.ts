/**
 * Resources and isolation of app containers, without an engine: the
 * `HostConfig` fields of a sandbox, the limits a host gives an app, the
 * validation of `memory` and `milliCpus`, and the firewall rules a host
 * keeps (against a recording stand-in for iptables; tests/e2e/resources_test.ts
 * and tests/e2e/isolation_test.ts run the real thing).
 */

import { assertEquals, assertMatch, assertRejects, assertThrows } from "../helpers/assert.ts";
import { APP_PIDS_LIMIT, isAppMemory, isAppMilliCpus } from "../../lib/apps.ts";
import { DockerInputError, sandboxHostConfig } from "../../lib/docker/mod.ts";
import { parseCpus } from "../../cli/app_config.ts";
import { parseAppRecord } from "../../lib/store.ts";
import { appLimits } from "../../host/limits.ts";
import {
  APP_BRIDGE,
  ensureFirewall,
  firewallRules,
  type Iptables,
  IsolationError,
} from "../../host/isolation.ts";
import { createApi } from "../../control/api.ts";
import type { ControlBroker } from "../../control/broker.ts";
import type { AppStore } from "../../lib/store.ts";
import type { CertStore } from "../../lib/certs.ts";
import { Logger } from "../../lib/log.ts";

Deno.test("sandboxHostConfig maps limits and privileges to HostConfig fields", () => {
  assertEquals(sandboxHostConfig(), {});
  assertEquals(
    sandboxHostConfig({
      cpus: 0.5,
      pidsLimit: 64,
      dropAllCapabilities: true,
      noNewPrivileges: true,
      network: "dn-apps",
    }),
    {
      NanoCpus: 500_000_000,
      PidsLimit: 64,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true"],
      NetworkMode: "dn-apps",
    },
  );
  for (const bad of [0, 0.001, -1, NaN, Infinity]) {
    const e = assertThrows(() => sandboxHostConfig({ cpus: bad }), DockerInputError);
    assertMatch(e.message, /^invalid CPU limit/);
  }
  for (const bad of [0, -1, 1.5]) {
    const e = assertThrows(() => sandboxHostConfig({ pidsLimit: bad }), DockerInputError);
    assertMatch(e.message, /^invalid pids limit/);
  }
  for (const bad of ["", "a b", "-x", "x/y", "a".repeat(65)]) {
    const e = assertThrows(() => sandboxHostConfig({ network: bad }), DockerInputError);
    assertMatch(e.message, /^invalid network/);
  }
});

Deno.test("appLimits: defaults, the app's own limits, CPUs cut to the machine's", () => {
  assertEquals(appLimits({ memory: 0, milliCpus: 0 }, "dn-apps", 2), {
    memoryBytes: 512 * 1024 * 1024,
    sandbox: {
      cpus: 1,
      pidsLimit: APP_PIDS_LIMIT,
      dropAllCapabilities: true,
      noNewPrivileges: true,
      network: "dn-apps",
    },
  });
  const own = appLimits({ memory: 64 * 1024 * 1024, milliCpus: 250 }, "dn-apps", 2);
  assertEquals([own.memoryBytes, own.sandbox?.cpus], [64 * 1024 * 1024, 0.25]);
  assertEquals(appLimits({ memory: 0, milliCpus: 8000 }, "dn-apps", 2).sandbox?.cpus, 2);
});

Deno.test("memory and milliCpus: 0 for the default, else within bounds", () => {
  for (const ok of [0, 16 * 1024 * 1024, 256 * 1024 ** 3]) assertEquals(isAppMemory(ok), true);
  for (const bad of [1, 16 * 1024 * 1024 - 1, 256 * 1024 ** 3 + 1, "1g", -1, 1.5, null]) {
    assertEquals(isAppMemory(bad), false, String(bad));
  }
  for (const ok of [0, 10, 64_000]) assertEquals(isAppMilliCpus(ok), true);
  for (const bad of [9, 64_001, 0.5, "1", -10]) assertEquals(isAppMilliCpus(bad), false);
  assertEquals([parseCpus("1.5"), parseCpus("0.125"), parseCpus("3")], [1500, 125, 3000]);
  assertEquals([parseCpus("1.2345"), parseCpus(".5"), parseCpus("1,5")], [null, null, null]);
});

Deno.test("app records: old ones get default limits; bad limits are refused", () => {
  const record = {
    name: "a",
    hostname: "a.test",
    port: 80,
    status: "running",
    version: 1,
    image: "r/a:v1",
    digest: "",
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  };
  const old = parseAppRecord(JSON.stringify(record));
  assertEquals([old.memory, old.milliCpus], [0, 0]);
  const set = parseAppRecord(JSON.stringify({ ...record, memory: 32 * 1024 ** 2, milliCpus: 500 }));
  assertEquals([set.memory, set.milliCpus], [32 * 1024 ** 2, 500]);
  assertThrows(() => parseAppRecord(JSON.stringify({ ...record, memory: 1024 })));
  assertThrows(() => parseAppRecord(JSON.stringify({ ...record, milliCpus: -1 })));
});

Deno.test("control refuses bad memory and milliCpus with the rule, before touching the store", async () => {
  const api = createApi({
    store: {} as AppStore, // never reached: validation fails first
    certs: {} as CertStore,
    acme: null,
    broker: {} as ControlBroker,
    registry: "127.0.0.1:5000",
    checkToken: () => true,
    log: new Logger("test", "error"),
    statusTimeoutMs: 100,
  });
  const cases: [Record<string, unknown>, string][] = [
    [{ memory: 1024 }, "invalid memory 1024: must be 0 (the default, 512 MiB) or an integer"],
    [{ memory: "1g" }, 'invalid memory "1g"'],
    [
      { milliCpus: 5 },
      "invalid milliCpus 5: must be 0 (the default, one CPU) or an integer 10-64000",
    ],
    [{ milliCpus: 0.5 }, "invalid milliCpus 0.5"],
  ];
  for (const [bad, message] of cases) {
    const res = await api(
      new Request("http://control/v1/apps", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer t" },
        body: JSON.stringify({
          name: "a",
          hostname: "a.test",
          digest: `sha256:${"0".repeat(64)}`,
          ...bad,
        }),
      }),
    );
    const { error } = await res.json();
    assertEquals(res.status, 400, error);
    assertEquals(error.startsWith(message), true, error);
  }
});

/** A stand-in for iptables that keeps chains as lists of rule strings. */
function fakeIptables(failOn?: string): { run: Iptables; chains: Map<string, string[]> } {
  const chains = new Map<string, string[]>([["INPUT", ["-j ACCEPT"]], ["DOCKER-USER", []]]);
  const run: Iptables = (args) => {
    const [op, chain, ...rule] = args;
    const text = rule.join(" ");
    const list = chains.get(chain);
    if (failOn !== undefined && args.join(" ").includes(failOn) && op !== "-C") {
      return Promise.resolve({ code: 1, stdout: "", stderr: "iptables: Permission denied" });
    }
    const result = (ok: boolean) => Promise.resolve({ code: ok ? 0 : 1, stdout: "", stderr: "" });
    switch (op) {
      case "-L":
      case "-n":
        return result(chains.has(args[2]));
      case "-N":
        if (chains.has(chain)) {
          return Promise.resolve({ code: 1, stdout: "", stderr: "Chain already exists." });
        }
        chains.set(chain, []);
        return result(true);
      case "-C":
        return result(list?.includes(text) ?? false);
      case "-A":
        list?.push(text);
        return result(list !== undefined);
      case "-I":
        list?.unshift(text);
        return result(list !== undefined);
    }
    return result(false);
  };
  return { run, chains };
}

Deno.test("ensureFirewall adds the chains, rules and jumps once, in order", async () => {
  const { run, chains } = fakeIptables();
  await ensureFirewall(run);
  await ensureFirewall(run); // a second host on the machine, or a restart: nothing doubles
  assertEquals(chains.get("INPUT"), [`-i ${APP_BRIDGE} -j DN-APPS-INPUT`, "-j ACCEPT"]);
  assertEquals(chains.get("DOCKER-USER"), [`-i ${APP_BRIDGE} -j DN-APPS-FORWARD`]);
  assertEquals(chains.get("DN-APPS-INPUT"), [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
    "-j REJECT",
  ]);
  const forward = chains.get("DN-APPS-FORWARD")!;
  assertEquals(forward.slice(0, 3), [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
    "-p udp --dport 53 -j RETURN",
    "-p tcp --dport 53 -j RETURN",
  ]);
  assertEquals(forward.includes("-d 169.254.0.0/16 -j REJECT"), true);
  assertEquals(forward.length, firewallRules().rules.length - 2);
});

Deno.test("ensureFirewall names the rule iptables refused", async () => {
  const { run } = fakeIptables("DOCKER-USER");
  const e = await assertRejects(() => ensureFirewall(run), IsolationError);
  assertEquals(
    e.message,
    `iptables -I DOCKER-USER -i ${APP_BRIDGE} -j DN-APPS-FORWARD failed: ` +
      "iptables: Permission denied",
  );
});
