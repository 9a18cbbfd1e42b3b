import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CrawlerCycle, CrawlerState, LeaseDb } from '@ostrom/leasedb';
import { type Counters, countersFrom, emptyCounters } from './counters.js';
import { drainDeletionQueue } from './deletion.js';
import {
  type CrawlerOptions,
  type PacingClock,
  type ResolvedCrawlerOptions,
  resolveCrawlerOptions,
} from './options.js';
import { nextPrefixIndex, PREFIXES } from './prefixes.js';
import { type LiveProcesses, reconcilePrefix } from './reconcile.js';

/** Where a crawler is, as the CLI and the admin API show it. */
export interface CrawlerStatus {
  readonly name: string;
  /** The cycle in progress (or next), counted from 1. */
  readonly cycle: number;
  /** Last prefix finished in this cycle; null before the first. */
  readonly position: string | null;
  readonly prefixesDone: number;
  readonly prefixesTotal: number;
  /** 0–100. */
  readonly percent: number;
  /** Unix seconds; null when no cycle is in progress. */
  readonly cycleStartedAt: number | null;
  /** Seconds left in this cycle at the pace so far (null until a prefix is done). */
  readonly etaSeconds: number | null;
  readonly counters: Counters;
  /** Finished cycles, newest first. */
  readonly history: readonly (CrawlerCycle & { readonly counters: Counters })[];
}

/** A finished cycle. */
export interface CycleReport {
  readonly cycle: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly counters: Counters;
}

/** Reported after each prefix of a cycle. */
export interface CrawlerProgress {
  readonly cycle: number;
  readonly prefixesDone: number;
  readonly prefixesTotal: number;
  readonly counters: Counters;
}

/** The crawler's status from its saved state: works in any process sharing the database. */
export async function readCrawlerStatus(
  leaseDb: LeaseDb,
  options: { name?: string; now?: number } = {},
): Promise<CrawlerStatus> {
  const name = options.name ?? 'accounting';
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const [state, history] = await Promise.all([
    leaseDb.getCrawlerState(name),
    leaseDb.listCrawlerCycles(name),
  ]);
  const prefixesDone = state?.cycleStartedAt == null ? 0 : nextPrefixIndex(state.position);
  const total = PREFIXES.length;
  const elapsed = state?.cycleStartedAt == null ? 0 : Math.max(0, now - state.cycleStartedAt);
  return {
    name,
    cycle: state?.cycle ?? 1,
    position: state?.position ?? null,
    prefixesDone,
    prefixesTotal: total,
    percent: Math.round((prefixesDone / total) * 1000) / 10,
    cycleStartedAt: state?.cycleStartedAt ?? null,
    etaSeconds:
      prefixesDone === 0 ? null : Math.round((elapsed * (total - prefixesDone)) / prefixesDone),
    counters: countersFrom(state?.counters ?? {}),
    history: history.map((cycle) => ({ ...cycle, counters: countersFrom(cycle.counters) })),
  };
}

/**
 * Paces background work: after each `sliceMs` of work it rests long enough that work takes
 * `allowedFraction` of the time (Tahoe's crawlers: 10%).
 */
class Pacer {
  readonly #clock: PacingClock;
  readonly #options: ResolvedCrawlerOptions;
  #busySince: number;

  constructor(options: ResolvedCrawlerOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#busySince = this.#clock.monotonicMs();
  }

  /** Rests if a slice is used up; false once `signal` says stop. */
  async rest(signal: AbortSignal): Promise<boolean> {
    const busy = this.#clock.monotonicMs() - this.#busySince;
    if (busy >= this.#options.sliceMs) {
      const f = this.#options.allowedFraction;
      await this.#clock.sleep((busy * (1 - f)) / f, signal);
      this.#busySince = this.#clock.monotonicMs();
    }
    return !signal.aborted;
  }
}

/**
 * The AccountingCrawler (DESIGN.md, "Crawler"): walks the 1,024 prefixes in order, settling each
 * prefix's differences between the backend and the lease database, then drives expiry and the
 * deletion queue and checks the usage totals against a recount. Its position and counters are
 * saved after every prefix, so after a crash or restart it continues from the next prefix.
 *
 * @example
 * const crawler = new AccountingCrawler({ leaseDb, backend, exclusive: (si, fn) => accountant.exclusive(si, fn) });
 * crawler.start();               // paced, in the background, cycle after cycle
 * await crawler.stop();
 * await crawler.runOnce();       // or one whole cycle as fast as possible (CLI, rebuilds)
 */
export class AccountingCrawler {
  readonly #options: ResolvedCrawlerOptions;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #lastError: unknown;

  constructor(options: CrawlerOptions) {
    this.#options = resolveCrawlerOptions(options);
  }

  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The last error a background cycle stopped on (it retries after `retrySeconds`). */
  get lastError(): unknown {
    return this.#lastError;
  }

  status(): Promise<CrawlerStatus> {
    return readCrawlerStatus(this.#options.leaseDb, {
      name: this.#options.name,
      now: this.#options.now(),
    });
  }

  /** Crawls in the background, paced, from where the last run stopped, until `stop()`. */
  start(): void {
    if (this.#loop) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = this.#background(abort.signal);
  }

  /** Stops the background crawl after the prefix in hand (its position is saved). */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
    this.#abort = undefined;
  }

  /**
   * One whole cycle, unpaced, from the first prefix (a cycle in progress starts over): for tests,
   * the CLI and rebuilds. Not while the background crawl runs.
   */
  async runOnce(
    options: { onProgress?: (progress: CrawlerProgress) => void } = {},
  ): Promise<CycleReport> {
    if (this.#loop) throw new Error('the crawler is running in the background; stop it first');
    const report = await this.#cycle({
      restart: true,
      signal: new AbortController().signal,
      rest: async () => true,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return report!;
  }

  async #background(signal: AbortSignal): Promise<void> {
    const { clock } = this.#options;
    while (!signal.aborted) {
      const startedMs = clock.monotonicMs();
      try {
        const pacer = new Pacer(this.#options);
        const report = await this.#cycle({
          restart: false,
          signal,
          rest: () => pacer.rest(signal),
        });
        this.#lastError = undefined;
        if (!report) return; // stopped
        const minMs = this.#options.minCycleSeconds * 1000;
        const spent = clock.monotonicMs() - startedMs;
        if (spent < minMs) await clock.sleep(minMs - spent, signal);
      } catch (error) {
        this.#lastError = error;
        await clock.sleep(this.#options.retrySeconds * 1000, signal);
      }
    }
  }

  /** Runs (the rest of) a cycle; undefined when `signal` stopped it first. */
  async #cycle(run: {
    restart: boolean;
    signal: AbortSignal;
    rest: () => Promise<boolean>;
    onProgress?: (progress: CrawlerProgress) => void;
  }): Promise<CycleReport | undefined> {
    const o = this.#options;
    const db = o.leaseDb;
    let state: Omit<CrawlerState, 'updatedAt'> = (await db.getCrawlerState(o.name)) ?? {
      name: o.name,
      cycle: 1,
      position: null,
      cycleStartedAt: null,
      counters: {},
    };
    if (run.restart) state = { ...state, position: null, cycleStartedAt: null, counters: {} };
    const counters = countersFrom(state.counters);
    if (state.cycleStartedAt === null) {
      // Expiry is one statement, not a crawl: the cycle only says when.
      const cycleStartedAt = o.now();
      Object.assign(counters, emptyCounters());
      counters.expired = (await db.expireLeases(cycleStartedAt)).length;
      state = { ...state, position: null, cycleStartedAt, counters: { ...counters } };
      await db.saveCrawlerState(state);
    }

    for (let index = nextPrefixIndex(state.position); index < PREFIXES.length; index++) {
      if (run.signal.aborted) return undefined;
      const prefix = PREFIXES[index]!;
      await reconcilePrefix(o, prefix, liveProcesses(o), counters);
      state = { ...state, position: prefix, counters: { ...counters } };
      await db.saveCrawlerState(state);
      run.onProgress?.({
        cycle: state.cycle,
        prefixesDone: index + 1,
        prefixesTotal: PREFIXES.length,
        counters: { ...counters },
      });
      if (!(await run.rest())) return undefined;
      // Let requests in between prefixes even when the store and the database answer without
      // real I/O (memory backend, SQLite): a cycle must never hold the event loop.
      await yieldToEventLoop();
    }

    await drainDeletionQueue(o, counters, run.rest);
    if (run.signal.aborted) return undefined;
    // The totals are kept in the same transactions as the writes; a difference is a bug, but
    // one that must not outlive a cycle.
    const mismatches = await db.checkUsage();
    if (mismatches.length > 0) {
      counters.usageCorrected = (await db.repairUsage({ actor: 'crawler' })).length;
    }
    const report: CycleReport = {
      cycle: state.cycle,
      startedAt: state.cycleStartedAt!,
      finishedAt: o.now(),
      counters: { ...counters },
    };
    await db.recordCrawlerCycle(o.name, report, o.historyLength);
    await db.saveCrawlerState({
      name: o.name,
      cycle: state.cycle + 1,
      position: null,
      cycleStartedAt: null,
      counters: {},
    });
    return report;
  }
}

/** Live server processes, read at most once (per prefix) and only when a COMING row asks. */
function liveProcesses(options: ResolvedCrawlerOptions): LiveProcesses {
  let cached: Promise<ReadonlySet<string>> | undefined;
  return () => {
    cached ??= options.leaseDb
      .listProcesses({ aliveSince: Math.max(0, options.now() - options.processTimeoutSeconds) })
      .then((processes) => new Set(processes.map((p) => p.id)));
    return cached;
  };
}
