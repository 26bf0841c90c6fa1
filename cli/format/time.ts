/**
 * Human-readable times: relative times with moment.js's `fromNow` thresholds
 * (`a few seconds ago`, `a minute ago`, `5 minutes ago`, `an hour ago`,
 * `a day ago`, `3 days ago`, `a month ago`, `a year ago`) and elapsed
 * durations in the style of `docker ps` (`3 seconds`, `2 minutes`,
 * `an hour`). Pure functions: the current time is always passed in.
 *
 * @module
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Milliseconds since the epoch of `time`, or NaN when it is empty or invalid. */
export function toMillis(time: Date | string | number): number {
  if (time instanceof Date) return time.getTime();
  if (typeof time === "number") return time;
  if (time === "") return NaN;
  return Date.parse(time);
}

/**
 * How long ago `then` was, as moment.js's `fromNow()` words it (English
 * locale, default thresholds). Times in the future (clock skew between hosts)
 * count as now. Returns "" for a missing or invalid time.
 *
 * | elapsed (rounded)      | text                |
 * | ---------------------- | ------------------- |
 * | 0–44 s                 | a few seconds ago   |
 * | 45–89 s                | a minute ago        |
 * | 2–44 min               | N minutes ago       |
 * | 45–89 min              | an hour ago         |
 * | 2–21 h                 | N hours ago         |
 * | 22–35 h                | a day ago           |
 * | 2–25 days              | N days ago          |
 * | 26–45 days             | a month ago         |
 * | 2–10 months            | N months ago        |
 * | 11–17 months           | a year ago          |
 * | beyond                 | N years ago         |
 *
 * @example
 * ```ts
 * relativeTime("2024-01-01T00:00:00Z", new Date("2024-01-01T00:05:00Z")); // "5 minutes ago"
 * ```
 */
export function relativeTime(then: Date | string | number, now: Date | number): string {
  const from = toMillis(then);
  if (Number.isNaN(from)) return "";
  const ms = Math.max(0, toMillis(now) - from);
  return `${fromNowWords(ms)} ago`;
}

function fromNowWords(ms: number): string {
  const seconds = Math.round(ms / SECOND);
  const minutes = Math.round(ms / MINUTE);
  const hours = Math.round(ms / HOUR);
  const days = Math.round(ms / DAY);
  // moment converts days to months with the 400-year Gregorian average.
  const monthsExact = (ms / DAY) * 4800 / 146097;
  const months = Math.round(monthsExact);
  const years = Math.round(monthsExact / 12);
  if (seconds <= 44) return "a few seconds";
  if (minutes <= 1) return "a minute";
  if (minutes < 45) return `${minutes} minutes`;
  if (hours <= 1) return "an hour";
  if (hours < 22) return `${hours} hours`;
  if (days <= 1) return "a day";
  if (days < 26) return `${days} days`;
  if (months <= 1) return "a month";
  if (months < 11) return `${months} months`;
  if (years <= 1) return "a year";
  return `${years} years`;
}

/**
 * An elapsed time as `docker ps` words it, lower-case and without "About":
 * `less than a second`, `1 second`, `12 seconds`, `a minute`, `5 minutes`,
 * `an hour`, `3 hours`, `4 days`, `3 weeks`, `5 months`, `2 years`.
 * Negative durations count as zero.
 *
 * @example
 * ```ts
 * humanDuration(12_000); // "12 seconds"
 * ```
 */
export function humanDuration(ms: number): string {
  const d = Math.max(0, ms);
  const seconds = Math.floor(d / SECOND);
  if (seconds < 1) return "less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(d / MINUTE);
  if (minutes === 1) return "a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(d / HOUR + 0.5);
  if (hours === 1) return "an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** The facts about a container that its status text is made from. */
export interface ContainerState {
  /** Docker state: `created`, `running`, `paused`, `restarting`, `exited`, `dead`, `removing`. */
  state: string;
  /** Exit code of the last run. */
  exitCode: number;
  /** ISO time the container last started, or "". */
  startedAt: string;
  /** ISO time the container last stopped, or "". */
  finishedAt: string;
  /** True when the kernel killed its last run for memory. */
  oomKilled?: boolean;
}

/**
 * A container's status in the seed's words: `up 12 seconds`,
 * `exited (0) 15 seconds ago`, `restarting (1) 3 seconds ago`, `created`;
 * when the kernel killed its last run for memory, that comes first:
 * `OOM killed, up 3 seconds`, `OOM killed, restarting`, `OOM killed 5 seconds ago`.
 *
 * @example
 * ```ts
 * containerStatus(
 *   { state: "exited", exitCode: 0, startedAt: "", finishedAt: "2024-01-01T00:00:00Z" },
 *   new Date("2024-01-01T00:00:15Z"),
 * ); // "exited (0) 15 seconds ago"
 * ```
 */
export function containerStatus(c: ContainerState, now: Date | number): string {
  const since = (time: string) => {
    const t = toMillis(time);
    return Number.isNaN(t) || t <= 0 ? undefined : humanDuration(toMillis(now) - t);
  };
  if (c.oomKilled) {
    // The engine restarts it (unless-stopped): say why it ended, first, so the cut keeps it.
    if (c.state === "running") return `OOM killed, up ${since(c.startedAt) ?? "again"}`;
    if (c.state === "restarting") return "OOM killed, restarting";
    const ago = since(c.finishedAt);
    if (c.state === "exited") return ago === undefined ? "OOM killed" : `OOM killed ${ago} ago`;
  }
  switch (c.state) {
    case "running":
    case "paused": {
      const up = since(c.startedAt);
      const text = up === undefined ? "up" : `up ${up}`;
      return c.state === "paused" ? `${text} (paused)` : text;
    }
    case "restarting":
    case "exited": {
      const ago = since(c.finishedAt);
      const text = `${c.state} (${c.exitCode})`;
      return ago === undefined ? text : `${text} ${ago} ago`;
    }
    case "removing":
      return "removal in progress";
    default:
      return c.state;
  }
}
