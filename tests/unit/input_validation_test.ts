/**
 * Names and messages from outside are validated before they are used: Docker
 * container names and image references are built only from validated app
 * names, and whatever slips past is refused by the Docker client before a
 * request is made; envelopes, status requests and request bodies refuse what
 * does not fit.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { Containers } from "../../host/containers.ts";
import { APP_DEFAULTS, type AppRecord, imageRef } from "../../lib/apps.ts";
import {
  DockerClient,
  DockerInputError,
  isContainerName,
  parseImageRef,
} from "../../lib/docker/mod.ts";
import { decodeCommand, decodeStatusRequest } from "../../lib/commands.ts";
import {
  decodeRequest,
  encodeEnvelope,
  EnvelopeError,
  type RequestHead,
} from "../../lib/envelope.ts";
import { brief, HttpError, readBody } from "../../lib/http/json.ts";
import type { Http1Pool } from "../../lib/http1.ts";
import { isAppName, isHostName } from "../../lib/names.ts";

const REGISTRY = "127.0.0.1:5055";
const VALID_NAMES = ["a", "hello-world", "x1", "0day", "a-b-c", "z".repeat(63)];
const INVALID_NAMES = [
  "",
  "Hello",
  "-a",
  "a-",
  "a_b",
  "a.b",
  "a/b",
  "..",
  "../etc",
  "a%2fb",
  "a?b",
  "a#b",
  "a b",
  "é",
  "z".repeat(64),
];

/** A Docker client on a socket that does not exist: any request it makes fails as unavailable. */
function nowhere(): DockerClient {
  return new DockerClient({ socketPath: `/nonexistent/${crypto.randomUUID()}.sock` });
}

function containersOn(docker: DockerClient, hostName = "vaermina-t"): Containers {
  return new Containers({
    docker,
    hostName,
    registryAuth: { username: "u", password: "p", serverAddress: REGISTRY },
    pool: {} as Http1Pool,
    readyTimeoutMs: 100,
    network: "dn-apps",
  });
}

function record(name: string, version = 1): AppRecord {
  return {
    name,
    hostname: "x.test",
    port: 8000,
    status: "running",
    version,
    image: imageRef(REGISTRY, name, version),
    digest: `sha256:${"ab".repeat(32)}`,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...APP_DEFAULTS,
    latestVersion: version,
  };
}

Deno.test("app names: DNS labels only", () => {
  for (const name of VALID_NAMES) assert(isAppName(name), name);
  for (const name of [...INVALID_NAMES, 5, null, undefined]) assert(!isAppName(name), String(name));
});

Deno.test("image references built from valid names parse to the app's repository and tag", () => {
  for (const name of VALID_NAMES) {
    for (const version of [1, 2, 99, Number.MAX_SAFE_INTEGER]) {
      const ref = imageRef(REGISTRY, name, version);
      assertEquals(parseImageRef(ref), { repository: `${REGISTRY}/${name}`, tag: `v${version}` });
    }
  }
});

Deno.test("container names built from valid host and app names are plain Docker names", () => {
  using docker = nowhere();
  for (const host of ["vaermina", "vaermina-t", "h".repeat(40)]) {
    assert(isHostName(host), host);
    const containers = containersOn(docker, host);
    for (const name of VALID_NAMES) {
      const container = containers.name(name, 12);
      assert(isContainerName(container), container);
      assert(!/[/?#%]|\.\./.test(container), container);
      assertEquals(container, `dn-${host}-${name}-v12`);
    }
  }
});

Deno.test("host containers: names that are not app names never reach the engine", async () => {
  using docker = nowhere();
  const containers = containersOn(docker);
  // Whatever could change the engine's URL path or query is refused before a request;
  // what passes is one plain path segment (`dn-vaermina-t-..-v1` is a name, not `..`).
  for (const name of ["a/b", "..", "../etc", "a%2fb", "a?b", "a#b", "a b", "é", "../../v1.41/x"]) {
    const container = containers.name(name, 1);
    if (isContainerName(container)) {
      assert(!/[/?#%]/.test(container) && container !== ".." && container !== ".", container);
      assert(!isAppName(name), `${name} never gets here: it is not an app name`);
      continue;
    }
    await assertRejects(() => containers.ensureRunning(record(name)), DockerInputError);
  }
  for (const name of INVALID_NAMES) {
    // The image reference of an invalid name is never a valid reference with a path in it.
    const ref = imageRef(REGISTRY, name, 1);
    const parsed = (() => {
      try {
        return parseImageRef(ref);
      } catch (e) {
        assert(e instanceof DockerInputError);
        return null;
      }
    })();
    if (parsed) assertEquals(parsed.repository, `${REGISTRY}/${name}`, ref);
  }
  // A stored image reference that is not one is refused too.
  for (const image of ["evil?x=1", "../../containers/x/json", "a b", "app:v1#", "app:v1/../x"]) {
    const app = { ...record("hello-world"), image };
    // inspectContainer of the (valid) name goes first and finds no engine; the image check
    // is the Docker client's own, independent of the order.
    await assertRejects(() => docker.inspectImage(image), DockerInputError);
    await assertRejects(() => docker.pullImage(app.image, null), DockerInputError);
  }
  // A valid name does try the engine (proving the refusals above are validation, not luck).
  const err = await containers.ensureRunning(record("hello-world")).then(() => null, (e) => e);
  assert(err instanceof Error, "no engine, so a valid name fails too");
  assert(!(err instanceof DockerInputError), `a valid name reaches the engine: ${err}`);
});

Deno.test("host containers: over-long host + app names are refused, never cut into another name", async () => {
  // dn-<63>-<63>-v1 is 132 characters, over the 128 the client accepts.
  using docker = nowhere();
  const containers = containersOn(docker, "h".repeat(63));
  const name = containers.name("a".repeat(63), 1);
  assert(!isContainerName(name), "too long for a container name");
  await assertRejects(() => containers.ensureRunning(record("a".repeat(63))), DockerInputError);
});

Deno.test("commands: size, kind, name and routing key", () => {
  const enc = new TextEncoder();
  const big = enc.encode(JSON.stringify({ v: 1, kind: "start", app: "a", pad: "x".repeat(5000) }));
  assertThrows(() => decodeCommand(big, "start.a"), EnvelopeError);
  for (const app of INVALID_NAMES) {
    const body = enc.encode(JSON.stringify({ v: 1, kind: "start", app }));
    assertThrows(() => decodeCommand(body, `start.${app}`), EnvelopeError);
  }
});

Deno.test("status requests: only direct reply-to, a short correlation id, an empty body", () => {
  const replyTo = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0NTY3OAAAAAAAAAAA";
  const empty = new Uint8Array();
  assertEquals(decodeStatusRequest("status.hello-world", replyTo, "s1", empty), {
    app: "hello-world",
    replyTo,
    correlationId: "s1",
  });
  // Addressed to one host.
  assertEquals(decodeStatusRequest("status.hello-world.vaermina", replyTo, "s1", empty), {
    app: "hello-world",
    host: "vaermina",
    replyTo,
    correlationId: "s1",
  });
  const bad: [string, string | undefined, string | undefined, Uint8Array][] = [
    ["status.a/b", replyTo, "s1", empty],
    ["status.hello-world.Vaermina", replyTo, "s1", empty],
    ["status.hello-world.", replyTo, "s1", empty],
    ["status.hello-world.vaermina.x", replyTo, "s1", empty],
    ["status.", replyTo, "s1", empty],
    ["start.hello-world", replyTo, "s1", empty],
    ["status.hello-world", undefined, "s1", empty],
    ["status.hello-world", "dn.app.hello-world", "s1", empty],
    ["status.hello-world", "dn.host.vaermina", "s1", empty],
    ["status.hello-world", "amq.rabbitmq.reply-to", "s1", empty],
    ["status.hello-world", replyTo, undefined, empty],
    ["status.hello-world", replyTo, "x".repeat(65), empty],
    ["status.hello-world", replyTo, "a b", empty],
    ["status.hello-world", replyTo, "s1", new Uint8Array([1])],
  ];
  for (const [key, to, id, body] of bad) {
    assertThrows(() => decodeStatusRequest(key, to, id, body), EnvelopeError);
  }
});

Deno.test("request envelopes: control characters, absolute URLs and odd timeouts are refused", () => {
  const head: RequestHead = {
    method: "GET",
    url: "/a?b=c%20d",
    headers: [["x-tab", "a\tb"], ["x-latin1", "caf\u00e9"]],
    id: "req-1",
    deadline: Date.now() + 30_000,
  };
  assertEquals(decodeRequest(encodeEnvelope(head, new Uint8Array())).head.url, head.url);
  // A raw UTF-8 target travels as sent (as text: Deno.serve decodes it).
  const raw8 = { ...head, url: "/caf\u00e9/\u20ac/\u0085" };
  assertEquals(decodeRequest(encodeEnvelope(raw8, new Uint8Array())).head.url, raw8.url);
  const bad: Partial<RequestHead>[] = [
    { url: "/a\u0001" },
    { url: "/a\u007f" },
    { url: "//" + "a b" },
    { url: "*" },
    { headers: [["x", "a\u0007"]] },
    { headers: [["x", "a\u001b[31m"]] },
    { headers: Array.from({ length: 1001 }, () => ["x", "y"] as [string, string]) },
  ];
  // What travels is `timeoutMs`; these heads can only come from a peer that
  // writes the wire format by hand.
  const { deadline: _, ...wire } = head;
  const raw = (extra: Record<string, unknown>) => {
    const json = new TextEncoder().encode(JSON.stringify({ ...wire, ...extra }));
    const bytes = new Uint8Array(4 + json.length);
    new DataView(bytes.buffer).setUint32(0, json.length);
    bytes.set(json, 4);
    return bytes;
  };
  const badTimeouts = [1.5, -1, 0, "5", null, 3_600_001, 1e300].map((t) => ({ timeoutMs: t }));
  for (const extra of [...badTimeouts, { timeoutMs: 5, deadline: 1_700_000_000_000 }, {}]) {
    assertThrows(() => decodeRequest(raw(extra)), EnvelopeError);
  }
  for (const patch of bad) {
    const bytes = encodeEnvelope({ ...head, ...patch }, new Uint8Array());
    let refused = false;
    try {
      decodeRequest(bytes);
    } catch (e) {
      refused = e instanceof EnvelopeError;
    }
    assert(refused, `refused: ${JSON.stringify(patch).slice(0, 80)}`);
  }
});

Deno.test("readBody: 413 over the limit, 408 when the body is too slow, 400 when it breaks", async () => {
  const post = (body: BodyInit | ReadableStream<Uint8Array>, headers?: HeadersInit) =>
    new Request("http://x/", { method: "POST", body, headers });
  assertEquals((await readBody(post("hello"), 10)).length, 5);
  const over = await readBody(post("x".repeat(11)), 10).catch((e) => e);
  assert(over instanceof HttpError && over.status === 413, String(over));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const slow = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array([1]));
    },
    pull: () => new Promise((resolve) => timer = setTimeout(resolve, 10_000)),
  });
  const started = performance.now();
  const late = await readBody(post(slow), 100, 200).catch((e) => e);
  clearTimeout(timer);
  assert(late instanceof HttpError && late.status === 408, String(late));
  assert(performance.now() - started < 2000, "408 at the timeout, not at the end of the body");
  const broken = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array([1]));
      c.error(new Error("connection reset"));
    },
  });
  const failed = await readBody(post(broken), 100, 1000).catch((e) => e);
  assert(failed instanceof HttpError && failed.status === 400, String(failed));
});

Deno.test("brief: long or odd client values are cut short in messages", () => {
  assertEquals(brief("abc"), '"abc"');
  assertEquals(brief("a".repeat(10_000)).length, 80);
  assertEquals(brief(undefined), "undefined");
  assertEquals(brief({ a: 1 }), '{"a":1}');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assertEquals(brief(cyclic), "[object Object]");
});
