/**
 * The gateway's HTTP handler: Host header → app → request envelope → RPC →
 * response, with the error answers of the design brief:
 * 400 no Host, 404 unknown domain, 503 not running / no host / broker down,
 * 504 no reply in time, 413 body over the limit, 502 bad reply.
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
import { HttpError, readBody } from "../lib/http/json.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { normaliseHostname } from "../lib/names.ts";
import type { DomainTable } from "./domains.ts";
import type { GatewayRpc } from "./rpc.ts";

/** What the handler needs. */
export interface GatewayDeps {
  domains: DomainTable;
  rpc: GatewayRpc;
  bodies: BodyStore;
  log: Logger;
  inlineBodyLimit: number;
  bodyLimit: number;
  requestTimeoutMs: number;
}

const NO_BODY_STATUS = new Set([204, 205, 304]);

function problem(status: number, message: string, requestId?: string): Response {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
  if (requestId) headers["x-request-id"] = requestId;
  return new Response(message + "\n", { status, headers });
}

function requestHeaders(
  req: Request,
  requestId: string,
  remote: string,
  host: string,
): HeaderList {
  const list: HeaderList = [];
  let forwardedFor = "";
  for (const [name, value] of req.headers) {
    if (name === "x-forwarded-for") forwardedFor = value;
    else list.push([name, value]);
  }
  const kept = endToEndHeaders(list);
  if (!req.headers.has("x-request-id")) kept.push(["x-request-id", requestId]);
  kept.push(["x-forwarded-for", forwardedFor ? `${forwardedFor}, ${remote}` : remote]);
  kept.push(["x-forwarded-host", host]);
  kept.push(["x-forwarded-proto", "http"]);
  return kept;
}

/** Builds the gateway's request handler. */
export function createGatewayHandler(
  deps: GatewayDeps,
): (req: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const { domains, rpc, bodies, log } = deps;

  return async (req, info) => {
    const hostHeader = req.headers.get("host");
    if (!hostHeader) return problem(400, "missing Host header");
    const app = domains.lookup(normaliseHostname(hostHeader));
    if (!app) return problem(404, `no app at ${hostHeader}`);
    if (app.status !== "running") return problem(503, `${app.name} is not running`);
    if (!rpc.ready) return problem(503, "network unavailable, try again");
    const requestId = req.headers.get("x-request-id")?.slice(0, 64).replace(/[^A-Za-z0-9-]/g, "") ||
      crypto.randomUUID();
    try {
      const body = await readBody(req, deps.bodyLimit);
      const url = new URL(req.url);
      const remote = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
      const head: RequestHead = {
        method: req.method,
        url: url.pathname + url.search,
        headers: requestHeaders(req, requestId, remote, hostHeader),
        id: requestId,
        deadline: Date.now() + deps.requestTimeoutMs,
      };
      let inline = body;
      if (body.length > deps.inlineBodyLimit) {
        head.bodyKey = await bodies.put(body, deps.requestTimeoutMs + 5000);
        inline = new Uint8Array(0);
      }
      const result = await rpc.call(
        app.name,
        encodeEnvelope(head, inline),
        deps.requestTimeoutMs,
        requestId,
      );
      if (!result.ok) {
        if (result.failure === "timeout") {
          return problem(504, `${app.name} did not answer in time`, requestId);
        }
        if (result.failure === "unroutable") {
          return problem(503, `no host is serving ${app.name}`, requestId);
        }
        return problem(503, "network unavailable, try again", requestId);
      }
      const reply = decodeResponse(result.body);
      const replyBody = reply.head.bodyKey ? await bodies.take(reply.head.bodyKey) : reply.body;
      const headers = new Headers();
      for (const [name, value] of reply.head.headers) headers.append(name, value);
      const status = reply.head.status;
      const isHead = req.method === "HEAD";
      return new Response(
        NO_BODY_STATUS.has(status) || isHead ? null : replyBody as Uint8Array<ArrayBuffer>,
        {
          status,
          headers,
        },
      );
    } catch (e) {
      if (e instanceof HttpError) return problem(e.status, e.message, requestId);
      log.warn("request failed", { app: app.name, requestId, error: errorMessage(e) });
      return problem(502, "bad gateway", requestId);
    }
  };
}
