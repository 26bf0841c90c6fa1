import { assert, assertEquals } from "../helpers/assert.ts";
import { HostLiveness } from "../../gateway/liveness.ts";
import { Http1Pool, UpstreamError } from "../../lib/http1.ts";
import type { Endpoint } from "../../lib/routes.ts";

function endpoint(port: number, address = "127.0.0.1"): Endpoint {
  return { endpoint: `${address}:${port}`, address, port };
}

Deno.test("a host that accepts is live; one that refuses is reported silent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const live = endpoint((listener.addr as Deno.NetAddr).port);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = endpoint((closed.addr as Deno.NetAddr).port);
  closed.close();
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  const silent: string[] = [];
  const liveness = new HostLiveness({
    endpoints: () => [live, dead],
    onSilent: (host) => silent.push(host.endpoint),
    intervalMs: 20,
    timeoutMs: 200,
  });
  liveness.start();
  await new Promise((r) => setTimeout(r, 200));
  liveness.stop();
  await new Promise((r) => setTimeout(r, 50));
  listener.close();
  await accepting.catch(() => {});
  assert(silent.length > 0, "the closed port was not reported");
  assertEquals([...new Set(silent)], [dead.endpoint]);
});

Deno.test("a probe that times out while the gateway is stalled is not counted", async () => {
  const host = endpoint(1);
  const silent: string[] = [];
  const stalled: number[] = [];
  let block = false;
  const liveness = new HostLiveness({
    endpoints: () => [host],
    onSilent: (h) => silent.push(h.endpoint),
    onStalled: (_, late) => stalled.push(late),
    intervalMs: 20,
    timeoutMs: 50,
    // A machine that never answers: the probe ends only when its signal aborts.
    connect: (_, signal) =>
      new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
        if (block) {
          block = false;
          const until = performance.now() + 400; // the gateway's own loop stalls
          while (performance.now() < until) { /* busy */ }
        }
      }),
  });
  block = true;
  liveness.start();
  // Due after the stalled probe's timeout (70 ms), fired once the stall ends (~420 ms); the
  // probe's verdict comes one tick (60 ms) later, before the next probe's (~110 ms after it).
  await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 75));
  assertEquals(silent.length, 0, "a probe timed out by a stalled gateway counted");
  assert(stalled.length === 1 && stalled[0] > 150, JSON.stringify(stalled));
  await new Promise((r) => setTimeout(r, 150));
  liveness.stop();
  assert(silent.length > 0, "a probe that timed out in time was not counted");
});

Deno.test("a host's timed-out probe counts only if the gateway reached itself", async () => {
  const host = endpoint(1);
  const self = endpoint(2);
  let selfAnswers = false;
  const silent: string[] = [];
  const stalled: string[] = [];
  const liveness = new HostLiveness({
    endpoints: () => [host],
    onSilent: (h) => silent.push(h.endpoint),
    onStalled: (h) => stalled.push(h.endpoint),
    intervalMs: 20,
    timeoutMs: 50,
    self: () => self,
    // The host never answers; the gateway's own listener answers once `selfAnswers` is set
    // (until then its sockets wait too, while its timers keep time).
    connect: (h, signal) =>
      h === self && selfAnswers ? Promise.resolve() : new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
      }),
  });
  liveness.start();
  await new Promise((r) => setTimeout(r, 250));
  assertEquals(silent.length, 0, "a probe counted while the gateway could not reach itself");
  assert(stalled.length > 0, "the uncounted probes were not reported");
  selfAnswers = true;
  await new Promise((r) => setTimeout(r, 250));
  liveness.stop();
  assert(
    silent.length > 0,
    "a probe that timed out while the gateway reached itself did not count",
  );
});

Deno.test("abort fails a request in flight at once and does not send it again", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let received = 0;
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      received++; // never answers: a machine gone silent
    }
  })();
  const pool = new Http1Pool({ maxHeadBytes: 8192, maxBodyBytes: 8192, maxIdle: 4 });
  const started = performance.now();
  const request = pool.request("127.0.0.1", port, {
    method: "POST",
    url: "/",
    headers: [["host", "x"]],
    body: new Uint8Array(0),
  }, 10_000);
  await new Promise((r) => setTimeout(r, 100));
  pool.abort("127.0.0.1", port); // spared: it moved a byte (the request) 100 ms ago
  await new Promise((r) => setTimeout(r, 500));
  pool.abort("127.0.0.1", port); // quiet for 600 ms: closed
  let error: unknown = null;
  await request.catch((e) => error = e);
  assert(error instanceof UpstreamError, String(error));
  assert(performance.now() - started < 2000, "the request waited for its timeout");
  assert(performance.now() - started >= 600, "a connection that just moved a byte was spared");
  assertEquals(received, 1);
  listener.close();
  for (const c of conns) c.close();
  await serving.catch(() => {});
});
