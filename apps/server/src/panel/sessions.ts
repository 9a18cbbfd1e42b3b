import { randomBytes } from 'node:crypto';

/** A logged-in operator. */
export interface PanelSession {
  readonly id: string;
  /** The name given at login: the actor of every action taken in this session. */
  readonly operator: string;
  /** Carried by every form of the session's pages; a POST without it is refused. */
  readonly csrf: string;
  /** The login's hard end (Unix seconds), however busy the session is. */
  readonly expiresAt: number;
  /** The last request the session made (Unix seconds): an idle session ends sooner. */
  lastUsedAt: number;
  /** A message for the next page shown (after an action's redirect). */
  flash?: { readonly error: boolean; readonly text: string };
  /**
   * An invitation just issued and its code, for the next invitations page: the code is shown
   * there once and dropped (the node keeps only its secret's hash).
   */
  issued?: { readonly id: number; readonly code: string } | undefined;
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'ostrom_panel';

/** How long a login lasts at most (seconds). */
export const SESSION_SECONDS = 12 * 3600;

/**
 * How long a session lasts without a request (seconds): a panel left open on a laptop that was
 * walked away from stops being a way in after an hour, while a working operator is not logged
 * out every hour.
 */
export const SESSION_IDLE_SECONDS = 3600;

/**
 * Sessions past this many drop the least recently used: a loop of logins cannot grow the map
 * forever, nor push out the operator who is working.
 */
export const MAX_SESSIONS = 1000;

/**
 * The panel's sessions, in memory: a restart logs everyone out, which on a node operated by a
 * few people costs one login, and no session secret ever lands on disk.
 */
export class PanelSessions {
  readonly #sessions = new Map<string, PanelSession>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  create(operator: string): PanelSession {
    const now = this.#now();
    const session: PanelSession = {
      id: randomBytes(32).toString('base64url'),
      operator,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: now + SESSION_SECONDS,
      lastUsedAt: now,
    };
    this.#sessions.set(session.id, session);
    if (this.#sessions.size > MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    return session;
  }

  /** The live session a request's cookie names, or undefined; finding it counts as using it. */
  find(cookieHeader: string | undefined): PanelSession | undefined {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const now = this.#now();
    // Ended: past its hard end, or idle for the whole idle limit (either boundary included).
    if (session.expiresAt <= now || session.lastUsedAt + SESSION_IDLE_SECONDS <= now) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastUsedAt = now;
    // The map's order is the eviction order: moving a used session to the end keeps it last.
    this.#sessions.delete(id);
    this.#sessions.set(id, session);
    return session;
  }

  /** How many sessions are held (ended ones included until a request finds them). */
  get size(): number {
    return this.#sessions.size;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
