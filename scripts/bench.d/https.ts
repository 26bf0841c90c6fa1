/**
 * HTTPS benchmark for scripts/bench-https: the dn gateway terminating TLS
 * (certificate by SNI, gateway/tls_front.ts) against nginx terminating TLS
 * for the same app containers, with the same certificate (ECDSA P-256 from
 * a throwaway CA) and whatever TLS 1.3 cipher each negotiates with wrk
 * (printed), for a small and a 1 MiB response at c = 1, 16, 64; plus new
 * connections per second (`Connection: close`), the handshake's cost, and
 * the dn gateway over plain HTTP for the price of TLS itself.
 *
 * It starts a private network of this tree's code (tests/helpers/network.ts:
 * control, gateway, three hosts on the test vhost and a fresh Redis prefix)
 * and deploys apps/hello-world as `localhost`, the one name wrk can reach
 * 127.0.0.1 by and send as SNI. Prints the markdown section on stdout.
 *
 *   deno run -A scripts/bench.d/https.ts [--duration S]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePort, ROOT, TestNetwork } from "../../tests/helpers/network.ts";
import { issueCert, makeCa } from "../../tests/helpers/tls.ts";
import { reqPerSec, runWrk, wrkErrors, type WrkResult } from "./wrk.ts";

const { values } = parseArgs({ args: Deno.args, options: { duration: { type: "string" } } });
const duration = Number(values.duration ?? "5");
const APP = "https-bench";
const HOSTNAME = "localhost";
const PATHS = [["/", "`/` (14 B)"], ["/bytes/1048576", "1 MiB"]] as const;
const LEVELS = [1, 16, 64];

function say(text: string): void {
  console.error(`bench-https: ${text}`);
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text.slice(-500)}`);
  return text;
}

function wrk(url: string, conc: number, secs: number, close = false): Promise<WrkResult> {
  return runWrk(url, conc, secs, { headers: close ? ["Connection: close"] : [] });
}

async function negotiated(port: number): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", HOSTNAME, "-brief"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  const protocol = /Protocol version: (\S+)/.exec(text)?.[1] ?? "?";
  const cipher = /Ciphersuite: (\S+)/.exec(text)?.[1] ?? "?";
  const key = /Peer signature type: (\S+)/.exec(text)?.[1] ?? "";
  return `${protocol} ${cipher}${key ? ` (${key})` : ""}`;
}

const dir = await Deno.makeTempDir({ prefix: "dn-bench-https-" });
const net = new TestNetwork(["bench-a", "bench-b", "bench-c"]);
let nginx: Deno.ChildProcess | null = null;
try {
  say("starting a private network and deploying hello-world as localhost");
  await net.start();
  await net.deploy(`${ROOT}/apps/hello-world`, APP, HOSTNAME);
  const ca = await makeCa(dir, "dn bench CA");
  const cert = await issueCert(dir, ca, HOSTNAME);
  const set = await net.cli(["certs", "set", HOSTNAME, "--cert", cert.cert, "--key", cert.key]);
  if (set.code !== 0) throw new Error(`dn certs set failed: ${set.stderr}`);
  const ids = (await run("docker", ["ps", "-q", "--filter", `label=network.dn.app=${APP}`]))
    .trim().split("\n").filter((id) => id !== "");
  const upstreams: string[] = [];
  for (const id of ids) {
    const ip = (await run("docker", [
      "inspect",
      "-f",
      "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
      id,
    ])).trim().split(" ")[0];
    upstreams.push(`${ip}:8000`);
  }
  const nginxPort = freePort();
  await Deno.mkdir(`${dir}/nginx/logs`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/nginx/nginx.conf`,
    `worker_processes auto;
pid ${dir}/nginx/nginx.pid;
error_log ${dir}/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { ${upstreams.map((u) => `server ${u};`).join(" ")} keepalive 128; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    server_name ${HOSTNAME};
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.3;
    keepalive_requests 100000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
    }
  }
}
`,
  );
  nginx = new Deno.Command("nginx", {
    args: ["-p", `${dir}/nginx`, "-c", `${dir}/nginx/nginx.conf`, "-g", "daemon off;"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 1000));
  const targets = {
    "dn HTTPS": `https://${HOSTNAME}:${net.gatewayHttpsPort}`,
    "nginx HTTPS": `https://${HOSTNAME}:${nginxPort}`,
    "dn HTTP": `http://${HOSTNAME}:${net.gatewayPort}`,
  };
  const tls = {
    dn: await negotiated(net.gatewayHttpsPort),
    nginx: await negotiated(nginxPort),
  };
  for (const url of Object.values(targets)) await wrk(`${url}/`, 16, 2); // warm-up
  // New connections first: right after the 1 MiB runs the gateway answered them 5-9× slower
  // for about 15 s (measured), which would measure the aftermath, not the handshake.
  const handshakes: string[] = [];
  for (const [name, url] of Object.entries(targets)) {
    say(`${name} new connection per request`);
    const r = await wrk(`${url}/`, 16, duration, true);
    handshakes.push(
      `| ${name} | ${fmt(reqPerSec(r))} | ${ms(r.latency_us.p50)} | ${ms(r.latency_us.p99)} | ${
        wrkErrors(r)
      } |`,
    );
  }
  const rows: string[] = [];
  for (const [path, label] of PATHS) {
    for (const conc of LEVELS) {
      const r: Record<string, WrkResult> = {};
      for (const [name, url] of Object.entries(targets)) {
        say(`${name} ${path} c=${conc}`);
        r[name] = await wrk(`${url}${path}`, conc, duration);
      }
      const [d, n, p] = [r["dn HTTPS"], r["nginx HTTPS"], r["dn HTTP"]];
      rows.push(
        `| ${label} | ${conc} | ${fmt(reqPerSec(d))} | ${fmt(reqPerSec(n))} | ${
          ratio(reqPerSec(d), reqPerSec(n))
        } | ${fmt(reqPerSec(p))} | ${ratio(reqPerSec(d), reqPerSec(p))} | ${
          ms(d.latency_us.p50)
        } | ${ms(n.latency_us.p50)} | ${ms(d.latency_us.p99)} | ${ms(n.latency_us.p99)} | ${
          wrkErrors(d)
        } / ${wrkErrors(n)} |`,
      );
    }
  }
  const commit = (await run("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])).trim();
  const nginxVersion = (await run("nginx", ["-v"])).trim().replace("nginx version: ", "");
  console.log(`## HTTPS

Written by \`scripts/bench-https\` on ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC (commit ${commit}), on the machine above. A private network of this tree's code (control, gateway, three hosts) serves apps/hello-world as \`localhost\` (the name wrk reaches 127.0.0.1 by and sends as SNI) from three containers; the gateway sends requests straight to them (container routes). **nginx HTTPS** (${nginxVersion}, \`worker_processes auto\`, TLS 1.3 only, upstream keep-alive as in the plain benchmark) terminates TLS with the very same certificate and key (ECDSA P-256, from a throwaway CA) and balances over the same three containers. **dn HTTP** is the same gateway over plain HTTP: the difference is the price of TLS on dn's path. Each cell is one \`wrk --latency -d${duration}s\` run (1 thread for c = 1, else 2) after a 2 s warm-up, targets one after another.

Negotiated with \`openssl s_client\`: dn ${tls.dn}; nginx ${tls.nginx}.

| response | c | dn HTTPS req/s | nginx HTTPS req/s | dn / nginx | dn HTTP req/s | HTTPS / HTTP | p50 dn (ms) | p50 nginx | p99 dn | p99 nginx | errors dn / nginx |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

### New connection per request

\`wrk -c16 -H "Connection: close"\`: every request pays a TCP and (for HTTPS) a full TLS 1.3 handshake; the difference between dn HTTPS and dn HTTP is the handshake's cost on dn's path (the gateway's front reads the ClientHello, opens a loopback connection to the certificate's server, and splices). Run before the table above: right after its 1 MiB runs, the gateway took new connections 5-9× slower for about 15 s.

| target | req/s | p50 (ms) | p99 (ms) | errors |
| --- | ---: | ---: | ---: | ---: |
${handshakes.join("\n")}
`);
} finally {
  if (nginx) {
    try {
      nginx.kill("SIGTERM");
    } catch {
      // gone
    }
    await nginx.status;
  }
  await net.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

function fmt(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function ratio(a: number, b: number): string {
  return (a / b).toFixed(2);
}

function ms(us: number): string {
  return (us / 1000).toFixed(2);
}
