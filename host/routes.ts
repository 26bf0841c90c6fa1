/**
 * Keeps this host's direct routes in Redis (lib/routes.ts) in step with the
 * apps it serves: announced when serving starts and with every heartbeat,
 * withdrawn when serving stops and on a clean shutdown. Failures are logged;
 * the next heartbeat writes the routes again.
 *
 * @module
 */

import { errorMessage, type Logger } from "../lib/log.ts";
import type { RouteStore } from "../lib/routes.ts";

/** Announces and withdraws one host's routes. */
export class RouteAnnouncer {
  #endpoint: string | null = null;

  /** Creates an announcer for `host`; `apps` lists the apps it serves now. */
  constructor(
    readonly routes: RouteStore,
    readonly host: string,
    readonly apps: () => string[],
    readonly log: Logger,
  ) {}

  /** The request listener is up at `endpoint`: announce every served app. */
  listening(endpoint: string): void {
    this.#endpoint = endpoint;
    this.log.info("direct requests listening", { addr: endpoint });
    this.routes.announce(this.host, endpoint, this.apps()).catch((e) =>
      this.log.warn("routes not announced", { error: errorMessage(e) })
    );
  }

  /** `app` started (true) or stopped (false) being served here. */
  serving(app: string, serving: boolean): void {
    if (this.#endpoint === null) return;
    const change = serving
      ? this.routes.announce(this.host, this.#endpoint, [app])
      : this.routes.withdraw(this.host, [app]);
    change.catch((e) => this.log.warn("route not updated", { app, error: errorMessage(e) }));
  }

  /** Writes every served app's route again (with each heartbeat; readers reload on a timer). */
  refresh(): void {
    if (this.#endpoint === null) return;
    this.routes.announce(this.host, this.#endpoint, this.apps(), false).catch((e) =>
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
