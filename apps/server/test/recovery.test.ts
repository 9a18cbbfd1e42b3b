import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import { expect, it } from 'vitest';
import { inspectSqliteDatabase } from '../src/recovery.js';
import { ostrom } from './helpers.js';
import { bytes, storageIndex } from './http-setup.js';
import { addAccount, configure, createTestNode, upload } from './node-harness.js';

// The pieces of recovery.ts that need no node: looking at a database file without changing it.
// Then the upgrade to account records: a node started with them writes the missing ones before
// it serves, so that a database lost afterwards keeps every NURL.

/**
 * A copy of a SQLite database in WAL mode taken while it was open, as a crash leaves it: the
 * database file and a write-ahead log holding the last commits, not yet checkpointed.
 */
async function crashedCopy(): Promise<string> {
  const dir = await tempDir('recovery-');
  const live = join(dir, 'live.sqlite');
  const db = new BetterSqlite3(live);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('create table kysely_migration (name text); create table t (x blob)');
  for (let i = 0; i < 50; i++) db.prepare('insert into t values (?)').run(Buffer.alloc(2000, i));
  db.pragma('wal_checkpoint(TRUNCATE)');
  // The last commits, in the log only.
  for (let i = 0; i < 5; i++) db.prepare('insert into t values (?)').run(Buffer.alloc(2000, 99));
  const copy = join(dir, 'leasedb.sqlite');
  copyFileSync(live, copy);
  copyFileSync(`${live}-wal`, `${copy}-wal`);
  db.close();
  return copy;
}

it('inspecting a database changes neither it nor its write-ahead log', async () => {
  const path = await crashedCopy();
  const before = [readFileSync(path), readFileSync(`${path}-wal`)];
  expect(inspectSqliteDatabase(path)).toEqual({ state: 'sound' });
  // A read-write connection would have checkpointed the log into the file on close, and
  // deleted it: for a damaged database, the evidence that is to be moved aside as it was.
  expect(existsSync(`${path}-wal`)).toBe(true);
  expect(readFileSync(path)).toEqual(before[0]);
  expect(readFileSync(`${path}-wal`)).toEqual(before[1]);
});

it('a damaged database with a write-ahead log is reported damaged and left as it was', async () => {
  const path = await crashedCopy();
  const damaged = readFileSync(path);
  damaged.fill(0xa5, 4 * 4096, 12 * 4096); // pages of older rows, which the log does not hold
  writeFileSync(path, damaged);
  const wal = readFileSync(`${path}-wal`);
  const condition = inspectSqliteDatabase(path);
  expect(condition.state).toBe('damaged');
  expect(readFileSync(path)).toEqual(damaged);
  expect(readFileSync(`${path}-wal`)).toEqual(wal);
});

it('after the upgrade to account records, a database lost keeps every NURL, accounts without shares included', async () => {
  const node = await createTestNode('disk', { crawlerEnabled: false });
  await configure(node.dir, 'backup_interval', '0');
  let running = await node.start();
  const alice = await addAccount(node, running, 'a1'.repeat(32), 'alice');
  const bob = await addAccount(node, running, 'b2'.repeat(32), 'bob');
  await upload(node.client(alice.nurl), running, storageIndex('upgrade'), 0, bytes(300));
  const frozen = await ostrom(['accounts', 'freeze', String(bob.id), '-d', node.dir]);
  expect(frozen.code, frozen.stderr).toBe(0);
  await running.close();
  // The store as a node of an earlier version left it: owner records, no account records.
  const backend = await node.openBackend();
  for (const name of await backend.listBlobs('accounts/')) await backend.deleteBlob(name);

  // The upgraded node writes them before it serves.
  running = await node.start();
  expect(await backend.listBlobs('accounts/')).toEqual(
    [0, 1, alice.id, bob.id].map((id) => `accounts/${id}`).sort(),
  );
  await running.close();

  for (const suffix of ['', '-wal', '-shm']) await rm(node.dbPath + suffix, { force: true });
  running = await node.start();
  expect(running.recovery).toMatchObject({ reason: 'missing' });
  for (const [account, name, status] of [
    [alice, 'alice', 'normal'],
    [bob, 'bob', 'frozen'],
  ] as const) {
    const info = await node.client(running.nurlFor(account.id)).accounting.getAccount();
    expect([info.accountId, info.nickname, info.status]).toEqual([account.id, name, status]);
  }
});
