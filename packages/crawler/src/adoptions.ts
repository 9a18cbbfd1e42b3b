import type { AdoptShareInput, EventInput, LeaseDb } from '@ostrom/leasedb';

/** At most this many adoptions share a transaction. */
const MAX_BATCH = 256;

interface Pending {
  readonly share: AdoptShareInput;
  readonly event: EventInput;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes adoptions in group commits: each caller waits (holding its storage index's lock) until
 * the transaction carrying its share and event has committed, and every adoption asked for
 * while one transaction runs goes into the next. One commit per share made a rebuild cost
 * milliseconds per share; this makes it one commit, and one statement per table, per batch while
 * keeping each share's adoption inside its lock.
 */
export class AdoptionWriter {
  readonly #db: LeaseDb;
  readonly #queue: Pending[] = [];
  #draining = false;

  constructor(db: LeaseDb) {
    this.#db = db;
  }

  /** Resolves once the share and its event are committed; rejects with that share's own error. */
  adopt(share: AdoptShareInput, event: EventInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ share, event, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        // After the I/O callbacks now due, so that the adoptions read in parallel share a batch.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.#write(batch);
        for (const pending of batch) pending.resolve();
      } catch {
        // One bad adoption must not fail its neighbours: each is tried alone, for its own error.
        for (const pending of batch) {
          await this.#write([pending]).then(pending.resolve, pending.reject);
        }
      }
    }
    this.#draining = false;
  }

  #write(batch: readonly Pending[]): Promise<void> {
    return this.#db.transaction(async (tx) => {
      await tx.adoptShares(batch.map(({ share }) => share));
      await tx.appendEvents(batch.map(({ event }) => event));
    });
  }
}
