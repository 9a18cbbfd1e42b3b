import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';

// The database drivers are optional peer dependencies, loaded the first time a database of
// their dialect is opened: a PostgreSQL user need not compile SQLite, nor a SQLite user install
// pg. Both are CommonJS packages, so `require` loads them synchronously, as opening SQLite is.

const require = createRequire(import.meta.url);

let sqlite: typeof BetterSqlite3 | undefined;
let postgres: typeof pg | undefined;

/** better-sqlite3's `Database` class; a clear error when the package is not installed. */
export function sqliteDriver(): typeof BetterSqlite3 {
  sqlite ??= load<typeof BetterSqlite3>('better-sqlite3', 'A SQLite lease database');
  return sqlite;
}

/** The pg module; a clear error when the package is not installed. */
export function postgresDriver(): typeof pg {
  postgres ??= load<typeof pg>('pg', 'A PostgreSQL lease database');
  return postgres;
}

/**
 * Opens a SQLite file with better-sqlite3. An installed but uncompiled better-sqlite3 (pnpm 10
 * runs no build scripts unless allowed) fails here, not at load: its error is replaced by what
 * to do about it.
 */
export function openSqliteFile(
  path: string,
  options?: BetterSqlite3.Options,
  driver?: typeof BetterSqlite3,
): BetterSqlite3.Database {
  const Database = driver ?? sqliteDriver();
  try {
    return new Database(path, options);
  } catch (error) {
    if (error instanceof Error && /Could not locate the bindings file/.test(error.message)) {
      throw new Error(NOT_BUILT, { cause: error });
    }
    throw error;
  }
}

export const NOT_BUILT =
  'better-sqlite3 is installed but not compiled: with pnpm, allow its build (`pnpm approve-builds`, or `onlyBuiltDependencies: [better-sqlite3]` in pnpm-workspace.yaml) and reinstall; with npm, run `npm rebuild better-sqlite3`';

/** The error for a driver that is not installed, naming the package to add. */
export function missingDriver(name: string, what: string, cause: unknown): Error {
  return new Error(
    `${what} needs the ${name} package, an optional peer dependency of @ostrom/leasedb: install it beside it (\`npm install ${name}\` or \`pnpm add ${name}\`)`,
    { cause },
  );
}

function load<T>(name: string, what: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw missingDriver(name, what, error);
    }
    throw error;
  }
}
