import { expect, it } from 'vitest';
import { MAX_CLAIM_TTL_SECONDS } from '../src/index.js';
import { describeEachDialect, manualClock } from './setup.js';

describeEachDialect('crawler claims', (dialect) => {
  it('a free claim is taken; its holder renews it; another holder gets it only once it has expired', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    expect(await db.getCrawlerClaim('accounting')).toBeUndefined();
    expect(await db.claimCrawler('accounting', 'node-a', 60)).toBe(true);
    expect(await db.getCrawlerClaim('accounting')).toEqual({
      name: 'accounting',
      holder: 'node-a',
      claimedAt: 1_000,
      renewedAt: 1_000,
      expiresAt: 1_060,
    });

    clock.advance(30);
    expect(await db.claimCrawler('accounting', 'node-b', 60)).toBe(false);
    expect(await db.claimCrawler('accounting', 'node-a', 60)).toBe(true); // renewed
    expect(await db.getCrawlerClaim('accounting')).toMatchObject({
      holder: 'node-a',
      claimedAt: 1_000,
      renewedAt: 1_030,
      expiresAt: 1_090,
    });

    clock.advance(59); // one second before it lapses
    expect(await db.claimCrawler('accounting', 'node-b', 60)).toBe(false);
    clock.advance(1); // node-a stopped renewing (crashed): the claim has lapsed
    expect(await db.claimCrawler('accounting', 'node-b', 120)).toBe(true);
    expect(await db.getCrawlerClaim('accounting')).toEqual({
      name: 'accounting',
      holder: 'node-b',
      claimedAt: 1_090,
      renewedAt: 1_090,
      expiresAt: 1_210,
    });
    expect(await db.claimCrawler('accounting', 'node-a', 60)).toBe(false);
    // Each crawler name has a claim of its own.
    expect(await db.claimCrawler('other', 'node-a', 60)).toBe(true);
  });

  it('release gives the claim up for its holder only', async () => {
    const clock = manualClock(5_000);
    const db = await dialect.open({ now: clock.now });
    await db.claimCrawler('accounting', 'node-a', 300);
    expect(await db.releaseCrawler('accounting', 'node-b')).toBe(false);
    expect((await db.getCrawlerClaim('accounting'))?.holder).toBe('node-a');
    expect(await db.releaseCrawler('accounting', 'node-a')).toBe(true);
    expect(await db.releaseCrawler('accounting', 'node-a')).toBe(false);
    expect(await db.getCrawlerClaim('accounting')).toBeUndefined();
    expect(await db.claimCrawler('accounting', 'node-b', 300)).toBe(true);
  });

  it('of many processes racing for a free claim, exactly one wins', async () => {
    const clock = manualClock(10_000);
    const location = await dialect.location();
    // PostgreSQL: three pools, as three processes. SQLite: one connection, since connections of
    // one process wait for each other's write lock by blocking its event loop (processes
    // serialise at BEGIN IMMEDIATE instead).
    const dbs = [await location.open({ now: clock.now })];
    if (dialect.name === 'postgres') {
      dbs.push(await location.open({ now: clock.now }), await location.open({ now: clock.now }));
    }
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          dbs[i % dbs.length]!.claimCrawler('accounting', `p-${round}-${i}`, 30),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = `p-${round}-${results.indexOf(true)}`;
      expect((await dbs[0]!.getCrawlerClaim('accounting'))?.holder).toBe(winner);
      clock.advance(30); // lapses: the next round races again
    }
  });

  it('refuses malformed names, holders and times-to-live before any statement', async () => {
    const db = await dialect.open();
    for (const name of ['', 'Accounting', 'a b', 'x'.repeat(65), 7]) {
      await expect(db.claimCrawler(name as string, 'node-a', 60)).rejects.toThrow(TypeError);
      await expect(db.releaseCrawler(name as string, 'node-a')).rejects.toThrow(TypeError);
      await expect(db.getCrawlerClaim(name as string)).rejects.toThrow(TypeError);
    }
    for (const holder of ['', 'a b', 'x'.repeat(65), 'é', null]) {
      await expect(db.claimCrawler('accounting', holder as string, 60)).rejects.toThrow(TypeError);
      await expect(db.releaseCrawler('accounting', holder as string)).rejects.toThrow(TypeError);
    }
    for (const ttl of [1.5, Number.NaN, '60']) {
      await expect(db.claimCrawler('accounting', 'node-a', ttl as number)).rejects.toThrow(
        TypeError,
      );
    }
    for (const ttl of [0, -1, MAX_CLAIM_TTL_SECONDS + 1]) {
      await expect(db.claimCrawler('accounting', 'node-a', ttl)).rejects.toThrow(RangeError);
    }
    expect(await db.getCrawlerClaim('accounting')).toBeUndefined();
  });

  it('a claim taken inside a transaction is rolled back with it', async () => {
    const db = await dialect.open();
    await expect(
      db.transaction(async (tx) => {
        expect(await tx.claimCrawler('accounting', 'node-a', 60)).toBe(true);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await db.getCrawlerClaim('accounting')).toBeUndefined();
  });
});

describeEachDialect('restores', (dialect) => {
  it('recordRestore keeps the restore, drops every crawler claim and logs it; the latest wins', async () => {
    const clock = manualClock(2_000);
    const db = await dialect.open({ now: clock.now });
    expect(await db.getLastRestore()).toBeUndefined();
    await db.claimCrawler('accounting', 'node-a', 600);
    const first = await db.recordRestore({
      reason: 'restore',
      backup: 'leasedb/backup-000000001900.sqlite.gz',
      backupCreatedAt: 1_900,
      actor: 'operator',
    });
    expect(first).toEqual({
      at: 2_000,
      reason: 'restore',
      backup: 'leasedb/backup-000000001900.sqlite.gz',
      backupCreatedAt: 1_900,
      actor: 'operator',
    });
    expect(await db.getLastRestore()).toEqual(first);
    expect(await db.getCrawlerClaim('accounting')).toBeUndefined();
    expect(await db.listEvents({ kinds: ['database-restored'] })).toMatchObject([
      {
        at: 2_000,
        actor: 'operator',
        data: { reason: 'restore', backup: 'leasedb/backup-000000001900.sqlite.gz' },
      },
    ]);

    clock.advance(100);
    await db.recordRestore({ reason: 'missing', backup: null });
    await db.recordRestore({ reason: 'damaged', backup: null, at: 1_000 }); // an older time
    expect(await db.getLastRestore()).toEqual({
      at: 2_100,
      reason: 'missing',
      backup: null,
      backupCreatedAt: null,
      actor: null,
    });
  });

  it('refuses malformed restores before any statement', async () => {
    const db = await dialect.open();
    const bad: unknown[] = [
      null,
      { reason: '', backup: null },
      { reason: 'Restore', backup: null },
      { reason: 'restore', backup: '' },
      { reason: 'restore', backup: 7 },
      { reason: 'restore', backup: null, backupCreatedAt: 5 },
      { reason: 'restore', backup: 'b', backupCreatedAt: -1 },
      { reason: 'restore', backup: null, at: 1.5 },
      { reason: 'restore', backup: null, actor: 'x'.repeat(201) },
    ];
    for (const input of bad) {
      await expect(db.recordRestore(input as never)).rejects.toThrow(/must|without|restore is/);
    }
    expect(await db.getLastRestore()).toBeUndefined();
  });
});
