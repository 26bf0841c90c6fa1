/**
 * A WebSocket client for tests that, unlike Deno's, sends the Host header it
 * is given (the gateway routes by Host): the handshake on a raw socket, then
 * frames with the codec of tests/helpers/ws_frames.ts.
 *
 * @module
 */

import { clientFrame, type Frame, FrameReader, OP } from "./ws_frames.ts";
import { closeQuietly, readHead, writeAll } from "./raw_http.ts";
import { concatBytes } from "../../lib/streams.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message, or the close that ended the socket. */
export type Received =
  | { kind: "text"; data: string }
  | { kind: "binary"; data: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** An open WebSocket. */
export class TestWebSocket {
  constructor(readonly conn: Deno.Conn, readonly reader: FrameReader) {}

  /**
   * Opens `ws://address:port<target>` with `Host: host`; the socket, or
   * the status and text of the answer when it was not a 101.
   */
  static async open(
    port: number,
    host: string,
    target = "/ws",
    address = "127.0.0.1",
  ): Promise<TestWebSocket | { status: number; text: string }> {
    const conn = await Deno.connect({ hostname: address, port });
    await writeAll(
      conn,
      `GET ${target} HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: upgrade\r\n` +
        "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    const { head, status, rest } = await readHead(conn);
    if (status !== 101) {
      conn.close();
      return { status, text: head };
    }
    return new TestWebSocket(conn, new FrameReader(conn, rest));
  }

  /** Sends a text or binary message. */
  async send(data: string | Uint8Array): Promise<void> {
    const frame = typeof data === "string"
      ? clientFrame(OP.text, encoder.encode(data))
      : clientFrame(OP.binary, data);
    await writeAll(this.conn, frame);
  }

  /** Sends a close frame with `code` and `reason`. */
  async close(code: number, reason: string): Promise<void> {
    const payload = concatBytes([new Uint8Array([code >> 8, code & 0xff]), encoder.encode(reason)]);
    await this.conn.write(clientFrame(OP.close, payload)).catch(() => 0);
  }

  /** The next message or close, within `ms` (a connection that just ends is close 1006). */
  async next(ms = 5000): Promise<Received> {
    const timer = setTimeout(() => this.conn.close(), ms);
    try {
      const parts: Uint8Array[] = [];
      let kind = 0;
      while (true) {
        let frame: Frame | null;
        try {
          frame = await this.reader.next();
        } catch {
          frame = null;
        }
        if (frame === null) return { kind: "close", code: 1006, reason: "" };
        if (frame.opcode === OP.close) {
          const code = frame.payload.length >= 2
            ? (frame.payload[0] << 8) | frame.payload[1]
            : 1005;
          return { kind: "close", code, reason: decoder.decode(frame.payload.subarray(2)) };
        }
        if (frame.opcode === OP.ping) await this.conn.write(clientFrame(OP.pong, frame.payload));
        if (frame.opcode > OP.binary) continue;
        if (frame.opcode !== OP.continuation) kind = frame.opcode;
        parts.push(frame.payload);
        if (!frame.fin) continue;
        const data = concatBytes(parts);
        return kind === OP.text
          ? { kind: "text", data: decoder.decode(data) }
          : { kind: "binary", data };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection. */
  drop(): void {
    closeQuietly(this.conn);
  }
}
