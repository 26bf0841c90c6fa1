/**
 * The gateway's HTTP handler: Host header → app → request envelope → RPC →
 * response, with the error answers of the design brief:
 * 400 no or invalid Host, 404 unknown domain, 503 not running / no host /
 * broker down / too many requests in flight, 504 no reply in time, 413 body
 * over the limit, 408 body not received in time, 414 / 431 request line or
 * headers over the limit, 502 bad reply (naming what was wrong with it).
 *
 * Hop-by-hop headers (RFC 9110 7.6.1, plus any header `Connection` names,
 * `Proxy` and every `Proxy-*`) never reach the app, and the client's own
 * `X-Forwarded-Host` / `X-Forwarded-Proto` / `Forwarded` are replaced by the
 * gateway's; `X-Forwarded-For` is appended to.
 *
 * Framing is the gateway's own HTTP/1.1 server's (lib/http1/server.ts,
 * lib/http1/request_head.ts): it refuses with 400 and closes the connection
 * any request with both Content-Length and Transfer-Encoding, differing
 * Content-Length values, a Transfer-Encoding other than one `chunked`,
 * obsolete line folding or a malformed field; a head over 64 KiB gets 431
 * (414 for the request line), another HTTP version 505, and a head not
 * complete 10 s after its first byte 408. Every method's body reaches the
 * app, a GET's too, and upgrades are tunnelled (gateway/upgrade.ts).
 *
 * @module
 */

import type { BodyStore } from "../lib/bodies.ts";
import {
  decodeResponse,
  encodeEnvelope,
  type HeaderList,
  type RequestHead,
} from "../lib/envelope.ts";
import { endToEndHeaders } from "../lib/http1.ts";
import { fieldValues } from "../lib/http1/request_head.ts";
import type { Http1Answer, ServerRequest } from "../lib/http1/server.ts";
import { HttpError } from "../lib/http/json.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { normaliseHostname } from "../lib/names.ts";
import { ClientBody } from "./client_body.ts";
import { answer, originForm } from "./reply.ts";
import type { DirectClient, UpstreamFailure, UpstreamResult } from "./direct.ts";
import { releaseOf } from "../lib/routes.ts";
import type { DomainTable } from "./domains.ts";
import type { UpstreamPath } from "./metrics.ts";
import { hstsValue, plainHttpAnswer } from "./https_policy.ts";
import { challengeAnswer } from "./acme_challenge.ts";
import type { ChallengeStore } from "../lib/acme_challenges.ts";
import type { GatewayRpc } from "./rpc.ts";
import { proxyUpgrade, type UpgradeEvents } from "./upgrade.ts";

/** What the handler needs. */
export interface GatewayDeps {
  domains: DomainTable;
  rpc: GatewayRpc;
  /** Direct path to hosts (tried first when set; the broker is the fallback). */
  direct?: DirectClient;
  /** Told which path each request sent on to a host took (metrics). */
  onUpstream?: (path: UpstreamPath) => void;
  /** Told when an upgraded connection opens (true) and closes (false) (metrics). */
  onUpgrade?: UpgradeEvents;
  bodies: BodyStore;
  log: Logger;
  inlineBodyLimit: number;
  bodyLimit: number;
  requestTimeoutMs: number;
  /** Time allowed to receive the whole request body, in ms (default: requestTimeoutMs) → 408. */
  bodyTimeoutMs?: number;
  /** Largest request target (path and query), in bytes (default 16 KiB) → 414. */
  maxUrlBytes?: number;
  /** Largest total of header names and values, in bytes (default 32 KiB) → 431. */
  maxHeaderBytes?: number;
  /** Most request header fields (default 100) → 431. */
  maxHeaderCount?: number;
  /** Most requests handled at once; more get 503 at once (default 10 000). */
  maxInFlight?: number;
  /** Port of the gateway's HTTPS, for redirects (`APP_HTTPS redirect`; default 443). */
  httpsPort?: number;
  /** Pending ACME challenges, answered at `/.well-known/acme-challenge/` for any hostname. */
  challenges?: ChallengeStore;
  /** Why hosts do not serve an app, as they said (gateway/unready.ts): named in its 503. */
  unready?: { reason(app: string): string | undefined };
}

/** Header of a 503 for an app no host serves: why, as the hosts said. */
export const REASON_HEADER = "x-dn-reason";

/** Defaults of the optional limits of {@link GatewayDeps}. */
export const GATEWAY_LIMITS = {
  maxUrlBytes: 16 * 1024,
  maxHeaderBytes: 32 * 1024,
  maxHeaderCount: 100,
  maxInFlight: 10_000,
} as const;

/** Bytes of a request body kept so an idempotent request may be sent to another upstream. */
const REPLAY_BYTES = 64 * 1024;

/** Responses the gateway made itself (error answers, no app reply): counted by gateway/metrics.ts. */
export const GATEWAY_ANSWERS = new WeakSet<object>();

/** The gateway's request handler. */
export type GatewayHandler = (req: ServerRequest) => Promise<Http1Answer>;

const encoder = new TextEncoder();

/** Request headers the client may not set for the app: the gateway sets them. */
const GATEWAY_SET = new Set(["x-forwarded-host", "x-forwarded-proto", "forwarded"]);
/** A Host header: a hostname or IPv4/IPv6 literal with an optional port. */
const HOST_HEADER = /^(?:[A-Za-z0-9_.~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?$/;

function problem(
  status: number,
  message: string,
  requestId?: string,
  extra?: Record<string, string>,
): Response {
  const body = encoder.encode(message + "\n");
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(body.length),
    ...extra,
  };
  if (requestId) headers["x-request-id"] = requestId;
  const response = new Response(body, { status, headers });
  GATEWAY_ANSWERS.add(response);
  return response;
}

/**
 * The gateway's answer when a request sent on got no answer; `detail` names a
 * bad response's flaw, or why no host serves the app (also in {@link REASON_HEADER}).
 */
function failed(
  failure: UpstreamFailure,
  app: string,
  requestId: string,
  detail = "",
): Response {
  switch (failure) {
    case "timeout":
      return problem(504, `${app} did not answer in time`, requestId);
    case "lost":
      return problem(502, `${app} failed during the request`, requestId);
    case "too large":
      return problem(502, `${app}'s response is over the limit`, requestId);
    case "bad response":
      return problem(502, `${app} sent an invalid response: ${detail}`, requestId);
    case "unroutable":
      return detail
        ? problem(503, `no host is serving ${app}: ${detail}`, requestId, {
          [REASON_HEADER]: detail,
        })
        : problem(503, `no host is serving ${app}`, requestId);
    case "unavailable":
      return problem(503, "network unavailable, try again", requestId);
  }
}

/** The status and message when the request line or headers are over the limits, else null. */
function headLimits(
  fields: HeaderList,
  target: string,
  limits: { maxUrlBytes: number; maxHeaderBytes: number; maxHeaderCount: number },
): [number, string] | null {
  if (target.length > limits.maxUrlBytes) {
    return [414, `request target longer than ${limits.maxUrlBytes} bytes`];
  }
  let bytes = 0;
  const count = fields.length;
  for (const [name, value] of fields) bytes += name.length + value.length + 4;
  if (bytes > limits.maxHeaderBytes) {
    return [431, `request headers larger than ${limits.maxHeaderBytes} bytes`];
  }
  if (count > limits.maxHeaderCount) {
    return [431, `more than ${limits.maxHeaderCount} request headers`];
  }
  return null;
}

function isHopByHopExtra(name: string): boolean {
  return name === "proxy" || name.startsWith("proxy-") || GATEWAY_SET.has(name);
}

function requestHeaders(
  fields: HeaderList,
  requestId: string,
  remote: string,
  host: string,
  proto: string,
): HeaderList {
  const list: HeaderList = [];
  let forwardedFor = "";
  let hasRequestId = false;
  for (const [name, value] of fields) {
    if (name === "x-forwarded-for") forwardedFor = value;
    else if (!isHopByHopExtra(name)) list.push([name, value]);
    if (name === "x-request-id") hasRequestId = true;
  }
  const kept = endToEndHeaders(list);
  if (!hasRequestId) kept.push(["x-request-id", requestId]);
  kept.push(["x-forwarded-for", forwardedFor ? `${forwardedFor}, ${remote}` : remote]);
  kept.push(["x-forwarded-host", host]);
  kept.push(["x-forwarded-proto", proto]);
  return kept;
}

/** Builds the gateway's request handler. */
export function createGatewayHandler(deps: GatewayDeps): GatewayHandler {
  const { domains, rpc, direct, bodies, log } = deps;
  const limits = { ...GATEWAY_LIMITS, ...definedOnly(deps) };
  const bodyTimeoutMs = deps.bodyTimeoutMs ?? deps.requestTimeoutMs;
  const httpsPort = deps.httpsPort ?? 443;
  let inFlight = 0;

  /** Answers without reading the body; the body is cancelled so nothing waits on it. */
  async function refuse(req: ServerRequest, response: Response): Promise<Response> {
    await req.body?.cancel().catch(() => {});
    return response;
  }

  /** Sends the request through RabbitMQ; a body over the inline limit goes through Redis. */
  async function viaBroker(
    app: string,
    head: RequestHead,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<UpstreamResult> {
    let inline = body;
    if (body.length > deps.inlineBodyLimit) {
      head.bodyKey = await bodies.put(body, timeoutMs + 5000);
      inline = new Uint8Array(0);
    }
    const left = Math.max(1, head.deadline - Date.now());
    const result = await rpc.call(app, encodeEnvelope(head, inline), left, head.id);
    if (!result.ok) return result;
    const reply = decodeResponse(result.body);
    const replyBody = reply.head.bodyKey ? await bodies.take(reply.head.bodyKey) : reply.body;
    return { ok: true, reply: { ...reply.head, body: replyBody } };
  }

  return async (req) => {
    const hosts = fieldValues(req.headers, "host");
    if (hosts.length === 0) return await refuse(req, problem(400, "missing Host header"));
    const hostHeader = hosts[0];
    if (hosts.length > 1 || !HOST_HEADER.test(hostHeader)) {
      return await refuse(req, problem(400, "invalid Host header"));
    }
    const scheme = req.secure ? "https" : "http";
    const target = originForm(req.target);
    const url = target === null
      ? null
      : URL.parse(`${scheme}://${hostHeader}${target === "*" ? "/" : target}`);
    if (target === null || url === null) {
      return await refuse(req, problem(400, "invalid request target"));
    }
    const fields = req.headers;
    const over = headLimits(fields, target, limits);
    if (over) return await refuse(req, problem(over[0], over[1]));
    const challenge = deps.challenges && await challengeAnswer(deps.challenges, req.method, url);
    if (challenge) return await refuse(req, challenge);
    const app = domains.lookup(normaliseHostname(hostHeader));
    if (!app) return await refuse(req, problem(404, `no app at ${hostHeader}`));
    const policy = req.secure ? null : plainHttpAnswer(app, req.method, url, hostHeader, httpsPort);
    if (policy) {
      return await refuse(req, problem(policy.status, policy.message, "", policy.headers));
    }
    if (app.status !== "running") {
      return await refuse(req, problem(503, `${app.name} is not running`));
    }
    if (!rpc.ready && !direct?.routes.has(app.name)) {
      return await refuse(req, problem(503, "network unavailable, try again"));
    }
    if (inFlight >= limits.maxInFlight) {
      return await refuse(
        req,
        problem(503, "gateway busy, try again", undefined, { "retry-after": "1" }),
      );
    }
    const requestId =
      fieldValues(fields, "x-request-id")[0]?.slice(0, 64).replace(/[^A-Za-z0-9-]/g, "") ||
      crypto.randomUUID();
    const timeoutMs = app.timeoutMs || deps.requestTimeoutMs; // per app, from App.config
    const bodyLimit = app.bodyLimit || deps.bodyLimit;
    inFlight++;
    let streaming = false; // the answer's body streams: in flight until it ends
    const done = () => inFlight--;
    let body: ClientBody | undefined;
    try {
      body = new ClientBody(req.body, req.length, {
        limit: bodyLimit,
        timeoutMs: Math.min(bodyTimeoutMs, timeoutMs),
        replayBytes: REPLAY_BYTES,
      });
      const head: RequestHead = {
        method: req.method,
        url: target,
        headers: requestHeaders(fields, requestId, req.remoteAddr.hostname, hostHeader, scheme),
        id: requestId,
        deadline: Date.now() + timeoutMs,
      };
      let result: UpstreamResult | null = null;
      if (req.upgrade !== null) {
        const events = deps.onUpgrade ?? (() => {});
        const upgraded = direct &&
          await proxyUpgrade(req.upgrade, app.name, releaseOf(app), head, body, direct, events);
        if (upgraded && !("ok" in upgraded)) return upgraded;
        if (!upgraded) {
          return problem(
            503,
            `no direct route to ${app.name}: an upgrade cannot take the broker path`,
            requestId,
          );
        }
        result = upgraded;
      } else if (direct) {
        result = await direct.call(app.name, releaseOf(app), head, body, {
          onPath: deps.onUpstream,
          idleMs: app.streamIdleMs || undefined, // per app, from App.config
        });
      }
      if (result === null) {
        deps.onUpstream?.("broker");
        result = await viaBroker(app.name, head, await body.bytes(), timeoutMs);
      }
      if (!result.ok) {
        const why = result.failure === "unroutable" ? deps.unready?.reason(app.name) : undefined;
        return failed(result.failure, app.name, requestId, why ?? result.detail);
      }
      const hsts = req.secure ? hstsValue(app) : null;
      const reply = hsts === null ? result.reply : {
        ...result.reply,
        headers: [
          ...result.reply.headers.filter(([name]) => name !== "strict-transport-security"),
          ["strict-transport-security", hsts] as [string, string],
        ],
      };
      const [response, streamed] = answer(req.method, reply, done);
      streaming = streamed;
      return response;
    } catch (e) {
      if (e instanceof HttpError) return problem(e.status, e.message, requestId);
      log.warn("request failed", { app: app.name, requestId, error: errorMessage(e) });
      return problem(502, "bad gateway", requestId);
    } finally {
      if (!streaming) {
        done();
        body?.cancel();
      }
    }
  };
}

function definedOnly(deps: GatewayDeps): Partial<typeof GATEWAY_LIMITS> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(GATEWAY_LIMITS) as (keyof typeof GATEWAY_LIMITS)[]) {
    const value = deps[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
