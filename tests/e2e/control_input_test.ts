/**
 * Bad input to control's HTTP API, against a real control (Redis, RabbitMQ):
 * every refusal has a fitting status and a clear JSON error, control keeps
 * answering, and nothing is stored half-way (the app list is compared before
 * and after every case).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { startNetwork, type TestNetwork } from "../helpers/network.ts";
import { reliabilityTest } from "../helpers/reliability.ts";

let net: TestNetwork;
/** A well-formed image digest: control records it; these apps never run. */
const D = `sha256:${"0".repeat(64)}`;
const BASE = { name: "ctl-base", hostname: "base.ctl-input.test", port: 8000, digest: D };
const OTHER = { name: "ctl-other", hostname: "other.ctl-input.test", digest: D };

Deno.test.beforeAll(async () => {
  net = await startNetwork([]);
  for (const app of [BASE, OTHER]) {
    const created = await net.api("POST", "/v1/apps", app);
    assertEquals(created.status, 201, JSON.stringify(created.body));
  }
});
Deno.test.afterAll(async () => {
  await net?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  error: string;
}

interface Call {
  /** Authorization header; default the network's token, null for none. */
  auth?: string | null;
  body?: BodyInit;
  headers?: Record<string, string>;
}

/** One request to control with full control over token, body and headers. */
async function call(method: string, path: string, opts: Call = {}): Promise<Answer> {
  const headers = new Headers(opts.headers);
  const auth = opts.auth === undefined ? `Bearer ${net.token}` : opts.auth;
  if (auth !== null) headers.set("authorization", auth);
  if (opts.body !== undefined && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  const res = await net.controlFetch(path, { method, headers, body: opts.body });
  const text = await res.text();
  let error = "";
  try {
    error = JSON.parse(text).error ?? "";
  } catch {
    // not JSON: the assertions below say so
  }
  return { status: res.status, headers: res.headers, text, error };
}

/** Asserts a refusal: `status`, a JSON `{error}` matching `pattern`, and a short message. */
function refused(answer: Answer, status: number, pattern: RegExp, what: string): void {
  assertEquals(answer.status, status, `${what}: ${answer.text}`);
  assertMatch(answer.headers.get("content-type") ?? "", /^application\/json/, what);
  assertMatch(answer.error, pattern, what);
  assert(answer.error.length < 400, `${what}: error message is short (${answer.error.length})`);
}

async function appList(): Promise<string> {
  const list = await net.api("GET", "/v1/apps");
  assertEquals(list.status, 200);
  return JSON.stringify(list.body.apps);
}

/**
 * Runs `cases` and then checks that control still serves a normal request,
 * that the stored apps did not change, and that no request ended in a 500.
 */
async function unchanged(cases: () => Promise<number>): Promise<string> {
  const before = await appList();
  const count = await cases();
  assertEquals(await appList(), before, "apps unchanged");
  const health = await net.controlFetch("/healthz");
  assertEquals(health.status, 200);
  await health.body?.cancel();
  const control = net.services.get("control")!;
  assert(!control.output.includes('"internal error"'), "no request failed with 500");
  assert(!control.output.includes('"request failed"'), "no request failed with 500");
  return `${count} requests refused; control answered a normal request afterwards; apps unchanged`;
}

const ROUTES: [string, string][] = [
  ["GET", "/v1/apps"],
  ["POST", "/v1/apps"],
  ["GET", `/v1/apps/${BASE.name}`],
  ["DELETE", `/v1/apps/${BASE.name}`],
  ["POST", `/v1/apps/${BASE.name}/start`],
  ["POST", `/v1/apps/${BASE.name}/stop`],
  ["POST", `/v1/apps/${BASE.name}/update`],
  ["GET", `/v1/apps/${BASE.name}/status`],
  ["GET", "/v1/nowhere"],
  ["PUT", "/v1/apps"],
];

reliabilityTest("control input: a missing or wrong token gets 401 on every route", {
  fault: "no Authorization, wrong token, token + 1 char, Basic scheme, empty Bearer, " +
    "token in the query, 2 KB token — on each of the 8 routes plus unknown ones",
  expected: "401 with WWW-Authenticate and a JSON error before any body is read; nothing changes",
}, async (note) => {
  note(
    await unchanged(async () => {
      const wrong = [
        null,
        "Bearer wrong-token-wrong-token",
        `Bearer ${net.token}x`,
        `Bearer ${net.token.slice(0, -1)}`,
        `Basic ${btoa(`dn:${net.token}`)}`,
        "Bearer ",
        "Bearer",
        net.token,
        `Bearer  ${net.token}`,
        `Bearer ${"a".repeat(2048)}`,
      ];
      let n = 0;
      for (const [method, path] of ROUTES) {
        for (const auth of wrong) {
          const body = method === "POST" || method === "PUT"
            ? JSON.stringify({ name: "intruder", hostname: "intruder.test", version: 2 })
            : undefined;
          const answer = await call(method, path, { auth, body });
          refused(answer, 401, /token/, `${method} ${path} with ${String(auth).slice(0, 20)}`);
          assertMatch(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
          n++;
        }
        const query = await call(method, `${path}?token=${net.token}`, { auth: null });
        refused(query, 401, /missing token/, `${method} ${path} token in query`);
        n++;
      }
      // The scheme is case-insensitive (RFC 9110); the token is not.
      assertEquals((await call("GET", "/v1/apps", { auth: `bearer ${net.token}` })).status, 200);
      const upper = await call("GET", "/v1/apps", { auth: `Bearer ${net.token.toUpperCase()}` });
      refused(upper, 401, /invalid token/, "token in upper case");
      // Liveness needs no token.
      assertEquals((await call("GET", "/healthz", { auth: null })).status, 200);
      return n + 1;
    }),
  );
});

reliabilityTest("control input: malformed and non-object JSON bodies get 400", {
  fault: "create/update bodies: truncated JSON, plain text, empty, invalid UTF-8, " +
    "array, null, number, string, 20 000-deep nesting",
  expected: "400 'body must be valid UTF-8 JSON' or 'body must be a JSON object'; nothing stored",
}, async (note) => {
  note(
    await unchanged(async () => {
      const bad: [BodyInit, RegExp][] = [
        ['{"name": "x", "hostname": ', /valid UTF-8 JSON/],
        ["name=x&hostname=y", /valid UTF-8 JSON/],
        ["", /valid UTF-8 JSON/],
        [new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), /valid UTF-8 JSON/],
        ['{"name": "x",}', /valid UTF-8 JSON/],
        ["[1, 2]", /JSON object/],
        ["null", /JSON object/],
        ["42", /JSON object/],
        ['"ctl-new"', /JSON object/],
        ["[".repeat(20_000) + "]".repeat(20_000), /JSON object/],
        ['{"a":'.repeat(10_000) + "1" + "}".repeat(10_000), /unknown field/],
      ];
      let n = 0;
      for (const [body, pattern] of bad) {
        for (const path of ["/v1/apps", `/v1/apps/${BASE.name}/update`]) {
          refused(await call("POST", path, { body }), 400, pattern, `${path} ${String(body)}`);
          n++;
        }
      }
      return n;
    }),
  );
});

reliabilityTest("control input: unknown fields and wrong types get 400", {
  fault: "create/update with extra fields (status, image, __proto__, constructor), " +
    "missing fields, and each field of the wrong type or out of range",
  expected: "400 naming the field and what it must be; nothing stored",
}, async (note) => {
  note(
    await unchanged(async () => {
      const ok = { name: "ctl-new", hostname: "new.ctl-input.test", digest: D };
      const create: [Record<string, unknown>, RegExp][] = [
        [{ ...ok, status: "running" }, /unknown field "status"/],
        [{ ...ok, image: "docker.io/evil/miner:latest" }, /unknown field "image"/],
        [{ ...ok, version: 7 }, /unknown field "version"/],
        [
          JSON.parse(`{"name":"ctl-new","hostname":"new.ctl-input.test","__proto__":{"x":1}}`),
          /unknown field "__proto__"/,
        ],
        [{ ...ok, constructor: {} }, /unknown field "constructor"/],
        [{ hostname: ok.hostname }, /missing name/],
        [{ name: ok.name }, /missing hostname/],
        [{}, /missing name/],
        [{ ...ok, name: 5 }, /invalid name 5/],
        [{ ...ok, name: null }, /invalid name null/],
        [{ ...ok, name: ["ctl-new"] }, /invalid name/],
        [{ ...ok, hostname: { host: "x" } }, /invalid hostname/],
        [{ ...ok, hostname: true }, /invalid hostname/],
        [{ ...ok, port: "8000" }, /invalid port "8000"/],
        [{ ...ok, port: 80.5 }, /invalid port/],
        [{ ...ok, port: 0 }, /invalid port/],
        [{ ...ok, port: 65536 }, /invalid port/],
        [{ ...ok, port: -1 }, /invalid port/],
        [{ ...ok, port: 1e400 }, /invalid port/],
        [{ ...ok, digest: "sha256:abc" }, /invalid digest/],
        [{ ...ok, digest: 5 }, /invalid digest/],
        [{ ...ok, digest: `sha256:${"A".repeat(64)}` }, /invalid digest/],
        [{ ...ok, digest: "" }, /invalid digest/],
        [{ ...ok, streamIdleMs: 999 }, /invalid streamIdleMs 999: must be 0 .* or .*1000-3600000/],
        [{ ...ok, streamIdleMs: 3_600_001 }, /invalid streamIdleMs/],
        [{ ...ok, streamIdleMs: "2s" }, /invalid streamIdleMs "2s"/],
        [{ ...ok, streamIdleMs: 1500.5 }, /invalid streamIdleMs/],
      ];
      const update: [Record<string, unknown>, RegExp][] = [
        [{ version: 2, name: "renamed" }, /unknown field "name"/],
        [{ version: 2, status: "running" }, /unknown field "status"/],
        [{ version: 2, image: "evil:latest" }, /unknown field "image"/],
        [{}, /missing version/],
        [{ version: "2" }, /invalid version "2"/],
        [{ version: 2.5 }, /invalid version/],
        [{ version: 0 }, /invalid version/],
        [{ version: -2 }, /invalid version/],
        [{ version: 2 ** 60 }, /invalid version/],
        [{ version: 2, digest: D, port: "80" }, /invalid port/],
        [{ version: 2, digest: D, hostname: 7 }, /invalid hostname/],
        [{ version: 2, digest: "latest" }, /invalid digest/],
        [{ version: 2 }, /missing digest/],
        [{ version: 2, digest: D, streamIdleMs: -1 }, /invalid streamIdleMs/],
      ];
      for (const [body, pattern] of create) {
        refused(
          await call("POST", "/v1/apps", { body: JSON.stringify(body) }),
          400,
          pattern,
          `create ${JSON.stringify(body)}`,
        );
      }
      for (const [body, pattern] of update) {
        refused(
          await call("POST", `/v1/apps/${BASE.name}/update`, { body: JSON.stringify(body) }),
          400,
          pattern,
          `update ${JSON.stringify(body)}`,
        );
      }
      return create.length + update.length;
    }),
  );
});

reliabilityTest("control input: app names that are not DNS labels get 400, in bodies and paths", {
  fault: "names: empty, upper case, leading/trailing '-', '_', '.', '/', '..', '../etc', space, " +
    "unicode, 64 chars, NUL; paths: ..%2F..%2Fetc, a%2Fb, %00, broken %-encoding, %2e%2e",
  expected:
    "400 'invalid name' (or 404 when the path itself does not match a route); nothing stored",
}, async (note) => {
  note(
    await unchanged(async () => {
      const names = [
        "",
        "Hello",
        "HELLO-WORLD",
        "-hello",
        "hello-",
        "hello_world",
        "hello.world",
        "hello/world",
        "..",
        "../etc",
        "../../var/run/docker.sock",
        "hello world",
        "héllo",
        "hello\u0000",
        "hello\n",
        "x".repeat(64),
      ];
      let n = 0;
      for (const name of names) {
        const body = JSON.stringify({ name, hostname: "new.ctl-input.test" });
        refused(await call("POST", "/v1/apps", { body }), 400, /invalid name/, `create ${name}`);
        n++;
      }
      const paths = [
        "..%2F..%2Fetc",
        "..%2f..%2fvar%2frun%2fdocker.sock",
        "ctl-base%2Fstart",
        "a%2Fb",
        "%00",
        "ctl-base%00",
        "Ctl-Base",
        "ctl_base",
        "%C3%A9",
        "%20ctl-base",
      ];
      for (const path of paths) {
        for (const [method, suffix] of [["GET", ""], ["DELETE", ""], ["POST", "/start"]]) {
          const answer = await call(method, `/v1/apps/${path}${suffix}`);
          refused(answer, 400, /invalid name/, `${method} ${path}${suffix}`);
          n++;
        }
      }
      // The URL parser resolves encoded dot segments first: no app route is left.
      for (const path of ["%2e%2e", "%2E%2E/start", ".%2e", "%2e"]) {
        refused(await call("GET", `/v1/apps/${path}`), 404, /no such endpoint/, `GET ${path}`);
        n++;
      }
      for (const path of ["%", "%E0%A4%A", "%zz", "%C3"]) {
        const answer = await call("GET", `/v1/apps/${path}`);
        refused(answer, 400, /invalid (app )?name/, `GET ${path}`);
        n++;
      }
      return n;
    }),
  );
});

reliabilityTest("control input: invalid hostnames get 400", {
  fault:
    "create and update with hostnames: empty, leading/trailing '-' or '.', '..', upper case, " +
    "'_', space, port, '*', scheme, path, 64-char label, 255 chars, IPv6 literal",
  expected: "400 'invalid hostname'; nothing stored, the app keeps its hostname",
}, async (note) => {
  note(
    await unchanged(async () => {
      const hostnames = [
        "",
        "-a.ctl-input.test",
        "a-.ctl-input.test",
        ".a.ctl-input.test",
        "a..ctl-input.test",
        "a.ctl-input.test.",
        "NEW.CTL-INPUT.TEST",
        "a_b.ctl-input.test",
        "a b.ctl-input.test",
        "new.ctl-input.test:8080",
        "*.ctl-input.test",
        "http://new.ctl-input.test",
        "new.ctl-input.test/path",
        `${"x".repeat(64)}.ctl-input.test`,
        `${"a.".repeat(127)}ab`,
        "[::1]",
        "new.ctl-input.test\r\nx-injected: 1",
      ];
      let n = 0;
      for (const hostname of hostnames) {
        const create = JSON.stringify({ name: "ctl-new", hostname, digest: D });
        refused(
          await call("POST", "/v1/apps", { body: create }),
          400,
          /invalid hostname/,
          hostname,
        );
        const update = JSON.stringify({ version: 2, digest: D, hostname });
        const path = `/v1/apps/${BASE.name}/update`;
        refused(await call("POST", path, { body: update }), 400, /invalid hostname/, hostname);
        n += 2;
      }
      return n;
    }),
  );
});

reliabilityTest("control input: duplicate names and hostnames get 409", {
  fault: "create an existing name; create a new name with a taken hostname; " +
    "update an app to another app's hostname; 20 concurrent creates of one new name",
  expected: "409 naming what is taken; both apps unchanged; exactly one concurrent create wins",
}, async (note) => {
  const before = await appList();
  const dupName = await call("POST", "/v1/apps", {
    body: JSON.stringify({ name: BASE.name, hostname: "fresh.ctl-input.test", digest: D }),
  });
  refused(dupName, 409, /ctl-base already exists/, "duplicate name");
  const dupHost = await call("POST", "/v1/apps", {
    body: JSON.stringify({ name: "ctl-fresh", hostname: BASE.hostname, digest: D }),
  });
  refused(dupHost, 409, /hostname base\.ctl-input\.test is already used/, "duplicate hostname");
  const steal = await call("POST", `/v1/apps/${OTHER.name}/update`, {
    body: JSON.stringify({ version: 2, digest: D, hostname: BASE.hostname }),
  });
  refused(steal, 409, /already used/, "update to a taken hostname");
  assertEquals(await appList(), before, "apps unchanged after refused duplicates");

  // A race: one of twenty identical creates wins, the others get 409.
  const racers = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    call("POST", "/v1/apps", {
      body: JSON.stringify({ name: "ctl-race", hostname: `race-${i}.ctl-input.test`, digest: D }),
    })));
  const statuses = racers.map((r) => r.status).sort();
  assertEquals(statuses.filter((s) => s === 201).length, 1, `statuses ${statuses}`);
  assertEquals(statuses.filter((s) => s === 409).length, 19, `statuses ${statuses}`);
  const race = await net.api("GET", "/v1/apps/ctl-race");
  assertEquals(race.status, 200);
  assertEquals((await net.api("DELETE", "/v1/apps/ctl-race")).status, 200);
  assertEquals(await appList(), before, "apps unchanged after the race is cleaned up");
  note("3 duplicates refused with 409; 20 racing creates: 1 × 201, 19 × 409; hostnames kept");
});

reliabilityTest("control input: absurd sizes are refused (413 / 400)", {
  fault: "1 MB JSON body with and without Content-Length; 10 000-char name in a body and in " +
    "a path; 60 KB of unknown fields; a declared 10 GB Content-Length",
  expected: "413 for bodies over 64 KiB, 400 for long names with a short message; nothing stored",
}, async (note) => {
  note(
    await unchanged(async () => {
      const big = JSON.stringify({
        name: "ctl-big",
        hostname: "big.ctl-input.test",
        pad: "x".repeat(1 << 20),
      });
      refused(await call("POST", "/v1/apps", { body: big }), 413, /larger than/, "1 MB body");
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
          controller.enqueue(new TextEncoder().encode('{"name":"'));
          for (let i = 0; i < 16; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      refused(await call("POST", "/v1/apps", { body: stream }), 413, /larger than/, "1 MB chunked");
      const longName = "a".repeat(10_000);
      const long = JSON.stringify({ name: longName, hostname: "big.ctl-input.test" });
      refused(
        await call("POST", "/v1/apps", { body: long }),
        400,
        /invalid name "aaa.*\.\.\./,
        "long name",
      );
      refused(await call("GET", `/v1/apps/${longName}`), 400, /invalid name/, "long name in path");
      refused(
        await call("POST", `/v1/apps/${longName}/start`),
        400,
        /invalid name/,
        "long path start",
      );
      const many: Record<string, number> = { name: 1 };
      for (let i = 0; i < 3000; i++) many[`field${i}`] = i;
      refused(
        await call("POST", "/v1/apps", { body: JSON.stringify(many) }),
        400,
        /unknown field/,
        "many",
      );
      const longKey = JSON.stringify({ ["k".repeat(50_000)]: 1 });
      refused(
        await call("POST", "/v1/apps", { body: longKey }),
        400,
        /unknown field "kkk.*\.\.\./,
        "long key",
      );
      // A declared length far over the limit is refused before anything is read.
      const conn = await net.connectControl();
      await conn.write(new TextEncoder().encode(
        `POST /v1/apps HTTP/1.1\r\nHost: control\r\nAuthorization: Bearer ${net.token}\r\n` +
          "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{",
      ));
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      conn.close();
      assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 413 /);
      return 8;
    }),
  );
});

reliabilityTest("control input: wrong methods get 405 with Allow, unknown paths 404", {
  fault: "PUT/DELETE/PATCH on the list, POST/PUT/PATCH on an app, GET on actions, " +
    "DELETE on status; paths /, /v1, /v2/apps, /v1/apps/, /v1/apps/x/restart, /v1/apps//start, ...",
  expected: "405 with an Allow header listing the route's methods; 404 'no such endpoint'",
}, async (note) => {
  note(
    await unchanged(async () => {
      const methods: [string, string, string][] = [
        ["PUT", "/v1/apps", "GET, POST"],
        ["DELETE", "/v1/apps", "GET, POST"],
        ["PATCH", "/v1/apps", "GET, POST"],
        ["POST", `/v1/apps/${BASE.name}`, "GET, DELETE"],
        ["PUT", `/v1/apps/${BASE.name}`, "GET, DELETE"],
        ["PATCH", `/v1/apps/${BASE.name}`, "GET, DELETE"],
        ["GET", `/v1/apps/${BASE.name}/start`, "POST"],
        ["DELETE", `/v1/apps/${BASE.name}/stop`, "POST"],
        ["GET", `/v1/apps/${BASE.name}/update`, "POST"],
        ["POST", `/v1/apps/${BASE.name}/status`, "GET"],
        ["DELETE", `/v1/apps/${BASE.name}/status`, "GET"],
        ["PUT", "/v1/apps/Not_A_Name", "GET, DELETE"],
      ];
      for (const [method, path, allow] of methods) {
        const answer = await call(method, path, { body: method === "GET" ? undefined : "{}" });
        refused(answer, 405, /method not allowed/, `${method} ${path}`);
        assertEquals(answer.headers.get("allow"), allow, `${method} ${path} Allow`);
      }
      const paths = [
        "/",
        "/v1",
        "/v1/",
        "/v2/apps",
        "/v1/apps/",
        "/v1/appsx",
        `/v1/apps/${BASE.name}/restart`,
        `/v1/apps/${BASE.name}/start/now`,
        `/v1/apps/${BASE.name}/`,
        "/v1/apps//start",
        "/V1/APPS",
        "/healthz/x",
        "/v1/apps/../../etc/passwd",
      ];
      for (const path of paths) {
        refused(await call("GET", path), 404, /no such endpoint/, `GET ${path}`);
      }
      // The unknown app on a valid route is a 404 too, with the seed's message.
      refused(
        await call("GET", "/v1/apps/ctl-missing"),
        404,
        /ctl-missing not found/,
        "missing app",
      );
      refused(
        await call("POST", "/v1/apps/ctl-missing/start"),
        404,
        /ctl-missing not found/,
        "start missing app",
      );
      return methods.length + paths.length + 2;
    }),
  );
});

reliabilityTest("control input: after all of it, control still creates, updates and removes", {
  fault: "a normal create / update / remove after every refused request above",
  expected: "201, 200, 200; control process still running",
}, async (note) => {
  const created = await net.api("POST", "/v1/apps", {
    name: "ctl-after",
    hostname: "after.ctl-input.test",
    digest: D,
  });
  assertEquals(created.status, 201, JSON.stringify(created.body));
  const updated = await net.api("POST", "/v1/apps/ctl-after/update", { version: 2, digest: D });
  assertEquals(updated.status, 200, JSON.stringify(updated.body));
  assertEquals(updated.body.app.version, 2);
  assertEquals((await net.api("DELETE", "/v1/apps/ctl-after")).status, 200);
  const list = await net.api("GET", "/v1/apps");
  assertEquals(list.body.apps.map((a: { name: string }) => a.name), [BASE.name, OTHER.name]);
  note("create 201, update 200 (v2), remove 200; only the two base apps remain");
});
