import { randomBytes } from 'node:crypto';
import { createScratchSchema, postgresUrl, startOutageProxy } from '@ostrom/test-fixtures';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { isUnavailableError, type LeaseDb, LeaseDbError, openLeaseDb } from '../src/index.js';
import { DIALECTS, publicKey, storageIndex } from './setup.js';

// PostgreSQL ending this process's connections, as a restart (`pg_ctl stop -m fast`) or an
// operator's pg_terminate_backend does (57P01 on each): the process must live on, what was under
// way fails with LeaseDbError UNAVAILABLE (never a driver error), and the next operations
// succeed on new connections without anyone reopening anything.

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const pgAdminUrl = postgres.available ? postgresUrl('@ostrom/leasedb unavailable') : undefined;

interface Terminable {
  readonly db: LeaseDb;
  /** Errors the pools reported (connections that failed idle or in use). */
  readonly reported: Error[];
  /** Ends every connection this LeaseDb holds; resolves with how many there were. */
  terminate(): Promise<number>;
}

async function terminable(): Promise<Terminable> {
  const scratch = await createScratchSchema(pgAdminUrl!);
  // Our connections carry a name of their own, so only they are ended (other tests share the
  // server).
  const name = `ostrom-unavailable-${randomBytes(4).toString('hex')}`;
  const url = new URL(scratch.url);
  url.searchParams.set('application_name', name);
  const reported: Error[] = [];
  const db = await openLeaseDb({
    dialect: 'postgres',
    connectionString: url.toString(),
    onConnectionError: (error) => reported.push(error),
  });
  const admin = new pg.Client({ connectionString: pgAdminUrl! });
  await admin.connect();
  onTestFinished(async () => {
    await admin.end();
    await db.close();
    await scratch.drop();
  });
  return {
    db,
    reported,
    async terminate() {
      const { rows } = await admin.query<{ ended: boolean }>(
        'select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = $1',
        [name],
      );
      return rows.length;
    },
  };
}

/** Waits, turn by turn of the event loop (bounded), until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !condition(); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  expect(condition()).toBe(true);
}

describe.skipIf(!pgAdminUrl)('an unavailable PostgreSQL', () => {
  it('idle connections ended: the process lives, the pools report them, the next operation reconnects', async () => {
    const t = await terminable();
    const account = await t.db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    // A lock connection too (the lock pool), idle once the lock is given back.
    await t.db.withStorageIndexLock(storageIndex(1), () => t.db.getServerUsage());
    expect(await t.terminate()).toBeGreaterThanOrEqual(2);
    await until(() => t.reported.length >= 2);
    expect(t.reported.every((error) => isUnavailableError(error))).toBe(true);
    expect((await t.db.getAccount(account.id))?.nickname).toBe('alice');
    await t.db.withStorageIndexLock(storageIndex(1), async () => {
      await t.db.setAccountQuota(account.id, { hardQuotaBytes: 5, softQuotaBytes: null });
    });
    expect((await t.db.getAccount(account.id))?.hardQuotaBytes).toBe(5);
  });

  it('connections ended in use (a lock held, a transaction open): UNAVAILABLE, then service resumes', async () => {
    const t = await terminable();
    const account = await t.db.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    const outcome = await t.db
      .withStorageIndexLock(storageIndex(2), () =>
        t.db.transaction(async (tx) => {
          await tx.setAccountQuota(account.id, { hardQuotaBytes: 7, softQuotaBytes: null });
          // Both the lock's connection and the transaction's are in use and between statements.
          await t.terminate();
          await tx.setAccountQuota(account.id, { hardQuotaBytes: 8, softQuotaBytes: null });
        }),
      )
      .then(
        () => 'done',
        (error: unknown) => error,
      );
    expect(outcome).toBeInstanceOf(LeaseDbError);
    expect((outcome as LeaseDbError).code).toBe('UNAVAILABLE');
    // The transaction never committed: nothing of it is there.
    expect((await t.db.getAccount(account.id))?.hardQuotaBytes).toBeNull();
    await t.db.withStorageIndexLock(storageIndex(2), () =>
      t.db.setAccountQuota(account.id, { hardQuotaBytes: 9, softQuotaBytes: null }),
    );
    expect((await t.db.getAccount(account.id))?.hardQuotaBytes).toBe(9);
  });

  it('a traffic batch cut off mid-way: UNAVAILABLE, nothing of it written, and sent again it counts once', async () => {
    const t = await terminable();
    const hour = 1_700_002_800;
    const batch = [{ accountId: 2, hour, uploads: 1, reads: 2, bytesIn: 30, bytesOut: 40 }];
    const outcome = await t.db
      .transaction(async (tx) => {
        await tx.addTraffic(batch);
        await t.terminate();
        await tx.addTraffic(batch);
      })
      .then(
        () => 'done',
        (error: unknown) => (error instanceof LeaseDbError ? error.code : String(error)),
      );
    expect(outcome).toBe('UNAVAILABLE');
    expect(await t.db.getTraffic({ from: 0, to: hour + 3600 })).toEqual([]);
    await t.db.addTraffic(batch);
    expect(await t.db.getTraffic({ accountId: 2, from: 0, to: hour + 3600 })).toEqual([
      { hour, uploads: 1, reads: 2, bytesIn: 30, bytesOut: 40 },
    ]);
  });

  it('under load: every operation succeeds or fails with UNAVAILABLE, and all succeed afterwards', async () => {
    const t = await terminable();
    const account = await t.db.createAccount({ publicKey: publicKey(3), nickname: 'carol' });
    const operation = (i: number) =>
      i % 3 === 0
        ? t.db.withStorageIndexLock(storageIndex(i % 7), () => t.db.getServerUsage())
        : i % 3 === 1
          ? t.db.setAccountQuota(account.id, { hardQuotaBytes: i, softQuotaBytes: null })
          : t.db.getAccount(account.id);
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        if (i === 20) await t.terminate();
        try {
          await operation(i);
          return 'ok';
        } catch (error) {
          return error instanceof LeaseDbError ? error.code : String(error);
        }
      }),
    );
    expect(new Set(outcomes).size).toBeLessThanOrEqual(2);
    for (const outcome of outcomes) expect(['ok', 'UNAVAILABLE']).toContain(outcome);
    for (let i = 0; i < 30; i++) await operation(i);
  });

  it('a server that takes new connections and never answers: UNAVAILABLE after connectTimeoutMs, not a hang', async () => {
    const scratch = await createScratchSchema(pgAdminUrl!);
    const target = new URL(pgAdminUrl!);
    const proxy = await startOutageProxy({
      host: target.hostname,
      port: Number(target.port || 5432),
    });
    const reported: Error[] = [];
    const db = await openLeaseDb({
      dialect: 'postgres',
      connectionString: proxy.via(scratch.url),
      connectTimeoutMs: 300,
      onConnectionError: (error) => reported.push(error),
    });
    onTestFinished(async () => {
      await db.close();
      await proxy.close();
      await scratch.drop();
    });
    const account = await db.createAccount({ publicKey: publicKey(4), nickname: 'dave' });
    // The open connections are cut (and dropped from the pool), then new ones hang.
    proxy.refuse();
    await until(() => reported.length >= 1);
    proxy.stall();
    const outcomes = await Promise.all(
      [0, 1, 2].map(() =>
        db.getAccount(account.id).then(
          () => 'ok',
          (error: unknown) => (error instanceof LeaseDbError ? error.code : String(error)),
        ),
      ),
    );
    expect(outcomes).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    proxy.resume();
    expect((await db.getAccount(account.id))?.nickname).toBe('dave');
  });

  it('connectTimeoutMs must be a positive integer', async () => {
    for (const connectTimeoutMs of [0, -1, 1.5]) {
      await expect(
        openLeaseDb({ dialect: 'postgres', connectionString: pgAdminUrl!, connectTimeoutMs }),
      ).rejects.toThrow(/connectTimeoutMs must be a positive integer/);
    }
  });
});

describe('isUnavailableError', () => {
  it.each([
    [{ code: '57P01', message: 'terminating connection due to administrator command' }, true],
    [{ code: '57P03', message: 'the database system is starting up' }, true],
    [{ code: '08006', message: 'connection failure' }, true],
    [{ code: '53300', message: 'too many connections' }, true],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }, true],
    [new Error('Connection terminated unexpectedly'), true],
    [new Error('timeout exceeded when trying to connect'), true],
    [{ code: 'SQLITE_IOERR_WRITE', message: 'disk I/O error' }, true],
    [{ code: 'SQLITE_FULL', message: 'database or disk is full' }, true],
    [new LeaseDbError('UNAVAILABLE', 'x'), true],
    [{ code: '23505', message: 'duplicate key value' }, false],
    [{ code: '40P01', message: 'deadlock detected' }, false],
    [{ code: 'SQLITE_BUSY', message: 'database is locked' }, false],
    [{ code: 'SQLITE_CONSTRAINT_UNIQUE', message: 'UNIQUE constraint failed' }, false],
    [new LeaseDbError('BUSY', 'x'), false],
    [new TypeError('bad argument'), false],
    [null, false],
  ])('%j → %s', (error, expected) => {
    expect(isUnavailableError(error)).toBe(expected);
  });
});
