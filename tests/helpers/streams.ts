/**
 * Clients for streaming tests: bodies made on the fly (never whole in
 * memory), and the gateway's resident memory and descriptors (requests on
 * raw sockets are in tests/helpers/raw_http.ts).
 *
 * @module
 */

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
