/**
 * A host's direct request listener: the gateway sends an app's request here
 * over HTTP/1.1 keep-alive instead of through RabbitMQ when Redis names this
 * host as serving the app (lib/routes.ts). The broker path stays for
 * everything else, and is the gateway's fallback when this one refuses.
 *
 * `POST /v1/requests/<app>` with `Authorization: Bearer <requestToken>` and a
 * request envelope as the body. Answers:
 * - 200: a response envelope (body inline), the app's answer;
 * - 421: this host does not serve the app now, or its container took no byte
 *   of the request (nothing reached the app: the gateway may try another
 *   host, whatever the method);
 * - 502: the app's container took the request and closed the connection
 *   before answering (it may have run: only an idempotent request may go to
 *   another host);
 * - 504: the deadline passed, before or while the app ran the request;
 * - 400 bad envelope, 401 bad token, 404 other paths, 405 other methods,
 *   413 body over the limit.
 *
 * @module
 */

import { HttpError, readBody } from "../lib/http/json.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName } from "../lib/names.ts";
import { tokenChecker } from "../lib/token.ts";
import type { RequestServer } from "./requests.ts";

/** Options of {@link serveDirectRequests}. */
export interface DirectListenerOptions {
  hostname: string;
  port: number;
  token: string;
  requests: RequestServer;
  /** Largest envelope accepted (body limit plus room for the head). */
  maxBytes: number;
  /** Time allowed to receive an envelope, in ms. */
  readTimeoutMs: number;
  log: Logger;
  /** Told the bound address once listening. */
  onListen: (endpoint: string) => void;
}

const PATH = /^\/v1\/requests\/([^/]+)$/;
const ENVELOPE_TYPE = { "content-type": "application/octet-stream" };

function text(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * The request body: in one read when its length is declared (the gateway
 * always declares it), else through the bounded, timed reader.
 */
async function readEnvelope(req: Request, max: number, timeoutMs: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (!(declared >= 0 && declared <= max)) return await readBody(req, max, timeoutMs);
  return await req.bytes();
}

/** Starts the listener; returns the server (shut it down on exit). */
export function serveDirectRequests(options: DirectListenerOptions): Deno.HttpServer {
  const { requests, log } = options;
  const checkToken = tokenChecker(options.token, "requestToken");
  return Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: (addr) => options.onListen(`${addr.hostname}:${addr.port}`),
  }, async (req) => {
    const app = PATH.exec(new URL(req.url).pathname)?.[1];
    if (app === undefined || !isAppName(app)) {
      await req.body?.cancel().catch(() => {});
      return text(404, "no such path");
    }
    if (req.method !== "POST") {
      await req.body?.cancel().catch(() => {});
      return text(405, "POST only");
    }
    if (!checkToken(req.headers.get("authorization"))) {
      await req.body?.cancel().catch(() => {});
      return text(401, "invalid token");
    }
    try {
      const bytes = await readEnvelope(req, options.maxBytes, options.readTimeoutMs);
      const outcome = await requests.serveDirect(app, bytes);
      switch (outcome.kind) {
        case "reply":
          return new Response(outcome.body as Uint8Array<ArrayBuffer>, { headers: ENVELOPE_TYPE });
        case "not served":
          return text(421, `${app} is not served here`);
        case "dropped":
          return text(502, `${app} failed during the request`);
        case "expired":
          return text(504, "deadline passed");
        case "invalid":
          log.warn("refused invalid direct request", { app, error: outcome.message });
          return text(400, outcome.message);
      }
    } catch (e) {
      if (e instanceof HttpError) return text(e.status, e.message);
      log.warn("direct request not answered", { app, error: errorMessage(e) });
      return text(500, "request not answered");
    }
  });
}
