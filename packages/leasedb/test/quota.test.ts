import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { LeaseDb } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, publicKey, storageIndex } from './setup.js';

describeEachDialect('hard quota', (dialect) => {
  it('an allocation past the hard quota is QUOTA_EXCEEDED and writes nothing', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({
      publicKey: publicKey(1),
      nickname: 'alice',
      hardQuotaBytes: 1000,
    });
    const allocate = (seed: number, usedBytes: number) =>
      db.addComingShares({
        storageIndex: storageIndex(seed),
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [
          { shnum: 0, usedBytes },
          { shnum: 1, usedBytes },
        ],
      });
    await allocate(1, 400);
    let error: unknown;
    try {
      await allocate(2, 101);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { accountId: alice.id, usedBytes: 800, requestedBytes: 202, hardQuotaBytes: 1000 },
    });
    expect(await db.listShares(storageIndex(2))).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 800 });
    // Exactly up to the limit is allowed.
    await allocate(3, 100);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 4, bytes: 1000 });
    // enforceQuota: false is for the server's own bookkeeping (e.g. re-adding after a restore).
    await db.addComingShares({
      storageIndex: storageIndex(4),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 1 }],
      enforceQuota: false,
    });
    // Once over its quota, an account can allocate no byte more.
    expect(await outcome(allocate(5, 1))).toBe('QUOTA_EXCEEDED');
  });

  it('an allocation of zero bytes passes even for an account already over its quota', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await db.addComingShares({
      storageIndex: storageIndex(1),
      sharetype: 'mutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 500 }],
    });
    await db.setAccountQuota(alice.id, { hardQuotaBytes: 100, softQuotaBytes: null });
    const empty = await db.addComingShares({
      storageIndex: storageIndex(2),
      sharetype: 'mutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 0 }],
    });
    expect(empty.map((s) => s.usedBytes)).toEqual([0]);
    expect(
      await outcome(
        db.addComingShares({
          storageIndex: storageIndex(3),
          sharetype: 'mutable',
          accountId: alice.id,
          shares: [{ shnum: 0, usedBytes: 1 }],
        }),
      ),
    ).toBe('QUOTA_EXCEEDED');
  });

  it('concurrent allocations never take an account past its hard quota', async () => {
    // On PostgreSQL each writer is its own pool, i.e. its own connections, as several server
    // processes would be; on SQLite one process serialises writers through its one connection.
    const writers = dialect.name === 'postgres' ? 3 : 1;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 500, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 4, maxLength: 16 }),
        async (quota, sizes) => {
          const { open } = await dialect.location();
          const dbs: LeaseDb[] = [];
          for (let i = 0; i < writers; i++) dbs.push(await open());
          const alice = await dbs[0]!.createAccount({
            publicKey: publicKey(1),
            nickname: 'alice',
            hardQuotaBytes: quota,
          });
          const results = await Promise.all(
            sizes.map((usedBytes, i) =>
              outcome(
                dbs[i % writers]!.addComingShares({
                  storageIndex: storageIndex(100 + i),
                  sharetype: 'immutable',
                  accountId: alice.id,
                  shares: [{ shnum: 0, usedBytes }],
                }),
              ),
            ),
          );
          expect(results.every((r) => r === 'resolved' || r === 'QUOTA_EXCEEDED')).toBe(true);
          const granted = sizes
            .filter((_, i) => results[i] === 'resolved')
            .reduce((a, b) => a + b, 0);
          const usage = await dbs[0]!.getAccountUsage(alice.id);
          expect(usage?.bytes).toBe(granted);
          expect(granted).toBeLessThanOrEqual(quota);
          // A refusal is only right if that request really did not fit at its turn.
          const smallestRefused = Math.min(
            ...sizes.filter((_, i) => results[i] === 'QUOTA_EXCEEDED'),
          );
          if (Number.isFinite(smallestRefused))
            expect(granted + smallestRefused).toBeGreaterThan(quota - 1500);
          expect(await dbs[0]!.checkUsage()).toEqual([]);
          for (const db of dbs) await db.close();
        },
      ),
      { numRuns: dialect.name === 'postgres' ? 12 : 25 },
    );
  });
});
