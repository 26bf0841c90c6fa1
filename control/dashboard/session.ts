/**
 * Dashboard logins: sessions kept in control's memory (a restart logs
 * everyone out), each with a random id (the HttpOnly cookie) and a random
 * CSRF token (sent by the page in a header on every POST). Sessions last
 * `ttlMs` from login; at most `max` exist at once (the oldest goes first).
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** Name of the session cookie. */
export const SESSION_COOKIE = "dn_session";
/** Header the page sends the CSRF token in. */
export const CSRF_HEADER = "x-dn-csrf";
/** Shape of a session id and a CSRF token: 32 random bytes, base64url. */
const ID = /^[A-Za-z0-9_-]{43}$/;

/** One login. */
export interface Session {
  /** Cookie value. */
  id: string;
  /** Token the page must send in {@link CSRF_HEADER}. */
  csrf: string;
  /** When the session ends, ms since the epoch. */
  expires: number;
}

/** Why a request has no session. */
export type SessionProblem = "missing" | "malformed" | "expired";

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Compares two strings in time independent of their content. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * The value of cookie `name` in a `Cookie` header; undefined when absent,
 * null when given more than once (ambiguous: refused).
 */
export function cookieValue(header: string | null, name: string): string | undefined | null {
  let found: string | undefined;
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return null;
    found = part.slice(eq + 1).trim();
  }
  return found;
}

/** The logins of this control process. */
export class Sessions {
  readonly #sessions = new Map<string, Session>();

  /** Sessions last `ttlMs`; at most `max` at once; `now` is the clock (for tests). */
  constructor(
    readonly ttlMs: number,
    readonly max = 1000,
    readonly now: () => number = Date.now,
  ) {}

  /** Starts a session. */
  create(): Session {
    const now = this.now();
    for (const [id, session] of this.#sessions) {
      if (session.expires <= now) this.#sessions.delete(id);
    }
    while (this.#sessions.size >= this.max) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const session = { id: randomId(), csrf: randomId(), expires: now + this.ttlMs };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The session a `Cookie` header names, or why there is none. */
  fromCookie(header: string | null): Session | SessionProblem {
    const id = cookieValue(header, SESSION_COOKIE);
    if (id === undefined) return "missing";
    if (id === null || !ID.test(id)) return "malformed";
    const session = this.#sessions.get(id);
    if (!session || session.expires <= this.now()) {
      this.#sessions.delete(id);
      return "expired";
    }
    return session;
  }

  /** True when `header` holds the session's CSRF token. */
  checkCsrf(session: Session, header: string | null): boolean {
    return header !== null && ID.test(header) && sameSecret(header, session.csrf);
  }

  /** Ends a session. */
  end(session: Session): void {
    this.#sessions.delete(session.id);
  }

  /** Number of sessions held (expired ones may be among them until the next login). */
  get size(): number {
    return this.#sessions.size;
  }
}
