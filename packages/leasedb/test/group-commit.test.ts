import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { expect, it, onTestFinished } from 'vitest';
import { type LeaseDb, openLeaseDb } from '../src/index.js';
import { WalFlusher } from '../src/wal-flush.js';
import { outcome } from './errors.js';
import { publicKey, storageIndex } from './setup.js';

// Group commit on SQLite: writes asked for together share one transaction, each in a savepoint,
// and each settles only after the COMMIT that covers it.

async function sqlite(
  options: {
    groupCommit?: boolean;
    busyTimeoutMs?: number;
    wrapWalFlush?: (flush: () => Promise<void>) => Promise<void>;
  } = {},
) {
  const path = join(await tempDir('group-commit-'), 'leasedb.sqlite');
  const commits: number[] = [];
  const db = await openLeaseDb({
    dialect: 'sqlite',
    path,
    now: () => 1_700_000_000,
    onCommit: (writes) => commits.push(writes),
    ...options,
  });
  onTestFinished(() => db.close());
  return { db, path, commits };
}

/** One 10-byte share of storage index `i` coming for the account. */
function addShare(db: LeaseDb, accountId: number, i: number) {
  return db.addComingShares({
    storageIndex: storageIndex(i),
    sharetype: 'immutable',
    accountId,
    shares: [{ shnum: 0, usedBytes: 10 }],
  });
}

/** A second connection to the same file, as another process would see it. */
function observer(path: string) {
  const raw = new BetterSqlite3(path, { readonly: true });
  onTestFinished(() => {
    raw.close();
  });
  const row = raw.prepare('select state from shares where storage_index = ? and shnum = ?');
  return (si: string, shnum: number) => row.get(si, shnum) as { state: string } | undefined;
}

interface Upload {
  readonly account: number;
  readonly si: number;
  readonly shnum: number;
  /** Shares from shnum on (a later one may be held already, after the first is written). */
  readonly count: number;
  readonly bytes: number;
}

/** Starts every upload at once: outcome of each, and the accounts' usage afterwards. */
async function uploadAll(db: LeaseDb, accounts: number[], uploads: readonly Upload[]) {
  const outcomes = await Promise.all(
    uploads.map((u) =>
      outcome(
        db.addComingShares({
          storageIndex: storageIndex(u.si),
          sharetype: 'immutable',
          accountId: accounts[u.account]!,
          shares: Array.from({ length: u.count }, (_, i) => ({
            shnum: u.shnum + i,
            usedBytes: u.bytes,
          })),
        }),
      ),
    ),
  );
  const usage = await Promise.all(accounts.map((id) => db.getAccountUsage(id)));
  return { outcomes, usage };
}

it('writes asked for together share commits, and each is acknowledged only after a flush of the log that began once it was committed', async () => {
  let seen: ReturnType<typeof observer> | undefined;
  /** Shares whose commit a completed flush of the log covers. */
  const durable = new Set<string>();
  const flushes: number[] = [];
  const { db, path, commits } = await sqlite({
    // What a flush covers is what was committed when it began.
    wrapWalFlush: async (flush) => {
      const covered = seen ? [...Array(40).keys()].filter((i) => seen!(storageIndex(i), 0)) : [];
      await flush();
      flushes.push(covered.length);
      for (const i of covered) durable.add(storageIndex(i));
    },
  });
  const account = await db.createAccount({ publicKey: publicKey(1), nickname: 'a' });
  seen = observer(path);
  commits.length = 0;
  const acknowledged: boolean[] = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      db
        .addComingShares({
          storageIndex: storageIndex(i),
          sharetype: 'immutable',
          accountId: account.id,
          shares: [{ shnum: 0, usedBytes: 100 }],
        })
        // Whoever is told "done" must find the write on the disk, not merely committed.
        .then(() => durable.has(storageIndex(i))),
    ),
  );
  expect(acknowledged).toEqual(Array(40).fill(true));
  expect(commits.reduce((a, b) => a + b, 0)).toBe(40);
  expect(commits.length).toBeLessThan(40);
  expect(flushes.length).toBeLessThan(40);
  expect(await db.getAccountUsage(account.id)).toEqual({ shares: 40, bytes: 4000 });
});

it('a failed flush of the log fails the writes it was to cover (UNAVAILABLE), and the next flush serves the writes after it', async () => {
  let failNext = false;
  const { db } = await sqlite({
    wrapWalFlush: async (flush) => {
      await flush();
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      }
    },
  });
  const account = await db.createAccount({ publicKey: publicKey(1), nickname: 'a' });
  const write = (i: number) => outcome(addShare(db, account.id, i));
  failNext = true;
  expect(await Promise.all([0, 1, 2].map(write))).toEqual(Array(3).fill('UNAVAILABLE'));
  expect(await Promise.all([3, 4, 5].map(write))).toEqual(Array(3).fill('resolved'));
});

it('a refused write inside a group fails alone: outcomes and totals equal those of the same writes made one transaction each', async () => {
  const upload = fc.record({
    account: fc.integer({ min: 0, max: 2 }),
    si: fc.integer({ min: 0, max: 5 }),
    shnum: fc.integer({ min: 0, max: 2 }),
    count: fc.integer({ min: 1, max: 2 }),
    bytes: fc.integer({ min: 1, max: 600 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(upload, { minLength: 2, maxLength: 40 }), async (uploads) => {
      const results = [];
      for (const groupCommit of [true, false]) {
        const { db } = await sqlite({ groupCommit });
        const accounts: number[] = [];
        for (let i = 0; i < 3; i++) {
          // Hard quotas small enough that some uploads pass them (QUOTA_EXCEEDED), and the same
          // share twice is refused too (INVALID_STATE_TRANSITION).
          const row = await db.createAccount({
            publicKey: publicKey(i + 1),
            nickname: `a${i}`,
            hardQuotaBytes: 1000,
          });
          accounts.push(row.id);
        }
        results.push(await uploadAll(db, accounts, uploads));
        await db.close();
      }
      expect(results[0]).toEqual(results[1]);
    }),
    { numRuns: 25 },
  );
});

it('a database held by another process fails the whole group as BUSY, and writes go through once it is free', async () => {
  const { db, path } = await sqlite({ busyTimeoutMs: 50 });
  const account = await db.createAccount({ publicKey: publicKey(1), nickname: 'a' });
  const other = new BetterSqlite3(path);
  onTestFinished(() => {
    other.close();
  });
  other.exec('begin immediate');
  const write = (i: number) => outcome(addShare(db, account.id, i));
  expect(await Promise.all([0, 1, 2, 3].map(write))).toEqual(Array(4).fill('BUSY'));
  other.exec('rollback');
  expect(await Promise.all([0, 1, 2, 3].map(write))).toEqual(Array(4).fill('resolved'));
  expect(await db.getAccountUsage(account.id)).toEqual({ shares: 4, bytes: 40 });
});

it('groupCommit and onCommit are checked', async () => {
  const path = join(await tempDir('group-commit-'), 'leasedb.sqlite');
  await expect(
    openLeaseDb({ dialect: 'sqlite', path, groupCommit: 'yes' as unknown as boolean }),
  ).rejects.toThrow('groupCommit must be a boolean');
  await expect(
    openLeaseDb({ dialect: 'sqlite', path, onCommit: 1 as unknown as () => void }),
  ).rejects.toThrow('onCommit must be a function');
});

it('a flush asked for while another runs is a flush of its own, begun after that one ends (the running one may predate the commit)', async () => {
  const path = join(await tempDir('wal-flush-'), 'log');
  await writeFile(path, 'frames');
  const began: number[] = [];
  const releases: (() => void)[] = [];
  const flusher = new WalFlusher(path, async (flush) => {
    began.push(began.length);
    await new Promise<void>((resolve) => releases.push(resolve));
    await flush();
  });
  onTestFinished(() => flusher.close());
  const order: string[] = [];
  const first = flusher.flush().then(() => order.push('first'));
  const second = flusher.flush().then(() => order.push('second'));
  const third = flusher.flush().then(() => order.push('third'));
  expect(began).toEqual([0]);
  releases[0]!();
  await first;
  // The second and third callers share one flush, begun only now.
  await new Promise((resolve) => setImmediate(resolve));
  expect(began).toEqual([0, 1]);
  expect(order).toEqual(['first']);
  releases[1]!();
  await Promise.all([second, third]);
  expect(order).toEqual(['first', 'second', 'third']);
  expect(began).toEqual([0, 1]);
});
