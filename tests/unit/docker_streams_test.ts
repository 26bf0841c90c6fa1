/** Decoding the engine's streams: framed logs, JSON progress, and the CLI-like lines. */

import assert from "node:assert/strict";
import { demuxLogs, type LogLine } from "../../lib/docker/mod.ts";
import { ProgressPrinter, readJsonMessages } from "../../lib/docker/streams.ts";

const enc = new TextEncoder();

function frame(stream: 1 | 2, text: string | Uint8Array): Uint8Array {
  const payload = typeof text === "string" ? enc.encode(text) : text;
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Feeds `bytes` in chunks of `size` bytes. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
  return ReadableStream.from(chunks);
}

Deno.test("demuxLogs: frames split anywhere give the same lines", async () => {
  const snow = enc.encode("snow ☃ man\n");
  const bytes = concat([
    frame(1, "out one\nout "),
    frame(2, "err one\r\n"),
    frame(1, "two\n"),
    frame(1, snow.subarray(0, 6)), // a character split across frames
    frame(1, snow.subarray(6)),
    frame(2, ""),
    frame(2, "no newline at the end"),
  ]);
  const want: LogLine[] = [
    { stream: "stdout", line: "out one" },
    { stream: "stderr", line: "err one" },
    { stream: "stdout", line: "out two" },
    { stream: "stdout", line: "snow ☃ man" },
    { stream: "stderr", line: "no newline at the end" },
  ];
  for (const size of [1, 3, 7, 8, 9, 64, bytes.length]) {
    const got = await Array.fromAsync(demuxLogs(chunked(bytes, size), true));
    assert.deepEqual(got, want, `chunks of ${size}`);
  }
});

Deno.test("demuxLogs: raw (TTY) output is all stdout", async () => {
  const got = await Array.fromAsync(demuxLogs(chunked(enc.encode("a\r\nb\nc"), 2), false));
  assert.deepEqual(got, [
    { stream: "stdout", line: "a" },
    { stream: "stdout", line: "b" },
    { stream: "stdout", line: "c" },
  ]);
});

Deno.test("demuxLogs: cancelling the lines cancels the body", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      ctl.enqueue(frame(1, "tick\n"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const reader = demuxLogs(body, true).getReader();
  assert.deepEqual((await reader.read()).value, { stream: "stdout", line: "tick" });
  await reader.cancel();
  assert.ok(cancelled);
});

Deno.test("readJsonMessages: one object per line, split anywhere, junk skipped", async () => {
  const text = '{"stream":"Step 1/2 : FROM scratch\\n"}\r\n{"aux":{"ID":"sha256:ab"}}\r\n' +
    "not json\r\n[1]\r\n" + '{"errorDetail":{"message":"boom"},"error":"boom"}';
  const got = await Array.fromAsync(readJsonMessages(chunked(enc.encode(text), 5)));
  assert.deepEqual(got, [
    { stream: "Step 1/2 : FROM scratch\n" },
    { aux: { ID: "sha256:ab" } },
    { errorDetail: { message: "boom" }, error: "boom" },
  ]);
});

Deno.test("ProgressPrinter: build output and push progress as the CLI prints them", () => {
  const lines: string[] = [];
  const printer = new ProgressPrinter((line) => lines.push(line));
  printer.message({ stream: "Step 1/2 : FROM scratch\n" });
  printer.message({ stream: " ---> " });
  printer.message({ stream: "\n" });
  printer.message({ stream: "Step 2/2 : COPY hello.txt /\n ---> 1a2b3c4d5e6f\n" });
  printer.message({ stream: "Successfully built 1a2b3c4d5e6f\nSuccessfully tagged " });
  printer.message({ stream: "hello:v1\n" });
  printer.message({ status: "The push refers to repository [127.0.0.1:5055/hello]" });
  printer.message({ status: "Preparing", id: "cc33bc1d2d56", progressDetail: {} });
  printer.message({ status: "Pushing", id: "cc33bc1d2d56", progressDetail: { current: 1 } });
  printer.message({ status: "Pushing", id: "cc33bc1d2d56", progressDetail: { current: 2 } });
  printer.message({ status: "Pushed", id: "cc33bc1d2d56", progressDetail: {} });
  printer.message({ status: "v1: digest: sha256:abc size: 527" });
  printer.message({ stream: "partial" });
  printer.flush();
  assert.deepEqual(lines, [
    "Step 1/2 : FROM scratch",
    " --->",
    "Step 2/2 : COPY hello.txt /",
    " ---> 1a2b3c4d5e6f",
    "Successfully built 1a2b3c4d5e6f",
    "Successfully tagged hello:v1",
    "The push refers to repository [127.0.0.1:5055/hello]",
    "cc33bc1d2d56: Preparing",
    "cc33bc1d2d56: Pushing",
    "cc33bc1d2d56: Pushed",
    "v1: digest: sha256:abc size: 527",
    "partial",
  ]);
});
