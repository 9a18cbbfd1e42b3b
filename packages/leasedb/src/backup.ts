import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteFile } from './drivers.js';
import { LeaseDbError } from './errors.js';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function invalid(message: string, cause?: unknown): LeaseDbError {
  return new LeaseDbError('INVALID_BACKUP', message, cause === undefined ? {} : { cause });
}

/** Opens a candidate backup read-only and checks that it is an intact lease database. */
function verifyBackupFile(path: string): void {
  let db: BetterSqlite3.Database | undefined;
  try {
    db = openSqliteFile(path, { readonly: true, fileMustExist: true });
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw invalid(`backup failed SQLite's integrity check: ${String(check)}`);
    const tables = new Set(
      (
        db.prepare("select name from sqlite_master where type = 'table'").all() as {
          name: string;
        }[]
      ).map((r) => r.name),
    );
    for (const table of ['kysely_migration', 'accounts', 'shares', 'leases', 'account_usage']) {
      if (!tables.has(table)) throw invalid(`backup has no ${table} table: not a lease database`);
    }
  } catch (error) {
    if (error instanceof LeaseDbError) throw error;
    throw invalid('backup is not a readable SQLite database', error);
  } finally {
    db?.close();
  }
}

/**
 * Replaces the SQLite lease database at `targetPath` with a backup (bytes from `backup()` or the
 * path of a file from `backupToFile()`). The backup is checked first; the switch is a rename, so
 * a crash leaves either the old database or the new one. The database must not be open.
 */
export function restoreSqliteBackup(targetPath: string, source: Uint8Array | string): void {
  const bytes = typeof source === 'string' ? readFileSync(source) : Buffer.from(source);
  if (bytes.length < 100 || !bytes.subarray(0, 16).equals(SQLITE_HEADER)) {
    throw invalid('backup does not start with the SQLite header');
  }
  const staging = `${targetPath}.restore-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(staging, bytes);
    fsyncPath(staging);
    verifyBackupFile(staging);
    rmSync(`${staging}-wal`, { force: true });
    rmSync(`${staging}-shm`, { force: true });
    // The old write-ahead log belongs to the old database; replaying it over the new one would corrupt it.
    rmSync(`${targetPath}-wal`, { force: true });
    rmSync(`${targetPath}-shm`, { force: true });
    renameSync(staging, targetPath);
    fsyncPath(dirname(targetPath));
  } finally {
    for (const leftover of [staging, `${staging}-wal`, `${staging}-shm`])
      rmSync(leftover, { force: true });
  }
}
