import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  Http1Pool,
  serialiseRequest,
  UpstreamBadResponseError,
  UpstreamConnectError,
  UpstreamDroppedError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
} from "../../lib/http1.ts";

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

/**
 * A raw TCP server that counts requests and runs `script` for each: it may
 * answer, stall, or close the connection.
 */
function scriptedServer(
  script: (conn: Deno.TcpConn, request: number) => Promise<"keep" | "close">,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let requests = 0;
  let connections = 0;
  const open = new Set<Deno.TcpConn>();
  const done = (async () => {
    for await (const conn of listener) {
      connections++;
      open.add(conn);
      (async () => {
        const buf = new Uint8Array(65536);
        while (true) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          if (await script(conn, ++requests) === "close") break;
        }
        open.delete(conn);
        try {
          conn.close();
        } catch {
          // closed
        }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests: () => requests,
    connections: () => connections,
    close: () => {
      listener.close();
      for (const conn of open) conn.close();
      return done;
    },
  };
}

const ok = enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
const limits = { maxHeadBytes: 8192, maxBodyBytes: 1 << 20, maxIdle: 4 };
const post = { ...get, method: "POST", url: "/slow", body: enc.encode("x") };

Deno.test("http1 times out a request on a kept-alive or a new connection, never sending it again", async () => {
  const server = scriptedServer(async (conn, n) => {
    if (n === 1) await conn.write(ok);
    return "keep"; // the second request is never answered
  });
  const pool = new Http1Pool(limits);
  await pool.request("127.0.0.1", server.port, get, 2000);
  for (const req of [post, get]) {
    const started = performance.now();
    await assertRejects(
      () => pool.request("127.0.0.1", server.port, req, 300),
      UpstreamTimeoutError,
    );
    const took = performance.now() - started;
    assert(took >= 290 && took < 600, `timed out after ${took} ms`);
  }
  const fresh = new Http1Pool(limits); // a POST on a new connection times out the same way
  await assertRejects(
    () => fresh.request("127.0.0.1", server.port, post, 300),
    UpstreamTimeoutError,
  );
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(server.requests(), 4); // the first, then each timed-out request once
  pool.close();
  await server.close();
});

Deno.test("http1 takes a new connection when the app closed the idle one, for any method", async () => {
  const server = scriptedServer(async (conn) => {
    await conn.write(ok);
    return "close"; // answers, then closes the kept-alive connection
  });
  const pool = new Http1Pool(limits);
  await pool.request("127.0.0.1", server.port, get, 2000);
  await new Promise((r) => setTimeout(r, 50)); // the close reaches the pool
  const res = await pool.request("127.0.0.1", server.port, post, 2000);
  assertEquals(dec.decode(res.body), "ok");
  assertEquals([server.requests(), server.connections()], [2, 2]);
  pool.close();
  await server.close();
});

Deno.test("http1 reports a request the app dropped unanswered, without sending it again", async () => {
  const server = scriptedServer(async (conn, n) => {
    if (n === 1) await conn.write(ok);
    return n === 1 ? "keep" : "close"; // the second request: closed unanswered
  });
  const pool = new Http1Pool(limits);
  await pool.request("127.0.0.1", server.port, get, 2000);
  await assertRejects(
    () => pool.request("127.0.0.1", server.port, get, 2000),
    UpstreamDroppedError,
  );
  assertEquals(server.requests(), 2);
  pool.close();
  await server.close();
});

Deno.test("http1 names what is wrong with a malformed response", async () => {
  const answers = [
    ["HTTP/1.1 abc\r\n\r\n", "invalid status line"],
    [`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(9000)}\r\n\r\n`, "response head over 8192 bytes"],
    ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab", "response broke off: closed mid-body"],
  ];
  const server = scriptedServer(async (conn, n) => {
    await conn.write(enc.encode(answers[n - 1][0]));
    return "close";
  });
  const pool = new Http1Pool(limits);
  for (const [, message] of answers) {
    const e = await assertRejects(
      () => pool.request("127.0.0.1", server.port, get, 2000),
      UpstreamBadResponseError,
    );
    assertEquals(e.message, message);
  }
  assertEquals(server.requests(), answers.length);
  pool.close();
  await server.close();
});

Deno.test("http1 raises a connect error when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const pool = new Http1Pool(limits);
  await assertRejects(() => pool.request("127.0.0.1", port, get, 2000), UpstreamConnectError);
});
