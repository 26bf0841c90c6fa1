/**
 * Commands and status requests/replies: the JSON messages between control and
 * hosts on the `dn` exchange (`start.<app>`, `stop.<app>`, `remove.<app>`,
 * `update.<app>`, `status.<app>.<host>` and its reply). Every decoder
 * validates all fields and throws {@link EnvelopeError}.
 *
 * @module
 */

import { isAppName, isDigest, isHostName } from "./names.ts";
import type { ContainerReport, HostFailure } from "./apps.ts";
import { EnvelopeError, onlyKeys, parseJsonObject } from "./envelope.ts";

/** AMQP `type` of a command message. */
export const COMMAND_TYPE = "dn.command.v1";
/** AMQP `type` of a status reply. */
export const STATUS_REPLY_TYPE = "dn.status-reply.v1";

const encoder = new TextEncoder();
/** Largest command or status request body; real ones are under 100 bytes. */
const MAX_COMMAND = 4096;

/** What a command asks hosts to do. */
export type CommandKind = "start" | "stop" | "remove" | "update";

/** All command kinds, also the routing key prefixes. */
export const COMMAND_KINDS: readonly CommandKind[] = ["start", "stop", "remove", "update"];

/** A command broadcast to every host: the app's desired state changed. */
export interface Command {
  /** What changed. */
  kind: CommandKind;
  /** App the command is about. */
  app: string;
}

/** Encodes a command message body. */
export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, kind: command.kind, app: command.app }));
}

/** Decodes and validates a command; `routingKey` must agree with its body. */
export function decodeCommand(bytes: Uint8Array, routingKey: string): Command {
  if (bytes.length > MAX_COMMAND) throw new EnvelopeError("command too large");
  const body = parseJsonObject(bytes, "command");
  onlyKeys(body, ["v", "kind", "app"]);
  const { kind, app } = body;
  if (!COMMAND_KINDS.includes(kind as CommandKind)) throw new EnvelopeError("unknown command");
  if (!isAppName(app)) throw new EnvelopeError("command app is not a valid app name");
  if (routingKey !== `${kind}.${app}`) {
    throw new EnvelopeError(`routing key ${routingKey} does not match the command`);
  }
  return { kind: kind as CommandKind, app };
}

/** A `status.<app>` request: where and under which id to answer. */
export interface StatusRequest {
  /** App asked about. */
  app: string;
  /** Host asked (`status.<app>.<host>`); absent when every host was asked (`status.<app>`). */
  host?: string;
  /** Queue to answer to: RabbitMQ direct reply-to (`amq.rabbitmq.reply-to.…`). */
  replyTo: string;
  /** Id the answer carries. */
  correlationId: string;
}

/**
 * Validates a `status.<app>.<host>` request (or `status.<app>`, every host's,
 * from controls of earlier versions) from its routing key, properties and
 * (empty) body. Only direct reply-to is accepted as `replyTo`, so a forged
 * request cannot make a host publish into another queue (an app's request
 * queue, another host's command queue).
 */
export function decodeStatusRequest(
  routingKey: string,
  replyTo: string | undefined,
  correlationId: string | undefined,
  bytes: Uint8Array,
): StatusRequest {
  const [prefix, app, host, ...rest] = routingKey.split(".");
  if (prefix !== "status" || !isAppName(app) || rest.length > 0) {
    throw new EnvelopeError("status request app is not a valid app name");
  }
  if (host !== undefined && !isHostName(host)) {
    throw new EnvelopeError("status request host is not a valid host name");
  }
  if (
    typeof replyTo !== "string" || !/^amq\.rabbitmq\.reply-to\.[\x21-\x7e]{1,250}$/.test(replyTo)
  ) {
    throw new EnvelopeError("status request must reply to amq.rabbitmq.reply-to");
  }
  if (typeof correlationId !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(correlationId)) {
    throw new EnvelopeError("status request needs a short correlation id");
  }
  if (bytes.length > 0) throw new EnvelopeError("status request must have an empty body");
  return { app, ...(host === undefined ? {} : { host }), replyTo, correlationId };
}

/** A host's answer to `status.<app>`. */
export interface StatusReply {
  /** Host service name. */
  host: string;
  /** The app's containers on that host. */
  containers: ContainerReport[];
  /** Why the host could not run the app's current release, until it can. */
  failure?: HostFailure;
  /**
   * Milliseconds the host spent between taking the request and publishing
   * the reply (its Docker query), by its own monotonic clock; control
   * subtracts it from the round trip to get the bus's share. Absent from
   * hosts of earlier versions.
   */
  handledMs?: number;
}

/** Encodes a status reply. */
export function encodeStatusReply(reply: StatusReply): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, ...reply }));
}

function checkContainer(value: unknown): ContainerReport {
  if (typeof value !== "object" || value === null) throw new EnvelopeError("bad container");
  const c = value as Record<string, unknown>;
  const strings = ["id", "imageId", "state", "createdAt", "startedAt", "finishedAt"] as const;
  for (const key of strings) {
    if (typeof c[key] !== "string") throw new EnvelopeError(`container ${key} must be a string`);
  }
  if (typeof c.version !== "number" || typeof c.exitCode !== "number") {
    throw new EnvelopeError("container version and exitCode must be numbers");
  }
  // Absent from hosts of earlier versions.
  if (c.oomKilled !== undefined && typeof c.oomKilled !== "boolean") {
    throw new EnvelopeError("container oomKilled must be a boolean");
  }
  if (c.restartCount !== undefined && !Number.isSafeInteger(c.restartCount)) {
    throw new EnvelopeError("container restartCount must be an integer");
  }
  if (c.revision !== undefined && !isCount(c.revision)) {
    throw new EnvelopeError("container revision must be a whole number");
  }
  if (c.serving !== undefined && typeof c.serving !== "boolean") {
    throw new EnvelopeError("container serving must be a boolean");
  }
  if (c.probeError !== undefined && !isShortText(c.probeError)) {
    throw new EnvelopeError("container probeError must be a short text");
  }
  if (c.digest !== undefined && !(c.digest === "" || isDigest(c.digest))) {
    throw new EnvelopeError("container digest must be an image digest or empty");
  }
  return {
    id: c.id as string,
    imageId: c.imageId as string,
    version: c.version,
    ...(c.revision === undefined ? {} : { revision: c.revision as number }),
    state: c.state as string,
    exitCode: c.exitCode,
    createdAt: c.createdAt as string,
    startedAt: c.startedAt as string,
    finishedAt: c.finishedAt as string,
    ...(c.oomKilled === undefined ? {} : { oomKilled: c.oomKilled }),
    ...(c.restartCount === undefined ? {} : { restartCount: c.restartCount as number }),
    ...(c.serving === undefined ? {} : { serving: c.serving }),
    ...(c.digest === undefined ? {} : { digest: c.digest as string }),
    ...(c.probeError === undefined ? {} : { probeError: c.probeError as string }),
  };
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isShortText(v: unknown): v is string {
  return typeof v === "string" && v.length <= 1000;
}

function checkFailure(value: unknown): HostFailure {
  const f = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (!isCount(f.version) || !isCount(f.revision) || !isShortText(f.message)) {
    throw new EnvelopeError("status reply failure must have a version, revision and message");
  }
  return { version: f.version, revision: f.revision, message: f.message };
}

/** Decodes and validates a status reply. */
export function decodeStatusReply(bytes: Uint8Array): StatusReply {
  const body = parseJsonObject(bytes, "status reply");
  if (!isHostName(body.host)) throw new EnvelopeError("status reply host is not a valid name");
  if (!Array.isArray(body.containers) || body.containers.length > 100) {
    throw new EnvelopeError("status reply containers must be a short list");
  }
  const { handledMs } = body;
  if (
    handledMs !== undefined &&
    !(typeof handledMs === "number" && Number.isFinite(handledMs) && handledMs >= 0)
  ) {
    throw new EnvelopeError("status reply handledMs must be a duration in milliseconds");
  }
  const reply: StatusReply = { host: body.host, containers: body.containers.map(checkContainer) };
  if (handledMs !== undefined) reply.handledMs = handledMs;
  if (body.failure !== undefined) reply.failure = checkFailure(body.failure);
  return reply;
}
