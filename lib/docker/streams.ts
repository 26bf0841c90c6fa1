/**
 * Decoders for the Docker Engine's streamed answers: the JSON progress stream
 * of build, push, pull and import, and the multiplexed log stream.
 *
 * @module
 */

import { readLines } from "../lines.ts";

/** One message of the engine's JSON progress stream (the fields dn reads). */
export interface JsonMessage {
  /** Build output text, possibly several lines or part of one. */
  stream?: string;
  /** A progress status (`Pushing`, `Layer already exists`, `Digest: sha256:…`). */
  status?: string;
  /** The layer or tag the status is about. */
  id?: string;
  /** Set when the status carries a progress bar (repeated, so shown once). */
  progressDetail?: unknown;
  /** Progress bar text. */
  progress?: string;
  /** Structured extra data: `{ ID }` after a build, `{ Tag, Digest, Size }` after a push. */
  aux?: Record<string, unknown>;
  /** The error text, when the operation failed. */
  error?: string;
  /** The error, structured. */
  errorDetail?: { message?: string; code?: number };
}

/**
 * Reads newline-separated JSON messages from `body` (the engine writes one
 * object per line, ending with `\r\n`). Lines that are not JSON objects are
 * skipped. The body is cancelled if the consumer stops early.
 */
export async function* readJsonMessages(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<JsonMessage> {
  for await (const line of readLines(body)) {
    const msg = parseMessage(line);
    if (msg !== null) yield msg;
  }
}

function parseMessage(line: string): JsonMessage | null {
  const text = line.trim();
  if (text === "") return null;
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Turns JSON progress messages into the lines the docker CLI prints when its
 * output is not a terminal: build output split into lines, `id: status` for
 * progress, each progress status once per layer.
 *
 * @example
 * ```ts
 * import { ProgressPrinter } from "./streams.ts";
 *
 * const lines: string[] = [];
 * const printer = new ProgressPrinter((line) => lines.push(line));
 * printer.message({ stream: "Step 1/2 : FROM scratch\n ---> " });
 * printer.message({ stream: "\n" });
 * printer.message({ status: "Layer already exists", id: "cc33bc1d2d56" });
 * printer.flush();
 * // lines: ["Step 1/2 : FROM scratch", " --->", "cc33bc1d2d56: Layer already exists"]
 * ```
 */
export class ProgressPrinter {
  #onLine: (line: string) => void;
  #onBytes?: (id: string, current: number, total: number) => void;
  #partial = "";
  #last = new Map<string, string>();

  /**
   * Makes a printer that sends each line to `onLine`, and the byte counts of
   * each layer's progress bar to `onBytes` when given.
   */
  constructor(
    onLine: (line: string) => void,
    onBytes?: (id: string, current: number, total: number) => void,
  ) {
    this.#onLine = onLine;
    this.#onBytes = onBytes;
  }

  /** Prints what `msg` says (its `stream` text, or its status); `aux` and errors are left to the caller. */
  message(msg: JsonMessage): void {
    const detail = msg.progressDetail as { current?: unknown; total?: unknown } | undefined;
    if (
      this.#onBytes && typeof msg.id === "string" && typeof detail?.current === "number" &&
      typeof detail.total === "number"
    ) {
      this.#onBytes(msg.id, detail.current, detail.total);
    }
    if (typeof msg.stream === "string") {
      const lines = (this.#partial + msg.stream).split("\n");
      this.#partial = lines.pop() ?? "";
      for (const line of lines) this.#emit(line);
      return;
    }
    if (typeof msg.status !== "string" || msg.status === "") return;
    const id = typeof msg.id === "string" ? msg.id : "";
    if (id !== "") {
      if (this.#last.get(id) === msg.status) return; // progress repeats its status
      this.#last.set(id, msg.status);
    }
    this.#emit(id === "" ? msg.status : `${id}: ${msg.status}`);
  }

  /** Prints a last partial line, if any. */
  flush(): void {
    const partial = this.#partial;
    this.#partial = "";
    this.#emit(partial);
  }

  #emit(line: string): void {
    const text = line.replace(/\r$/, "").trimEnd();
    if (text !== "") this.#onLine(text);
  }
}

/** What {@linkcode followProgress} does with what it meets in the stream. */
export interface ProgressHandlers {
  /** Structured extra data (`{ ID }` after a build, `{ Digest }` after a push). */
  onAux?: (aux: Record<string, unknown>) => void;
  /** The error to throw for an `error` message in the stream. */
  onError: (message: string) => Error;
  /** The error to throw when the stream breaks (the engine went away). */
  onLost: (err: unknown) => Error;
}

/**
 * Reads a JSON progress stream to its end, sending each message to
 * `printer` and each `aux` to `handlers.onAux`; throws what
 * `handlers.onError` makes of an `error` message and what `handlers.onLost`
 * makes of a broken stream. The body is cancelled when it stops early.
 */
export async function followProgress(
  body: ReadableStream<Uint8Array>,
  printer: ProgressPrinter,
  handlers: ProgressHandlers,
): Promise<void> {
  const messages = readJsonMessages(body);
  try {
    while (true) {
      let next: IteratorResult<JsonMessage>;
      try {
        next = await messages.next();
      } catch (err) {
        throw handlers.onLost(err);
      }
      if (next.done) return;
      const msg = next.value;
      const error = messageError(msg);
      if (error !== undefined) {
        printer.flush();
        throw handlers.onError(error);
      }
      if (msg.aux !== undefined && msg.aux !== null && typeof msg.aux === "object") {
        handlers.onAux?.(msg.aux);
      } else {
        printer.message(msg);
      }
    }
  } finally {
    await messages.return(undefined); // cancels the body if we stopped early
    printer.flush();
  }
}

function messageError(msg: JsonMessage): string | undefined {
  if (typeof msg.error === "string" && msg.error !== "") return msg.error.trim();
  const detail = msg.errorDetail?.message;
  if (typeof detail === "string" && detail !== "") return detail.trim();
  return undefined;
}

/** One line a container wrote. */
export interface LogLine {
  /** Which output it came from. */
  stream: "stdout" | "stderr";
  /** The line, without its line ending. */
  line: string;
}

/**
 * Splits a container's log stream into lines. `multiplexed` (containers
 * without a TTY) means the engine frames the output: an 8-byte header
 * `[stream, 0, 0, 0, size (uint32 big-endian)]` then `size` bytes, with stream
 * 1 = stdout and 2 = stderr. Otherwise the bytes are all stdout. Lines are
 * split on `\n` (a trailing `\r` is dropped), per stream, and a last line
 * without a newline is emitted at the end.
 *
 * @example
 * ```ts
 * import { demuxLogs } from "./streams.ts";
 *
 * const frame = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 3, 104, 105, 10]); // stdout "hi\n"
 * const lines = await Array.fromAsync(demuxLogs(ReadableStream.from([frame]), true));
 * // [{ stream: "stdout", line: "hi" }]
 * ```
 */
export function demuxLogs(
  body: ReadableStream<Uint8Array>,
  multiplexed: boolean,
): ReadableStream<LogLine> {
  return ReadableStream.from(demux(body, multiplexed));
}

async function* demux(
  body: ReadableStream<Uint8Array>,
  multiplexed: boolean,
): AsyncGenerator<LogLine> {
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const partial = { stdout: "", stderr: "" };
  let buf: Uint8Array = new Uint8Array(0);

  function* text(stream: "stdout" | "stderr", bytes: Uint8Array, end: boolean): Generator<LogLine> {
    const lines = (partial[stream] + decoders[stream].decode(bytes, { stream: !end })).split("\n");
    partial[stream] = end ? "" : lines.pop() ?? "";
    if (end && lines[lines.length - 1] === "") lines.pop();
    for (const line of lines) yield { stream, line: line.replace(/\r$/, "") };
  }

  // Stream iteration cancels the body when the consumer stops early.
  for await (const chunk of body) {
    if (!multiplexed) {
      yield* text("stdout", chunk, false);
      continue;
    }
    buf = concat(buf, chunk);
    let offset = 0;
    while (buf.length - offset >= 8) {
      const size = new DataView(buf.buffer, buf.byteOffset + offset + 4, 4).getUint32(0);
      if (buf.length - offset - 8 < size) break;
      const kind = buf[offset];
      const payload = buf.subarray(offset + 8, offset + 8 + size);
      offset += 8 + size;
      if (kind === 1 || kind === 2) yield* text(kind === 1 ? "stdout" : "stderr", payload, false);
    }
    buf = buf.slice(offset);
  }
  yield* text("stdout", new Uint8Array(), true);
  yield* text("stderr", new Uint8Array(), true);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
