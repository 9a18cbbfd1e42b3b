import { randomBytes } from 'node:crypto';

/** A logged-in operator. */
export interface PanelSession {
  readonly id: string;
  /** The name given at login: the actor of every action taken in this session. */
  readonly operator: string;
  /** Carried by every form of the session's pages; a POST without it is refused. */
  readonly csrf: string;
  readonly expiresAt: number;
  /** A message for the next page shown (after an action's redirect). */
  flash?: { readonly error: boolean; readonly text: string };
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'ostrom_panel';

/** How long a login lasts (Unix seconds). */
export const SESSION_SECONDS = 12 * 3600;

/** Sessions past this many drop the oldest: a loop of logins cannot grow the map forever. */
const MAX_SESSIONS = 1000;

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
    const session: PanelSession = {
      id: randomBytes(32).toString('base64url'),
      operator,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: this.#now() + SESSION_SECONDS,
    };
    this.#sessions.set(session.id, session);
    if (this.#sessions.size > MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    return session;
  }

  /** The live session a request's cookie names, or undefined. */
  find(cookieHeader: string | undefined): PanelSession | undefined {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
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
