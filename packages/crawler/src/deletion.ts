import { deleteOwnerRecords } from '@ostrom/backend';
import type { Counters } from './counters.js';
import type { ResolvedCrawlerOptions } from './options.js';

/** With deletion off, how many candidates are counted at most. */
const REPORT_LIMIT = 100_000;

/**
 * The deletion queue: STABLE shares without a lease whose last lease expired more than the grace
 * period ago go STABLE → GOING → (backend delete) → NONE, a batch at a time with `rest()`
 * between batches. A failed delete returns the share to STABLE; it is tried again next cycle.
 * With deletion off the candidates are only counted (up to 100,000).
 */
export async function drainDeletionQueue(
  options: ResolvedCrawlerOptions,
  counters: Counters,
  rest: () => Promise<boolean>,
): Promise<void> {
  const { leaseDb: db, backend } = options;
  const cutoff = options.now() - options.deletionGraceSeconds;
  if (!options.deleteUnleased) {
    counters.unleased = (
      await db.listUnleasedShares({ leaseExpiredBefore: cutoff, limit: REPORT_LIMIT })
    ).length;
    return;
  }
  const skipped = new Set<string>(); // failed or no longer candidates: not again this cycle
  for (;;) {
    const page = await db.listUnleasedShares({
      leaseExpiredBefore: cutoff,
      limit: options.deletionBatchSize + skipped.size,
    });
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
        await db.markGoing(storageIndex, shnum);
        try {
          await backend.deleteShare(storageIndex, shnum);
        } catch {
          await db.returnToStable(storageIndex, shnum);
          skipped.add(key);
          counters.deleteFailures++;
          return;
        }
        await db.removeGoing(storageIndex, shnum, { actor: 'crawler' });
        if (options.stateKey) {
          await deleteOwnerRecords(backend, storageIndex, [shnum]).catch(() => undefined);
        }
        counters.deleted++;
      });
    }
    if (!(await rest())) return;
  }
}
