/**
 * `dn logs` without a network: the `logs.<app>` messages (lib/logs.ts), a
 * host reading container logs (host/logs.ts) from a fake engine, control's
 * endpoint (control/logs.ts) over a fake RPC, and the CLI command over a
 * fake control.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import {
  decodeLogsReply,
  decodeLogsRequest,
  encodeLogsReply,
  encodeLogsRequest,
  type LogEntry,
  LOGS_MAX_LINES,
  type LogsReply,
  type LogsRequest,
  normaliseTime,
  splitTimestamp,
  timeFromMs,
  timeToSeconds,
} from "../../lib/logs.ts";
import { EnvelopeError } from "../../lib/envelope.ts";
import { HostLogs } from "../../host/logs.ts";
import { createLogsHandler, parseLogsQuery } from "../../control/logs.ts";
import { BrokerUnavailableError } from "../../control/broker.ts";
import { Logger } from "../../lib/log.ts";
import { AppNotFoundError, type AppStore } from "../../lib/store.ts";
import type { LogOptions } from "../../lib/docker/mod.ts";
import { parseSince, parseTail } from "../../cli/commands/logs.ts";
import { runCli } from "../../cli/cli.ts";
import type { Deps } from "../../cli/context.ts";
import { APP_DIR, NOW, TOKEN } from "./cli_fixtures/world.ts";

const log = new Logger("test", "error");
const t = (s: number, ns = 0) =>
  `2024-05-01T12:00:${String(s).padStart(2, "0")}.${String(ns).padStart(9, "0")}Z`;

Deno.test("log times: Docker's RFC 3339 in a fixed, sortable form", () => {
  assertEquals(normaliseTime("2024-05-01T12:00:01.5Z"), "2024-05-01T12:00:01.500000000Z");
  assertEquals(normaliseTime("2024-05-01T12:00:01Z"), "2024-05-01T12:00:01.000000000Z");
  assertEquals(
    normaliseTime("2024-05-01T14:00:01.123456789+02:00"),
    "2024-05-01T12:00:01.123456789Z",
  );
  assertEquals(normaliseTime("yesterday"), null);
  assertEquals(splitTimestamp("2024-05-01T12:00:01.1Z hello world"), {
    time: "2024-05-01T12:00:01.100000000Z",
    text: "hello world",
  });
  assertEquals(splitTimestamp("no time here"), { time: null, text: "no time here" });
  assertEquals(timeFromMs(Date.parse("2024-05-01T12:00:01.250Z")), t(1, 250_000_000));
  assertEquals(timeToSeconds(t(1, 250_999_999)), Date.parse("2024-05-01T12:00:01.250Z") / 1000);
});

Deno.test("logs messages round-trip and refuse anything else", () => {
  const request: LogsRequest = { hosts: ["a"], since: 5, tail: 10, after: { a: t(1) } };
  assertEquals(decodeLogsRequest(encodeLogsRequest(request)), request);
  const reply: LogsReply = {
    host: "a",
    lines: [{ time: t(1), stream: "stderr", line: "x", version: 2 }],
    truncated: true,
  };
  assertEquals(decodeLogsReply(encodeLogsReply(reply)), reply);
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  for (
    const bad of [
      { v: 2 },
      { v: 1, tail: LOGS_MAX_LINES + 1 },
      { v: 1, tail: -1 },
      { v: 1, since: "0" },
      { v: 1, hosts: ["UPPER"] },
      { v: 1, after: { a: "2024-05-01" } },
      { v: 1, extra: true },
    ]
  ) {
    assertThrows(() => decodeLogsRequest(enc(bad)), EnvelopeError);
  }
  for (
    const bad of [
      { v: 1, host: "a", lines: [], truncated: "no" },
      { v: 1, host: "a b", lines: [], truncated: false },
      {
        v: 1,
        host: "a",
        lines: [{ time: t(1), stream: "stdin", line: "", version: 1 }],
        truncated: false,
      },
      {
        v: 1,
        host: "a",
        lines: [{ time: "now", stream: "stdout", line: "", version: 1 }],
        truncated: false,
      },
    ]
  ) {
    assertThrows(() => decodeLogsReply(enc(bad)), EnvelopeError);
  }
});

/** A fake engine: container id → timestamped lines; records the options of each read. */
function fakeDocker(logs: Record<string, string[]>, calls: LogOptions[] = []) {
  return {
    containerLogs(id: string, opts: LogOptions = {}) {
      calls.push(opts);
      const since = typeof opts.since === "number" ? opts.since : 0;
      let lines = logs[id].filter((l) => {
        const time = normaliseTime(l.split(" ")[0]);
        return time === null || timeToSeconds(time) >= since;
      });
      if (typeof opts.tail === "number") lines = lines.slice(Math.max(0, lines.length - opts.tail));
      return Promise.resolve(
        ReadableStream.from(lines.map((line) => ({ stream: "stdout" as const, line }))),
      );
    },
  };
}

function hostLogs(logs: Record<string, string[]>, calls?: LogOptions[]) {
  return new HostLogs({
    hostName: "vaermina",
    exchange: "dn",
    list: () =>
      Promise.resolve(Object.keys(logs).map((id, i) => ({ id, version: i + 1, running: true }))),
    docker: fakeDocker(logs, calls) as never,
    log,
  });
}

Deno.test("host: merges its containers' lines by time, from the cursor, with tail", async () => {
  const calls: LogOptions[] = [];
  const host = hostLogs({
    old: [`${t(1)} old one`, `${t(3)} old two`],
    new: [`${t(2)} new one`, `${t(4)} new two`, "not a timestamped line"],
  }, calls);
  const all = await host.read("app", {});
  assertEquals(all.host, "vaermina");
  assertEquals(all.truncated, false);
  assertEquals(all.lines.map((l) => [l.line, l.version]), [
    ["old one", 1],
    ["new one", 2],
    ["old two", 1],
    ["new two", 2],
  ]);
  assert(calls.every((c) => c.timestamps === true), "timestamps asked for");
  const after = await host.read("app", { after: { vaermina: t(2) }, tail: 1 });
  assertEquals(after.lines.map((l) => l.line), ["old two", "new two"], "after overrides tail");
  const tail = await host.read("app", { tail: 3 });
  assertEquals(tail.lines.map((l) => l.line), ["new one", "old two", "new two"]);
  const since = await host.read("app", { since: Date.parse("2024-05-01T12:00:03Z") });
  assertEquals(since.lines.map((l) => l.line), ["old two", "new two"]);
  const elsewhere = await host.read("app", { after: { sanguine: t(9) } });
  assertEquals(elsewhere.lines.length, 4, "another host's cursor is not ours");
});

Deno.test("host: a reply holds at most LOGS_MAX_LINES, cut where nothing is skipped", async () => {
  const many = Array.from({ length: LOGS_MAX_LINES + 10 }, (_, i) => `${t(10, i * 2)} a${i}`);
  const host = hostLogs({ a: many, b: [`${t(10, 3)} b0`, `${t(59)} b-late`] });
  const first = await host.read("app", {});
  assertEquals(first.truncated, true);
  const last = first.lines.at(-1)!;
  assert(first.lines.length <= LOGS_MAX_LINES);
  assert(
    !first.lines.some((l) => l.line === "b-late"),
    "nothing after a cut container's last line",
  );
  const rest = await host.read("app", { after: { vaermina: last.time } });
  assertEquals(rest.truncated, false);
  const lines = [...first.lines, ...rest.lines].map((l) => l.line);
  assertEquals(lines.length, many.length + 2, "every line, once");
  assertEquals(new Set(lines).size, lines.length);
  assertEquals(lines.at(-1), "b-late");
});

/** A fake RPC: each host answers from its list of pages; records requests. */
class FakeRpc {
  requests: LogsRequest[] = [];
  constructor(
    readonly answer: (host: string, request: LogsRequest, call: number) => LogsReply | null,
  ) {}
  call(_app: string, request: LogsRequest, expected: readonly string[]): Promise<LogsReply[]> {
    this.requests.push(request);
    const n = this.requests.length;
    return Promise.resolve(
      expected.map((h) => this.answer(h, request, n)).filter((r): r is LogsReply => r !== null),
    );
  }
}

function fakeStore(apps: string[], hosts: string[]): AppStore {
  return {
    get: (name: string) =>
      apps.includes(name)
        ? Promise.resolve({ app: { name } })
        : Promise.reject(new AppNotFoundError(name)),
    liveHosts: () => Promise.resolve(hosts),
  } as unknown as AppStore;
}

function entry(time: string, line: string): LogEntry {
  return { time, stream: "stdout", line, version: 1 };
}

async function body(res: Response): Promise<unknown[]> {
  return (await res.text()).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("control: query validation, unknown app or host, broker down", async () => {
  assertEquals(parseLogsQuery(new URLSearchParams("since=5&tail=0&host=a&follow=true")), {
    since: 5,
    tail: 0,
    host: "a",
    follow: true,
  });
  for (
    const q of ["tail=x", "tail=5001", "since=1e3", "host=A", "follow=2", "x=1", "tail=1&tail=1"]
  ) {
    assertThrows(() => parseLogsQuery(new URLSearchParams(q)));
  }
  const rpc = new FakeRpc(() => null);
  let ready = true;
  const handler = createLogsHandler({
    store: fakeStore(["app"], ["a", "b"]),
    rpc,
    brokerReady: () => ready,
    log,
  });
  const get = (path: string, method = "GET") =>
    handler(
      new Request(`http://c${path}`, { method }),
      new URL(`http://c${path}`),
      path.split("/")[3],
    );
  assertEquals((await get("/v1/apps/app/logs?tail=x")).status, 400);
  assertEquals((await get("/v1/apps/BAD/logs")).status, 400);
  assertEquals((await get("/v1/apps/%E0%A4%A/logs")).status, 400);
  assertEquals((await get("/v1/apps/none/logs")).status, 404);
  const unknownHost = await get("/v1/apps/app/logs?host=c");
  assertEquals(unknownHost.status, 404);
  assertMatch((await unknownHost.json()).error, /host c not found/);
  assertEquals((await get("/v1/apps/app/logs", "DELETE")).status, 405);
  ready = false;
  assertEquals((await get("/v1/apps/app/logs")).status, 503);
  assertEquals(rpc.requests, [], "nothing asked of hosts for a refused request");
});

Deno.test("control: pages hosts until done, in time order across hosts", async () => {
  // Host a has three pages; host b has one; their lines interleave.
  const pagesA = [[t(1), t(3)], [t(5), t(7)], [t(9)]];
  const rpc = new FakeRpc((host, request) => {
    if (host === "b") {
      if (request.after?.b) return { host, lines: [], truncated: false };
      return { host, lines: [t(2), t(6), t(10)].map((x) => entry(x, `b ${x}`)), truncated: false };
    }
    const cursor = request.after?.a;
    const page = cursor === undefined ? 0 : pagesA.findIndex((p) => p[0] > cursor);
    return {
      host,
      lines: pagesA[page].map((x) => entry(x, `a ${x}`)),
      truncated: page < pagesA.length - 1,
    };
  });
  const handler = createLogsHandler({
    store: fakeStore(["app"], ["a", "b"]),
    rpc,
    brokerReady: () => true,
    log,
  });
  const url = new URL("http://c/v1/apps/app/logs?tail=100");
  const res = await handler(new Request(url), url, "app");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
  const events = await body(res) as { host: string; time: string }[];
  assertEquals(events.map((e) => e.time), [1, 2, 3, 5, 6, 7, 9, 10].map((s) => t(s)));
  assertEquals(events.map((e) => e.host).join(""), "abaabaab");
  assertEquals(rpc.requests[0].tail, 100, "the first page asks for the tail");
  assertEquals(rpc.requests[1], { since: undefined, after: { a: t(3) } }, "then from a's cursor");
  assertEquals(rpc.requests.length, 3);
});

Deno.test("control: a host that does not answer is named once", async () => {
  const rpc = new FakeRpc((host) =>
    host === "a" ? { host, lines: [entry(t(1), "hi")], truncated: false } : null
  );
  const handler = createLogsHandler({
    store: fakeStore(["app"], ["a", "b"]),
    rpc,
    brokerReady: () => true,
    log,
  });
  const url = new URL("http://c/v1/apps/app/logs");
  assertEquals(await body(await handler(new Request(url), url, "app")), [
    { warning: "b did not answer" },
    { host: "a", time: t(1), stream: "stdout", line: "hi", version: 1 },
  ]);
});

Deno.test("control: follow polls from each host's cursor until the client goes away", async () => {
  let open = 0;
  let n = 0;
  const rpc = new FakeRpc((host, request) => {
    if (host !== "a") return { host, lines: [], truncated: false };
    n++;
    const cursor = request.after?.a;
    assert(cursor !== undefined || request.since !== undefined, "follow asks from somewhere");
    return { host, lines: [entry(t(n), `line ${n}`)], truncated: false };
  });
  const handler = createLogsHandler({
    store: fakeStore(["app"], ["a", "b"]),
    rpc,
    brokerReady: () => true,
    log,
    pollMs: 10,
    streams: { inc: () => open++, dec: () => open-- },
  });
  const url = new URL("http://c/v1/apps/app/logs?follow=1&tail=0");
  const res = await handler(new Request(url), url, "app");
  assertEquals(open, 1);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while ((text.match(/\n/g) ?? []).length < 3) text += (await reader.read()).value ?? "";
  const lines = text.trim().split("\n").map((l) => JSON.parse(l).line);
  assertEquals(lines.slice(0, 3), ["line 1", "line 2", "line 3"]);
  assertEquals(rpc.requests[1].after, { a: t(1) }, "the next round starts after the last line");
  await reader.cancel();
  const asked = rpc.requests.length;
  await new Promise((r) => setTimeout(r, 60));
  assert(rpc.requests.length <= asked + 1, "no more rounds once the client went away");
  assertEquals(open, 0);
});

Deno.test("control: a broker lost mid-stream ends it with an error line", async () => {
  let calls = 0;
  const handler = createLogsHandler({
    store: fakeStore(["app"], ["a"]),
    rpc: {
      call: () => {
        if (++calls > 1) {
          return Promise.reject(new BrokerUnavailableError("message broker unavailable"));
        }
        return Promise.resolve([{ host: "a", lines: [entry(t(1), "x")], truncated: false }]);
      },
    },
    brokerReady: () => true,
    log,
    pollMs: 1,
  });
  const url = new URL("http://c/v1/apps/app/logs?follow=1");
  const events = await body(await handler(new Request(url), url, "app"));
  assertEquals(events.at(-1), { error: "message broker unavailable" });
});

Deno.test("dn logs --since and --tail: durations, times, bounds", () => {
  const now = new Date("2024-05-01T12:00:00Z");
  assertEquals(parseSince("10m", now), Date.parse("2024-05-01T11:50:00Z"));
  assertEquals(parseSince("1h30m", now), Date.parse("2024-05-01T10:30:00Z"));
  assertEquals(parseSince("2d", now), Date.parse("2024-04-29T12:00:00Z"));
  assertEquals(parseSince("2024-05-01", now), Date.parse("2024-05-01T00:00:00Z"));
  assertEquals(parseSince("2024-05-01T10:00:00Z", now), Date.parse("2024-05-01T10:00:00Z"));
  assertEquals(parseSince("2024-05-01T12:00:00+0200", now), Date.parse("2024-05-01T10:00:00Z"));
  for (const bad of ["10", "m", "yesterday", "10x", "2024-13-45", "-5m"]) {
    assertThrows(() => parseSince(bad, now));
  }
  assertEquals(parseTail("0"), 0);
  assertEquals(parseTail("5000"), 5000);
  for (const bad of ["5001", "-1", "1.5", "", "ten"]) {
    assertThrows(() => parseTail(bad));
  }
});

/** Runs `dn argv` against a control that answers the logs route with `ndjson`. */
async function cli(argv: string[], ndjson: string, status = 200) {
  const out: string[] = [];
  const err: string[] = [];
  const urls: URL[] = [];
  const deps: Deps = {
    env: { DN_CONTROL_URL: "http://127.0.0.1:7070", DN_TOKEN: TOKEN, HOME: "/nonexistent" },
    cwd: APP_DIR,
    now: () => NOW,
    io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    fetch: (input) => {
      const url = new URL(String(input));
      urls.push(url);
      const chunks = ndjson.match(/[\s\S]{1,7}/g) ?? []; // split mid-line on purpose
      return Promise.resolve(
        new Response(ReadableStream.from(chunks).pipeThrough(new TextEncoderStream()), {
          status,
          headers: { "content-type": status === 200 ? "application/x-ndjson" : "application/json" },
        }),
      );
    },
    images: () => {
      throw new Error("no engine");
    },
  };
  const code = await runCli(argv, deps);
  return { code, out, err, urls };
}

Deno.test("dn logs prints host | line, warnings on stderr, an error line exits 1", async () => {
  const stream = [
    { host: "vaermina", time: t(1), stream: "stdout", line: '{"msg":"listening"}', version: 1 },
    "",
    { warning: "sanguine did not answer" },
    { host: "meridia", time: t(2), stream: "stderr", line: "oops | pipes", version: 1 },
  ].map((e) => e === "" ? "" : JSON.stringify(e)).join("\n") + "\n";
  const r = await cli(
    ["logs", "-f", "--since", "10m", "--tail", "20", "--host", "vaermina"],
    stream,
  );
  assertEquals(r.code, 0, r.err.join("\n"));
  assertEquals(r.out, ['vaermina | {"msg":"listening"}', "meridia | oops | pipes"]);
  assertEquals(r.err, ["sanguine did not answer"]);
  const url = r.urls[0];
  assertEquals(url.pathname, "/v1/apps/hello-world/logs");
  assertEquals(Object.fromEntries(url.searchParams), {
    since: String(NOW.getTime() - 600_000),
    tail: "20",
    host: "vaermina",
    follow: "1",
  });
  const failed = await cli(
    ["logs"],
    stream + JSON.stringify({ error: "message broker unavailable" }),
  );
  assertEquals(failed.code, 1);
  assertEquals(failed.err.at(-1), "message broker unavailable");
  const json = await cli(["logs", "--json", "other-app"], stream);
  assertEquals(json.out.map((l) => JSON.parse(l).host ?? "warning"), [
    "vaermina",
    "warning",
    "meridia",
  ]);
  assertEquals(json.urls[0].pathname, "/v1/apps/other-app/logs");
  assertEquals(json.urls[0].search, "");
});

Deno.test("dn logs takes terminal escape codes out of the lines unless --raw", async () => {
  const line = "\x1b[31merror\x1b[0m: \x1b]0;owned\x07disk\tfull\r\x1b[2J\x07";
  const stream = JSON.stringify({ host: "a", time: t(1), stream: "stdout", line, version: 1 });
  assertEquals((await cli(["logs"], stream + "\n")).out, ["a | error: disk\tfull"]);
  assertEquals((await cli(["logs", "--raw"], stream + "\n")).out, [`a | ${line}`]);
  assertEquals(JSON.parse((await cli(["logs", "--json"], stream + "\n")).out[0]).line, line);
});

Deno.test("dn logs: control's refusal and bad flags", async () => {
  const missing = await cli(["logs"], JSON.stringify({ error: "hello-world not found" }), 404);
  assertEquals([missing.code, missing.err], [1, ["hello-world not found"]]);
  const garbage = await cli(["logs"], "not json\n");
  assertEquals(garbage.code, 1);
  assertMatch(garbage.err[0], /unexpected answer/);
  for (const args of [["--tail", "x"], ["--since", "soon"], ["--host", "A!"]]) {
    const r = await cli(["logs", ...args], "");
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.err[0], /^invalid --(tail|since|host) /);
    assertEquals(r.urls, [], "nothing sent");
  }
  const flag = await cli(["status", "--follow"], "");
  assertEquals(flag.code, 2);
  assertEquals(flag.err[0], "dn status does not take --follow");
});
