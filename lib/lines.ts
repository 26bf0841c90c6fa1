/**
 * Text lines of a byte stream (newline-delimited JSON from Docker and from
 * control's log stream).
 *
 * @module
 */

/**
 * Yields each `\n`-terminated line of `body` (UTF-8), then the unterminated
 * rest if any, without the newline. The body is cancelled when the consumer
 * stops early; a read error is thrown as it came.
 */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let done = false;
  let pending = "";
  try {
    while (true) {
      const read = await reader.read();
      if (read.done) {
        done = true;
        break;
      }
      pending += read.value;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      yield* lines;
    }
    if (pending !== "") yield pending;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
