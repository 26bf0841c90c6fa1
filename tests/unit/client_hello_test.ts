/**
 * The gateway's ClientHello reader (gateway/client_hello.ts): real
 * ClientHellos captured from `Deno.connectTls`, split at every byte and
 * across records, without SNI, and malformed input.
 */
import { assertEquals } from "../helpers/assert.ts";
import { fatalAlert, readServerName } from "../../gateway/client_hello.ts";

/** The first bytes Deno's TLS client sends for `serverName` (a listener that never answers). */
async function captureHello(
  serverName: string | null,
  alpnProtocols?: string[],
): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const options: Deno.ConnectTlsOptions & Record<symbol, string> = {
    hostname: "127.0.0.1",
    port: listener.addr.port,
    alpnProtocols,
  };
  if (serverName !== null) options[Symbol.for("unstableServerName")] = serverName;
  const client = Deno.connectTls(options).then((c) => c.handshake().finally(() => c.close()));
  const conn = await listener.accept();
  const buffer = new Uint8Array(16 * 1024);
  let length = 0;
  while (readServerName(buffer.subarray(0, length)).kind === "more") {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  conn.close();
  listener.close();
  await client.catch(() => {});
  return buffer.slice(0, length);
}

Deno.test("client hello: the server name of a real ClientHello, at every split", async () => {
  const hello = await captureHello("App.Example.TEST.");
  assertEquals(readServerName(hello), { kind: "name", name: "app.example.test", alpn: [] });
  for (let cut = 0; cut < hello.length; cut++) {
    assertEquals(readServerName(hello.subarray(0, cut)).kind, "more", `cut at ${cut}`);
  }
});

Deno.test("client hello: a ClientHello split over two records", async () => {
  const hello = await captureHello("split.dn.test");
  const body = hello.subarray(5);
  const half = 40;
  const record = (part: Uint8Array) =>
    Uint8Array.from([22, 3, 1, part.length >> 8, part.length & 255, ...part]);
  const split = Uint8Array.from([
    ...record(body.subarray(0, half)),
    ...record(body.subarray(half)),
  ]);
  assertEquals(readServerName(split), { kind: "name", name: "split.dn.test", alpn: [] });
});

Deno.test("client hello: the ALPN protocols offered (HTTP/2 goes to another server)", async () => {
  const both = await captureHello("h2.dn.test", ["h2", "http/1.1"]);
  assertEquals(readServerName(both), {
    kind: "name",
    name: "h2.dn.test",
    alpn: ["h2", "http/1.1"],
  });
  const one = await captureHello("h1.dn.test", ["http/1.1"]);
  assertEquals(readServerName(one), { kind: "name", name: "h1.dn.test", alpn: ["http/1.1"] });
});

Deno.test("client hello: IP addresses send no SNI", async () => {
  const hello = await captureHello(null);
  assertEquals(readServerName(hello), { kind: "no-name" });
});

Deno.test("client hello: what is not a ClientHello is invalid", () => {
  const http = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals(readServerName(http).kind, "invalid");
  assertEquals(readServerName(Uint8Array.of(22, 3, 1, 0, 0)).kind, "invalid");
  assertEquals(readServerName(Uint8Array.of(22, 3, 1, 0, 4, 2, 0, 0, 0)).kind, "invalid");
  // a ClientHello claiming 1 MiB
  assertEquals(readServerName(Uint8Array.of(22, 3, 1, 0, 4, 1, 16, 0, 0)).kind, "invalid");
  // a truncated body
  assertEquals(readServerName(Uint8Array.of(22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3)).kind, "invalid");
  assertEquals(fatalAlert(112), Uint8Array.of(21, 3, 3, 0, 2, 2, 112));
});
