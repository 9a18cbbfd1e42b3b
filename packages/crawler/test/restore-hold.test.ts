import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import { deletionHold, readCrawlerStatus } from '../src/index.js';
import { bytes, describeMatrix, makeWorld, storageIndex, upload, type World } from './setup.js';

// Deletion after a restore of the lease database: leases renewed after the backup are unknown to
// the restored database (and to one started empty, every lease), so for a lease duration and the
// deletion grace after the restore the crawler only reports the shares it would delete.

const DAY = 86_400;
const LEASE = 31 * DAY; // the lease database's default lease duration
const BACKUP = 'leasedb/backup-001799990000.sqlite.gz';

/** Two shares whose anonymous 31-day leases the first cycle 32 days later expires. */
async function expiredShares(world: World): Promise<[string, string]> {
  const a = storageIndex('hold-a');
  const b = storageIndex('hold-b');
  await upload(world, ANONYMOUS_ACCOUNT_ID, a, 0, bytes(100));
  await upload(world, ANONYMOUS_ACCOUNT_ID, b, 0, bytes(200));
  return [a, b];
}

describeMatrix('deletion held after a restore', (matrix) => {
  it('an unleased expired share is not deleted before the restore time + lease duration + grace, and is after', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await expiredShares(world);
    const crawler = world.crawler({ deletionGraceSeconds: 7 * DAY });
    world.clock.advance(32 * DAY);
    expect((await crawler.runOnce()).counters).toMatchObject({ expired: 2, deleted: 0 });
    const restoredAt = world.clock.now();
    await world.db.recordRestore({ reason: 'restore', backup: BACKUP, backupCreatedAt: 1 });

    // A lease renewed just before the loss would run 31 days from the restore, then have its
    // grace: half a day short of that, nothing goes.
    world.clock.advance(LEASE + 6.5 * DAY);
    const held = await crawler.runOnce();
    expect(held.counters).toMatchObject({ deleted: 0, unleased: 2 });
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.backend.listShares(a)).toHaveLength(1);
    const status = await crawler.status();
    expect(status.deletionHold).toEqual({
      until: restoredAt + LEASE + 7 * DAY,
      restoredAt,
      reason: 'restore',
      backup: BACKUP,
    });

    world.clock.advance(0.5 * DAY); // the hold ends
    expect((await crawler.status()).deletionHold).toBeNull();
    const released = await crawler.runOnce();
    expect(released.counters).toMatchObject({ deleted: 2, unleased: 0 });
    expect(await world.db.getShare(a, 0)).toBeUndefined();
    expect(await world.db.getShare(b, 0)).toBeUndefined();
    expect(await world.backend.listShares(b)).toEqual([]);
  });

  it('a share renewed after the restore stays; a restore from nothing holds deletion the same way', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await expiredShares(world);
    const crawler = world.crawler({ deletionGraceSeconds: 3 * DAY });
    world.clock.advance(40 * DAY);
    await world.db.recordRestore({ reason: 'missing', backup: null });
    expect((await crawler.runOnce()).counters).toMatchObject({ expired: 2, unleased: 2 });
    // Its client comes back within the hold and renews one of them.
    world.clock.advance(LEASE);
    await world.accountant.anonymous().addOrRenewLease(a, {
      renewSecret: new Uint8Array(32).fill(1),
      cancelSecret: new Uint8Array(32).fill(2),
    });
    world.clock.advance(3 * DAY);
    expect((await crawler.runOnce()).counters).toMatchObject({ deleted: 1 });
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.db.getShare(b, 0)).toBeUndefined();
  });

  it('the hold follows the grace the status is read with; none before any restore', async () => {
    const world = await makeWorld(matrix);
    expect(await deletionHold(world.db, 14 * DAY, world.clock.now())).toBeNull();
    await world.db.recordRestore({ reason: 'rebuild', backup: null });
    const at = world.clock.now();
    expect(
      (await readCrawlerStatus(world.db, { now: at + DAY, deletionGraceSeconds: 2 * DAY }))
        .deletionHold,
    ).toEqual({ until: at + LEASE + 2 * DAY, restoredAt: at, reason: 'rebuild', backup: null });
    // The default grace is the crawler's: 14 days.
    expect((await readCrawlerStatus(world.db, { now: at })).deletionHold?.until).toBe(
      at + LEASE + 14 * DAY,
    );
    expect(await deletionHold(world.db, 0, at + LEASE)).toBeNull();
  });
});
