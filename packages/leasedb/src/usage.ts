import type { Ctx } from './context.js';
import { appendEvent } from './events.js';
import { SHARE_STATES, type ShareState, type Usage } from './types.js';
import { assertAccountId } from './validate.js';

/** Totals recomputed from the share and lease tables, ignoring the maintained counters. */
export interface RecomputedUsage {
  /** Every account, including those with nothing leased. */
  readonly accounts: ReadonlyMap<number, Usage>;
  readonly server: Usage;
}

export interface UsageMismatch {
  /** An account id, or `server` for the whole-server totals. */
  readonly scope: number | 'server';
  readonly maintained: Usage;
  readonly recomputed: Usage;
}

const ZERO: Usage = Object.freeze({ shares: 0, bytes: 0 });

/** One indexed read of an account's maintained totals; undefined for an unknown account. */
export async function getAccountUsage(ctx: Ctx, accountId: number): Promise<Usage | undefined> {
  assertAccountId(accountId);
  return await ctx.db
    .selectFrom('account_usage')
    .select(['shares', 'bytes'])
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

/** Every share on the server (any state), counted once whoever leases it. */
export async function getServerUsage(ctx: Ctx): Promise<Usage> {
  return await ctx.db
    .selectFrom('server_usage')
    .select(['shares', 'bytes'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
}

/** Shares and their bytes by state, counted in the database (one grouped query). */
export async function countSharesByState(ctx: Ctx): Promise<Record<ShareState, Usage>> {
  const rows = await ctx.db
    .selectFrom('shares')
    .select((eb) => [
      'state',
      eb.fn.countAll<number>().as('shares'),
      eb.fn.coalesce(eb.fn.sum<number>('used_space'), eb.lit(0)).as('bytes'),
    ])
    .groupBy('state')
    .execute();
  const counts = Object.fromEntries(
    SHARE_STATES.map((state) => [state, { shares: 0, bytes: 0 }]),
  ) as Record<ShareState, Usage>;
  for (const row of rows) {
    counts[row.state as ShareState] = { shares: Number(row.shares), bytes: Number(row.bytes) };
  }
  return counts;
}

/** Every lease beside the share it is on. */
function leasesWithShares(ctx: Ctx) {
  return ctx.db
    .selectFrom('leases')
    .innerJoin('shares', (join) =>
      join
        .onRef('shares.storage_index', '=', 'leases.storage_index')
        .onRef('shares.shnum', '=', 'leases.shnum'),
    );
}

export async function recomputeUsage(ctx: Ctx): Promise<RecomputedUsage> {
  // Sizes come from the shares table through the join, so a lease whose copy of used_space went
  // wrong is caught here as well.
  const perAccount = await leasesWithShares(ctx)
    .select((eb) => [
      'leases.account_id',
      eb.fn.countAll<number>().as('shares'),
      eb.fn.coalesce(eb.fn.sum<number>('shares.used_space'), eb.lit(0)).as('bytes'),
    ])
    .groupBy('leases.account_id')
    .execute();
  const accountIds = await ctx.db.selectFrom('accounts').select('id').execute();
  const accounts = new Map<number, Usage>(accountIds.map((row) => [row.id, ZERO]));
  for (const row of perAccount)
    accounts.set(row.account_id, { shares: Number(row.shares), bytes: Number(row.bytes) });
  const server = await ctx.db
    .selectFrom('shares')
    .select((eb) => [
      eb.fn.countAll<number>().as('shares'),
      eb.fn.coalesce(eb.fn.sum<number>('used_space'), eb.lit(0)).as('bytes'),
    ])
    .executeTakeFirstOrThrow();
  return { accounts, server: { shares: Number(server.shares), bytes: Number(server.bytes) } };
}

/** Compares the maintained totals with a recount; an empty list means they agree. */
export async function checkUsage(ctx: Ctx): Promise<UsageMismatch[]> {
  const recomputed = await recomputeUsage(ctx);
  const maintained = await ctx.db
    .selectFrom('account_usage')
    .select(['account_id', 'shares', 'bytes'])
    .execute();
  const byAccount = new Map(
    maintained.map((row) => [row.account_id, { shares: row.shares, bytes: row.bytes }]),
  );
  const mismatches: UsageMismatch[] = [];
  for (const [accountId, expected] of recomputed.accounts) {
    const actual = byAccount.get(accountId) ?? ZERO;
    if (actual.shares !== expected.shares || actual.bytes !== expected.bytes) {
      mismatches.push({ scope: accountId, maintained: actual, recomputed: expected });
    }
  }
  const server = await getServerUsage(ctx);
  if (server.shares !== recomputed.server.shares || server.bytes !== recomputed.server.bytes) {
    mismatches.push({ scope: 'server', maintained: server, recomputed: recomputed.server });
  }
  return mismatches;
}

/**
 * Recounts, writes the recount over any maintained total that differs (and the lease copies of
 * share sizes), records a `usage-corrected` event per correction and returns what differed.
 */
export async function repairUsage(ctx: Ctx, actor: string | null): Promise<UsageMismatch[]> {
  const staleCopies = await leasesWithShares(ctx)
    .select(['leases.storage_index', 'leases.shnum', 'shares.used_space'])
    .whereRef('leases.used_space', '!=', 'shares.used_space')
    .execute();
  for (const row of staleCopies) {
    await ctx.db
      .updateTable('leases')
      .set({ used_space: row.used_space })
      .where('storage_index', '=', row.storage_index)
      .where('shnum', '=', row.shnum)
      .execute();
  }
  const mismatches = await checkUsage(ctx);
  for (const mismatch of mismatches) {
    if (mismatch.scope === 'server') {
      await ctx.db
        .updateTable('server_usage')
        .set(mismatch.recomputed)
        .where('id', '=', 1)
        .execute();
    } else {
      await ctx.db
        .updateTable('account_usage')
        .set(mismatch.recomputed)
        .where('account_id', '=', mismatch.scope)
        .execute();
    }
  }
  // Events last: appending one holds the log's lock until commit (see appendEvent).
  for (const mismatch of mismatches) {
    await appendEvent(ctx, {
      kind: 'usage-corrected',
      accountId: mismatch.scope === 'server' ? null : mismatch.scope,
      actor,
      data: { maintained: mismatch.maintained, recomputed: mismatch.recomputed },
    });
  }
  return mismatches;
}
