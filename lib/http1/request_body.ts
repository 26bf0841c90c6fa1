/**
 * A request body as the server hands it to its handler: a stream read from
 * the client's connection only as the handler reads it (backpressure), that
 * answers `Expect: 100-continue` with `100 Continue` on the first read, as
 * long as the response has not begun.
 *
 * @module
 */

import { BodyReader } from "./body.ts";
import type { Connection } from "./connection.ts";
import type { Framing } from "./response.ts";

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Raised by a request body whose client broke its framing or went away mid-body. */
export class RequestBodyReadError extends Error {
  override name = "RequestBodyReadError";
}

/** How far a request body was read: "done" to its end, "ended" cut or cancelled. */
export type RequestBodyState = "open" | "done" | "ended";

/** The body of one request on a connection. */
export class RequestBody {
  /** The stream the handler reads. */
  readonly stream: ReadableStream<Uint8Array>;
  state: RequestBodyState = "open";
  /** A `100 Continue` being written, if one is. */
  #continuing: Promise<void> | null = null;
  #continued = false;
  #responding = false;

  /** The body framed by `framing` on `c`; `expectContinue` when the client waits for a 100. */
  constructor(readonly c: Connection, framing: Framing, readonly expectContinue: boolean) {
    const reader = new BodyReader(c, framing, (reason) => new RequestBodyReadError(reason));
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (this.expectContinue && !this.#continued && !this.#responding && c.available === 0) {
            this.#continued = true;
            this.#continuing = c.write(CONTINUE);
            await this.#continuing;
          }
          const piece = await reader.next();
          if (piece === null) {
            this.state = "done";
            controller.close();
          } else controller.enqueue(piece);
        } catch (e) {
          this.state = "ended";
          controller.error(e);
        }
      },
      cancel: () => {
        if (this.state === "open") this.state = "ended";
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Notes that the response begins (no `100 Continue` may follow) and
   * resolves once a `100 Continue` already being written is out.
   */
  async responding(): Promise<void> {
    this.#responding = true;
    await this.#continuing?.catch(() => {});
  }
}
