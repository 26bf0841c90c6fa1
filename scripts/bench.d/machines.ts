/**
 * `scripts/bench --machines N`: dn spread over N machines (network namespaces
 * made by scripts/machines, each with its own dockerd and host) against nginx
 * on the edge balancing over the same containers, plus machine loss.
 *
 *   machines.ts N DURATION_S OUT_FILE COMMAND_LINE
 *
 * It starts its own network (control and gateway on the edge, hosts on the
 * machines of net `dnt`, 10.78.0.0/24: the tests' set, so it must not run
 * beside `scripts/test machines`), deploys hello-world, and for nginx makes
 * each machine forward port 18000 of its address to the app's container, as
 * `docker run -p` would (the machine firewall lets only the edge in). wrk
 * runs on the edge: GET /, /bytes/65536, /bytes/1048576 at c = 1, 16, 64,
 * through the dn gateway (gateway → the port the host publishes on its machine
 * address → container: container routes) and
 * through nginx (nginx → machine → container). Then wrk through the gateway
 * while one machine loses power (scripts/machines kill). It writes the
 * section "Many machines" of OUT_FILE (the rest of the file is kept) and
 * removes its machines.
 *
 * @module
 */

import { Machines } from "../../tests/helpers/machines.ts";
import { ROOT, startNetwork, type TestNetwork } from "../../tests/helpers/network.ts";
import { DockerClient } from "../../lib/docker/mod.ts";
import { reqPerSec, run, wrk as wrkRun, wrkErrors } from "./wrk.ts";
import { writeSection } from "./section.ts";

const [countArg, durationArg, out, command] = Deno.args;
const count = Number(countArg);
const duration = Number(durationArg);
if (!Number.isInteger(count) || count < 2 || count > 8 || !(duration >= 1) || !out) {
  console.error("usage: machines.ts N(2-8) DURATION_S OUT_FILE COMMAND_LINE");
  Deno.exit(2);
}
const APP = "bench-m";
const HOST = "bench-m.dn.local";
const PUBLISHED = 18000;
const NGINX_PORT = 8094;
const PATHS = ["/", "/bytes/65536", "/bytes/1048576"];
const LEVELS = [1, 16, 64];
const work = await Deno.makeTempDir({ prefix: "dn-bench-machines-" });
const say = (line: string) => console.error(`bench: ${line}`);

/** wrk against `url` with Host HOST, its output kept in the work dir. */
const wrk = (id: string, url: string, conc: number, secs: number) =>
  wrkRun(work, id, url, HOST, conc, secs);

/** Makes machine `name` forward PUBLISHED on its address to the app's container port. */
async function publish(machines: Machines, name: string): Promise<string> {
  const docker = new DockerClient({ socketPath: machines.dockerSocket(name) });
  const [c] = await docker.listContainers({ "network.dn.app": APP }, false);
  const info = c && await docker.inspectContainer(c.id, 8000);
  if (!info?.ipAddress) throw new Error(`${name}: no running container of ${APP}`);
  const addr = machines.address(name);
  const rule = ["-t", "nat", "-I", "PREROUTING", "-i", "eth0", "-d", addr, "-p", "tcp"];
  rule.push("--dport", String(PUBLISHED), "-j", "DNAT", "--to", `${info.ipAddress}:8000`);
  const res = await machines.exec(name, ["iptables", ...rule]);
  if (res.code !== 0) throw new Error(`${name}: ${res.stderr}`);
  return `${addr}:${PUBLISHED}`;
}

/** Starts nginx on 127.0.0.1:NGINX_PORT balancing over `upstreams`. */
async function startNginx(upstreams: string[]): Promise<Deno.ChildProcess> {
  const dir = `${work}/nginx`;
  await Deno.mkdir(dir, { recursive: true });
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${dir}/${t};`).join("\n");
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
${temp}
  upstream app {
${upstreams.map((u) => `    server ${u};`).join("\n")}
    keepalive 128;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_max_temp_file_size 0;
    }
  }
}
`,
  );
  const nginx = new Deno.Command("nginx", {
    args: ["-c", `${dir}/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 50; i++) {
    const ok = await fetch(`http://127.0.0.1:${NGINX_PORT}/`).then((r) => r.text(), () => null);
    if (ok !== null) return nginx;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("nginx did not start");
}

const ms = (us: number) => (us / 1000).toFixed(2);

/** The side-by-side table, one row per path and concurrency. */
async function sideBySide(gateway: string, nginx: string): Promise<string[]> {
  let met = 0;
  const rows = [
    "| path | c | dn req/s | nginx req/s | dn / nginx | dn p50 ms | nginx p50 ms | dn p99 ms | nginx p99 ms | errors dn / nginx |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const path of PATHS) {
    for (const conc of LEVELS) {
      const id = `${path.replaceAll("/", "_")}-c${conc}`;
      await wrk(`warm${id}`, `${gateway}${path}`, conc, 1);
      const dn = await wrk(`dn${id}`, `${gateway}${path}`, conc, duration);
      await wrk(`warmn${id}`, `${nginx}${path}`, conc, 1);
      const ng = await wrk(`nginx${id}`, `${nginx}${path}`, conc, duration);
      const ratio = reqPerSec(dn) / reqPerSec(ng);
      if (ratio >= 0.5 && dn.latency_us.p50 - ng.latency_us.p50 <= 2000) met++;
      say(
        `${path} c=${conc}: dn ${reqPerSec(dn).toFixed(0)}/s, nginx ${reqPerSec(ng).toFixed(0)}/s`,
      );
      rows.push(
        `| ${path} | ${conc} | ${reqPerSec(dn).toFixed(0)} | ${reqPerSec(ng).toFixed(0)} | ` +
          `${ratio.toFixed(2)} | ${ms(dn.latency_us.p50)} | ${ms(ng.latency_us.p50)} | ` +
          `${ms(dn.latency_us.p99)} | ${ms(ng.latency_us.p99)} | ${wrkErrors(dn)} / ${
            wrkErrors(ng)
          } |`,
      );
    }
  }
  rows.push(
    "",
    `Goal (dn ≥ 0.5× nginx req/s with p50 within 2 ms of nginx): met in ${met} of ` +
      `${PATHS.length * LEVELS.length} rows. Both paths have one proxy and the kernel's ` +
      "forwarding to the same containers: dn's is the gateway, written in Deno; nginx's is in C.",
  );
  return rows;
}

/** wrk through the gateway while the last machine loses power. */
async function failover(machines: Machines, net: TestNetwork, gateway: string) {
  const victim = machines.name(count);
  const secs = Math.max(8, duration);
  const load = wrk("failover", `${gateway}/`, 16, secs);
  await new Promise((r) => setTimeout(r, 3000));
  await machines.kill(victim);
  const r = await load;
  const served = new Set<string>();
  for (let i = 0; i < 20; i++) {
    served.add((await (await net.gateway(HOST, "/whoami")).text()).trim());
  }
  return [
    `wrk -c16 for ${secs} s through the gateway; ${victim} (every process, link down) killed at 3 s:`,
    `${r.requests} requests, ${wrkErrors(r)} failed (connect ${r.errors.connect}, read ` +
    `${r.errors.read}, timeout ${r.errors.timeout}, non-2xx ${r.errors.status}), ` +
    `${reqPerSec(r).toFixed(0)} req/s, p99 ${ms(r.latency_us.p99)} ms, slowest ` +
    `${ms(r.latency_us.max)} ms; afterwards answering: ${[...served].sort().join(", ")}.`,
  ];
}

const machines = new Machines();
let net: TestNetwork | null = null;
let nginx: Deno.ChildProcess | null = null;
try {
  const names = await machines.up(count);
  net = await startNetwork(names, { hostPlace: (n) => machines.place(n) });
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOST);
  const upstreams = await Promise.all(names.map((n) => publish(machines, n)));
  nginx = await startNginx(upstreams);
  const gateway = net.gatewayUrl;
  const table = await sideBySide(gateway, `http://127.0.0.1:${NGINX_PORT}`);
  const loss = await failover(machines, net, gateway);
  const cpu = (await run("nproc", [])).out.trim();
  await writeSection(
    out,
    "## Many machines",
    [
      "## Many machines",
      "",
      `\`${command}\` on ${new Date().toISOString().slice(0, 10)} (${cpu} cores, shared with ` +
      `other work; ${duration} s per wrk run). wrk and nginx run on the edge (the root ` +
      `namespace), with control, the gateway, RabbitMQ, Redis and the registry; hello-world runs ` +
      `on ${count} machines (network namespaces with their own dockerd and dn host, ` +
      "`scripts/machines`). dn: wrk → gateway → the port the host published for the container " +
      "on its machine address (container routes; the host's DOCKER-USER rule admits only the " +
      "edge) → container. nginx: wrk → nginx (keep-alive, 2 workers) → " +
      `the machine's address:${PUBLISHED}, forwarded to the same containers. Raw output: ${work}.`,
      "",
      ...table,
      "",
      "Machine loss:",
      "",
      ...loss,
    ].join("\n") + "\n",
  );
  say(`wrote the "Many machines" section of ${out}`);
} finally {
  nginx?.kill();
  await net?.stop();
  await machines.down();
}
