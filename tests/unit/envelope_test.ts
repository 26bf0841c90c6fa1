import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  decodeCommand,
  decodeStatusReply,
  encodeCommand,
  encodeStatusReply,
} from "../../lib/commands.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeEnvelope,
  EnvelopeError,
  type RequestHead,
} from "../../lib/envelope.ts";

const head: RequestHead = {
  method: "POST",
  url: "/a/b?c=d&e=%20",
  headers: [["content-type", "application/octet-stream"], ["set-cookie", "a=1"], [
    "set-cookie",
    "b=2",
  ]],
  id: "abc-123",
  deadline: Date.now() + 30_000,
};

Deno.test("request envelope round-trips head and binary body byte for byte", () => {
  const body = new Uint8Array(256).map((_, i) => i);
  const decoded = decodeRequest(encodeEnvelope(head, body));
  const { deadline, ...rest } = decoded.head;
  const { deadline: sent, ...expected } = head;
  assertEquals(rest, { ...expected, bodyKey: undefined });
  assertEquals(Math.abs(deadline - sent) < 1000, true, `${deadline} vs ${sent}`);
  assertEquals(decoded.body, body);
});

Deno.test("request envelope carries time left, not a clock reading: a deadline past means 1 ms", () => {
  const wire = (h: RequestHead) => {
    const bytes = encodeEnvelope(h, new Uint8Array());
    const length = new DataView(bytes.buffer).getUint32(0);
    return JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  };
  const left = wire(head).timeoutMs;
  assertEquals(left > 29_000 && left <= 30_000, true, String(left));
  assertEquals(wire({ ...head, deadline: 1 }).timeoutMs, 1);
  assertEquals("deadline" in wire(head), false);
});

Deno.test("response envelope keeps repeated headers in order", () => {
  const decoded = decodeResponse(
    encodeEnvelope({ status: 418, headers: [["x-a", "1"], ["x-a", "2"]] }, new Uint8Array([1])),
  );
  assertEquals(decoded.head.status, 418);
  assertEquals(decoded.head.headers, [["x-a", "1"], ["x-a", "2"]]);
});

Deno.test("request envelope refuses malformed input", () => {
  const bad = [
    new Uint8Array([0, 0]),
    new Uint8Array([0, 0, 0, 50, 1, 2]),
    encodeEnvelope({ ...head, method: "GE T" }, new Uint8Array()),
    encodeEnvelope({ ...head, url: "http://evil/" }, new Uint8Array()),
    encodeEnvelope({ ...head, headers: [["bad header", "x"]] }, new Uint8Array()),
    encodeEnvelope({ ...head, headers: [["x", "a\r\nb: c"]] }, new Uint8Array()),
    encodeEnvelope({ ...head, bodyKey: "../../etc" }, new Uint8Array()),
    encodeEnvelope({ ...head, bodyKey: "dn:body:x" }, new Uint8Array([1])),
    encodeEnvelope({ ...head, extra: 1 } as RequestHead, new Uint8Array()),
  ];
  for (const bytes of bad) assertThrows(() => decodeRequest(bytes), EnvelopeError);
});

Deno.test("commands validate kind, app name and routing key", () => {
  const body = encodeCommand({ kind: "start", app: "hello-world" });
  assertEquals(decodeCommand(body, "start.hello-world"), { kind: "start", app: "hello-world" });
  assertThrows(() => decodeCommand(body, "stop.hello-world"), EnvelopeError);
  const enc = new TextEncoder();
  assertThrows(
    () => decodeCommand(enc.encode('{"v":1,"kind":"start","app":"../x"}'), "start.../x"),
    EnvelopeError,
  );
  assertThrows(() => decodeCommand(enc.encode('{"v":2,"kind":"start","app":"a"}'), "start.a"));
  assertThrows(() => decodeCommand(enc.encode("not json"), "start.a"), EnvelopeError);
});

Deno.test("status replies round-trip and validate", () => {
  const reply = {
    host: "vaermina",
    containers: [{
      id: "abc",
      imageId: "sha256:6f0d8b9aefff",
      version: 1,
      digest: `sha256:${"ab".repeat(32)}`,
      serving: true,
      state: "running",
      exitCode: 0,
      createdAt: "2026-01-01T00:00:00Z",
      startedAt: "2026-01-01T00:00:01Z",
      finishedAt: "",
    }],
  };
  assertEquals(decodeStatusReply(encodeStatusReply(reply)), reply);
  const oom = { ...reply.containers[0], oomKilled: true, restartCount: 3 };
  assertEquals(decodeStatusReply(encodeStatusReply({ ...reply, containers: [oom] })).containers, [
    oom,
  ]);
  for (const bad of [{ oomKilled: "yes" }, { restartCount: 1.5 }]) {
    const container = { ...reply.containers[0], ...bad } as unknown as typeof oom;
    assertThrows(
      () => decodeStatusReply(encodeStatusReply({ ...reply, containers: [container] })),
      EnvelopeError,
    );
  }
  assertThrows(
    () => decodeStatusReply(encodeStatusReply({ host: "Bad Host", containers: [] })),
    EnvelopeError,
  );
});
