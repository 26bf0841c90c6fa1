/**
 * raw-http: a test app that speaks HTTP/1.1 itself, to misbehave in the ways
 * tests/e2e/delivery_test.ts needs. It counts every request it receives,
 * keeps connections alive, and closes a connection once it has been idle for
 * IDLE_MS (default 1000), as many servers do.
 *
 *   GET  /calls          JSON: how many times each "METHOD target" arrived
 *   ANY  /slow/:ms...    answers 200 "slept" after ms milliseconds
 *   ANY  /drop...        closes the connection without answering
 *   ANY  /bad-status...  answers with an invalid status line
 *   ANY  /big-head...    answers with a 70 000-byte header
 *   ANY  /body...        JSON: the method, and the body's length and text as received
 *   ANY  /upgrade...     with `Upgrade: P`: 101 switching to P, then echoes every byte back
 *                        until the client closes (byte_faithful_test.ts); else 426
 *   ANY  /no-upgrade...  403 "no upgrade here", whatever was asked
 *   ANY  /raw-target...  the request target's bytes as received, in hex (nothing decoded)
 *   ANY  other           200 "ok"
 */

const port = Number(Deno.env.get("PORT") ?? "8000");
const idleMs = Number(Deno.env.get("IDLE_MS") ?? "1000");
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const calls: Record<string, number> = {};

function close(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

function response(status: string, body: string, extra = ""): Uint8Array {
  const bytes = encoder.encode(body);
  return encoder.encode(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${bytes.length}\r\n` +
      `${extra}\r\n${body}`,
  );
}

/** The answer to `method target` with `body`, or null to close the connection unanswered. */
async function answer(
  method: string,
  target: string,
  body: Uint8Array,
  rawTarget: Uint8Array,
): Promise<Uint8Array | null> {
  if (target === "/calls") return response("200 OK", JSON.stringify(calls));
  if (target.startsWith("/body")) {
    const text = decoder.decode(body);
    return response("200 OK", JSON.stringify({ method, length: body.length, body: text }));
  }
  if (target.startsWith("/no-upgrade")) return response("403 Forbidden", "no upgrade here\n");
  if (target.startsWith("/raw-target")) {
    return response("200 OK", [...rawTarget].map((b) => b.toString(16).padStart(2, "0")).join(""));
  }
  const slow = /^\/slow\/(\d+)/.exec(target);
  if (slow) {
    await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
    return response("200 OK", "slept\n");
  }
  if (target.startsWith("/drop")) return null;
  if (target.startsWith("/bad-status")) return encoder.encode("HTTP/1.1 abc\r\n\r\n");
  if (target.startsWith("/big-head")) {
    return response("200 OK", "big\n", `x-big: ${"a".repeat(70_000)}\r\n`);
  }
  return response("200 OK", `ok ${method}\n`);
}

/** Where the head in `bytes` ends (its blank line's first byte), or -1: in bytes, not characters. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  let buffered = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  while (true) {
    // Wait for the next request; an idle connection is closed after idleMs.
    const idle = setTimeout(() => close(conn), idleMs);
    let end = -1;
    while ((end = headEnd(buffered)) === -1) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      clearTimeout(idle);
      const next = new Uint8Array(buffered.length + n);
      next.set(buffered);
      next.set(chunk.subarray(0, n), buffered.length);
      buffered = next;
    }
    clearTimeout(idle);
    const head = decoder.decode(buffered.subarray(0, end)).split("\r\n");
    const [method, target] = head[0].split(" ");
    const line = buffered.subarray(0, buffered.indexOf(0x0d)); // the request line's own bytes
    const rawTarget = line.slice(line.indexOf(0x20) + 1, line.lastIndexOf(0x20));
    const length = Number(
      head.find((line) => line.toLowerCase().startsWith("content-length:"))?.split(":")[1] ?? 0,
    );
    while (buffered.length < end + 4 + length) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      const next = new Uint8Array(buffered.length + n);
      next.set(buffered);
      next.set(chunk.subarray(0, n), buffered.length);
      buffered = next;
    }
    const body = buffered.slice(end + 4, end + 4 + length);
    buffered = buffered.slice(end + 4 + length);
    const key = `${method} ${target}`;
    calls[key] = (calls[key] ?? 0) + 1;
    if (target.startsWith("/upgrade")) {
      const protocol = head.find((line) => line.toLowerCase().startsWith("upgrade:"))?.slice(8);
      if (protocol === undefined) {
        await write(conn, response("426 Upgrade Required", "upgrade to something\n"));
        continue;
      }
      await write(
        conn,
        encoder.encode(
          `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${protocol.trim()}\r\n` +
            "connection: upgrade\r\n\r\n",
        ),
      );
      return await echo(conn, buffered, chunk);
    }
    const bytes = await answer(method, target, body, rawTarget);
    if (bytes === null) return close(conn);
    await write(conn, bytes);
  }
}

async function write(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let rest = bytes;
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

/** After an upgrade: every byte back as it comes (`buffered` first) until the client closes. */
async function echo(conn: Deno.TcpConn, buffered: Uint8Array, chunk: Uint8Array): Promise<void> {
  await write(conn, buffered);
  while (true) {
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return close(conn);
    await write(conn, chunk.subarray(0, n));
  }
}

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
console.log(JSON.stringify({ msg: "raw-http listening", port, idleMs }));
for await (const conn of Deno.listen({ hostname: "0.0.0.0", port })) {
  serve(conn).catch(() => close(conn));
}
