import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ShareSet } from '@ostrom/backend';
import type { CrawlerCycle, CrawlerState, LeaseDb } from '@ostrom/leasedb';
import { type Counters, countersFrom, emptyCounters } from './counters.js';
import { type DeletionHold, deletionHold, drainDeletionQueue } from './deletion.js';
import {
  type CrawlerOptions,
  DEFAULT_DELETION_GRACE_SECONDS,
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
  /**
   * Which process crawls (one per database, see {@link AccountingCrawler}): the holder of the
   * claim and until when it runs unless renewed; `live` false once it has lapsed (its holder
   * stopped renewing it). Null when no process holds it.
   */
  readonly claim: {
    readonly holder: string;
    readonly claimedAt: number;
    readonly expiresAt: number;
    readonly live: boolean;
  } | null;
  /** Deletion held after a restore of the database: until when, and why; null when not held. */
  readonly deletionHold: DeletionHold | null;
}

/** `runOnce()` found the crawler's claim held by another live process. */
export class CrawlerClaimedError extends Error {
  override readonly name = 'CrawlerClaimedError';
  /** The process holding the claim. */
  readonly holder: string;
  /** Unix seconds: when its claim lapses unless renewed. */
  readonly expiresAt: number;

  constructor(crawler: string, holder: string, expiresAt: number, lost = false) {
    super(
      `${lost ? 'lost the claim on' : 'cannot run'} the ${crawler} crawler: process ${holder} ${lost ? 'took it' : 'holds it'} (until ${new Date(expiresAt * 1000).toISOString()} unless it renews it; it does while it crawls); one process crawls a database at a time`,
    );
    this.holder = holder;
    this.expiresAt = expiresAt;
  }
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

/**
 * The crawler's status from its saved state: works in any process sharing the database. The
 * deletion hold is computed with `deletionGraceSeconds` (default 14 days, as the crawler's).
 */
export async function readCrawlerStatus(
  leaseDb: LeaseDb,
  options: { name?: string; now?: number; deletionGraceSeconds?: number } = {},
): Promise<CrawlerStatus> {
  const name = options.name ?? 'accounting';
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const grace = options.deletionGraceSeconds ?? DEFAULT_DELETION_GRACE_SECONDS;
  const [state, history, claim, hold] = await Promise.all([
    leaseDb.getCrawlerState(name),
    leaseDb.listCrawlerCycles(name),
    leaseDb.getCrawlerClaim(name),
    deletionHold(leaseDb, grace, now),
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
    claim: claim
      ? {
          holder: claim.holder,
          claimedAt: claim.claimedAt,
          expiresAt: claim.expiresAt,
          live: claim.expiresAt > now,
        }
      : null,
    deletionHold: hold,
  };
}

/**
 * Paces background work: after each `sliceMs` of work it rests long enough that work takes
 * `allowedFraction` of the time (Tahoe's crawlers: 10%). The rest is taken through `wait`, which
 * keeps the crawler's claim while it lasts; false when the claim was lost or `signal` says stop.
 */
class Pacer {
  readonly #clock: PacingClock;
  readonly #options: ResolvedCrawlerOptions;
  readonly #wait: (ms: number) => Promise<boolean>;
  #busySince: number;

  constructor(options: ResolvedCrawlerOptions, wait: (ms: number) => Promise<boolean>) {
    this.#options = options;
    this.#clock = options.clock;
    this.#wait = wait;
    this.#busySince = this.#clock.monotonicMs();
  }

  /** Rests if a slice is used up; false once `signal` says stop or the claim is lost. */
  async rest(signal: AbortSignal): Promise<boolean> {
    const busy = this.#clock.monotonicMs() - this.#busySince;
    if (busy >= this.#options.sliceMs) {
      const f = this.#options.allowedFraction;
      const kept = await this.#wait((busy * (1 - f)) / f);
      this.#busySince = this.#clock.monotonicMs();
      if (!kept) return false;
    }
    return !signal.aborted;
  }
}

/** How a cycle runs: in the background (paced, stoppable) or at once (`runOnce`). */
interface CycleRun {
  readonly restart: boolean;
  readonly signal: AbortSignal;
  /** Between prefixes and deletion batches; false: stop here (stopped, or the claim lost). */
  readonly rest: () => Promise<boolean>;
  /** No rest between prefixes (runOnce): the next prefix's shares are listed ahead. */
  readonly unpaced?: boolean;
  readonly onProgress?: (progress: CrawlerProgress) => void;
}

/**
 * The AccountingCrawler (docs/ARCHITECTURE.md, "Crawler"): walks the 1,024 prefixes in order, settling each
 * prefix's differences between the backend and the lease database, then drives expiry and the
 * deletion queue and checks the usage totals against a recount. Its position and counters are
 * saved after every prefix, so after a crash or restart it continues from the next prefix.
 *
 * One crawler runs per database: server processes sharing one elect it by a claim in the
 * database (`LeaseDb.claimCrawler`), taken under `processId`, lasting `claimTtlSeconds` unless
 * renewed. The background crawl works only while it holds the claim, renewing it with every
 * prefix it saves (in the same transaction: a process that lost it saves nothing), every
 * deletion batch and while it waits between cycles; without it, it waits and asks again every
 * third of the time-to-live. So when the holder stops (`stop()` gives the claim up) or dies (its
 * claim lapses), another process takes over from the saved position.
 *
 * @example
 * const crawler = new AccountingCrawler({ leaseDb, backend, exclusive: (si, fn) => accountant.exclusive(si, fn), processId });
 * crawler.start();               // paced, in the background, cycle after cycle, while elected
 * await crawler.stop();
 * await crawler.runOnce();       // or one whole cycle as fast as possible (CLI, rebuilds)
 */
export class AccountingCrawler {
  readonly #options: ResolvedCrawlerOptions;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #lastError: unknown;
  #holding = false;

  constructor(options: CrawlerOptions) {
    this.#options = resolveCrawlerOptions(options);
  }

  /** The id under which this crawler claims the database. */
  get processId(): string {
    return this.#options.processId;
  }

  /** Whether the background crawl is on (crawling, or waiting for its turn). */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** Whether this crawler held the claim when it last asked (it crawls only then). */
  get holding(): boolean {
    return this.#holding;
  }

  /** The last error a background cycle stopped on (it retries after `retrySeconds`). */
  get lastError(): unknown {
    return this.#lastError;
  }

  status(): Promise<CrawlerStatus> {
    return readCrawlerStatus(this.#options.leaseDb, {
      name: this.#options.name,
      now: this.#options.now(),
      deletionGraceSeconds: this.#options.deletionGraceSeconds,
    });
  }

  /** Crawls in the background, paced, from where the last run stopped, until `stop()`. */
  start(): void {
    if (this.#loop) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = this.#background(abort.signal);
  }

  /**
   * Stops the background crawl after the prefix in hand (its position is saved) and gives the
   * claim up, so that another process takes over at once rather than when it lapses.
   */
  async stop(): Promise<void> {
    if (!this.#loop) return;
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
    this.#abort = undefined;
    this.#holding = false;
    // Failing to give it up costs only time: the claim lapses by itself.
    await this.#release().catch(() => undefined);
  }

  /**
   * One whole cycle, unpaced, from the first prefix (a cycle in progress starts over): for tests,
   * the CLI and rebuilds. Not while the background crawl runs. It takes the claim for the cycle
   * and gives it up after; CrawlerClaimedError, naming the holder, when another live process
   * holds it (or takes it meanwhile, having found this one silent past the time-to-live).
   */
  async runOnce(
    options: { onProgress?: (progress: CrawlerProgress) => void } = {},
  ): Promise<CycleReport> {
    if (this.#loop) throw new Error('the crawler is running in the background; stop it first');
    if (!(await this.#claim())) throw await this.#claimedError(false);
    try {
      const report = await this.#cycle({
        restart: true,
        signal: new AbortController().signal,
        // Each prefix's save renews the claim, and each deletion batch (see #cycle).
        rest: async () => true,
        unpaced: true,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      if (!report) throw await this.#claimedError(true);
      return report;
    } finally {
      await this.#release().catch(() => undefined);
    }
  }

  /** Every third of the time-to-live, in ms: how often a held claim is renewed while waiting. */
  get #renewMs(): number {
    return Math.floor((this.#options.claimTtlSeconds * 1000) / 3);
  }

  /** Takes or renews the claim; whether this crawler holds it now. */
  async #claim(): Promise<boolean> {
    const o = this.#options;
    this.#holding = await o.leaseDb.claimCrawler(o.name, o.processId, o.claimTtlSeconds);
    return this.#holding;
  }

  async #release(): Promise<void> {
    const o = this.#options;
    await o.leaseDb.releaseCrawler(o.name, o.processId);
  }

  async #claimedError(lost: boolean): Promise<Error> {
    const o = this.#options;
    const claim = await o.leaseDb.getCrawlerClaim(o.name);
    if (!claim || claim.holder === o.processId) {
      // Given up between the two reads: rare, and worth no more than a retry.
      return new Error(`the ${o.name} crawler's claim changed hands while it was taken; try again`);
    }
    return new CrawlerClaimedError(o.name, claim.holder, claim.expiresAt, lost);
  }

  /**
   * Waits `ms` while keeping the claim: in steps of at most a third of its time-to-live, each
   * followed by a renewal. False when stopped or when the claim was lost (another process found
   * this one silent past the time-to-live and took over).
   */
  async #hold(ms: number, signal: AbortSignal): Promise<boolean> {
    const { clock } = this.#options;
    let left = ms;
    while (left > 0) {
      const step = Math.min(left, this.#renewMs);
      await clock.sleep(step, signal);
      if (signal.aborted) return false;
      left -= step;
      if (!(await this.#claim())) return false;
    }
    return !signal.aborted;
  }

  async #background(signal: AbortSignal): Promise<void> {
    const { clock } = this.#options;
    // A restart does not begin a cycle sooner than the minimum cycle after the last one began.
    let restarted = true;
    while (!signal.aborted) {
      try {
        if (!(await this.#claim())) {
          // Another process crawls: ask again when its claim could have lapsed.
          await clock.sleep(this.#renewMs, signal);
          continue;
        }
        if (restarted) {
          restarted = false;
          const waitMs = await this.#minCycleLeftMs();
          if (waitMs > 0 && !(await this.#hold(waitMs, signal))) continue;
        }
        const startedMs = clock.monotonicMs();
        const pacer = new Pacer(this.#options, (ms) => this.#hold(ms, signal));
        const report = await this.#cycle({
          restart: false,
          signal,
          rest: () => pacer.rest(signal),
        });
        this.#lastError = undefined;
        // Stopped (the loop ends), or the claim lost (the loop waits for it again).
        if (!report) continue;
        const minMs = this.#options.minCycleSeconds * 1000;
        const spent = clock.monotonicMs() - startedMs;
        if (spent < minMs) await this.#hold(minMs - spent, signal);
      } catch (error) {
        this.#lastError = error;
        // A stop aborting the cycle is no failure.
        if (!signal.aborted) this.#options.onCycleError(error);
        await clock.sleep(this.#options.retrySeconds * 1000, signal);
      }
    }
  }

  /**
   * How long until a new cycle may begin: the minimum cycle after the last finished one began,
   * when no cycle is under way (one under way goes on at once: it resumes where it stopped).
   */
  async #minCycleLeftMs(): Promise<number> {
    const o = this.#options;
    const state = await o.leaseDb.getCrawlerState(o.name);
    if (state?.cycleStartedAt != null) return 0;
    const [last] = await o.leaseDb.listCrawlerCycles(o.name);
    if (!last) return 0;
    return Math.max(0, (last.startedAt + o.minCycleSeconds - o.now()) * 1000);
  }

  /**
   * Saves the crawler's state if it still holds the claim, renewing it, in one transaction: a
   * crawler that lost the claim must not move the position of the one that took it. False when
   * the claim was lost.
   */
  async #save(state: Omit<CrawlerState, 'updatedAt'>, finished?: CycleReport): Promise<boolean> {
    const o = this.#options;
    const kept = await o.leaseDb.transaction(async (tx) => {
      if (!(await tx.claimCrawler(o.name, o.processId, o.claimTtlSeconds))) return false;
      if (finished) await tx.recordCrawlerCycle(o.name, finished, o.historyLength);
      await tx.saveCrawlerState(state);
      return true;
    });
    this.#holding = kept;
    return kept;
  }

  /** Runs (the rest of) a cycle; undefined when `signal` stopped it or the claim was lost. */
  async #cycle(run: CycleRun): Promise<CycleReport | undefined> {
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
      if (!(await this.#save(state))) return undefined;
    }

    // Unpaced, the next prefix's shares are listed while this one is settled: the listing waits on
    // the store, the settling mostly on the event loop (a rebuild of 200,000 shares went from
    // 4.3–5.1x the bare listing to 3.8–4.1x). Paced, a listing made a rest earlier would only be
    // staler. Either way each difference is looked at again under its lock before it is settled.
    let listedAhead: Promise<ShareSet[]> | undefined;
    for (let index = nextPrefixIndex(state.position); index < PREFIXES.length; index++) {
      if (run.signal.aborted) return undefined;
      const prefix = PREFIXES[index]!;
      const listing = listedAhead ?? o.backend.listShareSets(prefix);
      listedAhead = undefined;
      const following = PREFIXES[index + 1];
      if (run.unpaced && following !== undefined) {
        listedAhead = o.backend.listShareSets(following);
        // Awaited at its turn; a cycle that stops first leaves it, and its failure, unread.
        listedAhead.catch(() => undefined);
      }
      await reconcilePrefix(o, prefix, liveProcesses(o), counters, listing);
      state = { ...state, position: prefix, counters: { ...counters } };
      if (!(await this.#save(state))) return undefined;
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

    let kept = true;
    await drainDeletionQueue(o, counters, async () => {
      kept = (await this.#claim()) && (await run.rest());
      return kept;
    });
    if (run.signal.aborted || !kept) return undefined;
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
    const next = {
      name: o.name,
      cycle: state.cycle + 1,
      position: null,
      cycleStartedAt: null,
      counters: {},
    };
    if (!(await this.#save(next, report))) return undefined;
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
