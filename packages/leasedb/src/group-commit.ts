import { type Kysely, sql, type Transaction } from 'kysely';
import { type Ctx, isBusy } from './context.js';
import { LeaseDbError } from './errors.js';
import type { Schema } from './schema.js';

/** At most this many writes share a transaction. */
export const MAX_GROUP = 256;

interface Pending {
  readonly fn: (ctx: Ctx) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

export interface GroupCommitOptions {
  /** Runs a write alone, in a transaction of its own, durable when it resolves. */
  readonly alone: (fn: (ctx: Ctx) => Promise<unknown>) => Promise<unknown>;
  /** Once a group's transaction has committed: resolves when that commit is on the disk. */
  readonly durable: () => Promise<void>;
  /** Told how many writes each durable commit covered. */
  readonly onCommit: ((writes: number) => void) | undefined;
}

/**
 * Group commit for SQLite, as databases do it: writes asked for while the connection is busy go
 * into one transaction together, and each caller's promise settles only once the commit that
 * covers its write is on the disk: one flush of the write-ahead log for the whole group (see
 * WalFlusher), and while it runs the next group gathers.
 *
 * Each write runs inside a savepoint of the shared transaction: one that throws (a refusal such
 * as a quota, a conflict, a state that forbids it) is rolled back to its savepoint and rejects
 * with its own error, while the others commit. When the transaction itself fails (BEGIN, a
 * savepoint, COMMIT: the disk), nothing of it committed, and each write is tried again alone,
 * for its own result: writes have no effects outside the database, so running one again is
 * safe. A database that is away or busy fails the whole group with that error.
 */
export class GroupCommit {
  readonly #ctx: Ctx;
  readonly #alone: GroupCommitOptions['alone'];
  readonly #durable: GroupCommitOptions['durable'];
  readonly #onCommit: GroupCommitOptions['onCommit'];
  readonly #queue: Pending[] = [];
  #draining = false;

  constructor(ctx: Ctx, options: GroupCommitOptions) {
    this.#ctx = ctx;
    this.#alone = options.alone;
    this.#durable = options.durable;
    this.#onCommit = options.onCommit;
  }

  run<T>(fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        // After the I/O callbacks now due, so that requests read in the same turn share a group.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue.splice(0, MAX_GROUP);
      if (group.length === 1) {
        const [only] = group as [Pending];
        await this.#alone(only.fn).then((value) => {
          this.#onCommit?.(1);
          only.resolve(value);
        }, only.reject);
        continue;
      }
      let outcomes: Outcome[];
      try {
        outcomes = await (this.#ctx.db as Kysely<Schema>)
          .transaction()
          .execute((trx) => this.#runGroup(trx, group));
      } catch (error) {
        await this.#retryAlone(group, error);
        continue;
      }
      try {
        await this.#durable();
      } catch (error) {
        // Committed, but not known to be on the disk: no write of the group is acknowledged.
        outcomes.forEach((outcome, i) => {
          group[i]!.reject(outcome.ok ? error : outcome.error);
        });
        continue;
      }
      this.#onCommit?.(outcomes.filter((outcome) => outcome.ok).length);
      outcomes.forEach((outcome, i) => {
        if (outcome.ok) group[i]!.resolve(outcome.value);
        else group[i]!.reject(outcome.error);
      });
    }
    this.#draining = false;
  }

  /** After a group's transaction failed (nothing of it committed). */
  async #retryAlone(group: readonly Pending[], error: unknown): Promise<void> {
    // A database that is away or held by another process fails each write alike (and alone each
    // would wait busy_timeout again): all of them get that error. Otherwise each write alone,
    // for its own result.
    if (error instanceof LeaseDbError || isBusy(error)) {
      const reason = isBusy(error)
        ? new LeaseDbError('BUSY', 'the lease database is busy; try again', { cause: error })
        : error;
      for (const pending of group) pending.reject(reason);
      return;
    }
    for (const pending of group) {
      await this.#alone(pending.fn).then((value) => {
        this.#onCommit?.(1);
        pending.resolve(value);
      }, pending.reject);
    }
  }

  async #runGroup(trx: Transaction<Schema>, group: readonly Pending[]): Promise<Outcome[]> {
    const ctx: Ctx = { ...this.#ctx, db: trx };
    const outcomes: Outcome[] = [];
    for (const pending of group) {
      await sql`savepoint grouped_write`.execute(trx);
      try {
        const value = await pending.fn(ctx);
        await sql`release grouped_write`.execute(trx);
        outcomes.push({ ok: true, value });
      } catch (error) {
        // A failed rollback (the transaction is gone) throws out of the group: all retried alone.
        await sql`rollback to grouped_write`.execute(trx);
        await sql`release grouped_write`.execute(trx);
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }
}
