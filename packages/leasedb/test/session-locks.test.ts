import { createScratchSchema, postgresUrl } from '@ostrom/test-fixtures';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type LeaseDb, openLeaseDb } from '../src/index.js';
import { DIALECTS, publicKey, storageIndex } from './setup.js';

// Two LeaseDb instances on one schema stand for two server processes: each has its own query
// pool and lock pool, so the only thing that can make one wait for the other is PostgreSQL.

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const sqlite = DIALECTS.find((d) => d.name === 'sqlite')!;

const pgAdminUrl = postgres.available ? postgresUrl('@ostrom/leasedb session locks') : undefined;

const X = storageIndex(1);
const Y = storageIndex(2);

/** A promise and the function that settles it. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Processes {
  readonly a: LeaseDb;
  readonly b: LeaseDb;
  /** Resolves once a session waits for the advisory lock `current_schema() || suffix`. */
  someoneWaits(suffix: string): Promise<void>;
}

async function twoProcesses(options: { lockPoolSize?: number } = {}): Promise<Processes> {
  const scratch = await createScratchSchema(pgAdminUrl!);
  const open = () =>
    openLeaseDb({ dialect: 'postgres', connectionString: scratch.url, ...options });
  const a = await open();
  const b = await open();
  const observer = new pg.Client({ connectionString: scratch.url });
  await observer.connect();
  onTestFinished(async () => {
    await observer.end();
    await a.close();
    await b.close();
    await scratch.drop();
  });
  return {
    a,
    b,
    // Observing the server's lock table, not a timer: the loop ends when the waiter is there.
    // pg_locks shows a bigint advisory key as its high (classid) and low (objid) halves.
    async someoneWaits(suffix: string) {
      for (;;) {
        const { rows } = await observer.query<{ n: number }>(
          `select count(*)::int as n from pg_locks
           where locktype = 'advisory' and not granted
             and ((classid::int8 << 32) | objid::int8) = hashtextextended(current_schema() || $1, 0)`,
          [suffix],
        );
        if (rows[0]!.n > 0) return;
      }
    },
  };
}

describe.skipIf(!postgres.available)('withStorageIndexLock across processes [postgres]', () => {
  it("B's operation on an index waits until A's returns", async () => {
    const { a, b, someoneWaits } = await twoProcesses();
    const log: string[] = [];
    const aEntered = deferred();
    const aGo = deferred();
    const first = a.withStorageIndexLock(X, async () => {
      log.push('A start');
      aEntered.resolve();
      await aGo.promise;
      log.push('A end');
      return 'A';
    });
    await aEntered.promise;
    const second = b.withStorageIndexLock(X, async () => {
      log.push('B start');
      return 'B';
    });
    await someoneWaits(`/op/${X}`);
    expect(log).toEqual(['A start']);
    aGo.resolve();
    expect(await Promise.all([first, second])).toEqual(['A', 'B']);
    expect(log).toEqual(['A start', 'A end', 'B start']);
  });

  it('different indexes run at the same time', async () => {
    const { a, b } = await twoProcesses();
    const aEntered = deferred();
    const aGo = deferred();
    const first = a.withStorageIndexLock(X, async () => {
      aEntered.resolve();
      await aGo.promise;
      return 'X';
    });
    await aEntered.promise;
    // Y completes while A still holds X: it never waited for it.
    expect(await b.withStorageIndexLock(Y, async () => 'Y')).toBe('Y');
    aGo.resolve();
    expect(await first).toBe('X');
  });

  it('an exception in fn releases the lock and reaches the caller', async () => {
    const { a, b } = await twoProcesses();
    const failure = new Error('backend down');
    await expect(
      a.withStorageIndexLock(X, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await b.withStorageIndexLock(X, async () => 'B')).toBe('B');
    // And the connection went back to A's lock pool in a usable state.
    expect(await a.withStorageIndexLock(X, async () => 'A again')).toBe('A again');
  });

  it('fn writes the same index through leasedb without waiting for itself', async () => {
    const { a, b } = await twoProcesses({ lockPoolSize: 1 });
    const alice = await a.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const shares = await a.withStorageIndexLock(X, async () => {
      // Transactions on X take the transaction-scoped lock on X from the query pool.
      await a.addComingShares({
        storageIndex: X,
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [{ shnum: 0, usedBytes: 10 }],
      });
      await a.markStable(X, 0, 10);
      // Another process's plain transaction on X does not wait for the session lock either.
      await b.addOrRenewLeases({ storageIndex: X, shnum: 0, accountId: 0 });
      // Nested locks reuse the held connection: a lock pool of one suffices.
      return await a.withAccountLock(alice.id, () =>
        a.withStorageIndexLock(X, () => a.listShares(X)),
      );
    });
    expect(shares.map((s) => [s.shnum, s.state, s.usedBytes])).toEqual([[0, 'stable', 10]]);
    expect((await a.listLeases(X)).map((l) => l.accountId).sort()).toEqual([0, alice.id]);
    expect(await a.checkUsage()).toEqual([]);
  });

  it('more holders than lock connections queue, and all finish', async () => {
    const { a, b } = await twoProcesses({ lockPoolSize: 2 });
    const order: number[] = [];
    const runs = Array.from({ length: 12 }, (_, i) =>
      (i % 2 ? a : b).withStorageIndexLock(storageIndex(100 + (i % 3)), async () => {
        order.push(i);
        return i;
      }),
    );
    expect(await Promise.all(runs)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(order.sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('account locks exclude each other across processes, in their own key space', async () => {
    const { a, b, someoneWaits } = await twoProcesses();
    const log: string[] = [];
    const aEntered = deferred();
    const aGo = deferred();
    const first = a.withAccountLock(7, async () => {
      log.push('A start');
      aEntered.resolve();
      await aGo.promise;
      log.push('A end');
    });
    await aEntered.promise;
    // An index lock and another account's lock are not the account's lock.
    await b.withStorageIndexLock(X, async () => log.push('B index'));
    await b.withAccountLock(8, async () => log.push('B other account'));
    const second = b.withAccountLock(7, async () => {
      log.push('B start');
    });
    await someoneWaits('/acct/7');
    aGo.resolve();
    await Promise.all([first, second]);
    expect(log).toEqual(['A start', 'B index', 'B other account', 'A end', 'B start']);
  });

  it('refuses a malformed storage index or account id before locking', async () => {
    const { a } = await twoProcesses();
    await expect(a.withStorageIndexLock('not an index', async () => 1)).rejects.toThrow(TypeError);
    await expect(a.withAccountLock(-1, async () => 1)).rejects.toThrow(RangeError);
  });
});

describe('withStorageIndexLock [sqlite]', () => {
  it('runs fn directly and passes its result and errors through', async () => {
    const db = await sqlite.open();
    expect(await db.withStorageIndexLock(X, async () => 42)).toBe(42);
    expect(await db.withAccountLock(1, async () => 'ok')).toBe('ok');
    const failure = new Error('boom');
    await expect(
      db.withStorageIndexLock(X, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });
});
