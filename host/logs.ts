/**
 * A host's side of `logs.<app>`: reads the app's container logs from the
 * Docker engine and answers control's request over direct reply-to.
 *
 * The host consumes its own queue `dn.host.<name>.logs` (exclusive,
 * auto-delete, bound to `logs.*`), apart from its command queue, so a slow
 * log read never delays a command. Every container of the app on this host
 * (running or not, every version) contributes; lines are merged by time.
 * One reply holds at most {@link LOGS_MAX_LINES} lines and about
 * {@link LOGS_MAX_BYTES} bytes, and is sent within `readBudgetMs`; what did
 * not fit is marked `truncated` and control asks again from the last line.
 *
 * @module
 */

import type { AMQPChannel, AMQPMessage } from "@cloudamqp/amqp-client";
import type { DockerClient } from "../lib/docker/mod.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import {
  clipLine,
  decodeLogsRequest,
  encodeLogsReply,
  type LogEntry,
  LOGS_MAX_BYTES,
  LOGS_MAX_LINES,
  LOGS_REPLY_TYPE,
  LOGS_REQUEST_TYPE,
  type LogsReply,
  type LogsRequest,
  splitTimestamp,
  timeToSeconds,
} from "../lib/logs.ts";
import { isAppName } from "../lib/names.ts";
import type { AppContainer } from "./containers.ts";

/** Options of {@link HostLogs}. */
export interface HostLogsOptions {
  hostName: string;
  exchange: string;
  /** The app's containers on this host. */
  list(app: string): Promise<Pick<AppContainer, "id" | "version">[]>;
  /** RabbitMQ user of control: requests from anyone else are dropped. */
  controlUser?: string;
  docker: Pick<DockerClient, "containerLogs">;
  log: Logger;
  /** Time to read logs for one reply, in ms (default 2000). */
  readBudgetMs?: number;
}

const TIMEOUT = Symbol("timeout");

/** Answers `logs.<app>` requests. */
export class HostLogs {
  /** Creates the responder; attach a channel with {@link attach}. */
  constructor(readonly options: HostLogsOptions) {}

  /** Declares and consumes `dn.host.<name>.logs` on `channel` (after every connect). */
  async attach(channel: AMQPChannel): Promise<void> {
    const queue = `dn.host.${this.options.hostName}.logs`;
    await channel.queueDeclare(queue, { durable: false, exclusive: true, autoDelete: true });
    await channel.queueBind(queue, this.options.exchange, "logs.*");
    await channel.basicConsume(queue, { noAck: true }, (msg) => this.#onMessage(channel, msg));
  }

  async #onMessage(channel: AMQPChannel, msg: AMQPMessage): Promise<void> {
    const { log, hostName } = this.options;
    try {
      const app = msg.routingKey.slice("logs.".length);
      const { replyTo, correlationId, type } = msg.properties;
      if (!msg.routingKey.startsWith("logs.") || !isAppName(app)) {
        throw new Error("invalid routing key");
      }
      if (type !== LOGS_REQUEST_TYPE || !replyTo || !correlationId) {
        throw new Error("invalid logs request");
      }
      const { controlUser } = this.options;
      if (controlUser !== undefined && msg.properties.userId !== controlUser) {
        throw new Error("logs request not published by control's user");
      }
      const request = decodeLogsRequest(msg.body ?? new Uint8Array());
      if (request.hosts && !request.hosts.includes(hostName)) return;
      const reply = await this.read(app, request);
      await channel.basicPublish("", replyTo, encodeLogsReply(reply), {
        type: LOGS_REPLY_TYPE,
        correlationId,
      });
    } catch (e) {
      log.warn("dropped logs request", { routingKey: msg.routingKey, error: errorMessage(e) });
    }
  }

  /** This host's answer to `request` about `app`. */
  async read(app: string, request: LogsRequest): Promise<LogsReply> {
    const { hostName } = this.options;
    const deadline = Date.now() + (this.options.readBudgetMs ?? 2000);
    const after = request.after?.[hostName];
    const tail = after === undefined ? request.tail : undefined;
    const since = after !== undefined
      ? timeToSeconds(after)
      : request.since === undefined
      ? undefined
      : request.since / 1000;
    const containers = await this.options.list(app);
    const parts = await Promise.all(
      containers.map((c) => this.#readContainer(c, since, after, tail, deadline)),
    );
    let truncated = parts.some((p) => p.truncated);
    let lines = parts.flatMap((p) => p.lines);
    if (parts.length > 1) {
      lines.sort((a, b) => a.time < b.time ? -1 : a.time > b.time ? 1 : 0);
      // A container cut short may have more lines before another's later ones:
      // stop at its last line, so the next request (after the cursor) gets them.
      let cut: string | undefined;
      for (const p of parts) {
        const last = p.lines.at(-1)?.time;
        if (p.truncated && last !== undefined && (cut === undefined || last < cut)) cut = last;
      }
      if (cut !== undefined) lines = lines.filter((l) => l.time <= cut);
    }
    if (tail !== undefined && lines.length > tail) lines = lines.slice(lines.length - tail);
    let bytes = 0;
    for (let i = 0; i < lines.length; i++) {
      bytes += lines[i].line.length + 64;
      if (i >= LOGS_MAX_LINES || bytes > LOGS_MAX_BYTES) {
        lines = lines.slice(0, Math.max(1, i));
        truncated = true;
        break;
      }
    }
    return { host: hostName, lines, truncated };
  }

  /** The first lines of one container after `after` (or its last `tail`), until the deadline. */
  async #readContainer(
    container: Pick<AppContainer, "id" | "version">,
    since: number | undefined,
    after: string | undefined,
    tail: number | undefined,
    deadline: number,
  ): Promise<{ lines: LogEntry[]; truncated: boolean }> {
    const lines: LogEntry[] = [];
    let bytes = 0;
    let stream;
    try {
      stream = await this.options.docker.containerLogs(container.id, {
        timestamps: true,
        since,
        tail: tail ?? "all",
      });
    } catch (e) {
      // Removed between list and read: it has no more lines to give.
      this.options.log.debug("container logs not read", {
        container: container.id,
        error: errorMessage(e),
      });
      return { lines, truncated: false };
    }
    const reader = stream.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<typeof TIMEOUT>((resolve) =>
      timer = setTimeout(() => resolve(TIMEOUT), Math.max(0, deadline - Date.now()))
    );
    let truncated = false;
    try {
      while (true) {
        const read = await Promise.race([reader.read(), timeout]);
        if (read === TIMEOUT) {
          truncated = true;
          break;
        }
        if (read.done) break;
        const { time, text } = splitTimestamp(read.value.line);
        if (time === null || (after !== undefined && time <= after)) continue;
        const line = clipLine(text);
        lines.push({ time, stream: read.value.stream, line, version: container.version });
        bytes += line.length + 64;
        // With tail, Docker already bounds the count; the merge cuts the rest.
        if (tail === undefined && (lines.length >= LOGS_MAX_LINES || bytes > LOGS_MAX_BYTES)) {
          truncated = true;
          break;
        }
      }
    } catch (e) {
      this.options.log.debug("container logs cut short", {
        container: container.id,
        error: errorMessage(e),
      });
    } finally {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
    }
    return { lines, truncated };
  }
}
