import { sql } from 'kysely';
import type { Ctx } from './context.js';
import { toEvent } from './rows.js';
import { type ActivityEvent, EVENT_KINDS, type EventKind } from './types.js';
import {
  assertAccountId,
  assertNonNegativeInteger,
  assertShnum,
  assertStorageIndex,
  pageLimit,
} from './validate.js';

export interface EventInput {
  readonly kind: EventKind;
  readonly accountId?: number | null;
  readonly actor?: string | null;
  readonly storageIndex?: string | null;
  readonly shnum?: number | null;
  readonly data?: Readonly<Record<string, unknown>>;
  /** Defaults to the clock's now. */
  readonly at?: number;
}

export interface EventQuery {
  /** Events at or after this time. */
  readonly since?: number;
  /** Events before this time. */
  readonly until?: number;
  readonly accountId?: number;
  readonly kinds?: readonly EventKind[];
  /** Only events with an id greater than this (for following the log). */
  readonly afterId?: number;
  /** Only events with an id less than this (for paging back through the log, newest first). */
  readonly beforeId?: number;
  /** Oldest first (default) or newest first. */
  readonly order?: 'asc' | 'desc';
  /** At most this many (default 100, at most 10,000). */
  readonly limit?: number;
}

function assertEventKind(kind: unknown): asserts kind is EventKind {
  if (!EVENT_KINDS.includes(kind as EventKind))
    throw new TypeError(`unknown event kind ${JSON.stringify(kind)}`);
}

export function validateEvent(input: EventInput): void {
  assertEventKind(input.kind);
  if (input.accountId != null) assertAccountId(input.accountId);
  if (input.storageIndex != null) assertStorageIndex(input.storageIndex);
  if (input.shnum != null) assertShnum(input.shnum);
  if (input.at !== undefined) assertNonNegativeInteger('at', input.at);
  if (input.actor != null && (typeof input.actor !== 'string' || input.actor.length > 200)) {
    throw new TypeError('actor must be a string of at most 200 characters');
  }
}

/** Appends to the activity log (in the caller's transaction, when there is one). */
export async function appendEvent(ctx: Ctx, input: EventInput): Promise<void> {
  await appendEvents(ctx, [input]);
}

const EVENTS_PER_INSERT = 500;

/** Appends several events, in order, with one INSERT per 500. */
export async function appendEvents(ctx: Ctx, inputs: readonly EventInput[]): Promise<void> {
  for (const input of inputs) validateEvent(input);
  if (inputs.length === 0) return;
  if (ctx.dialect === 'postgres') {
    // Ids come from a sequence at insert time but become visible at commit, so two writers could
    // commit out of id order and a reader following the log by `afterId` would skip the later-
    // committed, lower id for good. Holding this lock from the insert to the commit makes commit
    // order equal id order. Events are written last in every transaction, so it is held briefly.
    await sql`select pg_advisory_xact_lock(hashtextextended(current_schema() || '/events', 0))`.execute(
      ctx.db,
    );
  }
  const now = ctx.now();
  for (let start = 0; start < inputs.length; start += EVENTS_PER_INSERT) {
    await ctx.db
      .insertInto('events')
      .values(
        inputs.slice(start, start + EVENTS_PER_INSERT).map((input) => ({
          at: input.at ?? now,
          kind: input.kind,
          account_id: input.accountId ?? null,
          actor: input.actor ?? null,
          storage_index: input.storageIndex ?? null,
          shnum: input.shnum ?? null,
          data: JSON.stringify(input.data ?? {}),
        })),
      )
      .execute();
  }
}

export async function listEvents(ctx: Ctx, query: EventQuery = {}): Promise<ActivityEvent[]> {
  const limit = pageLimit(query.limit, 100, 10_000);
  const order = query.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new TypeError('order must be asc or desc');
  let select = ctx.db.selectFrom('events').selectAll();
  if (query.since !== undefined) {
    assertNonNegativeInteger('since', query.since);
    select = select.where('at', '>=', query.since);
  }
  if (query.until !== undefined) {
    assertNonNegativeInteger('until', query.until);
    select = select.where('at', '<', query.until);
  }
  if (query.accountId !== undefined) {
    assertAccountId(query.accountId);
    select = select.where('account_id', '=', query.accountId);
  }
  if (query.kinds !== undefined) {
    for (const kind of query.kinds) assertEventKind(kind);
    if (query.kinds.length === 0) return [];
    select = select.where('kind', 'in', [...query.kinds]);
  }
  if (query.afterId !== undefined) {
    assertNonNegativeInteger('afterId', query.afterId);
    select = select.where('id', '>', query.afterId);
  }
  if (query.beforeId !== undefined) {
    assertNonNegativeInteger('beforeId', query.beforeId);
    select = select.where('id', '<', query.beforeId);
  }
  const rows = await select.orderBy('id', order).limit(limit).execute();
  return rows.map(toEvent);
}

/** Deletes events older than `before`; returns how many. */
export async function pruneEvents(ctx: Ctx, before: number): Promise<number> {
  assertNonNegativeInteger('before', before);
  const result = await ctx.db.deleteFrom('events').where('at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
