/**
 * Keeps this host's direct routes in Redis (lib/routes.ts) in step with the
 * apps it serves: announced when serving starts or moves to another container
 * and with every heartbeat, withdrawn when serving stops and on a clean
 * shutdown. Failures are logged; the next heartbeat writes the routes again.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import type { RouteEntry, RouteStore } from "../lib/routes.ts";
import type { Target } from "./requests.ts";

/**
 * How long a host waits, after a container's route changed, before it stops
 * or removes that container: gateways hear of the change on the routes
 * channel within milliseconds, and requests they already sent finish.
 */
export const ROUTE_GRACE_MS = 1000;

/**
 * The `ip:port` a container route names for `target`, if any: with
 * `published`, the port published on the machine address (none when the
 * container lacks one), else the bridge IP.
 */
export function containerEndpoint(
  target: Target | undefined,
  published = false,
): string | undefined {
  if (!target) return undefined;
  if (published) return target.published;
  const address = target.address.includes(":") ? `[${target.address}]` : target.address;
  return `${address}:${target.port}`;
}

/** Announces and withdraws one host's routes. */
export class RouteAnnouncer {
  #endpoint: string | null = null;

  /**
   * Creates an announcer for `host`; `apps` lists the apps it serves now from
   * a running container, `releaseOf` gives the release each runs, and
   * `containerOf`, when set, gives the `ip:port` of an app's container for
   * gateways to reach straight.
   */
  constructor(
    readonly routes: RouteStore,
    readonly host: string,
    readonly apps: () => string[],
    readonly releaseOf: (app: string) => string | undefined,
    readonly containerOf: ((app: string) => string | undefined) | null,
    readonly log: Logger,
  ) {}

  #entries(apps: string[]): RouteEntry[] {
    return apps.map((app) => ({
      app,
      container: this.containerOf?.(app),
      release: this.releaseOf(app) ?? "",
    }));
  }

  /** The request listener is up at `endpoint`: announce every served app. */
  listening(endpoint: string): void {
    this.#endpoint = endpoint;
    this.log.info("direct requests listening", { addr: endpoint });
    this.routes.announce(this.host, endpoint, this.#entries(this.apps())).catch((e) =>
      this.log.warn("routes not announced", { error: errorMessage(e) })
    );
  }

  /** `app` started (true) or stopped (false) being served here, or moved to another container. */
  serving(app: string, serving: boolean): void {
    if (this.#endpoint === null) return;
    const change = serving
      ? this.routes.announce(this.host, this.#endpoint, this.#entries([app]))
      : this.routes.withdraw(this.host, [app]);
    change.catch((e) => this.log.warn("route not updated", { app, error: errorMessage(e) }));
  }

  /**
   * Announces `app`'s route as served now and resolves once Redis has it
   * (gateways hear of it at once); throws when it could not be written.
   * Without a request listener there is nothing to announce.
   */
  async confirm(app: string): Promise<void> {
    if (this.#endpoint === null || !this.apps().includes(app)) return;
    await this.routes.announce(this.host, this.#endpoint, this.#entries([app]));
  }

  /** Writes every served app's route again (with each heartbeat; readers reload on a timer). */
  refresh(): void {
    if (this.#endpoint === null) return;
    this.routes.announce(this.host, this.#endpoint, this.#entries(this.apps()), false).catch((e) =>
      this.log.warn("routes not refreshed", { error: errorMessage(e) })
    );
  }

  /** Withdraws every route of this host (clean shutdown). */
  async withdrawAll(): Promise<void> {
    if (this.#endpoint === null) return;
    this.#endpoint = null;
    await this.routes.withdraw(this.host, this.apps()).catch(() => {});
  }
}
