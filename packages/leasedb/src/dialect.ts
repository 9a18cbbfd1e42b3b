import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresDialect,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';
import type pg from 'pg';
import { openSqliteFile, postgresDriver } from './drivers.js';
import type { Schema } from './schema.js';
import { mapUnavailable } from './unavailable.js';
import { WalFlusher } from './wal-flush.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

// The drivers' own types are not named in what this package exports: they are optional peers,
// and an application that uses one dialect need not have the other's types installed.

/** better-sqlite3's `Database` class (its type, `typeof Database`, fits). */
export type SqliteDriverClass = abstract new (...args: never[]) => object;

/** The pg module (`typeof pg` fits). */
export interface PostgresDriverModule {
  readonly Pool: abstract new (...args: never[]) => object;
  readonly types: object;
}

export interface SqliteOptions {
  readonly dialect: 'sqlite';
  /** Database file; `:memory:` for a private in-memory database. */
  readonly path: string;
  /**
   * `full` (default) makes every commit durable before it is acknowledged, surviving power loss:
   * a write resolves once the write-ahead log holding it is flushed, by a flush made off the
   * event loop and shared by the commits made meanwhile (see WalFlusher). `normal` survives a
   * crash of the process but may lose the last commits on power loss.
   */
  readonly synchronous?: 'full' | 'normal';
  /**
   * Tests only: wraps each flush of the write-ahead log (with `synchronous: 'full'`), e.g. to see
   * which commits a flush covers or to make one fail.
   */
  readonly wrapWalFlush?: (flush: () => Promise<void>) => Promise<void>;
  /**
   * How long a write waits for another process's write transaction on the same file before
   * failing with BUSY (default 5000 ms), and opening for another process opening or migrating
   * the same file. The wait blocks this process's event loop.
   */
  readonly busyTimeoutMs?: number;
  /**
   * better-sqlite3's `Database` class to open the file with (`import Database from
   * 'better-sqlite3'`), as kysely's dialects take a driver; default: the installed better-sqlite3,
   * loaded on first use.
   */
  readonly driver?: SqliteDriverClass;
}

export interface PostgresOptions {
  readonly dialect: 'postgres';
  readonly connectionString: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /**
   * Connections kept apart for the session advisory locks of `withStorageIndexLock` and
   * `withAccountLock` (default 4): at most this many operations of this process hold such a lock
   * at once; the others wait their turn. Opened on first use.
   */
  readonly lockPoolSize?: number;
  /**
   * Told when a pooled connection fails, idle or in use (PostgreSQL restarted, the network cut):
   * the pool drops it and opens another when one is next needed, and the operation using it
   * fails with UNAVAILABLE. Such a failure never ends the process, with or without this.
   */
  readonly onConnectionError?: (error: Error) => void;
  /**
   * How long opening a connection may take, ms (default 10 000): a server that accepts the TCP
   * connection and never answers (hung, or a network that drops packets) fails the operation
   * with UNAVAILABLE after this, instead of holding it, and the request behind it, for ever.
   * TCP keepalive is on too, so a connection whose peer vanished is found out.
   */
  readonly connectTimeoutMs?: number;
  /**
   * The pg module to connect with (`import pg from 'pg'`), as kysely's dialects take a driver;
   * default: the installed pg, loaded on first use.
   */
  readonly driver?: PostgresDriverModule;
}

export type ConnectionOptions = SqliteOptions | PostgresOptions;

/** An open connection to one of the dialects, with the raw driver kept for what kysely lacks. */
export type Connection =
  | {
      readonly dialect: 'sqlite';
      readonly db: Kysely<Schema>;
      readonly raw: BetterSqlite3.Database;
      /** Flushes the write-ahead log after commits (`synchronous: 'full'` on a file). */
      readonly wal: WalFlusher | undefined;
    }
  | {
      readonly dialect: 'postgres';
      readonly db: Kysely<Schema>;
      readonly raw: pg.Pool;
      /** The pool of the session advisory locks, apart from the query pool `raw`. */
      readonly lockPool: pg.Pool;
    };

// kysely's SQLite driver prepares each statement afresh; better-sqlite3's prepare costs more than
// running a small statement, so statements are kept by SQL text. The set of texts is bounded by
// the queries in this package (values are parameters), but a cap keeps a misuse from growing it.
const STATEMENT_CACHE_LIMIT = 512;

function withStatementCache(raw: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => raw.close(),
    prepare(sqlText: string) {
      let statement = cache.get(sqlText);
      if (!statement) {
        statement = raw.prepare(sqlText);
        if (cache.size >= STATEMENT_CACHE_LIMIT) cache.clear();
        cache.set(sqlText, statement);
      }
      return statement as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}

/** Opens better-sqlite3 with the pragmas the lease database relies on. */
export function openSqlite(options: SqliteOptions): BetterSqlite3.Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError('busyTimeoutMs must be a non-negative integer');
  }
  const raw = openSqliteFile(options.path, {}, options.driver as typeof BetterSqlite3 | undefined);
  try {
    raw.pragma(`busy_timeout = ${busyTimeoutMs}`);
    enableWal(raw, busyTimeoutMs);
    // NORMAL either way: with `full` the log is flushed by WalFlusher, off the event loop. An
    // in-memory database has nothing to flush.
    raw.pragma(`synchronous = ${raw.memory ? 'OFF' : 'NORMAL'}`);
    raw.pragma('foreign_keys = ON');
    // 64 MiB of page cache instead of 2: a million shares make a database of hundreds of MiB.
    raw.pragma('cache_size = -65536');
  } catch (error) {
    raw.close();
    throw error;
  }
  return raw;
}

/**
 * Puts the database in WAL mode. On a new file the switch needs the file to itself: when several
 * processes open one new file at once, each may hold what another waits for, and SQLite then
 * answers SQLITE_BUSY at once rather than through busy_timeout (waiting could never end). So the
 * switch is tried again, holding nothing in between, until busy_timeout has passed; once one
 * process has switched, the others find the file in WAL mode already.
 */
function enableWal(raw: BetterSqlite3.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    try {
      raw.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() + pauseMs > deadline) {
        throw error;
      }
    }
    // A synchronous pause, like busy_timeout's own waits: opening is synchronous.
    Atomics.wait(pause, 0, 0, pauseMs);
  }
}

/**
 * Write transactions take SQLite's write lock at BEGIN. With kysely's plain (deferred) BEGIN, a
 * transaction that read first and then writes fails at once with SQLITE_BUSY when another process
 * (an `ostrom` CLI command beside the running server) wrote in between; taking the lock up front
 * makes it wait its turn through busy_timeout instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  constructor(database: SqliteDatabase) {
    super({ database });
    this.#database = database;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

// pg returns int8 and numeric as strings because they may exceed 2^53. Sizes and times here
// stay far below that, and a value that does not fit is refused rather than rounded.
const INT8_OID = 20;
const NUMERIC_OID = 1700;

function parseSafeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new RangeError(`database value ${text} is not a safe integer`);
  return value;
}

/** A pg pool whose int8/numeric columns come back as numbers. */
export function openPostgresPool(options: PostgresOptions, size = options.poolSize ?? 10): pg.Pool {
  const driver = (options.driver as typeof pg | undefined) ?? postgresDriver();
  const pool = new driver.Pool({
    connectionString: options.connectionString,
    max: size,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID || oid === NUMERIC_OID
          ? parseSafeNumber
          : driver.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // A connection the server ends (57P01 on a restart) or that breaks makes its client emit
  // `error`. The pool listens only while the client is idle (and then emits it as its own); a
  // client in use, even between two statements, has no listener, and Node would end the process
  // with the error. So every client gets a listener for its whole life, and the pool's own
  // event, which repeats an idle client's error, is heard and dropped.
  pool.on('connect', (client) => {
    client.on('error', (error) => options.onConnectionError?.(error));
  });
  pool.on('error', () => undefined);
  return pool;
}

/** Opens a kysely instance on the chosen dialect. */
export function connect(options: ConnectionOptions): Connection {
  if (options.dialect === 'sqlite') {
    const raw = openSqlite(options);
    const db = new Kysely<Schema>({
      dialect: mapUnavailable(new ImmediateSqliteDialect(withStatementCache(raw))),
    });
    const wal =
      options.synchronous === 'normal' || raw.memory
        ? undefined
        : new WalFlusher(`${resolve(options.path)}-wal`, options.wrapWalFlush);
    return { dialect: 'sqlite', db, raw, wal };
  }
  if (options.dialect === 'postgres') {
    const lockPoolSize = options.lockPoolSize ?? 4;
    if (!Number.isSafeInteger(lockPoolSize) || lockPoolSize < 1) {
      throw new RangeError('lockPoolSize must be a positive integer');
    }
    const timeout = options.connectTimeoutMs;
    if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout < 1)) {
      throw new RangeError('connectTimeoutMs must be a positive integer');
    }
    const raw = openPostgresPool(options);
    // pg pools connect lazily: a process that never locks (the CLI) opens no lock connection.
    const lockPool = openPostgresPool(options, lockPoolSize);
    const db = new Kysely<Schema>({ dialect: mapUnavailable(new PostgresDialect({ pool: raw })) });
    return { dialect: 'postgres', db, raw, lockPool };
  }
  throw new TypeError(
    `unknown dialect ${JSON.stringify((options as { dialect: unknown }).dialect)}`,
  );
}
