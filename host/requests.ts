/**
 * Serves app requests on a host: consumes the shared per-app queue
 * `dn.app.<app>` (bound to `request.<app>`), forwards each request to the
 * app's container over HTTP/1.1 (on its bridge IP), and replies to the gateway.
 *
 * Delivery: idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) are acked
 * after the reply is published, so if this host dies another host serves
 * them; POST and PATCH are acked on receipt (at most once). The request goes
 * to the container once (host/forward.ts); an idempotent one whose container
 * did not take it, or dropped it without an answer, is handed back to
 * RabbitMQ once for another host; a timeout is answered 504, a malformed
 * answer 502, never handed back.
 *
 * The queue is auto-delete: when no host serves the app it disappears, the
 * gateway's mandatory publish comes back, and the client gets 503 at once.
 *
 * @module
 */

import type { AMQPChannel, AMQPMessage } from "@cloudamqp/amqp-client";
import { inOneWrite } from "../lib/amqp.ts";
import { BodyMissingError, type BodyStore } from "../lib/bodies.ts";
import {
  AT_MOST_ONCE_METHODS,
  decodeRequest,
  REQUEST_TYPE,
  type RequestHead,
  RESPONSE_TYPE,
} from "../lib/envelope.ts";
import type { Http1Pool, Http1Request } from "../lib/http1.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { failureOf, type NoReply, noReply, type Reply, replyOf } from "./forward.ts";
import { refuse, replyEnvelope } from "./replies.ts";
import { sameRun, Served, type Target } from "./served.ts";

export type { Target } from "./served.ts";

/** Options of a {@link RequestServer}. */
export interface RequestServerOptions {
  exchange: string;
  pool: Http1Pool;
  bodies: BodyStore;
  log: Logger;
  inlineBodyLimit: number;
  /** Messages each app consumer may hold unacked. */
  prefetch: number;
  /** Finds the container's current port again after a connect failure. */
  refreshTarget: (app: string, target: Target) => Promise<Target | null>;
  /** RabbitMQ user of the gateway: requests from anyone else are dropped. */
  gatewayUser: string;
  /** Told when an app's container does not answer (so the host can bring it back). */
  onUnreachable: (app: string) => void;
  /**
   * Told when this host starts (true) or stops (false) serving an app, or
   * serves it from a container at another address (true): direct routes.
   */
  onServing?: (app: string, serving: boolean) => void;
  /**
   * Time gateways get to stop sending straight to a container after its
   * route changed, before {@link RequestServer.drain} returns (with
   * `requestRoute: "container"`; 0 otherwise), in ms.
   */
  routeGraceMs?: number;
  /** Told of each request answered (status 0: not answered) and its upstream time (metrics). */
  onServed?: (app: string, status: number, upstreamMs: number) => void;
}

/** Consumes request queues and proxies to containers. */
export class RequestServer {
  #channel: AMQPChannel | null = null;
  #served = new Map<string, Served>();

  /** Creates a server; attach a channel with {@link attach}. */
  constructor(readonly options: RequestServerOptions) {}

  /** Apps served now (consumed from the broker, also while their container is suspended). */
  get apps(): string[] {
    return [...this.#served.keys()];
  }

  /** Apps served now by a container known to run: those with routes. */
  get live(): string[] {
    return [...this.#served].filter(([, s]) => s.target !== null && !s.closing).map(([app]) => app);
  }

  /** Requests being handled now, over all apps. */
  get inFlight(): number {
    let n = 0;
    for (const served of this.#served.values()) n += served.inFlight();
    return n;
  }

  /** Uses `channel` (after every connect) and resumes consuming for every served app. */
  async attach(channel: AMQPChannel): Promise<void> {
    this.#channel = channel;
    await channel.basicQos(this.options.prefetch);
    for (const [app, served] of this.#served) {
      served.consumerTag = null;
      await this.#consume(app, served);
    }
  }

  /** Forgets the channel (connection lost); consumers come back on attach. */
  detach(): void {
    this.#channel = null;
    for (const served of this.#served.values()) served.consumerTag = null;
  }

  /**
   * Routes `app`'s requests to `target`, which runs `release`, consuming its
   * queue if not yet.
   */
  async serve(app: string, target: Target, release: string): Promise<void> {
    const served = this.#served.get(app);
    if (served) {
      const moved = served.target === null || !sameRun(served.target, target) ||
        served.release !== release;
      served.target = target;
      served.release = release;
      if (served.closing || moved) this.options.onServing?.(app, true);
      served.closing = false;
      if (served.consumerTag === null) await this.#consume(app, served);
      return;
    }
    const fresh = new Served(target, release);
    this.#served.set(app, fresh);
    this.options.onServing?.(app, true);
    await this.#consume(app, fresh);
  }

  /**
   * Looks up every served app's container again (with `requestRoute:
   * "container"` no request passes through here to notice one that stopped
   * or restarted): one that is not the same run any more is suspended.
   */
  async refreshTargets(): Promise<void> {
    for (const [app, served] of this.#served) {
      const before = served.target;
      if (served.closing || before === null) continue;
      const fresh = await this.options.refreshTarget(app, before).catch(() => undefined);
      if (fresh === undefined || served.target !== before) continue; // unknown now, or changed meanwhile
      if (fresh === null || !sameRun(fresh, before)) this.suspend(app, before.containerId);
    }
  }

  /**
   * A connection to `app`'s container at `was` failed: it is suspended if it
   * is not the same run any more (stopped, restarted, moved); a busy
   * container that was only slow to accept keeps serving.
   */
  async recheck(app: string, was: Target): Promise<void> {
    const fresh = await this.options.refreshTarget(app, was).catch(() => undefined);
    if (fresh === undefined) return; // unknown now: the heartbeat looks again
    if (fresh === null || !sameRun(fresh, was)) this.suspend(app, was.containerId);
  }

  /**
   * Container `containerId` stopped, restarted or moved: if it serves `app`,
   * no request goes to it from now on (its address may belong to another
   * container a moment later), its route is withdrawn, and the host is told:
   * it checks the container again before serving it.
   */
  suspend(app: string, containerId: string): void {
    const served = this.#served.get(app);
    if (!served || served.target?.containerId !== containerId) return;
    served.target = null;
    if (!served.closing) this.options.onServing?.(app, false);
    this.options.onUnreachable(app);
  }

  /** The target of `app`, if served by a container known to run. */
  target(app: string): Target | undefined {
    return this.#served.get(app)?.target ?? undefined;
  }

  /** The release `app`'s target runs, if served. */
  release(app: string): string | undefined {
    return this.#served.get(app)?.release;
  }

  /**
   * Waits until no request of `app` is in flight on container `containerId`
   * (or on any container when null), after giving gateways that send to
   * containers straight the time to take the new route.
   */
  async drain(app: string, containerId: string | null = null): Promise<void> {
    const grace = this.options.routeGraceMs ?? 0;
    if (grace > 0) await new Promise((resolve) => setTimeout(resolve, grace));
    const served = this.#served.get(app);
    await served?.drained(containerId);
  }

  /** Stops consuming `app`'s requests and waits for those in flight. */
  async unserve(app: string): Promise<void> {
    const served = this.#served.get(app);
    if (!served) return;
    served.closing = true;
    this.options.onServing?.(app, false);
    const channel = this.#channel;
    if (typeof served.consumerTag === "string" && channel && !channel.closed) {
      // basicCancel throws before it returns a promise on a bad tag: keep that inside the chain.
      const tag = served.consumerTag;
      await Promise.resolve().then(() => channel.basicCancel(tag)).catch((e) =>
        this.options.log.warn("request consumer not cancelled", { app, error: errorMessage(e) })
      );
    }
    served.consumerTag = null;
    await this.drain(app);
    this.#served.delete(app);
  }

  async #consume(app: string, served: Served): Promise<void> {
    const channel = this.#channel;
    if (!channel || channel.closed) return;
    const queue = `dn.app.${app}`;
    await channel.queueDeclare(queue, { durable: false, autoDelete: true });
    await channel.queueBind(queue, this.options.exchange, `request.${app}`);
    const consumer = await channel.basicConsume(
      queue,
      { noAck: false },
      (msg) => this.#handle(app, served, msg),
    );
    served.consumerTag = consumer.tag;
    // Cancelled by the broker while our channel lives on: the queue went with the cluster node it
    // lived on (we are connected to another). Declare it again, on our node.
    consumer.wait().catch(() => {
      if (channel.closed || served.consumerTag !== consumer.tag) return;
      served.consumerTag = null;
      this.options.log.warn("request queue lost with its node, declaring it again", { app });
      this.#consume(app, served).catch((e) =>
        this.options.log.warn("request queue not declared again", { app, error: errorMessage(e) })
      );
    });
  }

  async #handle(app: string, served: Served, msg: AMQPMessage): Promise<void> {
    const { log } = this.options;
    const { replyTo, correlationId, type } = msg.properties;
    let answerable = false;
    let envelope;
    try {
      if (msg.properties.userId !== this.options.gatewayUser) {
        throw new Error("request not published by the gateway's user");
      }
      if (!replyTo?.startsWith("amq.rabbitmq.reply-to.") || !correlationId) {
        throw new Error("request without a direct reply-to address and correlation id");
      }
      answerable = true;
      if (type !== REQUEST_TYPE) throw new Error(`unexpected message type ${type}`);
      envelope = decodeRequest(msg.body ?? new Uint8Array());
    } catch (e) {
      log.warn("dropped invalid request message", { app, error: errorMessage(e) });
      // The gateway waits for an answer (it may speak a version we do not): never let it time out.
      if (answerable) await refuse(msg, "the host could not read the request");
      await msg.ack().catch(() => {});
      return;
    }
    const { head } = envelope;
    const ackFirst = AT_MOST_ONCE_METHODS.has(head.method);
    if (ackFirst) await msg.ack().catch(() => {});
    if (Date.now() > head.deadline) {
      if (!ackFirst) await msg.ack().catch(() => {});
      return; // nobody waits for it any more
    }
    try {
      const outcome = await this.#run(app, served, head, envelope.body);
      if (outcome === "body gone") {
        await refuse(msg, "the request body is gone");
        if (!ackFirst) await msg.ack().catch(() => {});
        return;
      }
      if (typeof outcome === "string" && outcome !== "timeout" && !ackFirst && !msg.redelivered) {
        // Another host may have the app up: give an idempotent request to it, once.
        await msg.nack(true).catch(() => {});
        return;
      }
      const reply = typeof outcome === "string" ? noReply(app, outcome) : outcome;
      const answer = await replyEnvelope(
        this.options.bodies,
        this.options.inlineBodyLimit,
        reply,
        head.deadline,
      );
      // The reply and the ack leave in one write: half the sends, and the ack never before the reply.
      const [sent, acked] = inOneWrite(msg.channel, () => [
        msg.channel.basicPublish("", replyTo, answer, { type: RESPONSE_TYPE, correlationId }),
        ackFirst ? null : msg.ack().catch(() => {}),
      ]);
      await sent;
      await acked;
      if (head.bodyKey) this.options.bodies.discard(head.bodyKey);
    } catch (e) {
      log.warn("request not answered", { app, requestId: head.id, error: errorMessage(e) });
      this.options.onServed?.(app, 0, 0);
      // Requeue an idempotent request once for another host; drop it if it already came back.
      if (!ackFirst) await msg.nack(!msg.redelivered).catch(() => {});
    }
  }

  /**
   * Counts a request on `app`'s current container in flight (updates and
   * stops wait for it) until `end` is called; null when `app` is not served
   * here (now).
   */
  begin(app: string): { target: Target; end: () => void } | null {
    const served = this.#served.get(app);
    if (!served || served.closing || served.target === null) return null;
    const target = served.target;
    served.begin(target.containerId);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      served.end(target.containerId);
    };
    return { target, end };
  }

  /**
   * Runs one request on `app`'s container, counted in flight (updates wait
   * for it): the app's reply (or the host's 502 for a malformed one); why
   * the app gave none ({@link NoReply}; when its container did not take the
   * request or dropped it, the host starts bringing it back); "body gone"
   * when the request body expired from Redis.
   */
  async #run(
    app: string,
    served: Served,
    head: RequestHead,
    inlineBody: Uint8Array,
  ): Promise<Reply | NoReply | "body gone"> {
    const target = served.target;
    if (target === null) {
      this.options.onUnreachable(app); // suspended: the host brings it back
      return "unreachable";
    }
    const containerId = target.containerId;
    served.begin(containerId);
    try {
      let body = inlineBody;
      if (head.bodyKey) {
        try {
          body = await this.options.bodies.read(head.bodyKey);
        } catch (e) {
          if (!(e instanceof BodyMissingError)) throw e;
          this.options.log.warn("request body missing", {
            app,
            requestId: head.id,
            error: e.message,
          });
          return "body gone";
        }
      }
      const request = { method: head.method, url: head.url, headers: head.headers, body };
      const started = performance.now();
      const reply = await this.#forward(app, target, request, head.deadline);
      if (typeof reply === "string") {
        if (reply !== "timeout") this.options.onUnreachable(app);
        this.options.onServed?.(app, reply === "timeout" ? 504 : 0, performance.now() - started);
        return reply;
      }
      this.options.onServed?.(app, reply.head.status, performance.now() - started);
      return reply;
    } finally {
      served.end(containerId);
    }
  }

  /**
   * Sends the request to the app's container once. A container that took no
   * connection is looked at again and suspended when it stopped or
   * restarted (maybe on another address, which may belong to another
   * container by now): it is checked again before it gets requests.
   */
  async #forward(
    app: string,
    target: Target,
    request: Http1Request,
    deadline: number,
  ): Promise<Reply | NoReply> {
    const timeout = Math.max(1, deadline - Date.now());
    try {
      return replyOf(
        await this.options.pool.request(target.address, target.port, request, timeout),
      );
    } catch (e) {
      const failure = failureOf(e, app);
      if (failure === "unreachable") await this.recheck(app, target);
      this.options.log.warn("app request failed", { app, error: errorMessage(e) });
      return failure;
    }
  }
}
