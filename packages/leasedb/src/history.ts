import { sql } from 'kysely';
import type { Ctx } from './context.js';
import type { CrawlerCycle, CrawlerState, UsageSample } from './types.js';
import { assertAccountId, assertNonNegativeInteger, assertPositiveInteger } from './validate.js';

const HOUR = 3600;

export interface TimeRange {
  /** Samples at or after this time (default: all). */
  readonly from?: number;
  /** Samples before this time (default: all). */
  readonly to?: number;
}

/**
 * Records every account's current totals (and the server's) as the sample of the hour that `at`
 * falls in; taking it again in the same hour overwrites that hour's sample. Returns the hour.
 */
export async function snapshotUsage(ctx: Ctx, at: number): Promise<number> {
  assertNonNegativeInteger('at', at);
  const hour = Math.floor(at / HOUR) * HOUR;
  await ctx.db
    .insertInto('usage_history')
    .columns(['account_id', 'at', 'shares', 'bytes'])
    .expression((eb) =>
      eb
        .selectFrom('account_usage')
        .select((s) => ['account_id', s.val(hour).as('at'), 'shares', 'bytes'])
        // SQLite needs a WHERE in INSERT ... SELECT before an upsert clause to parse it.
        .where('account_id', '>=', 0),
    )
    .onConflict((oc) =>
      oc.columns(['account_id', 'at']).doUpdateSet((eb) => ({
        shares: eb.ref('excluded.shares'),
        bytes: eb.ref('excluded.bytes'),
      })),
    )
    .execute();
  const server = await ctx.db
    .selectFrom('server_usage')
    .select(['shares', 'bytes'])
    .executeTakeFirstOrThrow();
  await ctx.db
    .insertInto('server_usage_history')
    .values({ at: hour, shares: server.shares, bytes: server.bytes })
    .onConflict((oc) => oc.column('at').doUpdateSet({ shares: server.shares, bytes: server.bytes }))
    .execute();
  return hour;
}

/**
 * Thins out the usage samples (accounts' and the server's) taken before `before`: of those, only
 * the sample of the first hour of each UTC day stays, so old history costs a row a day, not 24.
 * Returns how many rows went.
 */
export async function pruneUsageHistory(ctx: Ctx, before: number): Promise<number> {
  assertNonNegativeInteger('before', before);
  let deleted = 0;
  for (const table of ['usage_history', 'server_usage_history'] as const) {
    const result = await ctx.db
      .deleteFrom(table)
      .where('at', '<', before)
      .where(sql`at % 86400`, '<>', 0)
      .executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  return deleted;
}

function checkRange(range: TimeRange): void {
  if (range.from !== undefined) assertNonNegativeInteger('from', range.from);
  if (range.to !== undefined) assertNonNegativeInteger('to', range.to);
}

export async function getUsageHistory(
  ctx: Ctx,
  accountId: number,
  range: TimeRange = {},
): Promise<UsageSample[]> {
  assertAccountId(accountId);
  checkRange(range);
  let query = ctx.db
    .selectFrom('usage_history')
    .select(['at', 'shares', 'bytes'])
    .where('account_id', '=', accountId);
  if (range.from !== undefined) query = query.where('at', '>=', range.from);
  if (range.to !== undefined) query = query.where('at', '<', range.to);
  return await query.orderBy('at').execute();
}

export async function getServerUsageHistory(
  ctx: Ctx,
  range: TimeRange = {},
): Promise<UsageSample[]> {
  checkRange(range);
  let query = ctx.db.selectFrom('server_usage_history').select(['at', 'shares', 'bytes']);
  if (range.from !== undefined) query = query.where('at', '>=', range.from);
  if (range.to !== undefined) query = query.where('at', '<', range.to);
  return await query.orderBy('at').execute();
}

export function assertCrawlerName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(name)) {
    throw new TypeError('crawler name must be 1–64 characters of a-z, 0-9 and -');
  }
}

function assertCounters(counters: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(counters)) {
    if (!Number.isFinite(value)) throw new TypeError(`counter ${key} must be a finite number`);
  }
}

export async function getCrawlerState(ctx: Ctx, name: string): Promise<CrawlerState | undefined> {
  assertCrawlerName(name);
  const row = await ctx.db
    .selectFrom('crawler_state')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  return (
    row && {
      name: row.name,
      cycle: row.cycle,
      position: row.position,
      cycleStartedAt: row.cycle_started_at,
      updatedAt: row.updated_at,
      counters: JSON.parse(row.counters) as Record<string, number>,
    }
  );
}

/** Saves where a crawler is, so that after a restart it resumes from the next prefix. */
export async function saveCrawlerState(
  ctx: Ctx,
  state: Omit<CrawlerState, 'updatedAt'>,
): Promise<void> {
  assertCrawlerName(state.name);
  assertNonNegativeInteger('cycle', state.cycle);
  if (state.cycleStartedAt !== null)
    assertNonNegativeInteger('cycleStartedAt', state.cycleStartedAt);
  if (state.position !== null && typeof state.position !== 'string')
    throw new TypeError('position must be a string or null');
  assertCounters(state.counters);
  const values = {
    cycle: state.cycle,
    position: state.position,
    cycle_started_at: state.cycleStartedAt,
    updated_at: ctx.now(),
    counters: JSON.stringify(state.counters),
  };
  await ctx.db
    .insertInto('crawler_state')
    .values({ name: state.name, ...values })
    .onConflict((oc) => oc.column('name').doUpdateSet(values))
    .execute();
}

/** Adds a finished cycle to a crawler's history, keeping only the newest `keep` (default 10). */
export async function recordCrawlerCycle(
  ctx: Ctx,
  name: string,
  cycle: CrawlerCycle,
  keep = 10,
): Promise<void> {
  assertCrawlerName(name);
  assertNonNegativeInteger('cycle', cycle.cycle);
  assertNonNegativeInteger('startedAt', cycle.startedAt);
  assertNonNegativeInteger('finishedAt', cycle.finishedAt);
  assertPositiveInteger('keep', keep);
  assertCounters(cycle.counters);
  const values = {
    started_at: cycle.startedAt,
    finished_at: cycle.finishedAt,
    counters: JSON.stringify(cycle.counters),
  };
  await ctx.db
    .insertInto('crawler_history')
    .values({ name, cycle: cycle.cycle, ...values })
    .onConflict((oc) => oc.columns(['name', 'cycle']).doUpdateSet(values))
    .execute();
  const kept = await ctx.db
    .selectFrom('crawler_history')
    .select('cycle')
    .where('name', '=', name)
    .orderBy('cycle', 'desc')
    .limit(1)
    .offset(keep - 1)
    .executeTakeFirst();
  if (kept) {
    await ctx.db
      .deleteFrom('crawler_history')
      .where('name', '=', name)
      .where('cycle', '<', kept.cycle)
      .execute();
  }
}

/** A crawler's finished cycles, newest first. */
export async function listCrawlerCycles(ctx: Ctx, name: string): Promise<CrawlerCycle[]> {
  assertCrawlerName(name);
  const rows = await ctx.db
    .selectFrom('crawler_history')
    .selectAll()
    .where('name', '=', name)
    .orderBy('cycle', 'desc')
    .execute();
  return rows.map((row) => ({
    cycle: row.cycle,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    counters: JSON.parse(row.counters) as Record<string, number>,
  }));
}
