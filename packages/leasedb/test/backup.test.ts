import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';
import { openLeaseDb, restoreSqliteBackup } from '../src/index.js';
import { outcome } from './errors.js';
import { DIALECTS, manualClock, publicKey, storageIndex } from './setup.js';

async function populated(path: string) {
  const clock = manualClock();
  const db = await openLeaseDb({ dialect: 'sqlite', path, now: clock.now });
  const alice = await db.createAccount({
    publicKey: publicKey(1),
    nickname: 'alice',
    hardQuotaBytes: 10_000,
  });
  for (let i = 0; i < 20; i++) {
    await db.addComingShares({
      storageIndex: storageIndex(i),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 100 }],
    });
    await db.markStable(storageIndex(i), 0, 100);
  }
  return { db, alice };
}

it('backup() snapshots a SQLite database in use; restoring it brings back exactly that state', async () => {
  const dir = await tempDir();
  const path = join(dir, 'leasedb.sqlite');
  const { db, alice } = await populated(path);
  await db.setAccountStatus(alice.id, 'frozen');
  // A transaction is open when the snapshot is asked for, and then rolls back: the snapshot must
  // contain neither its uncommitted writes nor anything torn.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const rolledBack = db.transaction(async (tx) => {
    await tx.setAccountStatus(alice.id, 'disabled');
    await tx.markGoing(storageIndex(0), 0, { dropLeases: true });
    entered();
    await gate;
    throw new Error('roll back');
  });
  await inside;
  const pending = db.backup();
  release();
  await expect(rolledBack).rejects.toThrow('roll back');
  const snapshot = await pending;
  await db.addComingShares({
    storageIndex: storageIndex(99),
    sharetype: 'immutable',
    accountId: alice.id,
    shares: [{ shnum: 0, usedBytes: 5 }],
  });
  await db.close();

  restoreSqliteBackup(path, snapshot);
  const restored = await openLeaseDb({ dialect: 'sqlite', path });
  expect((await restored.getAccount(alice.id))?.status).toBe('frozen');
  expect(await restored.getAccountUsage(alice.id)).toEqual({ shares: 20, bytes: 2000 });
  expect(await restored.listShares(storageIndex(99))).toEqual([]);
  expect(await restored.checkUsage()).toEqual([]);
  await restored.close();
});

it('backupToFile() writes an online backup that restoreSqliteBackup() accepts by path', async () => {
  const dir = await tempDir();
  const path = join(dir, 'leasedb.sqlite');
  const { db, alice } = await populated(path);
  const backupPath = join(dir, 'backup.sqlite');
  await db.backupToFile(backupPath);
  await db.setAccountNickname(alice.id, 'changed-after-backup');
  await db.close();
  restoreSqliteBackup(path, backupPath);
  expect(existsSync(`${path}-wal`)).toBe(false);
  const restored = await openLeaseDb({ dialect: 'sqlite', path });
  expect((await restored.getAccount(alice.id))?.nickname).toBe('alice');
  await restored.close();
});

it('restoreSqliteBackup() refuses what is not an intact lease database and keeps the old one', async () => {
  const dir = await tempDir();
  const path = join(dir, 'leasedb.sqlite');
  const { db } = await populated(path);
  const good = Buffer.from(await db.backup());
  await db.close();
  const before = readFileSync(path);

  expect(
    await outcome(Promise.resolve().then(() => restoreSqliteBackup(path, Buffer.from('hello')))),
  ).toBe('INVALID_BACKUP');
  const truncated = good.subarray(0, Math.floor(good.length / 2));
  expect(await outcome(Promise.resolve().then(() => restoreSqliteBackup(path, truncated)))).toBe(
    'INVALID_BACKUP',
  );
  // A valid SQLite file that is not a lease database.
  const otherPath = join(dir, 'other.sqlite');
  const BetterSqlite3 = (await import('better-sqlite3')).default;
  const other = new BetterSqlite3(otherPath);
  other.exec('CREATE TABLE t (x)');
  other.close();
  expect(await outcome(Promise.resolve().then(() => restoreSqliteBackup(path, otherPath)))).toBe(
    'INVALID_BACKUP',
  );
  writeFileSync(join(dir, 'marker'), '');

  expect(readFileSync(path).equals(before)).toBe(true);
  const reopened = await openLeaseDb({ dialect: 'sqlite', path });
  expect(await reopened.getAccountUsage(2)).toEqual({ shares: 20, bytes: 2000 });
  await reopened.close();
});

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
it.skipIf(!postgres.available)('backup() on PostgreSQL is UNSUPPORTED (use pg_dump)', async () => {
  const db = await postgres.open();
  expect(await outcome(db.backup())).toBe('UNSUPPORTED');
  expect(await outcome(db.backupToFile('/tmp/never'))).toBe('UNSUPPORTED');
});
