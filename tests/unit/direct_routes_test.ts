/** Direct routes: endpoint validation and the gateway's choice of host. */
import { assertEquals } from "../helpers/assert.ts";
import { DirectRoutes, upstreamOf } from "../../gateway/direct.ts";
import { Logger } from "../../lib/log.ts";
import { isEndpoint, releaseOf, type Route, type RouteStore } from "../../lib/routes.ts";

Deno.test("routes: endpoints are address:port, nothing else", () => {
  for (const ok of ["127.0.0.1:9300", "10.0.0.5:1", "[::1]:8080", "host-a.internal:65535"]) {
    assertEquals(isEndpoint(ok), true, ok);
  }
  for (const bad of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "a b:80", "/x:80", ":80", ""]) {
    assertEquals(isEndpoint(bad), false, bad);
  }
});

/** A table over a fixed route list (no Redis). */
async function table(routes: Route[]): Promise<DirectRoutes> {
  const store = { channel: "c", load: () => Promise.resolve(new Map([["app", routes]])) };
  const table = new DirectRoutes(store as unknown as RouteStore, new Logger("test", "error"));
  await table.reload();
  return table;
}

const A = { host: "a", endpoint: "127.0.0.1:1001", address: "127.0.0.1", port: 1001 };
const B = { host: "b", endpoint: "127.0.0.1:1002", address: "127.0.0.1", port: 1002 };
const C = { host: "c", endpoint: "127.0.0.1:1003", address: "127.0.0.1", port: 1003 };

Deno.test("routes: idle hosts are taken in turn", async () => {
  const routes = await table([A, B, C]);
  const picked = Array.from({ length: 6 }, () => routes.pick("app", new Set())!.host);
  assertEquals(new Set(picked), new Set(["a", "b", "c"]));
  assertEquals(routes.pick("other", new Set()), null);
  assertEquals(routes.has("app"), true);
  assertEquals(routes.has("other"), false);
});

Deno.test("routes: the host with the fewest requests in flight wins", async () => {
  const routes = await table([A, B, C]);
  routes.begin(A.endpoint);
  routes.begin(A.endpoint);
  routes.begin(C.endpoint);
  for (let i = 0; i < 5; i++) assertEquals(routes.pick("app", new Set())!.host, "b");
  routes.end(A.endpoint);
  routes.end(A.endpoint);
  routes.begin(B.endpoint);
  for (let i = 0; i < 5; i++) assertEquals(routes.pick("app", new Set())!.host, "a");
});

Deno.test("routes: tried and down hosts are skipped, then none is left", async () => {
  const routes = await table([A, B, C]);
  routes.markDown(B.endpoint);
  const tried = new Set<string>();
  const order: string[] = [];
  for (let route = routes.pick("app", tried); route; route = routes.pick("app", tried)) {
    order.push(route.host);
    tried.add(route.endpoint);
  }
  assertEquals(order.sort(), ["a", "c"]);
});

Deno.test("routes: a route naming its container is counted and skipped by the container", async () => {
  const container = { endpoint: "172.17.0.9:80", address: "172.17.0.9", port: 80 };
  const D = { host: "d", endpoint: "127.0.0.1:1004", address: "127.0.0.1", port: 1004, container };
  const routes = await table([A, D]);
  assertEquals(upstreamOf(D), container);
  assertEquals(upstreamOf(A), A);
  routes.begin(A.endpoint);
  assertEquals(routes.pick("app", new Set())!.host, "d");
  routes.begin(container.endpoint);
  routes.begin(container.endpoint);
  assertEquals(routes.pick("app", new Set())!.host, "a");
  assertEquals(routes.pick("app", new Set([A.endpoint]))!.host, "d");
  assertEquals(routes.pick("app", new Set([A.endpoint, container.endpoint])), null);
  routes.markDown(container.endpoint);
  assertEquals(routes.pick("app", new Set([A.endpoint])), null);
});

Deno.test("routes: hosts on container routes are probed, and their containers go with them", async () => {
  const container = { endpoint: "10.77.0.4:32768", address: "10.77.0.4", port: 32768 };
  const D = { host: "d", endpoint: "10.77.0.4:7001", address: "10.77.0.4", port: 7001, container };
  const routes = await table([A, D]);
  assertEquals(routes.hostEndpoints().map((e) => e.endpoint), [A.endpoint, D.endpoint]);
  assertEquals(routes.upstreamsOf(D.endpoint), [container]);
  assertEquals(routes.upstreamsOf(A.endpoint), [A]);
});

Deno.test("routes: upstreams no route names any more are reported gone on reload", async () => {
  const container = { endpoint: "172.17.0.9:80", address: "172.17.0.9", port: 80 };
  const D = { host: "d", endpoint: "127.0.0.1:1004", address: "127.0.0.1", port: 1004, container };
  let current: Route[] = [A, B, D];
  const store = { channel: "c", load: () => Promise.resolve(new Map([["app", current]])) };
  const gone: string[] = [];
  const routes = new DirectRoutes(
    store as unknown as RouteStore,
    new Logger("test", "error"),
    (upstream) => gone.push(upstream.endpoint),
  );
  await routes.reload();
  assertEquals(gone, []);
  current = [A, { ...D, container: { ...container, endpoint: "172.17.0.10:80" } }];
  await routes.reload();
  assertEquals(gone.sort(), [B.endpoint, container.endpoint].sort());
});

Deno.test("routes: reloads asked for during a load run once more after it, never dropped", async () => {
  let current: Route[] = [A];
  let loads = 0;
  let release = () => {};
  const store = {
    channel: "c",
    load: async () => {
      loads++;
      const snapshot = current; // what Redis held when the load read it
      await new Promise<void>((resolve) => release = resolve);
      return new Map([["app", snapshot]]);
    },
  };
  const routes = new DirectRoutes(store as unknown as RouteStore, new Logger("test", "error"));
  const first = routes.reload();
  current = [A, B]; // a host announces while the first load is in flight
  const second = routes.reload();
  const third = routes.reload();
  release();
  await first;
  await new Promise((resolve) => setTimeout(resolve, 0));
  release();
  await Promise.all([second, third]);
  assertEquals(loads, 2);
  assertEquals(routes.pick("app", new Set([A.endpoint]))?.host, "b");
});

Deno.test("routes: only the app's current release is used while any host serves it", async () => {
  const v1 = releaseOf({ version: 1, revision: 0, digest: `sha256:${"1".repeat(64)}` });
  const v2 = releaseOf({ version: 2, revision: 0, digest: `sha256:${"2".repeat(64)}` });
  // a: a dead host's v1 container, still announced; b and c: live hosts on v2.
  const routes = await table([{ ...A, release: v1 }, { ...B, release: v2 }, { ...C, release: v2 }]);
  for (let i = 0; i < 6; i++) assertEquals(routes.pick("app", new Set(), v2)?.host !== "a", true);
  // Every v2 route tried: the v1 one is not taken instead.
  assertEquals(routes.pick("app", new Set([B.endpoint, C.endpoint]), v2), null);
  // No host serves v3 yet (a rollout): every route serves meanwhile.
  const during = new Set(
    Array.from({ length: 6 }, () => routes.pick("app", new Set(), "3.0@x")!.host),
  );
  assertEquals([...during].sort(), ["a", "b", "c"]);
});
