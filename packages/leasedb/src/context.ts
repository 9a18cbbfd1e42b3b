import { type Kysely, sql } from 'kysely';
import type { Dialect } from './dialect.js';
import { LeaseDbError } from './errors.js';
import type { LeasePolicy } from './policy.js';
import type { Schema } from './schema.js';

/** What every operation runs with: an executor (the database or an open transaction), and the rules. */
export interface Ctx {
  readonly db: Kysely<Schema>;
  readonly dialect: Dialect;
  readonly now: () => number;
  readonly policy: LeasePolicy;
}

/**
 * Serialises writers of one storage index for the rest of the transaction. On SQLite the single
 * connection already does; on PostgreSQL several server processes may write, so a transaction-
 * scoped advisory lock keyed by the index takes its place (it also covers rows not created yet).
 */
export async function lockStorageIndex(ctx: Ctx, storageIndex: string): Promise<void> {
  if (ctx.dialect !== 'postgres') return;
  // Advisory locks are per database, not per schema: the key includes the schema so that two
  // lease databases in two schemas of one PostgreSQL database never wait for each other.
  await sql`select pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || ${storageIndex}, 0))`.execute(
    ctx.db,
  );
}

/**
 * Reads an account's usage, locking the row until the transaction ends on PostgreSQL, so that a
 * quota check and the insert it allows cannot interleave with another allocation.
 */
export async function lockAccountUsage(
  ctx: Ctx,
  accountId: number,
): Promise<{ shares: number; bytes: number }> {
  let query = ctx.db
    .selectFrom('account_usage')
    .select(['shares', 'bytes'])
    .where('account_id', '=', accountId);
  if (ctx.dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row)
    throw new LeaseDbError('UNKNOWN_ACCOUNT', `no account ${accountId}`, {
      details: { accountId },
    });
  return row;
}

/**
 * Locks several accounts' usage rows in ascending id order (PostgreSQL), so that transactions
 * that touch overlapping sets of accounts cannot deadlock on them.
 */
export async function lockAccountsInOrder(ctx: Ctx, accountIds: Iterable<number>): Promise<void> {
  if (ctx.dialect !== 'postgres') return;
  const ids = [...new Set(accountIds)].sort((a, b) => a - b);
  if (ids.length === 0) return;
  await ctx.db
    .selectFrom('account_usage')
    .select('account_id')
    .where('account_id', 'in', ids)
    .orderBy('account_id')
    .forUpdate()
    .execute();
}

/** Adds to one account's usage totals. */
export async function addAccountUsage(
  ctx: Ctx,
  accountId: number,
  shares: number,
  bytes: number,
): Promise<void> {
  if (shares === 0 && bytes === 0) return;
  await ctx.db
    .updateTable('account_usage')
    .set((eb) => ({ shares: eb('shares', '+', shares), bytes: eb('bytes', '+', bytes) }))
    .where('account_id', '=', accountId)
    .execute();
}

/**
 * Adds per-account deltas, in ascending account order so that two transactions touching the
 * same accounts on PostgreSQL take their row locks in the same order.
 */
export async function addUsageByAccount(
  ctx: Ctx,
  deltas: ReadonlyMap<number, { shares: number; bytes: number }>,
): Promise<void> {
  const ids = [...deltas.keys()].sort((a, b) => a - b);
  if (ids.length <= 1) {
    for (const id of ids)
      await addAccountUsage(ctx, id, deltas.get(id)!.shares, deltas.get(id)!.bytes);
    return;
  }
  await lockAccountsInOrder(ctx, ids);
  // One statement per chunk rather than one per account: an expiry can touch thousands of
  // accounts, and a round trip each dominated its time on PostgreSQL. CASE keeps it portable
  // (SQLite has no UPDATE ... FROM (VALUES ...) with column names); chunks stay far below either
  // dialect's limit on bound parameters.
  for (let start = 0; start < ids.length; start += USAGE_CHUNK) {
    const chunk = ids.slice(start, start + USAGE_CHUNK);
    const caseOf = (field: 'shares' | 'bytes') =>
      sql`case account_id ${sql.join(
        chunk.map((id) => sql`when ${id} then ${deltas.get(id)![field]}`),
        sql` `,
      )} else 0 end`;
    await sql`
      update account_usage
      set shares = shares + ${caseOf('shares')}, bytes = bytes + ${caseOf('bytes')}
      where account_id in (${sql.join(chunk)})`.execute(ctx.db);
  }
}

const USAGE_CHUNK = 500;

/** Adds to the whole-server totals. */
export async function addServerUsage(ctx: Ctx, shares: number, bytes: number): Promise<void> {
  if (shares === 0 && bytes === 0) return;
  await ctx.db
    .updateTable('server_usage')
    .set((eb) => ({ shares: eb('shares', '+', shares), bytes: eb('bytes', '+', bytes) }))
    .where('id', '=', 1)
    .execute();
}

/** Sums deleted lease rows into per-account usage deltas (negative). */
export function releasedUsage(
  rows: readonly { account_id: number; used_space: number }[],
): Map<number, { shares: number; bytes: number }> {
  const deltas = new Map<number, { shares: number; bytes: number }>();
  for (const row of rows) {
    const delta = deltas.get(row.account_id) ?? { shares: 0, bytes: 0 };
    delta.shares -= 1;
    delta.bytes -= row.used_space;
    deltas.set(row.account_id, delta);
  }
  return deltas;
}

/** Whether a driver error is a PostgreSQL deadlock or serialisation failure worth retrying. */
export function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** Whether a driver error says another writer held the database too long (SQLite's lock). */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Whether a driver error is a unique-key violation (either dialect). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
