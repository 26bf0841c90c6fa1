/**
 * How the bytes of one request flow on the gateway's direct path, once
 * gateway/direct.ts has chosen where it goes:
 * - to a container: the request itself, its body streamed as the client
 *   sends it, the response streamed back as the app writes it;
 * - to a host's direct listener (host/direct.ts): `POST /v1/requests/<app>`
 *   whose body is the request envelope's head (lib/envelope.ts) followed by
 *   the request body as it streams, answered by the response envelope's head
 *   followed by the response body as it streams. Non-200 statuses are the
 *   host's own answers (421, 502, 504, ...), with no envelope. The app's
 *   stream idle timeout goes with it ({@link STREAM_IDLE_HEADER}): the host
 *   cuts the app's side of a stream that stalls as the gateway does.
 *
 * @module
 */

import {
  decodeResponse,
  encodeEnvelope,
  ENVELOPE_HEADER,
  EnvelopeError,
  type HeaderList,
  type RequestHead,
} from "../lib/envelope.ts";
import type { Http1Pool, StreamResponse, StreamTimeouts } from "../lib/http1.ts";
import { latin1Decode, UpstreamBadResponseError, WHOLE_BODY_BYTES } from "../lib/http1.ts";
import type { Endpoint } from "../lib/routes.ts";
import { STREAM_IDLE_HEADER } from "../lib/stream_idle.ts";
import { prefixed, ShortStreamError, splitPrefixedHead } from "../lib/streams.ts";
import type { ClientBody } from "./client_body.ts";

/** Largest response envelope head from a host. */
const MAX_ENVELOPE_HEAD = 1024 * 1024;

/** An app's answer on the direct path, its body streaming. */
export interface StreamedReply {
  status: number;
  headers: HeaderList;
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** On a 101: the upgraded connection to the app. */
  upgraded?: StreamResponse["upgraded"];
}

/** Sends the request straight to the app's container at `to` (asking for `upgrade`, if set). */
export async function toContainer(
  pool: Http1Pool,
  to: { address: string; port: number },
  head: RequestHead,
  body: ClientBody,
  timeouts: StreamTimeouts,
  upgrade?: string,
): Promise<StreamedReply> {
  const response = await pool.exchange(to.address, to.port, {
    method: head.method,
    url: head.url,
    headers: head.headers,
    body: body.empty ? null : body,
    length: body.length,
    upgrade,
    wholeBodyBytes: WHOLE_BODY_BYTES,
  }, timeouts);
  const { status, headers, upgraded } = response;
  return { status, headers, body: response.bytes ?? response.body, upgraded };
}

/** What a host's direct listener answered: the app's reply, or the host's own status. */
export type HostAnswer =
  | { ok: true; reply: StreamedReply }
  | { ok: false; status: number };

/**
 * Sends the request as an envelope to the host's direct listener at `host`.
 * An upgrade is a GET asking the host for it, the envelope's head in the
 * `dn-envelope` header (base64): on the app's 101 the host tunnels the
 * upgraded connection's bytes.
 */
export async function toHost(
  pool: Http1Pool,
  host: Endpoint,
  app: string,
  authorization: string,
  head: RequestHead,
  body: ClientBody,
  timeouts: StreamTimeouts,
  upgrade?: string,
): Promise<HostAnswer> {
  if (upgrade !== undefined) {
    const envelope = encodeEnvelope(head, new Uint8Array(0));
    const response = await pool.exchange(host.address, host.port, {
      method: "GET",
      url: `/v1/requests/${app}`,
      headers: [
        ["host", host.endpoint],
        ["authorization", authorization],
        [ENVELOPE_HEADER, btoa(latin1Decode(envelope))],
      ],
      body: null,
      length: 0,
      upgrade,
    }, timeouts);
    if (response.upgraded) return { ok: true, reply: response };
    return await hostReply(head, response);
  }
  const envelopeHead = encodeEnvelope(head, new Uint8Array(0));
  const response = await pool.exchange(host.address, host.port, {
    method: "POST",
    url: `/v1/requests/${app}`,
    headers: [
      ["host", host.endpoint],
      ["authorization", authorization],
      ["content-type", "application/octet-stream"],
      [STREAM_IDLE_HEADER, String(timeouts.idleMs)],
    ],
    body: prefixed(envelopeHead, body.empty ? null : body),
    length: body.length === null ? null : envelopeHead.length + body.length,
    wholeBodyBytes: WHOLE_BODY_BYTES,
  }, timeouts);
  return await hostReply(head, response);
}

/** What a host's answer to the request `head` means: the app's reply in its envelope, or the host's status. */
async function hostReply(head: RequestHead, response: StreamResponse): Promise<HostAnswer> {
  if (response.status !== 200) {
    await response.body?.cancel();
    return { ok: false, status: response.status };
  }
  try {
    if (response.bytes !== undefined) {
      const { head: reply, body } = decodeResponse(response.bytes); // a small envelope, whole
      const bodyless = head.method === "HEAD" || reply.status === 204 || reply.status === 304;
      return {
        ok: true,
        reply: { status: reply.status, headers: reply.headers, body: bodyless ? null : body },
      };
    }
    if (response.body === null) throw new UpstreamBadResponseError("host sent no envelope");
    const { head: bytes, rest } = await splitPrefixedHead(response.body, MAX_ENVELOPE_HEAD);
    const { head: reply } = decodeResponse(bytes);
    const bodyless = head.method === "HEAD" || reply.status === 204 || reply.status === 304;
    if (bodyless) await rest.cancel();
    return {
      ok: true,
      reply: { status: reply.status, headers: reply.headers, body: bodyless ? null : rest },
    };
  } catch (e) {
    if (e instanceof ShortStreamError || e instanceof EnvelopeError) {
      throw new UpstreamBadResponseError(`host sent an invalid envelope: ${e.message}`);
    }
    throw e;
  }
}
