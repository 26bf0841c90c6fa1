/**
 * The streaming section of BENCHMARKS.md (`scripts/bench --streaming`): one
 * app container (tests/apps/stream) reached three ways in the same run:
 * directly (its bridge IP), through nginx (a streaming reverse-proxy
 * config), and through the dn gateway (container route). For each: 1 GiB
 * upload and download throughput, the gateway's (or nginx's) peak RSS
 * during them, Server-Sent Events first-byte lag, and WebSocket echo round
 * trips. The same client (lib/http1.ts) drives all three.
 *
 *   deno run -A scripts/bench.d/streaming.ts NGINX_BIN OUT_FILE
 *
 * It starts its own test network (tests/helpers/network.ts) on free ports
 * and stops it at the end; the shared infra must be up.
 *
 * @module
 */

import { Http1Pool } from "../../lib/http1.ts";
import { ROOT, startNetwork, testHostNames } from "../../tests/helpers/network.ts";
import { containerOf, type Nginx, startNginx, writeSection } from "./section.ts";
import { rssBytes, sampleRss } from "../../tests/helpers/streams.ts";
import { TestWebSocket } from "../../tests/helpers/ws_client.ts";

const [nginxBin, outFile] = Deno.args;
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const client = new Http1Pool({ maxHeadBytes: 65536, maxBodyBytes: MiB, maxIdle: 4 });
const timeouts = { connectMs: 2000, headMs: 120_000, idleMs: 60_000 };

interface Way {
  name: string;
  port: number;
  address: string;
  host: string;
  /** Process whose memory is watched (the proxy), if any. */
  pid?: number;
}

/** 1 GiB of zeros in 64 KiB pieces (one buffer: the client costs next to nothing). */
async function* gib(): AsyncGenerator<Uint8Array> {
  const piece = new Uint8Array(64 * 1024);
  for (let sent = 0; sent < GiB; sent += piece.length) yield piece;
}

async function measure(way: Way, run: () => Promise<void>): Promise<[number, number]> {
  const before = way.pid ? await rssBytes(way.pid) : 0;
  const sampler = way.pid ? sampleRss(way.pid) : null;
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  const peak = (await sampler?.stop()) ?? 0;
  return [GiB / MiB / seconds, way.pid ? (peak - before) / MiB : NaN];
}

async function upload(way: Way): Promise<[number, number]> {
  return await measure(way, async () => {
    const res = await client.exchange(way.address, way.port, {
      method: "PUT",
      url: "/discard",
      headers: [["host", way.host]],
      body: gib(),
      length: GiB,
    }, timeouts);
    const answer = await new Response(res.body).json();
    if (answer.bytes !== GiB) throw new Error(`${way.name}: uploaded ${answer.bytes}`);
  });
}

async function download(way: Way): Promise<[number, number]> {
  return await measure(way, async () => {
    const res = await client.exchange(way.address, way.port, {
      method: "GET",
      url: `/zeros/${GiB}`,
      headers: [["host", way.host]],
      body: null,
      length: 0,
    }, timeouts);
    let bytes = 0;
    for await (const piece of res.body!) bytes += piece.length;
    if (bytes !== GiB) throw new Error(`${way.name}: downloaded ${bytes}`);
  });
}

/** Median lag (ms) between the app writing an event and the client reading it, over 20 events. */
async function sse(way: Way): Promise<number> {
  const res = await client.exchange(way.address, way.port, {
    method: "GET",
    url: "/sse?n=20&ms=100",
    headers: [["host", way.host]],
    body: null,
    length: 0,
  }, timeouts);
  const lags: number[] = [];
  const decoder = new TextDecoder();
  let text = "";
  for await (const piece of res.body!) {
    const now = Date.now();
    text += decoder.decode(piece, { stream: true });
    for (const m of text.matchAll(/data: (\d+)\n\n/g)) lags.push(now - Number(m[1]));
    text = text.slice(text.lastIndexOf("\n\n") + 2);
  }
  return lags.sort((a, b) => a - b)[Math.floor(lags.length / 2)];
}

/** Median WebSocket echo round trip (ms) over 500 messages. */
async function webSocket(way: Way): Promise<number> {
  const ws = await TestWebSocket.open(way.port, way.host, "/ws", way.address);
  if (!(ws instanceof TestWebSocket)) throw new Error(`${way.name}: ${ws.text}`);
  const rtts: number[] = [];
  for (let i = 0; i < 500; i++) {
    const started = performance.now();
    await ws.send(`m${i}`);
    await ws.next();
    rtts.push(performance.now() - started);
  }
  ws.drop();
  return rtts.sort((a, b) => a - b)[250];
}

function proxyTo(upstream: string): Promise<Nginx> {
  return startNginx(
    nginxBin,
    (dir, port) =>
      `# nginx set up to stream, as a user would for SSE and WebSockets (scripts/bench.d/streaming.ts)
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  upstream app { server ${upstream}; keepalive 16; }
  map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`,
  );
}

const net = await startNetwork(testHostNames(1));
try {
  const app = `bench-stream-${crypto.randomUUID().slice(0, 6)}`;
  const hostname = `${app}.dn.test`;
  await net.deploy(`${ROOT}/tests/apps/stream`, app, hostname, 8000, { bodyLimit: GiB });
  const container = await containerOf(net, app);
  const nginx = await proxyTo(`${container.address}:${container.port}`);
  const gatewayPid = net.services.get("gateway")!.child.pid;
  const ways: Way[] = [
    { name: "direct", address: container.address, port: container.port, host: hostname },
    { name: "nginx", address: "127.0.0.1", port: nginx.port, host: hostname, pid: nginx.pid },
    {
      name: "dn gateway",
      address: "127.0.0.1",
      port: net.gatewayPort,
      host: hostname,
      pid: gatewayPid,
    },
  ];
  const rows: string[] = [];
  for (const way of ways) {
    await download(way); // warm up
    const [up, upRss] = await upload(way);
    const [down, downRss] = await download(way);
    const lag = await sse(way);
    const rtt = await webSocket(way);
    const rss = (n: number) => Number.isNaN(n) ? "–" : `+${Math.round(n)}`;
    rows.push(
      `| ${way.name} | ${Math.round(up)} | ${rss(upRss)} | ${Math.round(down)} | ${
        rss(downRss)
      } | ${lag} | ${rtt.toFixed(2)} |`,
    );
    console.error(`bench streaming: ${rows.at(-1)}`);
  }
  nginx.stop();
  const section = [
    "## Streaming",
    "",
    "`scripts/bench --streaming` (written by scripts/bench.d/streaming.ts; about a minute): one",
    "container of tests/apps/stream reached directly, through nginx (streaming config:",
    "`proxy_request_buffering off`, `proxy_buffering off`, upgrade headers, keepalive, 1 worker)",
    "and through the dn gateway (container route), in the same run, by the same client",
    "(lib/http1.ts). Throughput of one 1 GiB upload (`PUT /discard`) and one 1 GiB download",
    "(`GET /zeros/1073741824`); RSS growth (peak during the transfer minus before) of the nginx",
    "worker or the gateway; median lag of 20 Server-Sent Events between the app's write and the",
    "client's read; median WebSocket echo round trip over 500 messages.",
    "",
    "| path | upload MiB/s | RSS MiB | download MiB/s | RSS MiB | SSE lag ms | WS echo ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
  await writeSection(outFile, "## Streaming", section);
  console.error(`bench streaming: section written to ${outFile}`);
} finally {
  client.close();
  await net.stop();
}
