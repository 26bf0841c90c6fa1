/**
 * `GET /v1/apps/:name/logs`: the app's container logs from every host, as
 * NDJSON, one object a line:
 *
 * ```
 * {"host":"vaermina","time":"2024-05-01T12:00:00.123456789Z","stream":"stdout","line":"...","version":1}
 * {"warning":"sanguine did not answer"}
 * {"error":"message broker unavailable"}          (last line, when the stream fails)
 * ```
 *
 * Query: `since` (ms since the epoch), `tail` (0–5000 lines per host),
 * `host` (one host name), `follow` (`1`/`true`). Control asks hosts with the
 * `logs.<app>` RPC over direct reply-to, page by page while a host has more
 * (lines are merged by time across hosts); with `follow` it asks again every
 * `pollMs` from each host's last line and keeps the response open until the
 * client goes away. An empty line is sent after `keepAliveMs` of silence.
 *
 * @module
 */

import { brief, HttpError, json } from "../lib/http/json.ts";
import { refuseWithoutToken } from "./auth.ts";
import { errorMessage, type Logger } from "../lib/log.ts";
import { type LogEntry, LOGS_MAX_LINES, type LogsRequest } from "../lib/logs.ts";
import { isAppName, isHostName } from "../lib/names.ts";
import { RedisUnavailableError } from "../lib/redis.ts";
import { AppNotFoundError, type AppStore } from "../lib/store.ts";
import { BrokerUnavailableError } from "./broker.ts";
import type { LogsRpc } from "./logs_rpc.ts";

/** Latest `since` accepted: the end of year 9999. */
const MAX_SINCE = 253402300799999;
const ROUTE = /^\/v1\/apps\/([^/]+)\/logs$/;

/** What the logs endpoint needs. */
export interface LogsDeps {
  store: AppStore;
  rpc: Pick<LogsRpc, "call">;
  /** True when the broker can take a request now. */
  brokerReady(): boolean;
  log: Logger;
  /** Wait for hosts' replies, in ms (default 4000). */
  timeoutMs?: number;
  /** Pause between follow rounds, in ms (default 1000). */
  pollMs?: number;
  /** Silence after which an empty line is sent, in ms (default 15 000). */
  keepAliveMs?: number;
  /** How often the live host list is read again while following, in ms (default 5000). */
  hostsRefreshMs?: number;
  /** Most `follow` streams at once (default 32); more get 503. */
  maxFollowers?: number;
  /** Counts logs streams open (a gauge). */
  streams?: { inc(): void; dec(): void };
}

/** The query of a logs request, validated. */
export interface LogsQuery {
  since?: number;
  tail?: number;
  host?: string;
  follow: boolean;
}

/** Parses and validates the query; throws HttpError 400. */
export function parseLogsQuery(params: URLSearchParams): LogsQuery {
  const seen = new Set<string>();
  const query: LogsQuery = { follow: false };
  for (const [key, value] of params) {
    if (seen.has(key)) throw new HttpError(400, `query parameter ${brief(key)} given twice`);
    seen.add(key);
    if (key === "since") {
      if (!/^\d{1,15}$/.test(value) || Number(value) > MAX_SINCE) {
        throw new HttpError(400, `invalid since ${brief(value)}: must be milliseconds since 1970`);
      }
      query.since = Number(value);
    } else if (key === "tail") {
      if (!/^\d{1,5}$/.test(value) || Number(value) > LOGS_MAX_LINES) {
        throw new HttpError(400, `invalid tail ${brief(value)}: must be 0-${LOGS_MAX_LINES}`);
      }
      query.tail = Number(value);
    } else if (key === "host") {
      if (!isHostName(value)) {
        throw new HttpError(400, `invalid host ${brief(value)}: must be a host name`);
      }
      query.host = value;
    } else if (key === "follow") {
      if (!["1", "0", "true", "false"].includes(value)) {
        throw new HttpError(400, `invalid follow ${brief(value)}: must be 1, 0, true or false`);
      }
      query.follow = value === "1" || value === "true";
    } else {
      throw new HttpError(
        400,
        `unknown query parameter ${brief(key)}; allowed: since, tail, host, follow`,
      );
    }
  }
  return query;
}

type Line = LogEntry & { host: string };

function byTime(a: Line, b: Line): number {
  return a.time < b.time
    ? -1
    : a.time > b.time
    ? 1
    : a.host < b.host
    ? -1
    : a.host > b.host
    ? 1
    : 0;
}

const encoder = new TextEncoder();

/**
 * Wraps control's API handler: `GET /v1/apps/:name/logs` (token checked by
 * `checkToken`) goes to the logs endpoint, everything else to `api`.
 */
export function withLogs(
  api: (req: Request) => Promise<Response>,
  deps: LogsDeps & { checkToken: (header: string | null) => boolean },
): (req: Request) => Promise<Response> {
  const logs = createLogsHandler(deps);
  return async (req) => {
    const url = new URL(req.url);
    const match = ROUTE.exec(url.pathname);
    if (!match) return await api(req);
    const refused = await refuseWithoutToken(req, deps.checkToken);
    if (refused) return refused;
    return await logs(req, url, match[1]);
  };
}

/** The logs endpoint: `(req, url, raw app name from the path)`. */
export function createLogsHandler(
  deps: LogsDeps,
): (req: Request, url: URL, rawName: string) => Promise<Response> {
  const timeoutMs = deps.timeoutMs ?? 4000;
  const pollMs = deps.pollMs ?? 1000;
  const keepAliveMs = deps.keepAliveMs ?? 15_000;
  const hostsRefreshMs = deps.hostsRefreshMs ?? 5000;
  const maxFollowers = deps.maxFollowers ?? 32;
  let followers = 0;

  async function prepare(req: Request, url: URL, rawName: string) {
    if (req.method !== "GET") {
      throw new HttpError(405, "method not allowed; use GET", { allow: "GET" });
    }
    let name: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      throw new HttpError(400, `invalid app name ${brief(rawName)}: not valid percent-encoding`);
    }
    if (!isAppName(name)) {
      throw new HttpError(400, `invalid name ${brief(name)}: must be a lower-case DNS label`);
    }
    const query = parseLogsQuery(url.searchParams);
    await deps.store.get(name); // 404 for an unknown app
    if (!deps.brokerReady()) throw new BrokerUnavailableError("message broker unavailable");
    const live = await deps.store.liveHosts(15_000);
    if (query.host !== undefined && !live.includes(query.host)) {
      throw new HttpError(404, `host ${query.host} not found (not running, or unknown)`);
    }
    if (query.follow && followers >= maxFollowers) {
      throw new HttpError(503, "too many logs followed at once, try again later", {
        "retry-after": "5",
      });
    }
    return { name, query, live };
  }

  return async (req, url, rawName) => {
    let prepared;
    try {
      prepared = await prepare(req, url, rawName);
    } catch (e) {
      await req.body?.cancel().catch(() => {});
      if (e instanceof HttpError) return json(e.status, { error: e.message }, e.headers);
      if (e instanceof AppNotFoundError) return json(404, { error: e.message });
      if (e instanceof RedisUnavailableError) {
        return json(503, { error: "state store unavailable, try again" });
      }
      if (e instanceof BrokerUnavailableError) return json(503, { error: e.message });
      deps.log.error("logs request failed", { error: errorMessage(e) });
      return json(500, { error: "internal error" });
    }
    const { name, query, live } = prepared;
    if (query.follow) followers++;
    deps.streams?.inc();
    let closed = false;
    let wake: (() => void) | null = null;
    const close = () => {
      closed = true;
      wake?.();
    };
    req.signal.addEventListener("abort", close, { once: true });
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let lastWrite = Date.now();
    const write = (objects: unknown[]) => {
      if (closed || objects.length === 0) return;
      controller.enqueue(encoder.encode(objects.map((o) => JSON.stringify(o)).join("\n") + "\n"));
      lastWrite = Date.now();
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
      });
    /** Waits while the client reads slower than lines come. */
    const drained = async () => {
      while (!closed && (controller.desiredSize ?? 1) <= 0) await sleep(50);
    };

    const run = async () => {
      const started = Date.now();
      const followFrom = Math.max(started, query.since ?? 0);
      const cursors = new Map<string, string>();
      const silent = new Set<string>();
      let hosts = query.host !== undefined ? [query.host] : live;
      const only = query.host !== undefined ? [query.host] : undefined;

      /** One round: asks `asking` (with their cursors), notes who did not answer. */
      const round = async (asking: readonly string[], request: LogsRequest) => {
        const after: Record<string, string> = {};
        for (const host of asking) {
          const cursor = cursors.get(host);
          if (cursor !== undefined) after[host] = cursor;
        }
        const replies = await deps.rpc.call(
          name,
          { ...request, ...(only ? { hosts: only } : {}), after },
          asking,
          timeoutMs,
        );
        const answered = new Set(replies.map((r) => r.host));
        const notes: unknown[] = [];
        for (const host of asking) {
          if (!answered.has(host) && !silent.has(host)) {
            silent.add(host);
            notes.push({ warning: `${host} did not answer` });
          } else if (answered.has(host) && silent.delete(host)) {
            notes.push({ warning: `${host} answers again` });
          }
        }
        write(notes);
        for (const reply of replies) {
          const last = reply.lines.at(-1);
          if (last) cursors.set(reply.host, last.time);
        }
        return replies;
      };

      // History: page while any host has more, holding lines back until every
      // host still paging is past them, so the output is in time order.
      if (query.tail !== 0) {
        let pending: Line[] = [];
        let asking: readonly string[] = hosts;
        let first = true;
        while (!closed && asking.length > 0) {
          await drained();
          const replies = await round(
            asking,
            first ? { since: query.since, tail: query.tail } : { since: query.since },
          );
          first = false;
          for (const reply of replies) {
            for (const line of reply.lines) pending.push({ host: reply.host, ...line });
          }
          const more = replies.filter((r) => r.truncated && r.lines.length > 0).map((r) => r.host);
          let until: string | undefined;
          for (const host of more) {
            const cursor = cursors.get(host)!;
            if (until === undefined || cursor < until) until = cursor;
          }
          pending.sort(byTime);
          const ready = until === undefined ? pending : pending.filter((l) => l.time <= until);
          pending = until === undefined ? [] : pending.filter((l) => l.time > until);
          write(ready);
          asking = more;
        }
      }
      if (!query.follow) return;

      // Follow: from each host's last line, or from the start of this request.
      let hostsReadAt = Date.now();
      while (!closed) {
        if (only === undefined && Date.now() - hostsReadAt >= hostsRefreshMs) {
          hosts = await deps.store.liveHosts(15_000).catch(() => hosts);
          hostsReadAt = Date.now();
        }
        await drained();
        if (closed) break;
        const replies = await round(hosts, { since: followFrom });
        const lines: Line[] = [];
        for (const reply of replies) {
          for (const line of reply.lines) lines.push({ host: reply.host, ...line });
        }
        write(lines.sort(byTime));
        if (replies.some((r) => r.truncated)) continue;
        if (Date.now() - lastWrite >= keepAliveMs && !closed) {
          controller.enqueue(encoder.encode("\n"));
          lastWrite = Date.now();
        }
        await sleep(pollMs);
      }
    };

    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
        run().catch((e) => {
          const error = e instanceof BrokerUnavailableError || e instanceof RedisUnavailableError
            ? errorMessage(e)
            : "internal error";
          if (!(e instanceof BrokerUnavailableError)) {
            deps.log.error("logs stream failed", { app: name, error: errorMessage(e) });
          }
          write([{ error }]);
        }).finally(() => {
          if (query.follow) followers--;
          deps.streams?.dec();
          req.signal.removeEventListener("abort", close);
          if (!closed) {
            closed = true;
            try {
              controller.close();
            } catch {
              // already cancelled
            }
          }
        });
      },
      cancel() {
        close();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        "content-type": "application/x-ndjson; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  };
}
