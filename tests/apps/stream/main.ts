/**
 * stream: a test app whose bodies stream, for tests/e2e/streaming_test.ts and
 * tests/e2e/byte_faithful_test.ts.
 *
 *   ANY  /echo            the request body back as it arrives (`new Response(req.body)`)
 *   ANY  /count           reads the body; JSON {bytes, sum} (sum: bytes added mod 2^32)
 *   GET  /download/:n     n bytes (byte i is i mod 251), chunked, 64 KiB at a time
 *   GET  /zeros/:n        n zero bytes, chunked, 64 KiB at a time (cheap to make: benchmarks)
 *   ANY  /discard         reads the body without looking at it; JSON {bytes}
 *   GET  /sse?n=&ms=      n events ms apart; each says when it was written (epoch ms)
 *   GET  /stats           JSON: uploads completed and cut (the client went away mid-body)
 *   GET  /headers         JSON: request headers, values as their raw bytes (hex)
 *   GET  /utf8-header     a content-disposition header with a UTF-8 filename
 *   ANY  ...?show-target  the request target as received (any path), and the body's length
 *   GET  /ws              a WebSocket echo (any other upgrade is refused with 400)
 *   GET  /ws-refused      403 "no WebSockets here", to an upgrade too
 *   ANY  other            200 "ok"
 */

const port = Number(Deno.env.get("PORT") ?? "8000");
const encoder = new TextEncoder();
const stats = { completed: 0, cut: 0 };

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });
}

async function count(req: Request): Promise<Response> {
  let bytes = 0;
  let sum = 0;
  try {
    for await (const piece of req.body ?? []) {
      bytes += piece.length;
      for (let i = 0; i < piece.length; i++) sum = (sum + piece[i]) >>> 0;
    }
  } catch {
    stats.cut++;
    return new Response("cut\n", { status: 400 });
  }
  stats.completed++;
  return json({ bytes, sum });
}

async function discard(req: Request): Promise<Response> {
  let bytes = 0;
  for await (const piece of req.body ?? []) bytes += piece.length;
  return json({ bytes });
}

/** `n` bytes made 64 KiB at a time as they are read: the pattern (byte i is i mod 251), or zeros. */
function generated(n: number, pattern: boolean): Response {
  let sent = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= n) return controller.close();
        const out = new Uint8Array(Math.min(64 * 1024, n - sent));
        if (pattern) { for (let i = 0; i < out.length; i++) out[i] = (sent + i) % 251; }
        sent += out.length;
        controller.enqueue(out);
      },
    }, { highWaterMark: 0 }),
    { headers: { "content-type": "application/octet-stream" } },
  );
}

function sse(n: number, ms: number): Response {
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        const tick = () => {
          controller.enqueue(encoder.encode(`id: ${i}\ndata: ${Date.now()}\n\n`));
          if (++i >= n) controller.close();
          else timer = setTimeout(tick, ms);
        };
        tick();
      },
      cancel() {
        clearTimeout(timer);
      },
    }),
    { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } },
  );
}

function hex(value: string): string {
  return [...value].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

Deno.serve({ hostname: "0.0.0.0", port }, async (req) => {
  const url = new URL(req.url);
  const path = url.pathname;
  if (path === "/echo") return new Response(req.body);
  if (path === "/count") return await count(req);
  if (path.startsWith("/download/")) return generated(Number(path.slice(10)), true);
  if (path.startsWith("/zeros/")) return generated(Number(path.slice(7)), false);
  if (path === "/discard") return await discard(req);
  if (path === "/sse") {
    return sse(Number(url.searchParams.get("n") ?? 5), Number(url.searchParams.get("ms") ?? 200));
  }
  if (path === "/stats") return json(stats);
  if (path === "/headers") {
    return json(Object.fromEntries([...req.headers].map(([k, v]) => [k, hex(v)])));
  }
  if (path === "/utf8-header") {
    // "café.txt" in UTF-8, one character per byte: Deno writes each as that byte.
    return new Response("ok\n", {
      headers: { "content-disposition": 'attachment; filename="caf\xc3\xa9.txt"' },
    });
  }
  if (url.search.includes("show-target")) {
    const body = await req.bytes();
    // Deno's req.url is the raw target after the scheme and authority (not normalised).
    const target = req.url.slice(req.url.indexOf("/", req.url.indexOf("//") + 2));
    return json({ target: hex(target), length: body.length, method: req.method });
  }
  if (path === "/ws-refused") return new Response("no WebSockets here\n", { status: 403 });
  if (path === "/ws") {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("not an upgrade I take\n", { status: 400 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  }
  await req.body?.cancel();
  return new Response("ok\n");
});
