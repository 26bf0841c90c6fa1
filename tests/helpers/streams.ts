/**
 * Clients for streaming tests: bodies made on the fly (never whole in
 * memory), the gateway's resident memory, and requests on raw sockets where
 * a client library would normalise what is sent.
 *
 * @module
 */

import { concatBytes } from "../../lib/streams.ts";

/** Byte `i` of every generated body: `i mod 251` (a prime, so pieces never line up). */
export function patternByte(i: number): number {
  return i % 251;
}

/** `total` bytes of the pattern in pieces of `piece` bytes, made as they are asked for. */
export async function* patternBody(
  total: number,
  piece = 64 * 1024,
): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < total; sent += piece) {
    const size = Math.min(piece, total - sent);
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) out[i] = patternByte(sent + i);
    yield out;
  }
}

/** Sum of the pattern's first `total` bytes, mod 2^32 (what the stream app's /count answers). */
export function patternSum(total: number): number {
  const cycle = (250 * 251) / 2;
  let sum = Math.floor(total / 251) * cycle;
  for (let i = 0; i < total % 251; i++) sum += i;
  return sum >>> 0;
}

/** Counts `stream`'s bytes, checking each is the pattern's; the index of the first wrong byte or -1. */
export async function checkPattern(
  stream: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; firstWrong: number }> {
  let bytes = 0;
  let firstWrong = -1;
  for await (const piece of stream) {
    if (firstWrong === -1) {
      for (let i = 0; i < piece.length; i++) {
        if (piece[i] !== patternByte(bytes + i)) {
          firstWrong = bytes + i;
          break;
        }
      }
    }
    bytes += piece.length;
  }
  return { bytes, firstWrong };
}

/** Resident memory of process `pid`, in bytes (VmRSS of /proc/<pid>/status). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** Open file descriptors of process `pid` (sockets included). */
export async function openFds(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Samples `pid`'s RSS every 50 ms until stopped; the peak. */
export function sampleRss(pid: number): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssBytes(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What came back on a raw connection. */
export interface RawAnswer {
  /** Status of the first final response, 0 when none. */
  status: number;
  /** Everything received, as ISO-8859-1 text (one character per byte). */
  text: string;
  /** Every byte received. */
  bytes: Uint8Array;
}

/**
 * Opens a connection to `port`, writes `data` and reads until the server
 * closes it or `waitMs` passes.
 */
export async function rawSend(
  port: number,
  data: string | Uint8Array,
  waitMs = 3000,
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const writing = (async () => {
    let rest = bytes;
    while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
  })().catch(() => {});
  const received = await readUntilClosed(conn, waitMs);
  await writing;
  return answerOf(received);
}

/** Reads `conn` until it closes or `waitMs` passes, then closes it. */
export async function readUntilClosed(conn: Deno.Conn, waitMs: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => close(conn), waitMs);
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  clearTimeout(timer);
  close(conn);
  return concatBytes(chunks);
}

/** The answer in `bytes`: its first final status (1xx skipped) and its text. */
export function answerOf(bytes: Uint8Array): RawAnswer {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  return { status: statuses.find((s) => s >= 200 || s === 101) ?? 0, text, bytes };
}

/** The body of a chunked answer's text (after its head), decoded; throws when framing is off. */
export function dechunk(text: string): string {
  let rest = text.slice(text.indexOf("\r\n\r\n") + 4);
  let out = "";
  while (true) {
    const line = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size >= 0)) throw new Error(`bad chunk line ${JSON.stringify(rest.slice(0, 20))}`);
    if (size === 0) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

/** UTF-8 text of ISO-8859-1 text (each character a byte). */
export function utf8Of(latin1: string): string {
  return decoder.decode(Uint8Array.from(latin1, (c) => c.charCodeAt(0)));
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}
