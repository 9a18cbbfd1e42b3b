import type { EventInput } from '@ostrom/leasedb';
import { AccountantError } from './errors.js';

/**
 * Why a write was refused: the account's hard quota, its status (frozen, disabled, deleted,
 * pending), or the accounting mode (the anonymous account in mode `required`).
 */
export const REFUSAL_REASONS = ['quota', 'status', 'mode'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The writes whose refusals are recorded, as their `write-refused` events name them. */
export type RefusedWrite = 'allocate' | 'write' | 'mutable-write' | 'lease';

/**
 * At most one `write-refused` event per account and reason in this many seconds: a client
 * retrying a refused upload in a loop must not fill the activity log.
 */
export const REFUSAL_EVENT_WINDOW_SECONDS = 60;

/**
 * Accounts (times reasons) whose last event the limiter remembers at most; past it the oldest
 * are forgotten (their next refusal writes an event at once, its suppressed count lost).
 */
export const MAX_REFUSAL_LIMITER_ENTRIES = 10_000;

interface LimiterEntry {
  /** When the last event of this account and reason was written (or tried). */
  writtenAt: number;
  /** Refusals counted but not written since then. */
  suppressed: number;
}

export interface RefusalRecorderOptions {
  readonly now: () => number;
  /** Called for each event written: a closure that reads the database then sees a test's stand-in. */
  readonly appendEvent: (event: EventInput) => Promise<void>;
}

/**
 * Counts the refused writes by reason (every one, for the metric) and records them as
 * `write-refused` events, rate-limited per account and reason. Recording is bookkeeping: it never
 * throws, and a refusal stays the same whether its event was written or not.
 */
export class RefusalRecorder {
  readonly #options: RefusalRecorderOptions;
  readonly #counts: Record<RefusalReason, number> = { quota: 0, status: 0, mode: 0 };
  /** In insertion order, which is the order of `writtenAt` (each write re-inserts its entry). */
  readonly #limiter = new Map<string, LimiterEntry>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(options: RefusalRecorderOptions) {
    this.#options = options;
  }

  counts(): Readonly<Record<RefusalReason, number>> {
    return Object.freeze({ ...this.#counts });
  }

  /**
   * Counts `error` when it refuses a write (QUOTA_EXCEEDED; FORBIDDEN for the status or the
   * mode) and appends its event unless the window's was written; other errors are ignored.
   * `bytes` is what the write asked for, when the caller knows it (a quota refusal's own figure
   * wins). Awaits the database once at most.
   */
  async record(
    error: unknown,
    accountId: number,
    write: RefusedWrite,
    bytes?: number,
  ): Promise<void> {
    try {
      const refusal = refusalOf(error);
      if (refusal === undefined) return;
      this.#counts[refusal.reason]++;
      const now = this.#options.now();
      const key = `${refusal.reason}:${accountId}`;
      const suppressed = this.#admit(key, now);
      if (suppressed === undefined) return;
      const requested = refusal.requestedBytes ?? bytes;
      try {
        await this.#options.appendEvent({
          kind: 'write-refused',
          accountId,
          actor: null,
          at: now,
          data: {
            reason: refusal.reason,
            operation: write,
            ...(refusal.status === undefined ? {} : { status: refusal.status }),
            ...(requested === undefined ? {} : { bytes: requested }),
            ...(suppressed > 0 ? { suppressed } : {}),
          },
        });
      } catch {
        // Not written: this refusal and those it stood for are still unwritten, for the next
        // event to carry (the window restarts all the same, so a database away is not hammered).
        const entry = this.#limiter.get(key);
        if (entry) entry.suppressed += suppressed + 1;
      }
    } catch {
      // Bookkeeping only: the caller throws its refusal whatever happened here.
    }
  }

  /**
   * Whether an event may be written now for this key: the refusals suppressed since the last one
   * when it may, undefined (and one more suppressed) when the window's event was written.
   */
  #admit(key: string, now: number): number | undefined {
    const entry = this.#limiter.get(key);
    if (entry && now - entry.writtenAt < REFUSAL_EVENT_WINDOW_SECONDS) {
      entry.suppressed++;
      return undefined;
    }
    this.#limiter.delete(key);
    this.#limiter.set(key, { writtenAt: now, suppressed: 0 });
    this.#forgetOld(now);
    return entry?.suppressed ?? 0;
  }

  /**
   * Keeps the limiter's memory bounded: once a window, entries whose window is over and that owe
   * no suppressed count are dropped (the next refusal of theirs writes an event anyway); past
   * the cap, the oldest go whatever they owe.
   */
  #forgetOld(now: number): void {
    if (now - this.#sweptAt >= REFUSAL_EVENT_WINDOW_SECONDS) {
      this.#sweptAt = now;
      for (const [key, entry] of this.#limiter) {
        if (now - entry.writtenAt < REFUSAL_EVENT_WINDOW_SECONDS) break;
        if (entry.suppressed === 0) this.#limiter.delete(key);
      }
    }
    for (const key of this.#limiter.keys()) {
      if (this.#limiter.size <= MAX_REFUSAL_LIMITER_ENTRIES) break;
      this.#limiter.delete(key);
    }
  }
}

/** What a refusal of a write says about itself; undefined for any other error. */
function refusalOf(
  error: unknown,
): { reason: RefusalReason; status?: string; requestedBytes?: number } | undefined {
  if (!(error instanceof AccountantError)) return undefined;
  const { details } = error;
  if (error.code === 'QUOTA_EXCEEDED') {
    const requested = details.requestedBytes;
    return typeof requested === 'number'
      ? { reason: 'quota', requestedBytes: requested }
      : { reason: 'quota' };
  }
  if (error.code !== 'FORBIDDEN') return undefined;
  // `Core.authorize` names the mode only when the mode refused, whatever the status.
  if (details.mode !== undefined) return { reason: 'mode' };
  return typeof details.status === 'string'
    ? { reason: 'status', status: details.status }
    : { reason: 'status' };
}
