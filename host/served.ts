/**
 * One app served on a host: where its requests go, and how many are in
 * flight on each of its containers, so an update or a stop can wait for them.
 *
 * @module
 */

/** Where an app's requests go on this host. */
export interface Target {
  /** Container id serving the app. */
  containerId: string;
  /**
   * The container's bridge IP (straight to the app, no `docker-proxy` in the
   * way), or 127.0.0.1 when the container has none.
   */
  address: string;
  /** The app's port at `address`: the container port, or the published one on 127.0.0.1. */
  port: number;
  /** When the container last started (ISO 8601): a restart makes it another run. */
  startedAt: string;
  /**
   * `ip:port` where gateways reach the app straight: its port published on
   * the host's `containerPublishAddress`, when the host publishes one.
   */
  published?: string;
}

/** True when `a` and `b` are the same run of the same container at the same address. */
export function sameRun(a: Target, b: Target): boolean {
  return a.containerId === b.containerId && a.startedAt === b.startedAt &&
    a.address === b.address && a.port === b.port && a.published === b.published;
}

/** An app this host serves. */
export class Served {
  /** Tag of the consumer of the app's queue, null while not consuming. */
  consumerTag: string | null = null;
  /** Set while the app is being given up here: no new direct requests. */
  closing = false;
  /** Requests in flight per container id (a container drains while its successor serves). */
  readonly #inFlight = new Map<string, number>();
  #waiters: { containerId: string | null; resolve: () => void }[] = [];

  /**
   * Serves the app at `target`, a container running `release` (version,
   * revision, digest; for routes). `target` is null while suspended (its
   * container stopped or restarted): no request goes anywhere until the
   * agent has checked the container again and serves it.
   */
  constructor(public target: Target | null, public release: string) {}

  /** Requests in flight on container `containerId`, or on any when null. */
  inFlight(containerId: string | null = null): number {
    if (containerId !== null) return this.#inFlight.get(containerId) ?? 0;
    let n = 0;
    for (const count of this.#inFlight.values()) n += count;
    return n;
  }

  /** Counts a request on `containerId` until {@link end}. */
  begin(containerId: string): void {
    this.#inFlight.set(containerId, this.inFlight(containerId) + 1);
  }

  /** Ends a request counted by {@link begin}; wakes whoever waits for the container to drain. */
  end(containerId: string): void {
    const left = this.inFlight(containerId) - 1;
    if (left <= 0) this.#inFlight.delete(containerId);
    else this.#inFlight.set(containerId, left);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.inFlight(waiter.containerId) > 0) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once no request is in flight on `containerId` (on any container when null). */
  async drained(containerId: string | null): Promise<void> {
    if (this.inFlight(containerId) === 0) return;
    await new Promise<void>((resolve) => this.#waiters.push({ containerId, resolve }));
  }
}
