/**
 * A network that spans machines: three network namespaces made by
 * `scripts/machines`, each with its own dockerd and a dn host, on a bridge;
 * control, the gateway, RabbitMQ, Redis and the registry on the edge. An app
 * deployed through control reaches every machine as layers pulled over TLS
 * from the edge's registry, answers through the gateway from every machine,
 * a fourth machine joins and serves it, and hosts given bad input stop at
 * start without touching anything.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { makeImpostor } from "../helpers/impostor.ts";
import { Machines } from "../helpers/machines.ts";
import { freePort, infraConfig, ROOT, STATE_DIR, type TestNetwork } from "../helpers/network.ts";
import { startNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { DockerClient } from "../../lib/docker/mod.ts";

const machines = new Machines();
const APP = `spread-${crypto.randomUUID().slice(0, 6)}`;
const HOSTNAME = `${APP}.dn.test`;
/** The edge's TLS ports (scripts/infra's; the machines reach them at the edge's address). */
const EDGE_PORTS = {
  amqps: new URL(infraConfig("test-host").amqpUrl).port,
  redis: new URL(infraConfig("test-host").redisUrl).port,
  registry: infraConfig("test-host").registry.split(":")[1],
};
let net: TestNetwork;

Deno.test.beforeAll(async () => {
  const names = await machines.up(3);
  net = await startNetwork(names, {
    hostPlace: (name) => machines.place(name),
  });
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
});
Deno.test.afterAll(async () => {
  await net?.stop();
  await machines.down();
});

/** Host names answering `/whoami` in `count` requests. */
async function whoAnswers(count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const res = await net.gateway(HOSTNAME, "/whoami");
    const who = (await res.text()).trim();
    assertEquals(res.status, 200, who);
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  return seen;
}

Deno.test("every machine serves the app through the gateway on the edge", async () => {
  // Each host announces its route once its container answers.
  let seen = new Map<string, number>();
  const deadline = Date.now() + 15_000;
  while (seen.size < 3 && Date.now() < deadline) seen = await whoAnswers(30);
  assertEquals([...seen.keys()].sort(), net.hostNames.slice().sort());
  // Each machine's own engine runs the container; the edge's engine runs none.
  for (const name of net.hostNames) {
    const docker = new DockerClient({ socketPath: machines.dockerSocket(name) });
    const running = await docker.listContainers({ "network.dn.app": APP }, false);
    assertEquals(running.length, 1, `${name} runs one container of ${APP}`);
  }
  const edge = await net.docker.listContainers({ "network.dn.app": APP }, true);
  assertEquals(edge.length, 0);
});

Deno.test("images reach machines over TLS from the edge's registry, base layers included", async () => {
  const { digest } = (await net.api("GET", `/v1/apps/${APP}`)).body.app;
  for (const name of net.hostNames) {
    const engine = ["-H", `unix://${machines.dockerSocket(name)}`];
    const ids = (await run("docker", [...engine, "images", "-q"])).trim().split("\n");
    const tags = (await run("docker", [
      ...engine,
      "image",
      "inspect",
      "--format",
      '{{join .RepoDigests ","}}',
      ...ids,
    ])).trim().split("\n");
    // Nothing loaded by hand: the only image is the app's, pulled from the edge by its digest.
    const image = `${machines.edge}:${EDGE_PORTS.registry}/${APP}@${digest}`;
    assertEquals(tags, [image], `${name}: ${tags.join(", ")}`);
  }
  const log = await Deno.readTextFile(`${STATE_DIR}/registry/registry.log`);
  for (const name of net.hostNames) {
    const from = machines.address(name);
    assert(
      log.split("\n").some((l) => l.includes(`/v2/${APP}/manifests/`) && l.includes(from)),
      `the TLS registry logged no manifest pull of ${APP} from ${from}`,
    );
  }
});

Deno.test("hosts reach RabbitMQ and Redis only at the edge's bridge address", async () => {
  for (const name of net.hostNames) {
    const config = infraConfig(`machine-${name}`);
    assert(config.amqpUrl.startsWith(`amqps://dn-host:`), "AMQPS");
    assert(config.amqpUrl.includes(`@${machines.edge}:`), config.amqpUrl.replace(/:[^:@]+@/, "@"));
    assert(config.redisUrl.includes(`@${machines.edge}:`));
    // The machine's loopback has no broker, Redis or registry.
    const probe = await machines.exec(name, [
      "bash",
      "-c",
      `for p in 5679 5055 ${Object.values(EDGE_PORTS).join(" ")}; ` +
      "do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && echo $p; done; true",
    ]);
    assertEquals(probe.stdout.trim(), "", `${name} reaches edge ports on its loopback`);
  }
});

Deno.test("machines cannot reach each other, only the edge", async () => {
  const [a, b] = net.hostNames;
  const addr = machines.address(b);
  const probe = await machines.exec(a, [
    "bash",
    "-c",
    `timeout 2 bash -c '(exec 3<>/dev/tcp/${addr}/7001)' 2>/dev/null && echo open || echo closed`,
  ]);
  assertEquals(probe.stdout.trim(), "closed");
  const edge = await machines.exec(a, [
    "bash",
    "-c",
    `(exec 3<>/dev/tcp/${machines.edge}/${EDGE_PORTS.amqps}) 2>/dev/null && echo open || echo closed`,
  ]);
  assertEquals(edge.stdout.trim(), "open");
});

Deno.test("requests cross machines through RabbitMQ too (a gateway without the token)", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${STATE_DIR}/config/test-gateway.json`));
  delete config.requestToken;
  const file = `${STATE_DIR}/config/test-gateway-broker-${crypto.randomUUID().slice(0, 8)}.json`;
  await Deno.writeTextFile(file, JSON.stringify(config), { mode: 0o600 });
  try {
    const port = freePort();
    const gateway = net.spawn("gateway", "gateway-broker", ["--config", file], {
      DN_GATEWAY_LISTEN: `127.0.0.1:${port}`,
      DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
      DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
    });
    await Promise.all([gateway.waitFor("gateway listening"), gateway.waitFor("amqp connected")]);
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 3; i++) {
      const res = await net.gateway(HOSTNAME, "/whoami", {}, port);
      const who = (await res.text()).trim();
      assertEquals(res.status, 200, who);
      seen.add(who);
    }
    assert(seen.size >= 2, `only ${[...seen].join(", ")} answered through the broker`);
    for (const who of seen) assert(net.hostNames.includes(who), `${who} is not a machine's host`);
    await gateway.stop();
  } finally {
    await Deno.remove(file);
  }
});

reliabilityTest("a machine joins a running network", {
  fault: "scripts/machines up 4 on a running 3-machine network, then the new machine's host starts",
  expected: "the new machine runs the network's app and answers through the gateway within 10 s",
}, async (note) => {
  const started = performance.now();
  const [fourth] = (await machines.up(4)).slice(3);
  const engineMs = performance.now() - started;
  net.hostNames.push(fourth);
  await net.startHost(fourth);
  const connectedMs = performance.now() - started;
  const deadline = Date.now() + 10_000;
  let served = false;
  while (!served && Date.now() < deadline) {
    served = (await whoAnswers(8)).has(fourth);
  }
  const ms = Math.round(performance.now() - started);
  const t0 = Date.now() - ms;
  const events = await run("docker", [
    "-H",
    `unix://${machines.dockerSocket(fourth)}`,
    "events",
    "--since",
    String(Math.floor(t0 / 1000)),
    "--until",
    String(Math.ceil(Date.now() / 1000) + 1),
    "--format",
    "{{.TimeNano}} {{.Type}} {{.Action}}",
  ]);
  const steps = events.trim().split("\n").filter((l) => l !== "").map((line) => {
    const [nanos, type, action] = line.split(" ");
    return `${type} ${action.split(":")[0]} +${Math.round(Number(nanos) / 1e6 - t0)}`;
  });
  const observed = `machine and engine up in ${Math.round(engineMs)} ms, host connected at ` +
    `${Math.round(connectedMs)} ms; ${fourth} served the app ${ms} ms after up ` +
    `(engine events, ms: ${steps.join(", ")})`;
  note(observed);
  assert(served && ms <= 10_000, `${fourth} did not serve within 10 s: ${observed}`);
});

/** Runs a command; returns its standard output, or throws with its error output. */
async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** Starts a host on machine 1 with `env` overrides; returns its exit code and output. */
async function badHost(name: string, env: Record<string, string>) {
  const place = machines.place(machines.name(1))!;
  const service = net.spawn(
    "host",
    name,
    ["--name", name],
    {
      DN_DOCKER_SOCKET: place.dockerSocket,
      ...env,
    },
    undefined,
    place,
  );
  const code = (await service.child.status).code;
  await new Promise((r) => setTimeout(r, 100)); // the last output chunk
  return { code, lines: service.output.trim().split("\n") };
}

/** The line of a host refusing the edge's certificate on `port` with the CA file `key`. */
function edgeRefused(port: string, key: string): RegExp {
  return new RegExp(`${machines.edge.replaceAll(".", "\\.")}:${port} .*${key}`);
}

reliabilityTest("hosts with bad input stop at start", {
  fault: "a host started with another network's CA for RabbitMQ, one with a wrong registry CA, " +
    "one whose request address and one whose publish address is not on the bridge",
  expected: "each exits 1 with one line naming the problem, before any heartbeat, route or " +
    "container",
}, async (note) => {
  // Another network's CA: the same subject as ours, its own key, where services may read it.
  const impostor = await makeImpostor();
  const other = impostor.caFile;
  try {
    const cases: [string, Record<string, string>, RegExp][] = [
      ["bad-amqp-ca", { DN_AMQP_CA_FILE: other }, edgeRefused(EDGE_PORTS.amqps, "amqpCaFile")],
      [
        "bad-registry-ca",
        { DN_REGISTRY_CA_FILE: other },
        edgeRefused(EDGE_PORTS.registry, "registryCaFile"),
      ],
      [
        "bad-address",
        { DN_HOST_REQUEST_LISTEN: "10.99.0.9:7001" },
        /hostRequestListen 10\.99\.0\.9 is not an address of this machine/,
      ],
      [
        "bad-publish",
        { DN_CONTAINER_PUBLISH_ADDRESS: "10.99.0.9" },
        /containerPublishAddress 10\.99\.0\.9 is not an address of this machine/,
      ],
    ];
    const seen: string[] = [];
    for (const [name, env, expected] of cases) {
      const { code, lines } = await badHost(`${machines.net}-${name}`, env);
      assertEquals(code, 1, lines.join("\n"));
      assertEquals(lines.length, 1, lines.join("\n"));
      assert(expected.test(lines[0]), lines[0]);
      seen.push(lines[0]);
      const redis = new URL(infraConfig("test-host").redisUrl);
      const hosts = await run(
        "redis-cli",
        [
          ...["--tls", "--cacert", infraConfig("test-host").redisCaFile, "-p", redis.port],
          ...["-n", "1", "hkeys", `${net.prefix}hosts`],
        ],
        {
          REDISCLI_AUTH: (await Deno.readTextFile(`${STATE_DIR}/secrets/redis`)).trim(),
        },
      );
      assert(!hosts.includes(`${machines.net}-${name}`), `${name} left a heartbeat: ${hosts}`);
    }
    // The machine's engine runs exactly what its own host runs.
    const docker = new DockerClient({ socketPath: machines.dockerSocket(machines.name(1)) });
    assertEquals((await docker.listContainers({}, true)).length, 1);
    note(seen.join(" | "));
  } finally {
    await impostor.remove();
  }
});

Deno.test("scripts/machines down removes namespaces, bridge, engines, rules and data", async () => {
  await net.stop();
  await machines.down();
  const namespaces = (await run("ip", ["netns", "list"])).split("\n")
    .filter((l) => l.startsWith(`${machines.net}-m`));
  assertEquals(namespaces, []);
  const bridge = await new Deno.Command("ip", { args: ["link", "show", `${machines.net}-br`] })
    .output();
  assert(!bridge.success, "the bridge is still there");
  const rules = (await run("iptables", ["-S"])) + (await run("iptables", ["-t", "nat", "-S"]));
  assert(!rules.includes(`${machines.net}-br`), "edge rules left");
  for (const i of [1, 2, 3, 4]) {
    const name = machines.name(i);
    for (const path of [`${STATE_DIR}/machines/${name}`, `/etc/netns/${name}`]) {
      assert(!(await Deno.stat(path).then(() => true, () => false)), `${path} left`);
    }
  }
  const engines = (await run("ps", ["-eo", "args"])).split("\n")
    .filter((l) => l.includes(`${STATE_DIR}/machines/${machines.net}-m`));
  assertEquals(engines, []);
});
