import { join } from 'node:path';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { tempDir } from '@ostrom/test-fixtures';
import { expect, it, onTestFinished } from 'vitest';
import { AdoptionWriter } from '../src/adoptions.js';

const SI = 'aaaabbbbccccddddeeeeffffgq';

async function sqliteDb(): Promise<LeaseDb> {
  const db = await openLeaseDb({ dialect: 'sqlite', path: join(await tempDir(), 'lease.db') });
  onTestFinished(() => db.close());
  return db;
}

/** Counts the transactions `db` runs. */
function countTransactions(db: LeaseDb): { count: number } {
  const seen = { count: 0 };
  const transaction = db.transaction.bind(db);
  db.transaction = (fn) => {
    seen.count++;
    return transaction(fn);
  };
  return seen;
}

const share = (shnum: number) => ({
  storageIndex: SI,
  shnum,
  sharetype: 'immutable' as const,
  usedBytes: 10 + shnum,
});
const event = (shnum: number) => ({
  kind: 'share-adopted' as const,
  actor: 'crawler',
  storageIndex: SI,
  shnum,
});

it('adoptions asked for together commit in one transaction, each with its event', async () => {
  const db = await sqliteDb();
  const transactions = countTransactions(db);
  const writer = new AdoptionWriter(db);
  await Promise.all(
    Array.from({ length: 40 }, (_, shnum) => writer.adopt(share(shnum), event(shnum))),
  );
  expect(transactions.count).toBe(1);
  expect((await db.listShares(SI)).map((s) => [s.shnum, s.state, s.usedBytes])).toEqual(
    Array.from({ length: 40 }, (_, shnum) => [shnum, 'stable', 10 + shnum]),
  );
  expect(await db.listEvents({ kinds: ['share-adopted'] })).toHaveLength(40);
});

it('one adoption that fails fails alone: its neighbours in the batch are still written', async () => {
  const db = await sqliteDb();
  await db.adoptShare(share(1)); // already known: adopting it again is refused
  const writer = new AdoptionWriter(db);
  const results = await Promise.allSettled([0, 1, 2].map((n) => writer.adopt(share(n), event(n))));
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((await db.listShares(SI)).map((s) => s.shnum)).toEqual([0, 1, 2]);
  // The refused adoption's event is not written; the others' are, once each.
  expect((await db.listEvents({ kinds: ['share-adopted'] })).map((e) => e.shnum)).toEqual([0, 2]);
});

it('adoptions asked for while a batch commits go into the next one', async () => {
  const db = await sqliteDb();
  const transactions = countTransactions(db);
  const writer = new AdoptionWriter(db);
  const first = writer.adopt(share(0), event(0));
  await first;
  await Promise.all([1, 2, 3].map((n) => writer.adopt(share(n), event(n))));
  expect(transactions.count).toBe(2);
  expect(await db.listShares(SI)).toHaveLength(4);
});
