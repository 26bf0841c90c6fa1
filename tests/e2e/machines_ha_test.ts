/**
 * No single point of failure across machines: `scripts/machines up 3 --ha`
 * places a RabbitMQ node, a Redis and a Sentinel on each of three machines
 * (network namespaces), gateways run on machines 1 and 2, control and a
 * third gateway on the edge. Each fault runs under load.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { assertCreatesHeld, createsAcross, describeCreates } from "../helpers/ha.ts";
import { byStatus, Load, sleep } from "../helpers/load.ts";
import { Machines } from "../helpers/machines.ts";
import { freePort, ROOT, STATE_DIR, TestNetwork } from "../helpers/network.ts";
import { type CertFiles, issueCert, makeCa, makeImpostorCa } from "../helpers/tls.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

// A net of its own: machines_test and the others on `dnt` can run meanwhile.
const machines = new Machines("dnh", "10.79.0");
const HOSTNAME = `mha-${crypto.randomUUID().slice(0, 6)}.dn.test`;
const APP = HOSTNAME.split(".")[0];
const GATEWAY_PORT = 8080;
let net: TestNetwork;
let names: string[] = [];
let digest2 = "";
/** Address of machine `i`'s gateway (machines 1 and 2 run one). */
const gatewayAddress = (i: number) => machines.address(machines.name(i));

/** `urls` (a broker URL list) with machine 1's node first. */
function node1First(urls: string): string {
  const list = urls.split(",");
  const first = list.filter((url) => url.includes(`@${gatewayAddress(1)}:`));
  return [...first, ...list.filter((url) => !first.includes(url))].join(",");
}

Deno.test.beforeAll(async () => {
  names = await machines.up(3, { ha: true });
  // Every service on machine 1's RabbitMQ node first (the first fault kills it).
  const hostEnv = Object.fromEntries(names.map((name) => {
    const config = JSON.parse(Deno.readTextFileSync(machines.configFile(name)));
    return [name, { DN_AMQP_URL: node1First(config.amqpUrl) }];
  }));
  net = new TestNetwork(names, {
    configSuffix: `-${machines.net}`,
    hostPlace: (name) => machines.place(name),
    hostEnv,
  });
  await net.start();
  for (const i of [1, 2]) {
    const place = machines.gatewayPlace(machines.name(i));
    const config = JSON.parse(Deno.readTextFileSync(place.config));
    const gateway = net.spawn(
      "gateway",
      `gateway-m${i}`,
      [],
      {
        DN_GATEWAY_LISTEN: `${gatewayAddress(i)}:${GATEWAY_PORT}`,
        DN_GATEWAY_METRICS_LISTEN: `${gatewayAddress(i)}:9180`,
        DN_AMQP_URL: node1First(config.amqpUrl),
      },
      undefined,
      place,
    );
    await gateway.waitFor("gateway listening");
  }
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
  digest2 = await net.buildAndPush(`${ROOT}/apps/hello-world`, APP, 2);
});

Deno.test.afterAll(async () => {
  await net?.stop();
  await machines.down();
});

/** GETs through machine `i`'s gateway, 8 at a time. */
function loadOn(i: number): Load {
  return new Load(net, HOSTNAME, "/", 8, 200_000, "GET", GATEWAY_PORT, gatewayAddress(i));
}

/** Hosts that logged an update command at or after `since` (ms since the epoch). */
function updatedHosts(since: number): string[] {
  return names.filter((host) =>
    net.services.get(host)!.output.split("\n").some((line) =>
      line.includes('"msg":"command"') && line.includes('"kind":"update"') &&
      Date.parse(JSON.parse(line).time) >= since
    )
  );
}

/** Waits until the HA set is whole again; returns how long that took, in ms. */
async function whole(started: number): Promise<number> {
  let status = await machines.haStatus();
  const deadline = Date.now() + 60_000;
  while ((status.rabbitNodes !== 3 || status.replicas !== 2) && Date.now() < deadline) {
    await sleep(250);
    status = await machines.haStatus();
  }
  assertEquals([status.rabbitNodes, status.replicas], [3, 2], JSON.stringify(status));
  return Date.now() - started;
}

/** Whether machine `from` can open a TCP connection to `address`:`port` (2 s at most). */
async function reaches(from: string, address: string, port: number): Promise<boolean> {
  const res = await machines.exec(from, [
    "timeout",
    "2",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${address}/${port}`,
  ]);
  return res.code === 0;
}

Deno.test("machines reach each other only on the ports the HA set needs", async () => {
  const [m1, m2, m3] = names;
  const at = (name: string) => machines.address(name);
  const open = [
    [m2, at(m3), 5671], // AMQPS
    [m3, at(m1), 6379], // Redis
    [m1, at(m2), 26379], // Sentinel
    [m3, at(m2), 25672], // Erlang distribution (TLS), between the three nodes
    [m2, at(m1), 4369], // epmd
    [m1, at(m3), 7001], // a gateway machine to a host's request listener
  ] as const;
  const closed = [
    [m3, at(m1), 7001], // machine 3 runs no gateway
    [m1, at(m2), 8080], // a gateway answers the edge only
    [m2, at(m3), 9181], // a host's health listener
    [m1, at(m2), 22],
  ] as const;
  const seen = await Promise.all(
    [...open, ...closed].map(([from, address, port]) => reaches(from, address, port)),
  );
  assertEquals(seen, [...open.map(() => true), ...closed.map(() => false)]);
});

reliabilityTest("machines: kill the RabbitMQ node every service is on", {
  fault: "SIGKILL the RabbitMQ node of machine 1 (of 3; control, three gateways and 3 hosts " +
    "are connected to it) while 8 clients send GETs through machine 1's gateway; `update` to " +
    "v2 right after",
  expected: "0 failed GETs; the update reaches every host (v2 runs on all 3), as a command " +
    "over the other nodes or from Redis's change event",
}, async (note) => {
  const load = loadOn(1);
  await sleep(1000);
  const killedAt = Date.now();
  await machines.killPart(names[0], "rabbitmq");
  const update = await net.api("POST", `/v1/apps/${APP}/update`, { version: 2, digest: digest2 });
  assertEquals(update.status, 200, JSON.stringify(update.body));
  await net.waitForRunning(APP, 3);
  const updatedIn = Date.now() - killedAt;
  await sleep(500);
  const outcomes = await load.stop();
  // A host whose command queue had its leader on the dead node gets the command once that
  // queue has a new one: seen within 4 s, and seen only when the node came back (the host
  // converged from Redis's change event meanwhile).
  let commanded = updatedHosts(killedAt);
  for (let i = 0; i < 20 && commanded.length < 3; i++) {
    await sleep(250);
    commanded = updatedHosts(killedAt);
  }
  const commandedIn = Date.now() - killedAt;
  note(
    `${outcomes.length} GETs ${JSON.stringify(byStatus(outcomes))}; update command received ` +
      `by ${commanded.length}/3 hosts within ${commandedIn} ms, v2 running on all 3 ` +
      `${updatedIn} ms after the kill`,
  );
  assertEquals(load.failures.length, 0, JSON.stringify(load.failures.slice(0, 5)));
});

reliabilityTest("machines: restart the killed RabbitMQ node", {
  fault: "`scripts/machines up 3 --ha` after the node kill above",
  expected: "the node rejoins the cluster (3 of 3 running) with no manual step",
}, async (note) => {
  const started = Date.now();
  await machines.up(3, { ha: true });
  note(`3 of 3 nodes running, 2 replicas in sync, ${await whole(started)} ms after the start`);
});

reliabilityTest("machines: an AMQPS peer with a certificate of another CA", {
  fault: "a client presenting a certificate of another CA opens AMQPS to machine 2's RabbitMQ " +
    "node; a gateway's first broker URL is an impostor (TLS with a certificate of another CA " +
    "for that address)",
  expected: "the node refuses the handshake and logs it; the gateway refuses the impostor " +
    "before sending its credentials, logs why, and connects to the next node",
}, async (note) => {
  const dir = await Deno.makeTempDir();
  let impostor: Deno.ChildProcess | undefined;
  try {
    const address = gatewayAddress(2);
    const foreign = await issueCert(
      dir,
      await makeCa(dir, "foreign CA"),
      "impostor",
      "impostor",
      30,
      `IP:${address},IP:127.0.0.1`,
    );
    const logFile = `${STATE_DIR}/machines/${names[1]}/rabbitmq/log/dn@${address}.log`;
    const logLength = (await Deno.readTextFile(logFile)).length;
    const client = await new Deno.Command("openssl", {
      args: ["s_client", "-tls1_2", "-connect", `${address}:5671`, ...certArgs(foreign)],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    const logged = await loggedSince(logFile, logLength, /unknown ca/i);
    const port = freePort();
    impostor = new Deno.Command("openssl", {
      args: ["s_server", "-quiet", "-accept", `127.0.0.1:${port}`, ...certArgs(foreign)],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const config = JSON.parse(
      await Deno.readTextFile(`${STATE_DIR}/config/test-gateway-${machines.net}.json`),
    );
    const user = new URL(config.amqpUrl.split(",")[0]);
    const gateway = net.spawn("gateway", "gateway-impostor", [], {
      DN_AMQP_URL: `amqps://${user.username}:${user.password}@127.0.0.1:${port}/dn-test,` +
        config.amqpUrl,
      DN_GATEWAY_LISTEN: `127.0.0.1:${freePort()}`,
      DN_GATEWAY_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
      DN_GATEWAY_HTTPS_LISTEN: `127.0.0.1:${freePort()}`,
    });
    await gateway.waitFor('"amqp connected"');
    await gateway.stop();
    const refused = gateway.output.split("\n").find((line) =>
      line.includes('"amqp connect failed"') && line.includes(`@127.0.0.1:${port}/`)
    ) ?? "";
    const error = refused === "" ? "" : JSON.parse(refused).error as string;
    note(
      `the node refused the client (openssl exit ${client.code}) and logged: ` +
        `${logged.replace(/^.*\[\w+\] <[^>]*> /, "").slice(0, 160)}; the gateway refused the ` +
        `impostor: ${error.slice(0, 160)}, then connected to a node of the cluster`,
    );
    assert(!client.success, "the node accepted a certificate of another CA");
    assert(logged !== "", "the node did not log the refused certificate");
    assert(/certificate|issuer/i.test(error), `the gateway's error: ${error || "none"}`);
  } finally {
    impostor?.kill();
    await impostor?.status;
    await Deno.remove(dir, { recursive: true });
  }
});

/** The first line matching `pattern` that `file` gains past `offset` within 5 s ("" if none). */
async function loggedSince(file: string, offset: number, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const added = (await Deno.readTextFile(file)).slice(offset);
    const line = added.split("\n").find((line) => pattern.test(line));
    if (line !== undefined) return line;
    await sleep(100);
  }
  return "";
}

reliabilityTest("machines: an Erlang node with the cookie but not the certificate", {
  fault: "an Erlang node on machine 3 with the cluster's cookie pings machine 2's RabbitMQ node " +
    "over a plain distribution, then over TLS with a certificate for machine 3's address from " +
    "another CA (same subject as the local CA's)",
  expected: "both refused (pang) while the same node with machine 3's own certificate is let in " +
    "(pong); the RabbitMQ node logs the refused certificate",
}, async (note) => {
  const dir = await Deno.makeTempDir();
  try {
    const [m2, m3] = [names[1], names[2]];
    const node = `dn@${machines.address(m2)}`;
    const ca = await makeImpostorCa(dir, `${STATE_DIR}/tls/ca.pem`);
    const foreign = await issueCert(dir, ca, m3, "node", 30, `IP:${machines.address(m3)}`);
    const side = `{cacertfile, "${ca.cert}"}, {certfile, "${foreign.cert}"}, ` +
      `{keyfile, "${foreign.key}"}, {verify, verify_none}`;
    await Deno.writeTextFile(`${dir}/dist.config`, `[{server, [${side}]}, {client, [${side}]}].\n`);
    const logFile = `${STATE_DIR}/machines/${m2}/rabbitmq/log/${node}.log`;
    const logLength = (await Deno.readTextFile(logFile)).length;
    const plain = await machines.distPing(m3, node);
    const impostor = await machines.distPing(m3, node, `${dir}/dist.config`);
    const logged = await loggedSince(logFile, logLength, /unknown ca|bad certificate/i);
    const own = await machines.distPing(
      m3,
      node,
      `${STATE_DIR}/machines/${m3}/rabbitmq/dist_tls.config`,
    );
    note(
      `plain: ${plain}, another CA's certificate: ${impostor}, machine 3's certificate: ${own}; ` +
        `the node logged: ${logged.replace(/^.*\[\w+\] <[^>]*> /, "").slice(0, 160)}`,
    );
    assertEquals([plain, impostor, own], ["pang", "pang", "pong"]);
    assert(logged !== "", "the node did not log the refused certificate");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** openssl arguments presenting `files`. */
function certArgs(files: CertFiles): string[] {
  return ["-cert", files.cert, "-key", files.key];
}

reliabilityTest("machines: a Sentinel naming a foreign primary", {
  fault: "a second control's first Sentinel is a foreign one (TLS with a certificate of another " +
    "CA) that names another primary for `dn`",
  expected: "the control refuses that Sentinel (TLS verified against the local CA), finds the " +
    "primary through the next one, and its changes land in the cluster's Redis",
}, async (note) => {
  const dir = await Deno.makeTempDir();
  let sentinel: Deno.ChildProcess | undefined;
  try {
    const ca = await makeCa(dir, "foreign CA");
    const foreign = await issueCert(dir, ca, "sentinel", "sentinel", 30, "IP:127.0.0.1");
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/sentinel.conf`,
      [
        "bind 127.0.0.1",
        "port 0",
        `tls-port ${port}`,
        `tls-cert-file ${foreign.cert}`,
        `tls-key-file ${foreign.key}`,
        `tls-ca-cert-file ${ca.cert}`,
        "tls-auth-clients no",
        `dir ${dir}`,
        "sentinel monitor dn 127.0.0.1 1 1",
        "",
      ].join("\n"),
    );
    sentinel = new Deno.Command("redis-sentinel", {
      args: [`${dir}/sentinel.conf`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const config = JSON.parse(
      await Deno.readTextFile(`${STATE_DIR}/config/test-control-${machines.net}.json`),
    );
    const controlPort = freePort();
    const control = net.spawn("control", "control-foreign-sentinel", [], {
      DN_REDIS_SENTINELS: `127.0.0.1:${port},${config.redisSentinels}`,
      DN_CONTROL_LISTEN: `127.0.0.1:${controlPort}`,
      DN_CONTROL_METRICS_LISTEN: `127.0.0.1:${freePort()}`,
    });
    await control.waitFor('"redis connected"');
    const name = `${APP}-fs`;
    const created = await net.controlFetch("/v1/apps", {
      method: "POST",
      headers: { authorization: `Bearer ${net.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name, hostname: `${name}.dn.test`, digest: digest2 }),
    }, controlPort);
    await created.body?.cancel();
    await control.stop();
    const seen = await net.api("GET", `/v1/apps/${name}`);
    const refused = control.output.split("\n").find((line) =>
      line.includes("redis") && /certificate|issuer/i.test(line)
    ) ?? "";
    note(
      `the control logged about it: ${refused.slice(0, 200) || "nothing"}; its create answered ` +
        `${created.status}, and the other control reads the app: ${seen.status}`,
    );
    assertEquals(created.status, 201);
    assertEquals(seen.status, 200);
  } finally {
    sentinel?.kill();
    await sentinel?.status;
    await Deno.remove(dir, { recursive: true });
  }
});

reliabilityTest("machines: kill the machine of the Redis primary", {
  fault: "machine 1 loses power (its Redis primary, Sentinel, RabbitMQ node, gateway and host " +
    "die at once) while control creates an app every 50 ms and 8 clients send GETs through " +
    "machine 2's gateway",
  expected: "a replica is promoted; control answers only 201 or 503, then 201 again; every " +
    "create answered 201 is there afterwards; the other gateway's clients see 0 failed GETs",
}, async (note) => {
  const before = await machines.haStatus();
  assertEquals(before.primary, `${gatewayAddress(1)}:6379`, JSON.stringify(before));
  const load = loadOn(2);
  const creates = await createsAcross(net, digest2, `${APP}-c`, () => machines.kill(names[0]));
  const outcomes = await load.stop();
  const after = await machines.haStatus();
  note(
    `primary ${before.primary} → ${after.primary}; ${describeCreates(creates)}; ` +
      `GETs through machine 2's gateway ${JSON.stringify(byStatus(outcomes))}`,
  );
  assert(after.primary !== "" && after.primary !== before.primary, `primary ${after.primary}`);
  assertCreatesHeld(creates);
  assertEquals(load.failures.length, 0, JSON.stringify(load.failures.slice(0, 5)));
});

reliabilityTest("machines: restart the killed machine", {
  fault: "`scripts/machines up 3 --ha` after machine 1 lost power, then its host",
  expected: "its RabbitMQ node rejoins (3 of 3), its Redis comes back as a replica (Sentinel " +
    "counts 2 in sync), its host serves again, with no manual step",
}, async (note) => {
  const started = Date.now();
  await machines.up(3, { ha: true });
  const wholeIn = await whole(started);
  await net.startHost(names[0]);
  await net.waitForRunning(APP, 3);
  const status = await machines.haStatus();
  note(
    `whole again ${wholeIn} ms after the start (primary ${status.primary}, ` +
      `${status.replicas} replicas); the host runs the app again ${Date.now() - started} ms after`,
  );
});
