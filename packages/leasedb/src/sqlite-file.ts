import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteFile } from './drivers.js';
import { LeaseDbError } from './errors.js';

/** What a look at a SQLite lease database file found. */
export type SqliteFileCondition =
  | { readonly state: 'missing' }
  | { readonly state: 'damaged'; readonly reason: string }
  | { readonly state: 'sound' };

// Errors that say the file itself is bad; anything else (permissions, a lock held by another
// process, a full disk) is a reason to stop, not to replace the database.
const DAMAGE = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * Looks at a SQLite lease database without changing it: missing, damaged (it does not open as a
 * database, fails SQLite's `quick_check`, or holds no lease database), or sound. `quick_check`
 * rather than `integrity_check`: it finds damaged pages and records in time linear in the file,
 * without checking every index against its table, which on a large database takes minutes at
 * every start. A node deciding whether to restore its database at start-up asks this first.
 * LeaseDbError `UNAVAILABLE` when the file cannot be read at all (permissions, not a file, a
 * lock): no reason to replace it.
 */
export function inspectSqliteFile(path: string): SqliteFileCondition {
  try {
    if (!statSync(path).isFile()) {
      throw new LeaseDbError('UNAVAILABLE', `the database ${path} is not a file`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    if (error instanceof LeaseDbError) throw error;
    throw new LeaseDbError(
      'UNAVAILABLE',
      `cannot read the database ${path} (${(error as NodeJS.ErrnoException).code})`,
      { cause: error },
    );
  }
  let db: BetterSqlite3.Database | undefined;
  try {
    // Read-only: the last read-write connection to close checkpoints the write-ahead log into
    // the file and deletes it, which would change a damaged database that is to be moved aside
    // as it was (and lose its log). A read-only one reads the log without replaying it.
    db = openSqliteFile(path, { fileMustExist: true, readonly: true });
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      return { state: 'damaged', reason: `SQLite's quick_check says: ${String(check)}` };
    }
    const migrations = db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'")
      .get();
    if (migrations === undefined) {
      return { state: 'damaged', reason: 'it holds no lease database (no kysely_migration table)' };
    }
    return { state: 'sound' };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && DAMAGE.test(code)) {
      return { state: 'damaged', reason: `${(error as Error).message} (${code})` };
    }
    throw new LeaseDbError(
      'UNAVAILABLE',
      `cannot open the database ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    db?.close();
  }
}
