/**
 * `scripts/bench-ha`: what no single point of failure costs. On three
 * machines (net `dnh`, 10.79.0.0/24, scripts/machines; hosts on the
 * machines, control and the gateway on the edge), the same deploy, update and
 * status runs twice in one go: first on scripts/infra's single RabbitMQ node
 * and single Redis (the edge's), then on the HA set `scripts/machines up 3
 * --ha` places (a RabbitMQ node, a Redis and a Sentinel per machine; quorum
 * command queues, control waiting for one replica with WAIT).
 *
 *   ha.ts RUNS OUT_FILE COMMAND_LINE
 *
 * Each run creates an app from an image pushed beforehand and starts it
 * (deploy: until 3 hosts run it), updates it to another image (update: until
 * 3 hosts run v2) and asks its status 20 times. Then, on the HA set, one of
 * each fault: machine 1's RabbitMQ node killed and restarted, machine 1
 * (the Redis primary's) losing power and restarted. Writes the section "High
 * availability" of OUT_FILE (the rest of the file is kept).
 *
 * @module
 */

import { createsAcross, describeCreates } from "../../tests/helpers/ha.ts";
import { Machines } from "../../tests/helpers/machines.ts";
import { ROOT, TestNetwork } from "../../tests/helpers/network.ts";
import { writeSection } from "./section.ts";

const [runsArg, out, command] = Deno.args;
const runs = Number(runsArg);
if (!Number.isInteger(runs) || runs < 1 || runs > 50 || !out || !command) {
  console.error("usage: ha.ts RUNS(1-50) OUT_FILE COMMAND_LINE");
  Deno.exit(2);
}
const say = (line: string) => console.error(`bench-ha: ${line}`);

/** Milliseconds of each run of one measure. */
interface Timings {
  deploy: number[];
  update: number[];
  status: number[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** `values` as "median (min-max)" in ms. */
function spread(values: number[]): string {
  const r = (v: number) => v < 10 ? v.toFixed(1) : Math.round(v).toString();
  return `${r(median(values))} (${r(Math.min(...values))}-${r(Math.max(...values))})`;
}

async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await call();
  return performance.now() - started;
}

/** Deploys, updates and asks the status of `runs` apps on a network using `suffix`'s configs. */
async function measure(machines: Machines, names: string[], suffix: string): Promise<Timings> {
  const net = await new TestNetwork(names, {
    configSuffix: suffix,
    hostPlace: (name) => machines.place(name),
  }).start();
  try {
    const tag = `bench-ha-${crypto.randomUUID().slice(0, 6)}`;
    const timings: Timings = { deploy: [], update: [], status: [] };
    for (let i = 0; i < runs; i++) {
      const name = `${tag}-${i}`;
      // Hosts pull <registry>/<app>@digest: each app's images in its own repository.
      const v1 = await net.buildAndPush(`${ROOT}/apps/hello-world`, name, 1);
      const v2 = await net.buildAndPush(`${ROOT}/apps/hello-world`, name, 2);
      const ok = (res: { status: number; body: unknown }, want: number) => {
        if (res.status !== want) throw new Error(`${name}: ${JSON.stringify(res)}`);
      };
      timings.deploy.push(
        await timed(async () => {
          ok(
            await net.api("POST", "/v1/apps", { name, hostname: `${name}.dn.test`, digest: v1 }),
            201,
          );
          ok(await net.api("POST", `/v1/apps/${name}/start`), 200);
          await net.waitForRunning(name, 3);
        }),
      );
      timings.update.push(
        await timed(async () => {
          ok(await net.api("POST", `/v1/apps/${name}/update`, { version: 2, digest: v2 }), 200);
          await net.waitForRunning(name, 3);
        }),
      );
      for (let j = 0; j < 20; j++) {
        timings.status.push(
          await timed(async () => ok(await net.api("GET", `/v1/apps/${name}/status`), 200)),
        );
      }
      say(`${suffix || "single node"}: run ${i + 1}/${runs}`);
    }
    return timings;
  } finally {
    await net.stop();
  }
}

/** Waits until the HA set is whole (3 nodes, 2 replicas in sync); returns the ms since `since`. */
async function whole(machines: Machines, since: number): Promise<number> {
  for (let i = 0; i < 240; i++) {
    const status = await machines.haStatus();
    if (status.rabbitNodes === 3 && status.replicas === 2) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("the HA set is not whole after 60 s");
}

/**
 * On the HA set: kills machine 1's RabbitMQ node (control and the gateway are
 * on it) and updates an app right after; restarts it; then machine 1 loses
 * power (the Redis primary's) while control creates apps; restarts it.
 * Returns the markdown lines.
 */
async function failovers(machines: Machines, names: string[]): Promise<string[]> {
  const net = await new TestNetwork(names, {
    configSuffix: `-${machines.net}`,
    hostPlace: (name) => machines.place(name),
  }).start();
  try {
    const app = `bench-haf-${crypto.randomUUID().slice(0, 6)}`;
    await net.deploy(`${ROOT}/apps/hello-world`, app, `${app}.dn.test`);
    const v2 = await net.buildAndPush(`${ROOT}/apps/hello-world`, app, 2);
    let started = Date.now();
    await machines.killPart(names[0], "rabbitmq");
    const update = await net.api("POST", `/v1/apps/${app}/update`, { version: 2, digest: v2 });
    const answered = Date.now() - started;
    await net.waitForRunning(app, 3);
    const updated = Date.now() - started;
    started = Date.now();
    await machines.up(3, { ha: true });
    const rejoined = await whole(machines, started);
    const creates = await createsAcross(net, v2, `${app}-c`, () => machines.kill(names[0]));
    started = Date.now();
    await machines.up(3, { ha: true });
    const back = await whole(machines, started);
    say("failovers measured");
    return [
      "| fault | measured |",
      "| --- | --- |",
      `| SIGKILL machine 1's RabbitMQ node (control and the gateway on it), \`update\` right ` +
      `after | control answered ${update.status} after ${answered} ms; v2 ran on all 3 hosts ` +
      `${updated} ms after the kill |`,
      `| \`scripts/machines up 3 --ha\` after it | the node back in the cluster, the set whole, ` +
      `after ${rejoined} ms |`,
      `| machine 1 loses power (Redis primary, Sentinel, RabbitMQ node, a host) while control ` +
      `creates an app every 50 ms | ${describeCreates(creates)} |`,
      `| \`scripts/machines up 3 --ha\` after it | whole again (its Redis a replica) after ` +
      `${back} ms |`,
    ];
  } finally {
    await net.stop();
  }
}

const machines = new Machines("dnh", "10.79.0");
try {
  const names = await machines.up(3);
  const single = await measure(machines, names, "");
  await machines.up(3, { ha: true });
  const ha = await measure(machines, names, `-${machines.net}`);
  const faults = await failovers(machines, names);
  const cpu = (await new Deno.Command("nproc").output()).stdout;
  const row = (what: string, key: keyof Timings) =>
    `| ${what} | ${spread(single[key])} | ${spread(ha[key])} |`;
  await writeSection(
    out,
    "## High availability",
    [
      "## High availability",
      "",
      `\`${command}\` on ${new Date().toISOString().slice(0, 10)} (${
        new TextDecoder().decode(cpu).trim()
      } cores, shared with other work: taken under load). Three machines (network namespaces, ` +
      "scripts/machines) run the hosts; control and the gateway run on the edge. Single: " +
      "scripts/infra's one RabbitMQ node and one Redis on the edge. HA: `scripts/machines up 3 " +
      "--ha`, a RabbitMQ node, a Redis and a Sentinel on each machine, quorum command queues " +
      "with publisher confirms, control waiting for one replica (`WAIT 1`) on every change. " +
      `ms, median (min-max) of ${runs} runs (status: of ${runs * 20}); deploy and update are ` +
      "until control's status shows 3 hosts running the version (polled every 250 ms).",
      "",
      "| | single node | HA (3 machines) |",
      "| --- | --- | --- |",
      row("deploy (create + start, 3 hosts running)", "deploy"),
      row("update (3 hosts running v2)", "update"),
      row("status (3 hosts)", "status"),
      "",
      "Failover on the HA set, in the same run (one of each):",
      "",
      ...faults,
      "",
    ].join("\n"),
  );
  say(`wrote the "High availability" section of ${out}`);
} finally {
  await machines.down();
}
