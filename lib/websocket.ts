/**
 * A WebSocket relay (RFC 6455) between a `WebSocket` that Deno.serve
 * upgraded (the client's side) and a raw connection to an app, or a host,
 * that answered 101 (the upstream side, spoken as a client: frames masked).
 * Deno.serve hands no raw socket over, so messages are relayed, not bytes:
 * text and binary messages (fragments joined), close codes and reasons both
 * ways, pings answered; extensions (compression) are not offered upstream.
 *
 * @module
 */

import { concatBytes } from "./streams.ts";

/** Largest message relayed from the upstream; a longer one closes both sides (1009). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Frame opcodes. */
export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** True when `req` asks to upgrade to a WebSocket. */
export function isWebSocketUpgrade(req: Request): boolean {
  return req.method === "GET" && req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** Raised when the upstream breaks the WebSocket framing. */
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

function closePayload(code: number, reason: string): Uint8Array {
  const text = encoder.encode(reason).subarray(0, 123);
  const out = new Uint8Array(2 + text.length);
  new DataView(out.buffer).setUint16(0, code);
  out.set(text, 2);
  return out;
}

/** A close code the client may be sent (1005 and 1006 are never sent, only reported). */
function sendableCode(code: number): number {
  return code === 1000 || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999)
    ? code
    : 1000;
}

/** What a relay tells its owner. */
export interface RelayEvents {
  /** Both sides are closed; `why` says who ended it. */
  onClose(why: string): void;
}

/**
 * Relays messages between `socket` (already upgraded, maybe not open yet)
 * and the upstream connection `conn` (after its 101; `buffered` holds bytes
 * read past the head) until either side closes. Returns a function that
 * closes both sides with `code` and `reason` (the app stopping, say).
 */
export function relayWebSocket(
  socket: WebSocket,
  upstream: { conn: Deno.Conn; buffered: Uint8Array },
  events: RelayEvents,
): (code: number, reason: string) => void {
  const { conn } = upstream;
  socket.binaryType = "arraybuffer";
  let writing = Promise.resolve();
  let closed = false;
  const write = (opcode: number, payload: Uint8Array) => {
    writing = writing.then(async () => {
      let rest = clientFrame(opcode, payload);
      while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
    }).catch(() => finish(1001, "the app went away", "upstream write failed"));
  };
  const finish = (code: number, reason: string, why: string) => {
    if (closed) return;
    closed = true;
    try {
      if (socket.readyState <= WebSocket.OPEN) socket.close(sendableCode(code), reason);
    } catch {
      // closing already
    }
    writing.finally(() => {
      try {
        conn.close();
      } catch {
        // closed already
      }
    });
    events.onClose(why);
  };
  socket.onmessage = (e) => {
    if (typeof e.data === "string") write(OP.text, encoder.encode(e.data));
    else write(OP.binary, new Uint8Array(e.data as ArrayBuffer));
  };
  socket.onclose = (e) => {
    if (closed) return;
    write(OP.close, closePayload(sendableCode(e.code), e.reason));
    finish(e.code, e.reason, "client closed");
  };
  socket.onerror = () => finish(1011, "", "client connection failed");
  const readUpstream = async () => {
    const reader = new FrameReader(conn, upstream.buffered);
    const parts: Uint8Array[] = [];
    let kind = 0;
    let size = 0;
    while (!closed) {
      const frame = await reader.next();
      if (frame === null) return finish(1001, "the app went away", "app closed the connection");
      const { opcode, payload } = frame;
      if (opcode === OP.ping) write(OP.pong, payload);
      else if (opcode === OP.close) {
        const code = payload.length >= 2 ? new DataView(payload.buffer).getUint16(0) : 1000;
        const reason = payload.length > 2 ? decoder.decode(payload.subarray(2)) : "";
        write(OP.close, payload.subarray(0, 2));
        return finish(code, reason, "app closed");
      } else if (opcode === OP.text || opcode === OP.binary || opcode === OP.continuation) {
        if (opcode !== OP.continuation) kind = opcode;
        size += payload.length;
        if (size > MAX_MESSAGE_BYTES) throw new FrameError("message too big", 1009);
        parts.push(payload);
        if (!frame.fin) continue;
        const message = concatBytes(parts.splice(0));
        size = 0;
        if (kind === OP.text) socket.send(decoder.decode(message));
        else socket.send(message);
      } else if (opcode !== OP.pong) throw new FrameError(`unknown opcode ${opcode}`);
    }
  };
  const start = () =>
    readUpstream().catch((e) => {
      const why = `upstream: ${(e as Error).message}`;
      // A frame the app got wrong is its fault; a connection it reset (its container
      // stopped) is the app going away, as a clean end of its stream is.
      if (e instanceof FrameError) finish(e.code, "the app broke the WebSocket protocol", why);
      else finish(1001, "the app went away", why);
    });
  if (socket.readyState === WebSocket.OPEN) start();
  else socket.onopen = start;
  return (code, reason) => {
    write(OP.close, closePayload(code, reason));
    finish(code, reason, reason);
  };
}
