/**
 * Isolation of app containers on one engine, measured from inside them: an
 * app's container cannot open a connection to another app's container (nor
 * to another container of its own app), to any listener of the machine (dn's
 * own and one the test opens on every address), or to a private address
 * beyond the machine (a network namespace the test makes stands in for
 * another machine), while the gateway still answers both apps.
 *
 * The same probe run as a plain container on Docker's default bridge is the
 * control: it does reach the test's listener and the other "machine", so a
 * refusal seen from an app container comes from dn's isolation.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { appCopy } from "../helpers/apps.ts";
import { infraConfig, startNetwork, testHostNames, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";
import { APP_BRIDGE, APP_NETWORK } from "../../host/isolation.ts";

const APPS = ["alpha", "beta"] as const;
const opts = { sanitizeOps: false, sanitizeResources: false };
const suffix = crypto.randomUUID().slice(0, 6);
/** Network namespace standing in for another machine on a private network. */
const OTHER = {
  ns: `dniso-${suffix}`,
  veth: `dniso${suffix}`,
  host: "10.213.77.1",
  peer: "10.213.77.2",
};
const CONTROL = `dn-iso-control-${suffix}`;

let net: TestNetwork;
let root: string;
let listener: Deno.TcpListener;
let otherMachine: Deno.ChildProcess;

async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** `ip:8000` of every container of `app` in this network, on the app network, by host. */
async function addresses(app: string): Promise<Map<string, string>> {
  const found = (await net.docker.listContainers({ "network.dn.app": app }))
    .filter((c) => net.hostNames.includes(c.labels["network.dn.host"]));
  const out = new Map<string, string>();
  for (const c of found) {
    const ip = await run(
      "docker",
      "inspect",
      "--format",
      `{{(index .NetworkSettings.Networks "${APP_NETWORK}").IPAddress}}`,
      c.id,
    );
    out.set(c.labels["network.dn.host"], `${ip}:8000`);
  }
  return out;
}

/** Asks `app`'s probe, through the gateway, to connect to each target. */
async function probeFromApp(
  app: string,
  targets: string[],
): Promise<{ host: string; results: Record<string, string> }> {
  const res = await net.gateway(`${app}.dn.test`, `/connect?to=${targets.join(",")}`);
  assertEquals(res.status, 200, app);
  return await res.json();
}

/** The same question to the control container on the default bridge. */
async function probeFromControl(targets: string[]): Promise<Record<string, string>> {
  const ip = await run("docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", CONTROL);
  const res = await fetch(`http://${ip}:8000/connect?to=${targets.join(",")}`);
  return (await res.json()).results;
}

/** Every listener of the dn network and the infra, as ports. */
async function dnPorts(): Promise<number[]> {
  const ports = [net.controlPort, net.gatewayPort, net.controlMetricsPort, net.gatewayMetricsPort];
  for (const host of net.hostNames) ports.push(Number(new URL(await net.healthUrl(host)).port));
  const config = infraConfig("test-host");
  for (const key of ["redisUrl", "amqpUrl"]) {
    if (config[key]) ports.push(Number(new URL(config[key]).port));
  }
  ports.push(Number(config.registry.split(":")[1]));
  return ports;
}

Deno.test.beforeAll(async () => {
  root = await Deno.makeTempDir({ prefix: "dn-isolation-" });
  net = await startNetwork(testHostNames(2));
  const images: string[] = [];
  for (const app of APPS) {
    const record = await net.deploy(
      await appCopy("tests/fixtures/probe", root, app),
      app,
      `${app}.dn.test`,
    );
    images.push(record.image);
  }
  // A listener on every address of this machine, as a host on a machine address would have.
  listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  // Another machine: a namespace on a private /30, with a listener.
  await run("ip", "netns", "add", OTHER.ns);
  await run(
    "ip",
    "link",
    "add",
    OTHER.veth,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    OTHER.ns,
  );
  await run("ip", "addr", "add", `${OTHER.host}/30`, "dev", OTHER.veth);
  await run("ip", "link", "set", OTHER.veth, "up");
  await run("ip", "-n", OTHER.ns, "addr", "add", `${OTHER.peer}/30`, "dev", "eth0");
  await run("ip", "-n", OTHER.ns, "link", "set", "eth0", "up");
  await run("ip", "-n", OTHER.ns, "link", "set", "lo", "up");
  otherMachine = new Deno.Command("ip", {
    args: ["netns", "exec", OTHER.ns, "socat", "TCP-LISTEN:7000,fork,reuseaddr", "SYSTEM:true"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // The control: the alpha image as a plain container on the default bridge.
  await run(
    "docker",
    "run",
    "-d",
    "--rm",
    "--name",
    CONTROL,
    "-e",
    "PORT=8000",
    "--label",
    "dn.test=isolation",
    images[0], // alpha's image, by the digest control recorded
  );
  const ip = await run("docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", CONTROL);
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://${ip}:8000/`).then((r) => r.body?.cancel().then(() => true))
      .catch(() => false);
    if (up) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

Deno.test.afterAll(async () => {
  await run("docker", "rm", "-f", CONTROL).catch(() => "");
  try {
    otherMachine?.kill();
    await otherMachine?.status;
  } catch {
    // already gone
  }
  await run("ip", "link", "del", OTHER.veth).catch(() => "");
  await run("ip", "netns", "del", OTHER.ns).catch(() => "");
  listener?.close();
  await net?.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
});

Deno.test(
  "the app network keeps containers apart and its firewall rules are in place",
  opts,
  async () => {
    const network = JSON.parse(await run("docker", "network", "inspect", APP_NETWORK))[0];
    assertEquals(network.Options["com.docker.network.bridge.enable_icc"], "false");
    assertEquals(network.Options["com.docker.network.bridge.name"], APP_BRIDGE);
    const rules = await run("iptables", "-w", "-S");
    assert(rules.includes(`-A INPUT -i ${APP_BRIDGE} -j DN-APPS-INPUT`), rules);
    assert(rules.includes(`-A DOCKER-USER -i ${APP_BRIDGE} -j DN-APPS-FORWARD`), rules);
  },
);

reliabilityTest("apps reach nothing but the internet", {
  fault: "from inside each app's container, connect to the other app's containers, its own " +
    "other container, every dn and infra listener, a listener on every machine address, and a " +
    "private address on another machine",
  expected: "every attempt refused or timed out; the same probe on Docker's default bridge " +
    "reaches the machine's listener and the other machine; the gateway answers both apps",
}, async (note) => {
  const bridgeGateway =
    JSON.parse(await run("docker", "network", "inspect", APP_NETWORK))[0].IPAM.Config[0].Gateway;
  const machine = Deno.networkInterfaces()
    .filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    .map((i) => i.address);
  const open = (listener.addr as Deno.NetAddr).port;
  const listeners = [...new Set([bridgeGateway, ...machine])].map((address) =>
    `${address}:${open}`
  );
  const dn = (await dnPorts()).flatMap((
    port,
  ) => [`${bridgeGateway}:${port}`, `${machine[0]}:${port}`]);
  const other = `${OTHER.peer}:7000`;

  // The control reaches the machine's listener and the other machine: those paths are open.
  const docker0 = Deno.networkInterfaces()
    .find((i) => i.name === "docker0" && i.family === "IPv4")?.address;
  const control = await probeFromControl([`${docker0}:${open}`, other]);
  assertEquals(Object.values(control), ["connected", "connected"], JSON.stringify(control));

  let attempts = 0;
  for (const [from, to] of [[APPS[0], APPS[1]], [APPS[1], APPS[0]]]) {
    // Each container of `from` (the gateway picks one per request): all of `to`'s containers,
    // `from`'s containers (its own address aside), and every listener.
    const own = await addresses(from);
    const targets = [
      ...(await addresses(to)).values(),
      ...own.values(),
      ...listeners,
      ...dn,
      other,
    ];
    const tried = new Set<string>();
    for (let i = 0; i < 20 && tried.size < own.size; i++) {
      const seen = await probeFromApp(from, targets);
      if (tried.has(seen.host)) continue;
      for (const target of targets.filter((t) => t !== own.get(seen.host))) {
        const result = seen.results[target];
        assert(
          ["refused", "timeout"].includes(result),
          `${from}@${seen.host} → ${target}: ${result}`,
        );
        attempts++;
      }
      tried.add(seen.host);
    }
    assertEquals(tried.size, own.size, `probed from ${[...tried]} of ${[...own.keys()]}`);
  }
  // The gateway, and the test on the machine itself, still reach every container.
  for (const app of APPS) {
    const res = await net.gateway(`${app}.dn.test`, "/");
    assertEquals([res.status, (await res.text()).startsWith(`probe ${app}`)], [200, true]);
    for (const address of (await addresses(app)).values()) {
      const direct = await fetch(`http://${address}/`);
      assertEquals(direct.status, 200, address);
      await direct.body?.cancel();
    }
  }
  note(
    `${attempts} connection attempts from app containers, none connected; the control ` +
      `container reached the machine's listener and ${other}; gateway 200 for both apps`,
  );
});
