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
    try {
      const conn = await Deno.connect({
        hostname: host.address,
        port: host.port,
        signal: AbortSignal.timeout(timeoutMs),
      });
      conn.close();
    } catch (e) {
      this.options.onSilent(host, (e as Error).message);
    }
  }
}
