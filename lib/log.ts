/**
 * Structured JSON logs, one object a line on stderr, buffered so logging never
 * blocks the hot path on a slow terminal.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

/** A logger bound to a service name and a minimum level. */
export class Logger {
  #pending: string[] = [];
  #scheduled = false;

  /** Creates a logger for `service` writing records at or above `level`. */
  constructor(readonly service: string, readonly level: LogLevel = "info") {}

  /** Writes a debug record. */
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write("debug", msg, fields);
  }

  /** Writes an info record. */
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write("info", msg, fields);
  }

  /** Writes a warning record. */
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write("warn", msg, fields);
  }

  /** Writes an error record. */
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write("error", msg, fields);
  }

  /** Writes a record of `level` when it is at or above the logger's level. */
  write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.level]) return;
    const record = { time: new Date().toISOString(), level, service: this.service, msg, ...fields };
    this.#pending.push(JSON.stringify(record, errorReplacer));
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes buffered records now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("\n") + "\n";
    this.#pending = [];
    try {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(Deno.stderr.writeSync(bytes));
    } catch {
      // stderr closed: nothing left to tell
    }
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

/** Message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
