/**
 * A host's direct request listener: the gateway sends an app's request here
 * over HTTP/1.1 keep-alive instead of through RabbitMQ when Redis names this
 * host as serving the app (lib/routes.ts). The broker path stays for
 * everything else, and is the gateway's fallback when this one refuses.
 *
 * `POST /v1/requests/<app>` with `Authorization: Bearer <requestToken>`; its
 * body is a request envelope's head (lib/envelope.ts, no body key) followed
 * by the request body, which streams on to the app's container as it
 * arrives (host/proxy.ts), cut when it stalls for the app's idle timeout
 * (`dn-stream-idle-ms`, lib/stream_idle.ts; else the network's). Answers:
 * - 200: a response envelope's head followed by the app's response body,
 *   streamed as the app writes it (or the host's 502 naming the flaw of a
 *   malformed response);
 * - 421: this host does not serve the app now, or its container took no byte
 *   of the request (nothing reached the app: the gateway may try another
 *   host, whatever the method);
 * - 502: the app's container took the request and closed the connection
 *   before answering (it may have run: only an idempotent request may go to
 *   another host);
 * - 504: the deadline passed, before or while the app ran the request;
 * - `GET` with `Upgrade` (any protocol) and the envelope head in
 *   `dn-envelope` (base64): the request goes to the app asking for that
 *   upgrade, and on the app's 101 this connection is answered 101 and
 *   tunnelled, byte for byte, to the app's (lib/http1/tunnel.ts); an app
 *   that refuses is answered as it answered;
 * - 400 bad envelope, 401 bad token, 404 other paths, 405 other methods,
 *   408 envelope head not received in time. The gateway enforces the app's
 *   body limit; the request token is what lets it here.
 *
 * It runs on lib/http1/server.ts (Deno.serve gives no raw connection for an
 * upgrade).
 *
 * @module
 */

import { decodeRequest, encodeEnvelope, ENVELOPE_HEADER } from "../lib/envelope.ts";
import { latin1Encode } from "../lib/http1.ts";
import { fieldValues } from "../lib/http1/request_head.ts";
import {
  FixedResponse,
  type Http1Answer,
  type Http1Handler,
  Http1Server,
  type ServerRequest,
  SwitchProtocols,
} from "../lib/http1/server.ts";
import { HttpError } from "../lib/http/json.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { isAppName } from "../lib/names.ts";
import { tokenChecker } from "../lib/token.ts";
import type { Registry } from "../lib/metrics.ts";
import { type TlsFiles, TlsServer } from "../lib/tls_server.ts";
import { STREAM_IDLE_HEADER, streamIdleOf } from "../lib/stream_idle.ts";
import { piecesOf, prefixedStream, ShortStreamError, splitPrefixedHead } from "../lib/streams.ts";
import { proxyToContainer, type StreamedRequest, type StreamOutcome } from "./proxy.ts";
import type { RequestServer } from "./requests.ts";

/** Options of {@link serveDirectRequests}. */
export interface DirectListenerOptions {
  hostname: string;
  port: number;
  token: string;
  requests: RequestServer;
  /** Time allowed to receive a request envelope's head, in ms (408 after). */
  headTimeoutMs: number;
  /** Longest silence on a streamed body (no byte either way), in ms, unless the request says. */
  idleTimeoutMs: number;
  log: Logger;
  /** Told the bound address once listening. */
  onListen: (endpoint: string) => void;
  /** Certificate and key files to serve HTTPS with (absent: plain HTTP). */
  tls?: TlsFiles;
  /** Where the certificate's expiry gauge goes. */
  registry?: Registry;
  /** False while this host may serve a stale version of `app` (host/staleness.ts): 421. */
  current?: (app: string) => boolean;
}

const PATH = /^\/v1\/requests\/([^/]+)$/;
const ENVELOPE_TYPE = { "content-type": "application/octet-stream" };
/** Largest request envelope head. */
const MAX_HEAD = 1024 * 1024;

const encoder = new TextEncoder();

function text(status: number, message: string): Response {
  const body = encoder.encode(message + "\n");
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "content-length": `${body.length}` },
  });
}

/**
 * The request envelope's head and the request body after it (streaming),
 * with its length when the gateway declared the envelope's; HttpError 400
 * for a broken envelope, 408 when the head is not in within `timeoutMs`.
 */
async function readRequest(req: ServerRequest, timeoutMs: number): Promise<StreamedRequest> {
  if (req.body === null) throw new HttpError(400, "no request envelope");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new HttpError(408, `request envelope not received within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  let split;
  try {
    split = await Promise.race([splitPrefixedHead(req.body, MAX_HEAD), late]);
  } catch (e) {
    req.body.cancel().catch(() => {});
    if (e instanceof ShortStreamError) throw new HttpError(400, e.message);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  let head;
  try {
    head = decodeRequest(split.head).head;
  } catch (e) {
    await split.rest.cancel();
    throw new HttpError(400, errorMessage(e));
  }
  if (head.bodyKey !== undefined) throw new HttpError(400, "bodyKey is for the broker path");
  const length = req.length === null ? null : req.length - split.head.length;
  if (length !== null && !(length >= 0)) throw new HttpError(400, "content-length too short");
  const body = length === 0 ? null : piecesOf(split.rest);
  if (body === null) await split.rest.cancel();
  return { head, body, length };
}

/** An upgrade request: its envelope head comes in a header (HttpError 400 when broken). */
function upgradeRequest(req: ServerRequest, upgrade: string): StreamedRequest {
  const encoded = fieldValues(req.headers, ENVELOPE_HEADER)[0];
  if (encoded === undefined) {
    throw new HttpError(400, `an upgrade needs its envelope in ${ENVELOPE_HEADER}`);
  }
  try {
    const { head } = decodeRequest(latin1Encode(atob(encoded)));
    return { head, body: null, length: 0, upgrade };
  } catch (e) {
    throw new HttpError(400, `invalid ${ENVELOPE_HEADER}: ${errorMessage(e)}`);
  }
}

/** The answer to the gateway: the app's (in an envelope, or its 101 and a tunnel), or why not. */
function answer(app: string, outcome: StreamOutcome): Http1Answer {
  switch (outcome.kind) {
    case "response": {
      const { status, headers, body, bytes, upgraded } = outcome.response;
      if (upgraded) return new SwitchProtocols(upgraded.protocol, headers, upgraded);
      if (body === null) {
        // No body, or a small one whole: the envelope goes in one write with its head.
        const envelope = encodeEnvelope({ status, headers }, bytes ?? new Uint8Array(0));
        return new FixedResponse(200, [["content-type", ENVELOPE_TYPE["content-type"]]], envelope);
      }
      const head = encodeEnvelope({ status, headers }, new Uint8Array(0));
      return new Response(prefixedStream(head, body), { headers: ENVELOPE_TYPE });
    }
    case "reply": {
      const envelope = encodeEnvelope(outcome.reply.head, outcome.reply.body);
      return new Response(envelope as Uint8Array<ArrayBuffer>, {
        headers: { ...ENVELOPE_TYPE, "content-length": `${envelope.length}` },
      });
    }
    case "not served":
      return text(421, `${app} is not served here`);
    case "dropped":
      return text(502, `${app} failed during the request`);
    case "expired":
      return text(504, "deadline passed");
  }
}

/** Starts the listener; returns the server (shut it down on exit). */
export function serveDirectRequests(options: DirectListenerOptions): {
  readonly addr: Deno.NetAddr;
  shutdown(): Promise<void>;
} {
  const { hostname, port, tls, log } = options;
  const handler = directHandler(options);
  const serverOptions = {
    onError: (e: unknown) => log.error("direct request handler failed", { error: errorMessage(e) }),
  };
  // HTTPS when tlsCertFile is set, reloaded when the files change (lib/tls_server.ts).
  const server = tls === undefined
    ? new Http1Server(Deno.listen({ hostname, port }), handler, serverOptions)
    : new TlsServer({
      hostname,
      port,
      ...tls,
      serve: (pair) => new Http1Server(Deno.listenTls(pair), handler, serverOptions),
      service: "host",
      log,
      registry: options.registry,
    });
  options.onListen(`${server.addr.hostname}:${server.addr.port}`);
  return server;
}

/** The listener's request handler. */
function directHandler(options: DirectListenerOptions): Http1Handler {
  const { requests, log } = options;
  const checkToken = tokenChecker(options.token, "requestToken");
  const refuse = async (req: ServerRequest, status: number, message: string) => {
    await req.body?.cancel().catch(() => {});
    return text(status, message);
  };
  return async (req) => {
    const app = PATH.exec(req.target.split("?")[0])?.[1];
    if (app === undefined || !isAppName(app)) return await refuse(req, 404, "no such path");
    if (req.method !== "POST" && !(req.method === "GET" && req.upgrade !== null)) {
      return await refuse(req, 405, "POST only (GET to upgrade)");
    }
    if (!checkToken(fieldValues(req.headers, "authorization")[0] ?? null)) {
      return await refuse(req, 401, "invalid token");
    }
    if (requests.target(app) === undefined) {
      return await refuse(req, 421, `${app} is not served here`);
    }
    if (options.current && !options.current(app)) {
      return await refuse(req, 421, `${app} may be stale here`);
    }
    try {
      const request = req.upgrade !== null
        ? upgradeRequest(req, req.upgrade)
        : await readRequest(req, options.headTimeoutMs);
      if (Date.now() > request.head.deadline) return text(504, "deadline passed");
      const idle = fieldValues(req.headers, STREAM_IDLE_HEADER)[0] ?? null;
      const idleMs = streamIdleOf(idle, options.idleTimeoutMs);
      const outcome = await proxyToContainer(requests, app, request, idleMs);
      return answer(app, outcome);
    } catch (e) {
      if (e instanceof HttpError) {
        log.warn("refused invalid direct request", { app, error: e.message });
        return text(e.status, e.message);
      }
      log.warn("direct request not answered", { app, error: errorMessage(e) });
      return text(500, "request not answered");
    }
  };
}
