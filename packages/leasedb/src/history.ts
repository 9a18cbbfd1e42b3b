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
 * True where account_usage row `u` holds the same totals as the account's latest sample before
 * `hour`. An account with no earlier sample is never unchanged (a missing row compares as null).
 */
const unchangedSince = (hour: number) => sql<boolean>`(u.shares, u.bytes) = (
  select p.shares, p.bytes from usage_history p
  where p.account_id = u.account_id and p.at < ${hour}
  order by p.at desc limit 1)`;

/**
 * Records usage as the sample of the hour that `at` falls in; taking it again in the same hour
 * overwrites that hour's sample. Usage is a level: an account's sample stays in force until its
 * next one, so an account is written only when its totals differ from its latest earlier sample
 * (idle accounts cost no rows). The server's totals are written every hour. Returns the hour.
 */
export async function snapshotUsage(ctx: Ctx, at: number): Promise<number> {
  assertNonNegativeInteger('at', at);
  const hour = Math.floor(at / HOUR) * HOUR;
  // A sample already taken this hour for an account now back at its earlier totals is stale.
  await sql`delete from usage_history where at = ${hour} and account_id in (
    select u.account_id from account_usage u where ${unchangedSince(hour)})`.execute(ctx.db);
  // SQLite needs the WHERE in INSERT ... SELECT (it has one) to parse the upsert clause after it.
  await sql`insert into usage_history (account_id, at, shares, bytes)
    select u.account_id, ${hour}, u.shares, u.bytes from account_usage u
    where not coalesce(${unchangedSince(hour)}, false)
    on conflict (account_id, at) do update set shares = excluded.shares, bytes = excluded.bytes`.execute(
    ctx.db,
  );
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
 * the last of each UTC day stays, so old history costs at most a row a day per account, and the
 * level at the end of every day is still known. Returns how many rows went.
 */
export async function pruneUsageHistory(ctx: Ctx, before: number): Promise<number> {
  assertNonNegativeInteger('before', before);
  const laterTheSameDay = (table: 'usage_history' | 'server_usage_history') =>
    sql<boolean>`exists (select 1 from ${sql.table(table)} n
      where ${table === 'usage_history' ? sql`n.account_id = usage_history.account_id and` : sql``}
        n.at > ${sql.table(table)}.at and n.at < ${before}
        and n.at < ${sql.table(table)}.at - ${sql.table(table)}.at % 86400 + 86400)`;
  let deleted = 0;
  for (const table of ['usage_history', 'server_usage_history'] as const) {
    const result = await ctx.db
      .deleteFrom(table)
      .where('at', '<', before)
      .where(laterTheSameDay(table))
      .executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  return deleted;
}

function checkRange(range: TimeRange): void {
  if (range.from !== undefined) assertNonNegativeInteger('from', range.from);
  if (range.to !== undefined) assertNonNegativeInteger('to', range.to);
}

/**
 * The samples in the range, oldest first. A sample is a level in force until the next one, so
 * when the range has a start, the level in force then (the latest earlier sample) comes first,
 * dated at the start, unless a sample falls on it.
 */
async function samplesIn(
  table: 'usage_history' | 'server_usage_history',
  ctx: Ctx,
  accountId: number | undefined,
  range: TimeRange,
): Promise<UsageSample[]> {
  checkRange(range);
  const { from, to } = range;
  if (from !== undefined && to !== undefined && to <= from) return [];
  let query = ctx.db.selectFrom(table).select(['at', 'shares', 'bytes']);
  if (accountId !== undefined) query = query.where(sql.ref('account_id'), '=', accountId);
  let inRange = query;
  if (from !== undefined) inRange = inRange.where('at', '>=', from);
  if (to !== undefined) inRange = inRange.where('at', '<', to);
  const samples: UsageSample[] = await inRange.orderBy('at').execute();
  if (from === undefined || samples[0]?.at === from) return samples;
  const inForce = await query
    .where('at', '<', from)
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return inForce ? [{ ...inForce, at: from }, ...samples] : samples;
}

export async function getUsageHistory(
  ctx: Ctx,
  accountId: number,
  range: TimeRange = {},
): Promise<UsageSample[]> {
  assertAccountId(accountId);
  return await samplesIn('usage_history', ctx, accountId, range);
}

export async function getServerUsageHistory(
  ctx: Ctx,
  range: TimeRange = {},
): Promise<UsageSample[]> {
  return await samplesIn('server_usage_history', ctx, undefined, range);
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
