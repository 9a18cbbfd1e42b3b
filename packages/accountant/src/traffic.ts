import type { TrafficCounts, TrafficRow } from '@ostrom/leasedb';

const HOUR = 3600;

/**
 * (account, hour) pairs whose counts the meter holds at most between two flushes. A flush every
 * minute holds a few per active account; the bound matters while the database is away, when
 * counts pile up: past it, counts for a pair not held are dropped (and added to
 * {@link TrafficMeter.dropped}) while pairs already held go on counting. 10,000 entries take a
 * couple of MB.
 */
export const MAX_TRAFFIC_ENTRIES = 10_000;

export interface TrafficMeterOptions {
  /** Unix seconds: the hour a count belongs to is the hour of this clock when it is counted. */
  readonly now: () => number;
  /** Adds a batch to the lease database (`LeaseDb.addTraffic`): all of it, or it throws and none. */
  readonly write: (rows: readonly TrafficRow[]) => Promise<void>;
  /** Default {@link MAX_TRAFFIC_ENTRIES}. */
  readonly maxEntries?: number;
}

interface Entry {
  readonly accountId: number;
  readonly hour: number;
  uploads: number;
  reads: number;
  bytesIn: number;
  bytesOut: number;
}

const COUNTERS = ['uploads', 'reads', 'bytesIn', 'bytesOut'] as const;

/**
 * Counts the traffic of each account per hour in memory, for `flush` to add to the lease
 * database. The Account facet counts each operation once it is answered (a refused or failed
 * one counts nothing), share data only, never HTTP framing (README, "Traffic"):
 *
 * - `uploads`: immutable shares completed (the chunk that completes one), and mutable
 *   read-test-writes whose tests passed and that changed a share;
 * - `reads`: read requests answered (`readShare`, `openShareRead`, a read-test-write with a
 *   read vector);
 * - `bytesIn`: share data accepted (chunks written, write vectors applied);
 * - `bytesOut`: share data returned (by a stream, as its pieces are handed out).
 *
 * A flush takes off only what it wrote, so a failed one loses nothing and what is counted
 * meanwhile waits for the next; flushes take turns, so none writes what another wrote.
 */
export class TrafficMeter {
  readonly #options: TrafficMeterOptions;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  readonly #dropped: Record<keyof TrafficCounts, number> = {
    uploads: 0,
    reads: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  /** The last flush, settled or not: the next one starts after it. */
  #flushing: Promise<unknown> = Promise.resolve();

  constructor(options: TrafficMeterOptions) {
    this.#options = options;
    this.#maxEntries = options.maxEntries ?? MAX_TRAFFIC_ENTRIES;
  }

  /** (account, hour) pairs held, written by the next flush. */
  get entries(): number {
    return this.#entries.size;
  }

  /** Counts dropped since the meter was made, for want of room for their (account, hour). */
  dropped(): Readonly<TrafficCounts> {
    return Object.freeze({ ...this.#dropped });
  }

  /** Adds `counts` (non-negative integers) to the account's traffic of the current hour. */
  count(accountId: number, counts: Partial<TrafficCounts>): void {
    if (COUNTERS.every((counter) => !counts[counter])) return;
    const hour = Math.floor(this.#options.now() / HOUR) * HOUR;
    const key = `${accountId}/${hour}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      if (this.#entries.size >= this.#maxEntries) {
        for (const counter of COUNTERS) this.#dropped[counter] += counts[counter] ?? 0;
        return;
      }
      entry = { accountId, hour, uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0 };
      this.#entries.set(key, entry);
    }
    for (const counter of COUNTERS) entry[counter] += counts[counter] ?? 0;
  }

  /**
   * Adds everything counted so far to the database in one batch and returns how many rows it
   * held. When the write fails (the database away) this throws its error and keeps the counts,
   * to go with the next flush. Flushes take turns: each takes what is held when its turn comes.
   */
  flush(): Promise<number> {
    const turn = this.#flushing.then(() => this.#flushNow());
    this.#flushing = turn.catch(() => undefined);
    return turn;
  }

  async #flushNow(): Promise<number> {
    // A copy: counts keep arriving while the batch is written, into the same entries.
    const batch: TrafficRow[] = [...this.#entries.values()].map((entry) => ({ ...entry }));
    if (batch.length === 0) return 0;
    await this.#options.write(batch);
    // Only what was written comes off. Flushes take turns and nothing else removes an entry, so
    // each written one is still there.
    for (const written of batch) {
      const key = `${written.accountId}/${written.hour}`;
      const entry = this.#entries.get(key);
      if (!entry) continue;
      for (const counter of COUNTERS) entry[counter] -= written[counter];
      if (COUNTERS.every((counter) => entry[counter] === 0)) this.#entries.delete(key);
    }
    return batch.length;
  }
}
