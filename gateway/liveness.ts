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
 * A probe that timed out while the gateway itself was stalled (its timer
 * fired more than {@link STALL_MARGIN_MS} late: a loaded machine, a long
 * garbage collection) says nothing about the host and is not counted: the
 * gateway judges others only while it keeps time itself.
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

/** How late a probe's timeout may fire before the probe counts for nothing, in ms. */
export const STALL_MARGIN_MS = 150;

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
  /** Hears of a probe not counted because the gateway's own timer fired late. */
  onStalled?: (host: Endpoint, lateMs: number) => void;
  /** Opens and closes one connection to `host` (default: TCP); rejects when `signal` aborts. */
  connect?: (host: Endpoint, signal: AbortSignal) => Promise<void>;
}

async function tcpConnect(host: Endpoint, signal: AbortSignal): Promise<void> {
  const conn = await Deno.connect({ hostname: host.address, port: host.port, signal });
  conn.close();
}

/** Probes hosts' request listeners and reports the silent ones. */
export class HostLiveness {
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #probing = new Set<string>();

  /** Creates the prober; call {@link start}. */
  constructor(readonly options: HostLivenessOptions) {}

  /** Starts probing. */
  start(): void {
    this.#timer ??= setInterval(() => this.#round(), this.options.intervalMs ?? PROBE_INTERVAL_MS);
  }

  /** Stops probing. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #round(): void {
    for (const host of this.options.endpoints()) {
      if (this.#probing.has(host.endpoint)) continue; // the last probe has not ended
      this.#probing.add(host.endpoint);
      this.#probe(host).finally(() => this.#probing.delete(host.endpoint));
    }
  }

  async #probe(host: Endpoint): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? PROBE_TIMEOUT_MS;
    const started = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      await (this.options.connect ?? tcpConnect)(host, signal);
    } catch (e) {
      const late = performance.now() - started - timeoutMs;
      if (signal.aborted && late > STALL_MARGIN_MS) {
        this.options.onStalled?.(host, Math.round(late));
        return;
      }
      this.options.onSilent(host, (e as Error).message);
    }
  }
}
