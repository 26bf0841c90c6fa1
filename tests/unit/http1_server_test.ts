import { assert, assertEquals } from "../helpers/assert.ts";
import { FixedResponse, Http1Server } from "../../lib/http1/server.ts";
import { parseRequestHead, RequestHeadError } from "../../lib/http1/request_head.ts";
import { Http1Pool, WHOLE_BODY_BYTES } from "../../lib/http1.ts";

const enc = new TextEncoder();

/** The server's whole answer to `raw`, sent at once and half-closed, as latin-1 text. */
async function exchangeRaw(port: number, raw: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(Uint8Array.from(raw, (ch) => ch.charCodeAt(0)));
  await conn.closeWrite();
  let out = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    for (const b of buf.subarray(0, n)) out += String.fromCharCode(b);
  }
  conn.close();
  return out.replace(/date: [^\r]*\r\n/g, "");
}

function refusal(head: string): [number, string] | null {
  try {
    parseRequestHead(Uint8Array.from(head, (ch) => ch.charCodeAt(0)));
    return null;
  } catch (e) {
    assert(e instanceof RequestHeadError);
    return [e.status, e.message];
  }
}

Deno.test("http1 server: the head parser reads fields as bytes and refuses malformed heads", () => {
  const head = parseRequestHead(
    Uint8Array.from(
      "\r\nGET /a%20b?c=d HTTP/1.0\r\nHost: x\r\nX-Name:  caf\xe9 \t\r\nEmpty:",
      (ch) => ch.charCodeAt(0),
    ),
  );
  assertEquals(head, {
    method: "GET",
    target: "/a%20b?c=d",
    minor: 0,
    headers: [["host", "x"], ["x-name", "caf\xe9"], ["empty", ""]],
  });
  const cases: [string, [number, string] | null][] = [
    ["GET / HTTP/1.1", null],
    ["GET  / HTTP/1.1", [400, "invalid request line"]],
    ["GET / HTTP/1.1 ", [400, "invalid request line"]],
    ["GET /", [400, "invalid request line"]],
    ["G@T / HTTP/1.1", [400, "invalid method"]],
    [" / HTTP/1.1\r\n", [400, "invalid method"]],
    ["GET /\x7f HTTP/1.1", [400, "invalid request target"]],
    ["GET / HTTP/1.10", [400, "invalid HTTP version"]],
    ["GET / http/1.1", [400, "invalid HTTP version"]],
    ["GET / HTTP/2.0", [505, "HTTP/2.0 is not supported"]],
    ["GET / HTTP/1.1\r\n folded", [400, "obsolete line folding in the headers"]],
    ["GET / HTTP/1.1\r\nA : b", [400, 'invalid header line "A : b"']],
    ["GET / HTTP/1.1\r\nno colon", [400, 'invalid header line "no colon"']],
    ["GET / HTTP/1.1\r\n: b", [400, 'invalid header line ": b"']],
    ["GET / HTTP/1.1\r\nA: b\rc", [400, "invalid A value"]],
    ["GET / HTTP/1.1\r\nA: b\nc: d", [400, "invalid A value"]],
    ["GET / HTTP/1.1\r\nA: b\x00", [400, "invalid A value"]],
  ];
  for (const [text, expected] of cases) assertEquals([text, refusal(text)], [text, expected]);
});

Deno.test("http1 server: fixed and whole answers go with their length, streams chunked, in order", async () => {
  const server = new Http1Server(Deno.listen({ hostname: "127.0.0.1", port: 0 }), (req) => {
    if (req.target === "/fixed") {
      return Promise.resolve(new FixedResponse(200, [["x-a", "caf\xe9"]], enc.encode("fixed")));
    }
    if (req.target === "/empty") return Promise.resolve(new FixedResponse(204, []));
    if (req.target === "/not-modified") {
      return Promise.resolve(new FixedResponse(304, [["content-length", "5"]]));
    }
    if (req.target === "/stream") {
      let n = 0;
      return Promise.resolve(
        new Response(
          new ReadableStream({
            async pull(c) {
              await new Promise((r) => setTimeout(r, 20));
              if (n++ < 2) c.enqueue(enc.encode("ab"));
              else c.close();
            },
          }),
        ),
      );
    }
    return Promise.resolve(new Response("whole"));
  });
  try {
    const port = server.addr.port;
    const got = await exchangeRaw(
      port,
      "GET /fixed HTTP/1.1\r\n\r\nHEAD /fixed HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\n\r\n" +
        "GET /not-modified HTTP/1.1\r\n\r\nGET /whole HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\n\r\n" +
        "GET /fixed HTTP/1.0\r\n\r\n",
    );
    assertEquals(
      got,
      "HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\ncontent-length: 5\r\n\r\nfixed" +
        "HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\ncontent-length: 5\r\n\r\n" +
        "HTTP/1.1 204 No Content\r\n\r\n" +
        "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n" +
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 5\r\n\r\nwhole" +
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n2\r\nab\r\n0\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\nconnection: close\r\ncontent-length: 5\r\n\r\nfixed",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("http1 pool: a small body that came with its head is handed over whole, on request", async () => {
  const server = new Http1Server(Deno.listen({ hostname: "127.0.0.1", port: 0 }), (req) => {
    const size = Number(req.target.slice(1));
    return Promise.resolve(new FixedResponse(200, [], new Uint8Array(size).fill(7)));
  });
  const pool = new Http1Pool({ maxHeadBytes: 65536, maxBodyBytes: 1 << 20, maxIdle: 4 });
  const timeouts = { connectMs: 1000, headMs: 1000, idleMs: 1000 };
  const get = (size: number, wholeBodyBytes?: number) =>
    pool.exchange("127.0.0.1", server.addr.port, {
      method: "GET",
      url: `/${size}`,
      headers: [["host", "x"]],
      body: null,
      length: 0,
      wholeBodyBytes,
    }, timeouts);
  try {
    const small = await get(100, WHOLE_BODY_BYTES);
    assertEquals([small.body, small.bytes?.length], [null, 100]);
    const unasked = await get(100);
    assert(unasked.body !== null && unasked.bytes === undefined);
    assertEquals((await new Response(unasked.body).bytes()).length, 100);
    const large = await get(WHOLE_BODY_BYTES + 1, WHOLE_BODY_BYTES);
    assert(large.body !== null && large.bytes === undefined);
    assertEquals((await new Response(large.body).bytes()).length, WHOLE_BODY_BYTES + 1);
  } finally {
    pool.close();
    await server.shutdown();
  }
});
