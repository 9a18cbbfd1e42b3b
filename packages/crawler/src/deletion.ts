import { deleteOwnerRecords } from '@ostrom/backend';
import { type LeaseDb, LeaseDbError } from '@ostrom/leasedb';
import type { Counters } from './counters.js';
import type { ResolvedCrawlerOptions } from './options.js';

/** With deletion off, how many candidates are counted at most. */
const REPORT_LIMIT = 100_000;

/** Deletion held after a restore of the database: until when, and which restore. */
export interface DeletionHold {
  /** Unix seconds: no share is deleted before this time (see {@link deletionHoldSeconds}). */
  readonly until: number;
  readonly restoredAt: number;
  /** Why the database was restored (`restore`, `rebuild`, `missing`, `damaged`...). */
  readonly reason: string;
  /** The backup restored; null: the database started empty. */
  readonly backup: string | null;
}

/**
 * How long deletion is held after a restore: a lease renewed just before the database was lost
 * runs for a whole lease duration, and its share then has the deletion grace like any other;
 * holding for less would delete shares their clients had renewed.
 */
export function deletionHoldSeconds(leaseDurationSeconds: number, deletionGraceSeconds: number) {
  return leaseDurationSeconds + deletionGraceSeconds;
}

/**
 * Whether deletion is held at `now`, after the latest restore of the database
 * (`LeaseDb.recordRestore`): a restored database does not know the leases renewed after its
 * backup (nor, started empty, any lease), so a share it shows unleased may have been renewed.
 * Null when not held.
 */
export async function deletionHold(
  leaseDb: LeaseDb,
  deletionGraceSeconds: number,
  now: number,
): Promise<DeletionHold | null> {
  const restore = await leaseDb.getLastRestore();
  if (!restore) return null;
  const until =
    restore.at + deletionHoldSeconds(leaseDb.policy.leaseDurationSeconds, deletionGraceSeconds);
  if (until <= now) return null;
  return { until, restoredAt: restore.at, reason: restore.reason, backup: restore.backup };
}

/**
 * The deletion queue: STABLE shares without a lease whose last lease expired more than the grace
 * period ago go STABLE → GOING → (backend delete) → NONE, a batch at a time with `rest()`
 * between batches (false: stop). A failed delete returns the share to STABLE; it is tried again
 * next cycle. With deletion off, or held after a restore (see {@link deletionHold}), the
 * candidates are only counted (up to 100,000).
 */
export async function drainDeletionQueue(
  options: ResolvedCrawlerOptions,
  counters: Counters,
  rest: () => Promise<boolean>,
): Promise<void> {
  const { leaseDb: db, backend } = options;
  const now = options.now();
  const cutoff = now - options.deletionGraceSeconds;
  if (!options.deleteUnleased || (await deletionHold(db, options.deletionGraceSeconds, now))) {
    counters.unleased = (
      await db.listUnleasedShares({ leaseExpiredBefore: cutoff, limit: REPORT_LIMIT })
    ).length;
    return;
  }
  const skipped = new Set<string>(); // failed or no longer candidates: not again this cycle
  for (;;) {
    // Each page skips those passed over this cycle; once they are too many to skip in one read
    // (a store refusing every delete), the rest waits for the next cycle.
    const limit = options.deletionBatchSize + skipped.size;
    if (limit > REPORT_LIMIT) return;
    const page = await db.listUnleasedShares({ leaseExpiredBefore: cutoff, limit });
    const batch = page
      .filter((share) => !skipped.has(`${share.storageIndex}/${share.shnum}`))
      .slice(0, options.deletionBatchSize);
    if (batch.length === 0) return;
    for (const { storageIndex, shnum } of batch) {
      const key = `${storageIndex}/${shnum}`;
      await options.exclusive(storageIndex, async () => {
        // Leased or changed since the page was read: not a candidate any more.
        const row = await db.getShare(storageIndex, shnum);
        if (row?.state !== 'stable' || (await db.listLeases(storageIndex, shnum)).length > 0) {
          skipped.add(key);
          return;
        }
        try {
          await db.markGoing(storageIndex, shnum);
        } catch (error) {
          // Leased or gone in between (a writer that does not take this lock): not a candidate.
          const lost =
            error instanceof LeaseDbError &&
            (error.code === 'SHARE_LEASED' || error.code === 'INVALID_STATE_TRANSITION');
          if (!lost) throw error;
          skipped.add(key);
          return;
        }
        try {
          await backend.deleteShare(storageIndex, shnum);
        } catch {
          await db.returnToStable(storageIndex, shnum);
          skipped.add(key);
          counters.deleteFailures++;
          return;
        }
        if (options.stateKey) {
          // A record the store would not remove keeps the GOING row, which the next cycle's
          // reconciliation finishes (record, then row) once the store answers.
          const forgotten = await deleteOwnerRecords(backend, storageIndex, [shnum]).then(
            () => true,
            () => false,
          );
          if (!forgotten) {
            skipped.add(key);
            return;
          }
        }
        await db.removeGoing(storageIndex, shnum, { actor: 'crawler' });
        counters.deleted++;
      });
    }
    if (!(await rest())) return;
  }
}
