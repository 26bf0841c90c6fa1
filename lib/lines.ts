/**
 * Text lines of a byte stream (newline-delimited JSON from Docker and from
 * control's log stream).
 *
 * @module
 */

/**
 * Yields each `\n`-terminated line of `body` (UTF-8), then the unterminated
 * rest if any, without the newline. The body is cancelled when the consumer
 * stops early (stream iteration does that); a read error is thrown as it came.
 */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    const lines = (pending + text).split("\n");
    pending = lines.pop() ?? "";
    yield* lines;
  }
  if (pending !== "") yield pending;
}
