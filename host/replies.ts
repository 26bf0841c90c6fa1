/**
 * Replies a host publishes for requests that came over the broker: a 502 for
 * one no app will see, and the envelope of an app's answer, its body in Redis
 * when over the inline limit.
 *
 * @module
 */

import type { AMQPMessage } from "@cloudamqp/amqp-client";
import type { BodyStore } from "../lib/bodies.ts";
import { encodeEnvelope, RESPONSE_TYPE, type ResponseHead } from "../lib/envelope.ts";
import { plain } from "./forward.ts";

/** Answers the request in `msg` with a 502 and `message`, for requests no app will see. */
export async function refuse(msg: AMQPMessage, message: string): Promise<void> {
  const { replyTo, correlationId } = msg.properties;
  const refusal = plain(502, message);
  await msg.channel.basicPublish("", replyTo!, encodeEnvelope(refusal.head, refusal.body), {
    type: RESPONSE_TYPE,
    correlationId,
  }).catch(() => {});
}

/**
 * The reply envelope of `reply`; a body over `inlineBodyLimit` goes to Redis
 * first, kept until 5 s past the request's `deadline` (at least 5 s).
 */
export async function replyEnvelope(
  bodies: BodyStore,
  inlineBodyLimit: number,
  reply: { head: ResponseHead; body: Uint8Array },
  deadline: number,
): Promise<Uint8Array> {
  const { head, body } = reply;
  if (body.length <= inlineBodyLimit) return encodeEnvelope(head, body);
  head.bodyKey = await bodies.put(body, Math.max(5000, deadline - Date.now() + 5000));
  return encodeEnvelope(head, new Uint8Array(0));
}
