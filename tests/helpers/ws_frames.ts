/**
 * The WebSocket framing (RFC 6455) the tests speak as a client on raw
 * sockets through the gateway (tests/helpers/ws_client.ts): frames read
 * (unmasked) and written (masked).
 *
 * @module
 */

import { concatBytes } from "../../lib/streams.ts";

/** Largest message read; a longer one is a FrameError (1009). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Frame opcodes. */
export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Raised when the server breaks the WebSocket framing. */
export class FrameError extends Error {
  override name = "FrameError";
  /** Creates an error closing with `code`. */
  constructor(message: string, readonly code = 1002) {
    super(message);
  }
}

/** One WebSocket frame, unmasked. */
export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Reads frames from a connection, starting with bytes already read past the 101's head. */
export class FrameReader {
  #buf: Uint8Array;

  /** Reads from `conn`, after `buffered`. */
  constructor(readonly conn: Deno.Conn, buffered: Uint8Array) {
    this.#buf = buffered;
  }

  async #need(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const piece = new Uint8Array(64 * 1024);
      const read = await this.conn.read(piece);
      if (read === null) return false;
      this.#buf = concatBytes([this.#buf, piece.subarray(0, read)]);
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** The next frame, or null when the connection ended between frames. */
  async next(): Promise<Frame | null> {
    if (!(await this.#need(2))) return null;
    const [b0, b1] = this.#take(2);
    let length = b1 & 0x7f;
    if (length === 126) {
      if (!(await this.#need(2))) throw new FrameError("cut inside a frame head");
      const bytes = this.#take(2);
      length = (bytes[0] << 8) | bytes[1];
    } else if (length === 127) {
      if (!(await this.#need(8))) throw new FrameError("cut inside a frame head");
      const view = new DataView(this.#take(8).buffer);
      const big = view.getBigUint64(0);
      if (big > BigInt(MAX_MESSAGE_BYTES)) throw new FrameError("message too big", 1009);
      length = Number(big);
    }
    if (length > MAX_MESSAGE_BYTES) throw new FrameError("message too big", 1009);
    const masked = (b1 & 0x80) !== 0;
    const maskLength = masked ? 4 : 0;
    if (!(await this.#need(maskLength + length))) throw new FrameError("cut inside a frame");
    const mask = this.#take(maskLength);
    const payload = this.#take(length);
    if (masked) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4]; }
    return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload };
  }
}

/** A frame as a client sends it: masked with a random key. */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const extra = payload.length < 126 ? 0 : payload.length < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + 4 + payload.length);
  out[0] = 0x80 | opcode;
  const view = new DataView(out.buffer);
  if (extra === 0) out[1] = 0x80 | payload.length;
  else if (extra === 2) {
    out[1] = 0x80 | 126;
    view.setUint16(2, payload.length);
  } else {
    out[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(payload.length));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, 2 + extra);
  const at = 6 + extra;
  for (let i = 0; i < payload.length; i++) out[at + i] = payload[i] ^ mask[i % 4];
  return out;
}
