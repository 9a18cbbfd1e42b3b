import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import { expect, it } from 'vitest';
import { inspectSqliteFile } from '../src/index.js';

// inspectSqliteFile: what a node asks of its database file at start-up, before deciding to
// restore it; it must never change the file or its write-ahead log.

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
  expect(inspectSqliteFile(path)).toEqual({ state: 'sound' });
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
  const condition = inspectSqliteFile(path);
  expect(condition.state).toBe('damaged');
  expect(readFileSync(path)).toEqual(damaged);
  expect(readFileSync(`${path}-wal`)).toEqual(wal);
});

it('a missing file is missing; a directory or an unreadable path is UNAVAILABLE, not damaged', async () => {
  const dir = await tempDir('inspect-');
  expect(inspectSqliteFile(join(dir, 'none.sqlite'))).toEqual({ state: 'missing' });
  expect(() => inspectSqliteFile(dir)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
  const empty = join(dir, 'other.sqlite');
  const other = new BetterSqlite3(empty);
  other.exec('create table t (x)');
  other.close();
  expect(inspectSqliteFile(empty)).toEqual({
    state: 'damaged',
    reason: 'it holds no lease database (no kysely_migration table)',
  });
});
