import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { LeaseDbError } from './errors.js';

// A database that went away (PostgreSQL restarted, the network cut, the SQLite file's disk
// failing) must reach callers as one kind of error they can answer with "try again" (a 503),
// never as a driver's own error (which a server would answer with a 500) and never by ending the
// process. Every statement goes through the driver, so the driver is where such failures are
// recognised and turned into LeaseDbError UNAVAILABLE.

/** PostgreSQL SQLSTATEs of a server that is not (or no longer) there for this connection. */
function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown: terminated by pg_terminate_backend or a fast stop
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now: starting up or shutting down
    code === '53300' || // too_many_connections
    code === '53100' || // disk_full
    code === '58030' // io_error
  );
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres reports a connection lost or never made with these messages (no code). */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Connection ended unexpectedly/i;

/**
 * Whether a driver error means the database cannot be used for now (as opposed to a statement
 * it refused): PostgreSQL away or restarting, the connection cut, or SQLite's file unreadable,
 * unwritable or its disk full.
 */
export function isUnavailableError(error: unknown): boolean {
  if (error instanceof LeaseDbError) return error.code === 'UNAVAILABLE';
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    if (code.startsWith('SQLITE_')) {
      return /^SQLITE_(IOERR|CANTOPEN|FULL|READONLY|NOTADB|CORRUPT)/.test(code);
    }
    if (/^[0-9A-Z]{5}$/.test(code)) return isUnavailableSqlState(code);
  }
  return typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message);
}

/** `error` as LeaseDbError UNAVAILABLE when it is such a failure, else as it is. */
export function asUnavailable(error: unknown): unknown {
  if (!isUnavailableError(error) || error instanceof LeaseDbError) return error;
  const reason = (error as { message?: unknown }).message;
  return new LeaseDbError(
    'UNAVAILABLE',
    `the lease database is unavailable${typeof reason === 'string' ? `: ${reason}` : ''}`,
    { cause: error },
  );
}

async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw asUnavailable(error);
  }
}

class MappedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return mapped(() => this.inner.executeQuery<R>(query));
  }

  async *streamQuery<R>(
    query: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (error) {
      throw asUnavailable(error);
    }
  }
}

const innerOf = (connection: DatabaseConnection) =>
  connection instanceof MappedConnection ? connection.inner : connection;

class MappedDriver implements Driver {
  constructor(readonly inner: Driver) {}

  init(): Promise<void> {
    return mapped(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new MappedConnection(await mapped(() => this.inner.acquireConnection()));
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return mapped(() => this.inner.beginTransaction(innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.inner.commitTransaction(innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.inner.rollbackTransaction(innerOf(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** `dialect` whose driver reports an unavailable database as LeaseDbError UNAVAILABLE. */
export function mapUnavailable(dialect: Dialect): Dialect {
  return {
    createAdapter: (): DialectAdapter => dialect.createAdapter(),
    createDriver: (): Driver => new MappedDriver(dialect.createDriver()),
    createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
    // biome-ignore lint/suspicious/noExplicitAny: kysely's own signature
    createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
  };
}
