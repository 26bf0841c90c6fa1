/**
 * Notices within a second that a host's machine went silent. A machine that
 * dies or is cut off does not refuse connections, it stops answering: a
 * request sent there would wait for its whole timeout. So the gateway opens
 * a TCP connection to every host's request listener it has routes for, every
 * {@link PROBE_INTERVAL_MS}; the kernel of a live machine accepts at once
 * even when the host process is busy. A listener that neither accepts nor
 * refuses within {@link PROBE_TIMEOUT_MS}, or refuses, is reported silent:
 * the gateway stops sending it requests and fails those in flight there
 * (idempotent ones are tried on another host, a POST is answered 502).
 * Hosts on container routes are probed too: their containers, published on
 * the host's machine, are dropped with it.
 *
 * A probe that timed out while the gateway itself was stalled (a loaded
 * machine, a long garbage collection) says nothing about the host and is not
 * counted: the gateway judges others only while it keeps time itself. A
 * ticker every {@link TICK_MS} notes any gap over {@link STALL_MARGIN_MS}
 * between its ticks; a timed-out probe waits one tick, then counts only if no
 * such gap fell within it and its own timer was not that late either.
 * Timers can keep time while the gateway's sockets wait (seen under five
 * 200 MB uploads on a loaded machine: every host "silent" at the same
 * millisecond, the broker's heartbeat missed). So each round also probes the
 * gateway's own listener (`self`): a host's timed-out probe counts only if the
 * gateway reached itself in the same round.
 *
 * Cost: one connection per host per interval per gateway; a host's direct
 * listener closes it unused.
 *
 * @module
 */

import type { Endpoint } from "../lib/routes.ts";

/** How often each host is probed, in ms. */
export const PROBE_INTERVAL_MS = 250;
/** How long a probe waits for the connection, in ms. */
export const PROBE_TIMEOUT_MS = 500;

/** A gap between ticks, or a lateness of a probe's timer, above this is a stall, in ms. */
export const STALL_MARGIN_MS = 150;
/** How often the gateway checks that it keeps time, in ms. */
export const TICK_MS = 50;

/** Options of {@link HostLiveness}. */
export interface HostLivenessOptions {
  /** The hosts to probe now. */
  endpoints: () => Endpoint[];
  /** Hears of a host that did not accept a probe in time (again on every failed probe). */
  onSilent: (host: Endpoint, reason: string) => void;
  /** Probe interval, in ms. */
  intervalMs?: number;
  /** Probe timeout, in ms. */
  timeoutMs?: number;
  /** Hears of a probe not counted because the gateway itself stalled (for `stallMs`) meanwhile. */
  onStalled?: (host: Endpoint, stallMs: number) => void;
  /** Opens and closes one connection to `host` (default: TCP); rejects when `signal` aborts. */
  connect?: (host: Endpoint, signal: AbortSignal) => Promise<void>;
  /** The gateway's own listener, probed with each round (none: hosts' timeouts count alone). */
  self?: () => Endpoint | undefined;
}

async function tcpConnect(host: Endpoint, signal: AbortSignal): Promise<void> {
  const conn = await Deno.connect({ hostname: host.address, port: host.port, signal });
  conn.close();
}

/** Probes hosts' request listeners and reports the silent ones. */
export class HostLiveness {
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  /** When the last stall ended, and how long it was. */
  #stall = { endedAt: -Infinity, ms: 0 };
  readonly #probing = new Set<string>();

  /** Creates the prober; call {@link start}. */
  constructor(readonly options: HostLivenessOptions) {}

  /** Starts probing. */
  start(): void {
    this.#lastTick = performance.now();
    this.#ticker ??= setInterval(() => this.#tick(), TICK_MS);
    this.#timer ??= setInterval(() => this.#round(), this.options.intervalMs ?? PROBE_INTERVAL_MS);
  }

  /** Stops probing. */
  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#ticker);
    this.#timer = this.#ticker = undefined;
  }

  #tick(): void {
    const now = performance.now();
    const gap = now - this.#lastTick - TICK_MS;
    if (gap > STALL_MARGIN_MS) this.#stall = { endedAt: now, ms: Math.round(gap) };
    this.#lastTick = now;
  }

  #round(): void {
    const hosts = this.options.endpoints().filter((host) => !this.#probing.has(host.endpoint));
    if (hosts.length === 0) return;
    const self = this.options.self?.();
    const selfReached = self === undefined
      ? Promise.resolve(true)
      : this.#connect(self).then((failure) => failure === null);
    for (const host of hosts) {
      this.#probing.add(host.endpoint); // until this probe ends, the next rounds skip the host
      this.#probe(host, selfReached).finally(() => this.#probing.delete(host.endpoint));
    }
  }

  /** Opens one connection to `host` within the probe timeout: null, or why not. */
  async #connect(host: Endpoint): Promise<{ timedOut: boolean; reason: string } | null> {
    const signal = AbortSignal.timeout(this.options.timeoutMs ?? PROBE_TIMEOUT_MS);
    try {
      await (this.options.connect ?? tcpConnect)(host, signal);
      return null;
    } catch (e) {
      return { timedOut: signal.aborted, reason: (e as Error).message };
    }
  }

  async #probe(host: Endpoint, selfReached: Promise<boolean>): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? PROBE_TIMEOUT_MS;
    const started = performance.now();
    const failure = await this.#connect(host);
    if (failure === null) return;
    if (failure.timedOut) {
      const late = performance.now() - started - timeoutMs;
      // One tick later the ticker has seen a stall that delayed this probe's answer.
      await new Promise((r) => setTimeout(r, TICK_MS + 10));
      const stalled = this.#stall.endedAt >= started ? this.#stall.ms : 0;
      if (late > STALL_MARGIN_MS || stalled > 0) {
        this.options.onStalled?.(host, Math.round(Math.max(late, stalled)));
        return;
      }
      if (!(await selfReached)) {
        this.options.onStalled?.(host, timeoutMs);
        return;
      }
    }
    this.options.onSilent(host, failure.reason);
  }
}
