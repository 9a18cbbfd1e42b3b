import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ShareBackend } from '@ostrom/backend';
import { assertProcessId, type LeaseDb, MAX_CLAIM_TTL_SECONDS } from '@ostrom/leasedb';

/** Time for pacing: a monotonic clock in milliseconds and a sleep that `signal` cuts short. */
export interface PacingClock {
  monotonicMs(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface CrawlerOptions {
  readonly leaseDb: LeaseDb;
  readonly backend: ShareBackend;
  /**
   * Runs `fn` as the only writer of a storage index. Pass the Accountant's `exclusive` so the
   * crawler and the storage service take turns; the default takes the lease database's
   * cross-process lock only (enough when no storage service runs in this process).
   */
  readonly exclusive?: <T>(storageIndex: string, fn: () => Promise<T>) => Promise<T>;
  /** The node's state key, to read the owner records beside the shares; none: not read. */
  readonly stateKey?: Uint8Array | null;
  /** Name of the crawler's saved state, history and claim (default `accounting`). */
  readonly name?: string;
  /**
   * This process's id among those sharing the database (a server passes its `[cluster]` process
   * id): the crawler crawls only while it holds its claim in the database under this id, so one
   * process crawls at a time. Default: an id made up for this crawler (host, pid, random).
   */
  readonly processId?: string;
  /**
   * How long the claim lasts unless renewed (default 300 s). The crawler renews it with every
   * prefix saved and every deletion batch, and every third of it while it waits; a process that
   * stops renewing (crashed, hung) loses it this long after its last renewal. It must exceed the
   * longest prefix and the clock skew between the processes.
   */
  readonly claimTtlSeconds?: number;
  /** Delete STABLE shares left without a lease (default true); false reports them only. */
  readonly deleteUnleased?: boolean;
  /** How long after its last lease expired an unleased share is deleted (default 14 days). */
  readonly deletionGraceSeconds?: number;
  /** Shares deleted per batch, between pauses (default 100). */
  readonly deletionBatchSize?: number;
  /** Share of wall time the background crawl may use (default 0.1, as Tahoe's crawlers). */
  readonly allowedFraction?: number;
  /** Work done between pauses, in ms (default 1000). */
  readonly sliceMs?: number;
  /** A background cycle takes at least this long; the rest is waited out (default 1 hour). */
  readonly minCycleSeconds?: number;
  /** How long after a failed step the background crawl tries again (default 60 s). */
  readonly retrySeconds?: number;
  /**
   * Told each failure of a background cycle (the store or the database away), before the wait of
   * `retrySeconds`; `lastError` keeps the last one. A server logs it.
   */
  readonly onCycleError?: (error: unknown) => void;
  /** A server process not heard from for this long is dead, its uploads too (default 180). */
  readonly processTimeoutSeconds?: number;
  /** Finished cycles kept in the history (default 10). */
  readonly historyLength?: number;
  /** Unix seconds (inject a clock in tests). */
  readonly now?: () => number;
  /** Monotonic time and sleeping, for pacing (inject in tests: no real sleeps). */
  readonly clock?: PacingClock;
}

export type ResolvedCrawlerOptions = Required<Omit<CrawlerOptions, 'stateKey'>> & {
  readonly stateKey: Uint8Array | null;
};

const DAY = 86_400;

/** How long after its last lease expired an unleased share is deleted, by default. */
export const DEFAULT_DELETION_GRACE_SECONDS = 14 * DAY;

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}`);
  }
  return resolved;
}

const systemClock: PacingClock = {
  monotonicMs: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** A process id for a crawler not given one: unique to it, readable in a status. */
function madeUpProcessId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 40) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Checks every option at once, so a misconfigured node fails at start-up. */
export function resolveCrawlerOptions(options: CrawlerOptions): ResolvedCrawlerOptions {
  if (!options?.leaseDb) throw new TypeError('leaseDb is required');
  if (!options.backend) throw new TypeError('backend is required');
  const name = options.name ?? 'accounting';
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(name)) {
    throw new TypeError('name must be 1–64 characters of a-z, 0-9 and -, starting with a letter');
  }
  const stateKey = options.stateKey ?? null;
  if (stateKey !== null && !(stateKey instanceof Uint8Array && stateKey.length === 32)) {
    throw new TypeError('stateKey must be 32 bytes');
  }
  const allowedFraction = options.allowedFraction ?? 0.1;
  if (!(allowedFraction > 0 && allowedFraction <= 1)) {
    throw new RangeError('allowedFraction must be in (0, 1]');
  }
  if (options.deleteUnleased !== undefined && typeof options.deleteUnleased !== 'boolean') {
    throw new TypeError('deleteUnleased must be a boolean');
  }
  if (options.processId !== undefined) {
    try {
      assertProcessId(options.processId);
    } catch {
      throw new TypeError(
        'processId must be 1–64 characters of A-Z, a-z, 0-9, ".", "_" and "-" (a [cluster] process id)',
      );
    }
  }
  const claimTtlSeconds = integer('claimTtlSeconds', options.claimTtlSeconds, 300, 3);
  if (claimTtlSeconds > MAX_CLAIM_TTL_SECONDS) {
    throw new RangeError(`claimTtlSeconds must be at most ${MAX_CLAIM_TTL_SECONDS}`);
  }
  const leaseDb = options.leaseDb;
  return {
    leaseDb,
    backend: options.backend,
    exclusive:
      options.exclusive ?? ((storageIndex, fn) => leaseDb.withStorageIndexLock(storageIndex, fn)),
    stateKey,
    name,
    processId: options.processId ?? madeUpProcessId(),
    claimTtlSeconds,
    deleteUnleased: options.deleteUnleased ?? true,
    deletionGraceSeconds: integer(
      'deletionGraceSeconds',
      options.deletionGraceSeconds,
      DEFAULT_DELETION_GRACE_SECONDS,
      0,
    ),
    deletionBatchSize: integer('deletionBatchSize', options.deletionBatchSize, 100, 1),
    allowedFraction,
    sliceMs: integer('sliceMs', options.sliceMs, 1000, 1),
    minCycleSeconds: integer('minCycleSeconds', options.minCycleSeconds, 3600, 0),
    retrySeconds: integer('retrySeconds', options.retrySeconds, 60, 1),
    onCycleError: options.onCycleError ?? (() => undefined),
    processTimeoutSeconds: integer('processTimeoutSeconds', options.processTimeoutSeconds, 180, 1),
    historyLength: integer('historyLength', options.historyLength, 10, 1),
    now: options.now ?? (() => Math.floor(Date.now() / 1000)),
    clock: options.clock ?? systemClock,
  };
}
