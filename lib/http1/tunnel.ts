/**
 * A byte tunnel between two connections, as after an HTTP/1.1 upgrade (a
 * WebSocket, or any other protocol): bytes are copied both ways as they
 * come, one piece in memory per direction (each read waits for the previous
 * write: backpressure), an end on one side half-closes the other, and an
 * error on either closes both.
 *
 * @module
 */

import { closeQuietly, writeAll } from "../tls_splice.ts";

/** One side of a tunnel: its connection and bytes already read from it past the HTTP head. */
export interface TunnelEnd {
  conn: Deno.Conn;
  buffered: Uint8Array;
}

const PIECE_BYTES = 64 * 1024;

/** Copies `from` (its buffered bytes first) to `to` until `from` ends, then half-closes `to`. */
async function copy(from: TunnelEnd, to: Deno.Conn, onBytes: () => void): Promise<void> {
  if (from.buffered.length > 0) await writeAll(to, from.buffered);
  const buffer = new Uint8Array(PIECE_BYTES);
  for (;;) {
    const n = await from.conn.read(buffer);
    if (n === null) break;
    onBytes();
    await writeAll(to, buffer.subarray(0, n));
  }
  await to.closeWrite();
}

/** A running tunnel; {@link close} ends it. */
export class Tunnel {
  /** Settles when both directions have ended and both connections are closed. */
  readonly done: Promise<void>;
  /** When a byte last moved either way (performance.now()). */
  lastActive = performance.now();

  /** Starts copying between `a` and `b`. */
  constructor(readonly a: TunnelEnd, readonly b: TunnelEnd) {
    const moved = () => this.lastActive = performance.now();
    const fail = () => this.close();
    this.done = Promise.all([
      copy(a, b.conn, moved).catch(fail),
      copy(b, a.conn, moved).catch(fail),
    ]).then(() => this.close());
  }

  /** Closes both connections (any copy in progress ends). */
  close(): void {
    closeQuietly(this.a.conn);
    closeQuietly(this.b.conn);
  }
}
