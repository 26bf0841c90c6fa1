/**
 * What TLS costs on the gateway → host link (scripts/bench-host-tls): the
 * gateway's own client (lib/http1.ts's Http1Pool, keep-alive) against a
 * server process holding two listeners with the same handler, one plain
 * lib/http1/server.ts server (a host without `tlsCertFile`) and one
 * lib/tls_server.ts TlsServer with scripts/infra's certificate (a host with
 * it: TLS, spliced to the same server on `Deno.listenTls` on 127.0.0.2),
 * verified against the local CA. Small
 * and 1 MiB answers, c = 1 and 16, plain and TLS alternating, twice.
 * Prints a Markdown section.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Http1Pool } from "../../lib/http1.ts";
import { Http1Server, type ServerRequest } from "../../lib/http1/server.ts";
import { Logger } from "../../lib/log.ts";
import { TlsServer } from "../../lib/tls_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    serve: { type: "boolean" },
    duration: { type: "string", default: "3" },
    state: { type: "string", default: Deno.env.get("DN_STATE_DIR") ?? "/var/lib/dn" },
  },
});
const state = values.state!;
const BIG = new Uint8Array(1 << 20);

if (values.serve) {
  const handler = async (req: ServerRequest) => {
    await req.body?.cancel();
    return new Response(req.target === "/big" ? BIG : "ok\n");
  };
  const plain = new Http1Server(Deno.listen({ hostname: "127.0.0.1", port: 0 }), handler);
  const tls = new TlsServer({
    hostname: "127.0.0.1",
    port: 0,
    certFile: `${state}/config/tls/server.pem`,
    keyFile: `${state}/config/tls/server.key`,
    serve: (pair) => new Http1Server(Deno.listenTls(pair), handler),
    service: "bench",
    log: new Logger("bench", "error"),
  });
  console.log(JSON.stringify({ plain: plain.addr.port, tls: tls.addr.port }));
} else {
  await bench(Number(values.duration));
}

interface Run {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

/** `c` loops of GET `path` on `port` for `seconds`. */
async function run(pool: Http1Pool, port: number, path: string, c: number, seconds: number) {
  const ms: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      try {
        await pool.request("127.0.0.1", port, {
          method: "GET",
          url: path,
          headers: [["host", "127.0.0.1"]],
          body: new Uint8Array(),
        }, 10_000);
        ms.push(performance.now() - started);
      } catch {
        errors++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: c }, loop));
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? NaN;
  return {
    requests: ms.length,
    seconds: (performance.now() - started) / 1000,
    p50: at(0.5),
    p99: at(0.99),
    errors,
  };
}

async function bench(seconds: number): Promise<void> {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", "--state", state],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const ports = JSON.parse((await reader.read()).value!) as { plain: number; tls: number };
  const limits = { maxHeadBytes: 65536, maxBodyBytes: 2 << 20, maxIdle: 64 };
  const plain = new Http1Pool(limits);
  const tls = new Http1Pool({
    ...limits,
    caCerts: [await Deno.readTextFile(`${state}/tls/ca.pem`)],
  });
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const rows: string[] = [];
  for (const [label, path] of [["small (3 B)", "/"], ["1 MiB", "/big"]]) {
    for (const c of [1, 16]) {
      const got: Record<string, Run[]> = { plain: [], tls: [] };
      for (let round = 0; round < 2; round++) {
        await run(plain, ports.plain, path, c, 0.5); // warm-up
        got.plain.push(await run(plain, ports.plain, path, c, seconds));
        await run(tls, ports.tls, path, c, 0.5);
        got.tls.push(await run(tls, ports.tls, path, c, seconds));
      }
      const rate = (r: Run[]) =>
        r.reduce((n, x) => n + x.requests, 0) / r.reduce((n, x) => n + x.seconds, 0);
      const median = (r: Run[], key: "p50" | "p99") => Math.max(...r.map((x) => x[key]));
      const [p, t] = [rate(got.plain), rate(got.tls)];
      const errors = [...got.plain, ...got.tls].reduce((n, x) => n + x.errors, 0);
      rows.push(
        `| ${label} | ${c} | ${Math.round(p).toLocaleString("en")} | ${
          Math.round(t).toLocaleString("en")
        } | ${(t / p).toFixed(2)} | ${median(got.plain, "p50").toFixed(2)} | ${
          median(got.tls, "p50").toFixed(2)
        } | ${median(got.plain, "p99").toFixed(2)} | ${
          median(got.tls, "p99").toFixed(2)
        } | ${errors} |`,
      );
    }
  }
  plain.close();
  tls.close();
  server.kill();
  await server.status;
  const commit = new TextDecoder().decode(
    (await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"] }).output()).stdout,
  ).trim();
  const now = new Date().toISOString().slice(0, 16).replace("T", " ");
  console.log(`## Gateway → host over TLS

Written by \`scripts/bench-host-tls\` on ${now} UTC (commit ${commit}); load average at start ${load}
on the 2-core machine above, shared with other work, so the figures were taken under load. The
gateway's own client (lib/http1.ts, keep-alive) sends GETs to one server process with two listeners
and one handler on a host's HTTP/1.1 server (lib/http1/server.ts): **plain** on \`Deno.listen\` (a
host's request listener without \`tlsCertFile\`), **TLS** behind a lib/tls_server.ts listener with
scripts/infra's certificate (RSA 2048), verified against the local CA (a host with \`tlsCertFile\`:
the connection is spliced to the server on \`Deno.listenTls\` holding the certificate). This is the link alone, without the host's work behind it. Each cell: two ${seconds} s
runs per target, plain and TLS alternating, after a 0.5 s warm-up; req/s over both, p50/p99 the
worse of the two (ms).

| response | c | plain req/s | TLS req/s | TLS / plain | p50 plain | p50 TLS | p99 plain | p99 TLS | errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}`);
}
