import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { Http1Pool, serialiseRequest, UpstreamTooLargeError } from "../../lib/http1.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw TCP server answering each request with `responses[i]` (raw bytes). */
function rawServer(responses: string[], onRequest?: (raw: string) => void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const done = (async () => {
    for await (const conn of listener) {
      connections++;
      (async () => {
        const buf = new Uint8Array(65536);
        while (responses.length > 0) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          onRequest?.(dec.decode(buf.subarray(0, n)));
          const next = responses.shift()!;
          await conn.write(enc.encode(next));
          if (next.includes("connection: close")) break;
        }
        conn.close();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => connections,
    close: () => {
      listener.close();
      return done;
    },
  };
}

const get = {
  method: "GET",
  url: "/x?y=1",
  headers: [["host", "a"]] as [string, string][],
  body: new Uint8Array(),
};

Deno.test("http1 reads content-length bodies and reuses the connection", async () => {
  const server = rawServer([
    "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nx-a: 2\r\n\r\nhello",
    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
  ]);
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 1 << 20, maxIdle: 4 });
  const first = await pool.request("127.0.0.1", server.port, get, 2000);
  assertEquals(first.status, 200);
  assertEquals(dec.decode(first.body), "hello");
  assertEquals(first.headers, [["x-a", "1"], ["x-a", "2"]]);
  const second = await pool.request("127.0.0.1", server.port, get, 2000);
  assertEquals(second.status, 404);
  assertEquals(server.connections(), 1);
  pool.close();
  await server.close();
});

Deno.test("http1 de-chunks bodies and reads close-delimited bodies", async () => {
  const server = rawServer([
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close",
  ]);
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 1 << 20, maxIdle: 4 });
  const chunked = await pool.request("127.0.0.1", server.port, get, 2000);
  assertEquals(dec.decode(chunked.body), "hello world");
  const closed = await pool.request("127.0.0.1", server.port, get, 2000);
  assertEquals(dec.decode(closed.body), "until close");
  pool.close();
  await server.close();
});

Deno.test("http1 enforces the body limit", async () => {
  const server = rawServer(["HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + "x".repeat(100)]);
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 10, maxIdle: 4 });
  await assertRejects(
    () => pool.request("127.0.0.1", server.port, get, 2000),
    UpstreamTooLargeError,
  );
  pool.close();
  await server.close();
});

Deno.test("http1 sends only the given headers plus framing, dropping hop-by-hop", async () => {
  let seen = "";
  const server = rawServer(["HTTP/1.1 204 No Content\r\n\r\n"], (raw) => seen = raw);
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 1024, maxIdle: 4 });
  await pool.request("127.0.0.1", server.port, {
    method: "POST",
    url: "/p",
    headers: [["host", "h"], ["x-custom", "A b"], ["connection", "x-drop"], ["x-drop", "1"], [
      "transfer-encoding",
      "chunked",
    ]],
    body: enc.encode("abc"),
  }, 2000);
  assertEquals(
    seen,
    "POST /p HTTP/1.1\r\nhost: h\r\nx-custom: A b\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\nabc",
  );
  pool.close();
  await server.close();
});

Deno.test("http1 serialises bodiless GET without content-length", () => {
  const text = dec.decode(serialiseRequest(get));
  assert(!text.includes("content-length"), text);
});

Deno.test("http1 forget closes idle connections, and busy ones once their request is done", async () => {
  let requests = 0;
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 1 << 20, maxIdle: 4 });
  const server = rawServer([
    "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na",
    "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb",
    "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc",
  ], () => {
    // The second request is on the wire: its connection is busy now.
    if (++requests === 2) pool.forget("127.0.0.1", server.port);
  });
  await pool.request("127.0.0.1", server.port, get, 2000);
  pool.forget("127.0.0.1", server.port); // idle: closed now
  assertEquals(dec.decode((await pool.request("127.0.0.1", server.port, get, 2000)).body), "b");
  assertEquals(dec.decode((await pool.request("127.0.0.1", server.port, get, 2000)).body), "c");
  assertEquals(server.connections(), 3);
  pool.close();
  await server.close();
});
