import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { LeaseDbError } from './errors.js';
import { asUnavailable, isUnavailableError } from './unavailable.js';

/**
 * Session-scoped PostgreSQL advisory locks held around a whole operation (database writes and
 * the backend calls between them), so that several server processes sharing one database take
 * turns on one storage index or one account.
 *
 * Key spaces. `lockStorageIndex` takes a *transaction* lock on `schema/SI` inside each leasedb
 * transaction. Transaction and session advisory locks on the same key conflict across sessions,
 * and the transactions that `fn` runs use other connections (the query pool) than the one
 * holding the session lock: a session lock on `schema/SI` would make the holder wait for itself
 * forever. So these locks live in spaces of their own, `schema/op/SI` and `schema/acct/ID`
 * (storage indexes are base32 and never contain `/`, so no key of one space names another).
 * A transaction does not wait for a session lock of another process; serialisation across
 * processes comes from every writer taking the session lock first, as the accountant does.
 *
 * Connections. The locks are taken on connections of a small pool of their own, never the query
 * pool: a holder waits for query connections while it runs, so holders drawn from the query pool
 * could take every connection and wait for each other. A lock taken while another is held in the
 * same async context (the accountant's account lock inside its storage-index lock) reuses that
 * connection instead of taking a second one, so nested locks cannot exhaust the lock pool either.
 * PostgreSQL's session locks are reentrant, so they exclude other processes only: exclusion
 * within the process is the caller's job (the accountant's in-process keyed locks).
 */
export class SessionLocks {
  readonly #pool: pg.Pool;
  readonly #context = new AsyncLocalStorage<pg.PoolClient>();
  /** Keys this process holds, and how many callers are inside each. */
  readonly #holding = new Map<
    string,
    { count: number; drained: () => void; idle: Promise<void> }
  >();
  /** Connections taken from the pool and not yet given back, ended by `close()`. */
  readonly #out = new Set<pg.PoolClient>();
  #closed = false;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
    // An idle connection the server dropped is discarded by the pool; without a listener the
    // 'error' event would end the process.
    pool.on('error', () => undefined);
  }

  /** Runs `fn` holding the session advisory lock `current_schema() || suffix`. */
  async run<T>(suffix: string, fn: () => Promise<T>): Promise<T> {
    const holding = this.#holding.get(suffix);
    if (holding) {
      // Held by this process already. A PostgreSQL session lock excludes other sessions only, so
      // a second caller here is let in as PostgreSQL would let in its own session: exclusion in
      // the process is the caller's in-process lock. This also keeps a caller from waiting on
      // one that will never finish (an abandoned operation, as the accountant's crash tests
      // simulate) — which a real crash would end by ending its session.
      holding.count++;
      try {
        return await fn();
      } finally {
        if (--holding.count === 0) holding.drained();
      }
    }
    const outer = this.#context.getStore();
    const client = outer ?? (await this.#connect());
    try {
      await client.query('select pg_advisory_lock(hashtextextended(current_schema() || $1, 0))', [
        suffix,
      ]);
    } catch (error) {
      if (!outer) this.#giveBack(client, error as Error);
      if (isUnavailableError(error)) throw asUnavailable(error);
      throw new LeaseDbError('BUSY', `could not take the lock ${suffix}`, { cause: error });
    }
    let drained!: () => void;
    const idle = new Promise<void>((resolve) => {
      drained = resolve;
    });
    const entry = { count: 1, drained, idle };
    this.#holding.set(suffix, entry);
    try {
      return outer ? await fn() : await this.#context.run(client, fn);
    } finally {
      if (--entry.count === 0) entry.drained();
      // Callers let in beside this one still count on the lock.
      await entry.idle;
      this.#holding.delete(suffix);
      let broken: Error | undefined;
      try {
        await client.query(
          'select pg_advisory_unlock(hashtextextended(current_schema() || $1, 0))',
          [suffix],
        );
      } catch (error) {
        // The connection is gone or unusable: destroying it ends the session, which releases
        // every lock it held. The operation's own outcome is what the caller gets.
        broken = error as Error;
      }
      if (!outer) this.#giveBack(client, broken);
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      if (isUnavailableError(error)) throw asUnavailable(error);
      throw new LeaseDbError('BUSY', 'could not reach the lease database for a lock', {
        cause: error,
      });
    }
    this.#out.add(client);
    return client;
  }

  /** Returns a connection to the pool, or destroys it (with its session's locks) after an error. */
  #giveBack(client: pg.PoolClient, error?: Error): void {
    if (!this.#out.delete(client)) return; // closed meanwhile
    client.release(error);
  }

  /**
   * Ends the pool. Connections still held (an operation that never finished) are destroyed,
   * which releases their locks: closing must not wait for them.
   */
  async close(): Promise<void> {
    // Closing twice is harmless, as kysely's destroy of the query pool is.
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#out) client.release(new Error('the lease database was closed'));
    this.#out.clear();
    await this.#pool.end();
  }
}
