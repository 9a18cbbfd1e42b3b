import type { Ctx } from './context.js';
import type { TrafficCounts, TrafficSample } from './types.js';
import { assertAccountId, assertNonNegativeInteger } from './validate.js';

// Traffic per account and hour, as counters that are only ever added to: every server process
// of a node counts what it served in memory and adds its counts now and then, so the rows hold
// the sum of all of them whatever order their additions land in.

const HOUR = 3600;

/** An account's traffic in one hour, to be added to what the database holds for that hour. */
export interface TrafficRow extends TrafficCounts {
  readonly accountId: number;
  /** Start of the hour (Unix seconds, a multiple of 3600). */
  readonly hour: number;
}

export interface TrafficQuery {
  /** One account's traffic; without it, the sum over every account (the node's). */
  readonly accountId?: number;
  /** Hours starting at or after this time (Unix seconds). */
  readonly from: number;
  /** Hours starting before this time. */
  readonly to: number;
}

/**
 * Rows per upsert statement: at six parameters a row, far below either dialect's limit on bound
 * parameters (SQLite 32,766; PostgreSQL 65,535), however many rows a batch holds.
 */
const ROWS_PER_STATEMENT = 500;

function assertTrafficRow(row: unknown): asserts row is TrafficRow {
  if (typeof row !== 'object' || row === null) throw new TypeError('a traffic row is an object');
  const { accountId, hour, uploads, reads, bytesIn, bytesOut } = row as TrafficRow;
  assertAccountId(accountId);
  assertNonNegativeInteger('hour', hour);
  if (hour % HOUR !== 0) {
    throw new RangeError(`hour must be the start of an hour (a multiple of 3600), got ${hour}`);
  }
  assertNonNegativeInteger('uploads', uploads);
  assertNonNegativeInteger('reads', reads);
  assertNonNegativeInteger('bytesIn', bytesIn);
  assertNonNegativeInteger('bytesOut', bytesOut);
}

/**
 * The rows checked (a malformed one throws before anything is written), rows of one account and
 * hour summed into one (PostgreSQL refuses an upsert that meets one key twice), rows of zeros
 * left out, and sorted by key: concurrent batches then lock the rows they share in one order
 * (PostgreSQL), so they cannot deadlock on them.
 */
export function trafficBatch(rows: readonly TrafficRow[]): TrafficRow[] {
  if (!Array.isArray(rows)) throw new TypeError('traffic rows must be an array');
  for (const row of rows) assertTrafficRow(row);
  const merged = new Map<string, TrafficRow>();
  for (const row of rows) {
    if (row.uploads === 0 && row.reads === 0 && row.bytesIn === 0 && row.bytesOut === 0) continue;
    const key = `${row.accountId}/${row.hour}`;
    const before = merged.get(key);
    merged.set(
      key,
      before
        ? {
            accountId: row.accountId,
            hour: row.hour,
            uploads: before.uploads + row.uploads,
            reads: before.reads + row.reads,
            bytesIn: before.bytesIn + row.bytesIn,
            bytesOut: before.bytesOut + row.bytesOut,
          }
        : row,
    );
  }
  const batch = [...merged.values()];
  // Sums of safe integers may not be one.
  for (const row of batch) assertTrafficRow(row);
  return batch.sort((a, b) => a.accountId - b.accountId || a.hour - b.hour);
}

/**
 * Adds each row of a batch made by {@link trafficBatch} to the account's row of that hour,
 * creating it at zero first: one upsert whose update adds, the same statement on both dialects.
 */
export async function addTraffic(ctx: Ctx, batch: readonly TrafficRow[]): Promise<void> {
  for (let start = 0; start < batch.length; start += ROWS_PER_STATEMENT) {
    const chunk = batch.slice(start, start + ROWS_PER_STATEMENT);
    await ctx.db
      .insertInto('traffic')
      .values(
        chunk.map((row) => ({
          account_id: row.accountId,
          hour: row.hour,
          uploads: row.uploads,
          reads: row.reads,
          bytes_in: row.bytesIn,
          bytes_out: row.bytesOut,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['account_id', 'hour']).doUpdateSet((eb) => ({
          uploads: eb('traffic.uploads', '+', eb.ref('excluded.uploads')),
          reads: eb('traffic.reads', '+', eb.ref('excluded.reads')),
          bytes_in: eb('traffic.bytes_in', '+', eb.ref('excluded.bytes_in')),
          bytes_out: eb('traffic.bytes_out', '+', eb.ref('excluded.bytes_out')),
        })),
      )
      .execute();
  }
}

/**
 * The hours in [from, to) that have traffic, oldest first: one account's, or without
 * `accountId` the sum over all accounts. Hours without a row (nothing served) are left out.
 */
export async function getTraffic(ctx: Ctx, query: TrafficQuery): Promise<TrafficSample[]> {
  if (typeof query !== 'object' || query === null) {
    throw new TypeError('a traffic query is an object');
  }
  const { accountId, from, to } = query;
  if (accountId !== undefined) assertAccountId(accountId);
  assertNonNegativeInteger('from', from);
  assertNonNegativeInteger('to', to);
  if (to <= from) return [];
  const inRange = ctx.db.selectFrom('traffic').where('hour', '>=', from).where('hour', '<', to);
  // pg's type parsers give int8 and numeric (a sum of bigints) as numbers already; Number()
  // covers kysely's typing of sums (string | number | bigint).
  const rows =
    accountId === undefined
      ? await inRange
          .select((eb) => [
            'hour',
            eb.fn.sum('uploads').as('uploads'),
            eb.fn.sum('reads').as('reads'),
            eb.fn.sum('bytes_in').as('bytes_in'),
            eb.fn.sum('bytes_out').as('bytes_out'),
          ])
          .groupBy('hour')
          .orderBy('hour')
          .execute()
      : await inRange
          .select(['hour', 'uploads', 'reads', 'bytes_in', 'bytes_out'])
          .where('account_id', '=', accountId)
          .orderBy('hour')
          .execute();
  return rows.map((row) => ({
    hour: Number(row.hour),
    uploads: Number(row.uploads),
    reads: Number(row.reads),
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
  }));
}

/** Deletes the rows of hours starting before `hour` (retention); returns how many went. */
export async function deleteTrafficBefore(ctx: Ctx, hour: number): Promise<number> {
  assertNonNegativeInteger('hour', hour);
  const result = await ctx.db.deleteFrom('traffic').where('hour', '<', hour).executeTakeFirst();
  return Number(result.numDeletedRows);
}
