/**
 * Small helpers over byte streams, each keeping backpressure (a piece is
 * read from the source only when the consumer asks for one).
 *
 * @module
 */

/** `parts` joined in one buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * `stream` passed through unchanged; `done` is called once when it ends,
 * breaks or is cancelled (`clean` only for the first).
 */
export function watchEnd(
  stream: ReadableStream<Uint8Array>,
  done: (clean: boolean) => void,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let ended = false;
  const end = (clean: boolean) => {
    if (ended) return;
    ended = true;
    done(clean);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end(true);
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        end(false);
        controller.error(e);
      }
    },
    async cancel(reason) {
      end(false);
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** The pieces of `stream` as an async iterable that cancels the stream when abandoned. */
export async function* piecesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let finished = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** `first`, then the pieces of `rest`. */
export async function* prefixed(
  first: Uint8Array,
  rest: AsyncIterable<Uint8Array> | null,
): AsyncGenerator<Uint8Array> {
  yield first;
  if (rest) yield* rest;
}

/** A stream of `first`, then the pieces of `rest` (if any). */
export function prefixedStream(
  first: Uint8Array,
  rest: ReadableStream<Uint8Array> | null,
): ReadableStream<Uint8Array> {
  const pieces = prefixed(first, rest && piecesOf(rest));
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await pieces.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await pieces.return(undefined);
    },
  }, { highWaterMark: 0 });
}

/** Raised when a stream ends before the bytes a reader needs. */
export class ShortStreamError extends Error {
  override name = "ShortStreamError";
}

/**
 * Reads a length-prefixed head off `stream` (a 4-byte big-endian length and
 * that many bytes, at most `maxHead`): the head's bytes with their prefix,
 * and the rest of the stream. Raises {@link ShortStreamError} when the
 * stream ends first or the length is over `maxHead`.
 */
export async function splitPrefixedHead(
  stream: ReadableStream<Uint8Array>,
  maxHead: number,
): Promise<{ head: Uint8Array; rest: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  let buf = new Uint8Array(0);
  let need = -1; // unknown until the prefix is in
  while (true) {
    if (need === -1 && buf.length >= 4) {
      const length = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0);
      if (length > maxHead) {
        await reader.cancel().catch(() => {});
        throw new ShortStreamError(`head of ${length} bytes is over ${maxHead}`);
      }
      need = 4 + length;
    }
    if (need !== -1 && buf.length >= need) break;
    const { done, value } = await reader.read();
    if (done) throw new ShortStreamError("stream ended inside its head");
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
  }
  const extra = buf.subarray(need);
  reader.releaseLock();
  const rest = extra.length > 0 ? prefixedStream(extra.slice(), stream) : stream;
  return { head: buf.subarray(0, need), rest };
}
