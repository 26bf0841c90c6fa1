/**
 * The gateway's direct path: an app's request goes over HTTP/1.1 keep-alive,
 * without the broker, to where the route table hosts keep in Redis
 * (lib/routes.ts) says the app is served:
 * - straight to the app's container, when its host announces it
 *   (`requestRoute: "container"`): one hop, as a reverse proxy would;
 * - else to the host's direct listener (host/direct.ts) as an envelope with
 *   the request token, and the host forwards it to the container.
 * Bodies stream both ways (gateway/transport.ts moves the bytes; this module
 * only chooses where they go and whether to try again).
 * That saves the broker's two messages, an ack and two process hops per
 * request; see BENCHMARKS.md.
 *
 * Only routes of the app's current release (version, revision and digest,
 * lib/routes.ts) are used while any is announced, so a container of an older
 * version, left running by a host that died mid-rollout, gets no requests
 * once the current one serves anywhere; older routes serve only while no
 * host serves the current release yet (during a rollout, or after one that
 * failed). The route with the fewest requests in flight from this gateway is
 * picked (ties go round-robin). On the direct path this is the one place that
 * sends a request again (README, "Delivery"):
 * - to the next route, any method, when the request never reached the app: a
 *   container or host that cannot be reached, a host that does not serve the
 *   app any more (421);
 * - to the next route, idempotent methods only, when the upstream took the
 *   request and failed before any byte of a response, and its body can be
 *   sent again (none, or all of it still kept: gateway/client_body.ts);
 * - never after a timeout (504) or once the app answered, even with a
 *   malformed response (502 naming the flaw); a POST or PATCH that may have
 *   reached the app is answered 502, never run twice.
 * With no route left the caller falls back to the broker, so the direct path
 * only ever adds ways to answer.
 *
 * @module
 */

import {
  type Http1Pool,
  RequestBodyError,
  UpstreamBadResponseError,
  UpstreamConnectError,
  UpstreamDroppedError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
} from "../lib/http1.ts";
import { AT_MOST_ONCE_METHODS, type HeaderList, type RequestHead } from "../lib/envelope.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { RedisMirror } from "../lib/redis.ts";
import type { Endpoint, Route, RouteStore } from "../lib/routes.ts";
import { watchEnd } from "../lib/streams.ts";
import type { ClientBody } from "./client_body.ts";
import type { RpcFailure } from "./rpc.ts";
import { type StreamedReply, toContainer, toHost } from "./transport.ts";

/**
 * Longest wait for a new connection to a container, in ms: containers on
 * container routes sit on the gateway's machine or a routed bridge, so they
 * accept within milliseconds or are gone (a dead machine's bridge IP never
 * answers; its requests move on to another route after this).
 */
const CONTAINER_CONNECT_MS = 500;

/** Longest wait for a new connection to a host's direct listener, in ms. */
const DIRECT_CONNECT_MS = 2000;

/** How long an upstream that refused or timed out a connection is skipped, in ms. */
const DOWN_MS = 2000;

/** Where a request on `route` goes: the app's container when announced, else its host. */
export function upstreamOf(route: Route): Endpoint {
  return route.container ?? route;
}

/**
 * The in-memory route table, reloaded on route events and on a timer.
 * Requests in flight and refused connections are counted per upstream
 * ({@link upstreamOf}).
 */
export class DirectRoutes extends RedisMirror {
  #routes = new Map<string, Route[]>();
  #inFlight = new Map<string, number>();
  #downUntil = new Map<string, number>();
  #turn = 0;

  /**
   * Creates a table over `store`; call {@link start}. `onGone` hears of each
   * upstream no route names any more (its kept-alive connections can go).
   */
  constructor(
    readonly store: RouteStore,
    log: Logger,
    readonly onGone: (upstream: Endpoint) => void = () => {},
    refreshMs = 5000,
  ) {
    super(store.channel, refreshMs, log);
  }

  /** Reads the routes, and reports upstreams no route names any more. */
  protected async load(): Promise<void> {
    try {
      const before = this.#routes;
      this.#routes = await this.store.load();
      const named = new Set<string>();
      for (const list of this.#routes.values()) {
        for (const route of list) named.add(upstreamOf(route).endpoint);
      }
      for (const list of before.values()) {
        for (const route of list) {
          const upstream = upstreamOf(route);
          if (!named.has(upstream.endpoint)) this.onGone(upstream);
        }
      }
    } catch (e) {
      this.log.warn("route table not refreshed", { error: errorMessage(e) });
    }
  }

  /**
   * Hosts' request listeners that routes name, each once (also of hosts on
   * container routes: their containers share the host's machine, so they
   * live and die with it).
   */
  hostEndpoints(): Endpoint[] {
    const found = new Map<string, Endpoint>();
    for (const list of this.#routes.values()) {
      for (const route of list) found.set(route.endpoint, route);
    }
    return [...found.values()];
  }

  /** Every upstream of routes announced by the host listening at `endpoint`: it and its containers. */
  upstreamsOf(endpoint: string): Endpoint[] {
    const found = new Map<string, Endpoint>();
    for (const list of this.#routes.values()) {
      for (const route of list) {
        if (route.endpoint === endpoint) found.set(upstreamOf(route).endpoint, upstreamOf(route));
      }
    }
    return [...found.values()];
  }

  /** True when some host announced a route for `app`. */
  has(app: string): boolean {
    return (this.#routes.get(app)?.length ?? 0) > 0;
  }

  /**
   * The least busy reachable route of `app` whose upstream is not in
   * `tried`, if any; only routes of `release` when some route has it.
   */
  pick(app: string, tried: ReadonlySet<string>, release = ""): Route | null {
    const now = Date.now();
    let best: Route | null = null;
    let bestLoad = Infinity;
    const all = this.#routes.get(app) ?? [];
    const current = all.filter((route) => route.release === release);
    const list = current.length > 0 ? current : all;
    const start = this.#turn++ % Math.max(1, list.length);
    for (let i = 0; i < list.length; i++) {
      const route = list[(start + i) % list.length];
      const { endpoint } = upstreamOf(route);
      if (tried.has(endpoint) || (this.#downUntil.get(endpoint) ?? 0) > now) continue;
      const load = this.#inFlight.get(endpoint) ?? 0;
      if (load < bestLoad) {
        best = route;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Counts a request to `endpoint` in flight until `end` is called. */
  begin(endpoint: string): void {
    this.#inFlight.set(endpoint, (this.#inFlight.get(endpoint) ?? 0) + 1);
  }

  /** Ends a request counted by {@link begin}. */
  end(endpoint: string): void {
    const left = (this.#inFlight.get(endpoint) ?? 1) - 1;
    if (left === 0) this.#inFlight.delete(endpoint);
    else this.#inFlight.set(endpoint, left);
  }

  /** True while `endpoint` is skipped ({@link markDown}). */
  isDown(endpoint: string): boolean {
    return (this.#downUntil.get(endpoint) ?? 0) > Date.now();
  }

  /** Skips `endpoint` for a while (it refused a connection, or its machine went silent). */
  markDown(endpoint: string): void {
    this.#downUntil.set(endpoint, Date.now() + DOWN_MS);
  }
}

/** An app's answer, from whichever path it came: streamed on the direct path, whole via the broker. */
export interface AppReply {
  status: number;
  headers: HeaderList;
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** On a 101 (direct path only): the upgraded connection to the app. */
  upgraded?: StreamedReply["upgraded"];
}

/**
 * Why a request sent on got no answer: an RPC failure, the app's response
 * over the limit, or a response that is not valid HTTP/1.1.
 */
export type UpstreamFailure = RpcFailure | "too large" | "bad response";

/** How a request sent on by the gateway ended; `detail` names a bad response's flaw. */
export type UpstreamResult =
  | { ok: true; reply: AppReply }
  | { ok: false; failure: UpstreamFailure; detail?: string };

/**
 * What a failed upstream call means for the request: "next" when it may go
 * to another route (it never reached the app, or it is idempotent, no
 * response began and its body can be sent again), else the answer. A
 * failure of the client's own body is raised as its HttpError.
 */
function afterFailure(e: unknown, resendable: boolean): "next" | UpstreamResult {
  if (e instanceof RequestBodyError) throw e.cause;
  if (e instanceof UpstreamConnectError) return "next";
  if (e instanceof UpstreamTimeoutError) return { ok: false, failure: "timeout" };
  if (e instanceof UpstreamTooLargeError) return { ok: false, failure: "too large" };
  if (e instanceof UpstreamBadResponseError) {
    return { ok: false, failure: "bad response", detail: e.message };
  }
  if (e instanceof UpstreamDroppedError && resendable) return "next";
  return { ok: false, failure: "lost" };
}

/** Which path a direct request took. */
export type DirectPath = "container" | "host";

/** Time limits of direct requests, in ms. */
export interface DirectTimeouts {
  /** Longest silence on a streamed body (no byte either way). */
  idleMs: number;
}

/** How one direct request goes: who hears its path, an upgrade, its app's own idle timeout. */
export interface DirectCallOptions {
  /** Told which path answered. */
  onPath?: (path: DirectPath) => void;
  /** A protocol to ask the app to upgrade to (`websocket`): a 101 hands over the connection. */
  upgrade?: string;
  /** The app's stream idle timeout in ms (`APP_STREAM_IDLE`); absent: the client's default. */
  idleMs?: number;
}

/** Sends requests straight to containers, or as envelopes to hosts' direct listeners. */
export class DirectClient {
  readonly #authorization: string;

  /** Creates a client sending `token` to hosts found in `routes`. */
  constructor(
    readonly routes: DirectRoutes,
    readonly pools: { containers: Http1Pool; hosts: Http1Pool },
    token: string,
    readonly log: Logger,
    readonly timeouts: DirectTimeouts,
  ) {
    this.#authorization = `Bearer ${token}`;
  }

  /**
   * Delivers the request (`head`, `body` streamed) to a container or host
   * serving `app` (preferring its current `release`) and returns its answer
   * as soon as its head arrives (the body streams; the route counts the
   * request in flight until it ends), a timeout, a bad response (malformed or
   * over the limit), or "lost" (a POST/PATCH whose upstream failed after it
   * was sent); null when none took it and the body can still go the broker
   * path. A failure of the client's body is raised as its HttpError (408,
   * 413, 400). `options.onPath` hears which path answered. With
   * `options.upgrade` (`websocket`) the request asks for that upgrade, and a
   * 101 hands over the connection (`reply.upgraded`). A streamed body that
   * moves no byte either way for `options.idleMs` (else the client's
   * default) is cut, on the host route by the host as well.
   */
  async call(
    app: string,
    release: string,
    head: RequestHead,
    body: ClientBody,
    options: DirectCallOptions = {},
  ): Promise<UpstreamResult | null> {
    const { onPath, upgrade } = options;
    const idleMs = options.idleMs ?? this.timeouts.idleMs;
    const idempotent = !AT_MOST_ONCE_METHODS.has(head.method);
    const tried = new Set<string>();
    while (true) {
      const remaining = head.deadline - Date.now();
      if (remaining <= 0) return { ok: false, failure: "timeout" };
      const route = this.routes.pick(app, tried, release);
      if (route === null) return body.replayable ? null : { ok: false, failure: "unroutable" };
      const target = upstreamOf(route);
      tried.add(target.endpoint);
      this.routes.begin(target.endpoint);
      let counted = true;
      const timeouts = { connectMs: DIRECT_CONNECT_MS, headMs: remaining, idleMs };
      try {
        let reply: StreamedReply;
        if (route.container) {
          timeouts.connectMs = CONTAINER_CONNECT_MS;
          reply = await toContainer(
            this.pools.containers,
            route.container,
            head,
            body,
            timeouts,
            upgrade,
          );
          onPath?.("container");
        } else {
          const answer = await toHost(
            this.pools.hosts,
            route,
            app,
            this.#authorization,
            head,
            body,
            timeouts,
            upgrade,
          );
          if (!answer.ok) {
            const next = this.#hostRefused(app, route.host, answer.status, idempotent, body);
            if (next === "next") continue;
            return next;
          }
          reply = answer.reply;
          onPath?.("host");
        }
        body.answered();
        counted = false; // the count now lasts as long as the body
        return { ok: true, reply: this.#counted(reply, target.endpoint) };
      } catch (e) {
        const next = afterFailure(e, idempotent && body.replayable);
        if (e instanceof UpstreamConnectError) this.routes.markDown(target.endpoint);
        else {
          this.log.warn("direct request failed", {
            app,
            host: route.host,
            to: target.endpoint,
            error: errorMessage(e),
            tryingNext: next === "next",
          });
        }
        if (next !== "next") return next;
      } finally {
        if (counted) this.routes.end(target.endpoint);
      }
    }
  }

  /** What a host's own answer (no envelope) means for the request. */
  #hostRefused(
    app: string,
    host: string,
    status: number,
    idempotent: boolean,
    body: ClientBody,
  ): "next" | UpstreamResult | null {
    // 421: not served there (any more): nothing ran; the body must be sent again, though.
    if (status === 421) return body.replayable ? "next" : { ok: false, failure: "unroutable" };
    if (status === 504) return { ok: false, failure: "timeout" };
    this.log.warn("direct request refused", { app, host, status });
    if (status < 500) {
      // A setup problem here; the broker path may still work, if the body can still go there.
      return body.replayable ? null : { ok: false, failure: "unavailable" };
    }
    // 502: the host's container took the request and failed before answering.
    return idempotent && body.replayable ? "next" : { ok: false, failure: "lost" };
  }

  /** `reply`, counted in flight on `endpoint` until its body ends. */
  #counted(reply: StreamedReply, endpoint: string): AppReply {
    if (!(reply.body instanceof ReadableStream)) {
      this.routes.end(endpoint); // no body, or a whole one: done with
      return reply;
    }
    return { ...reply, body: watchEnd(reply.body, () => this.routes.end(endpoint)) };
  }
}
