import { sql } from 'kysely';
import { type Ctx, isUniqueViolation } from './context.js';
import { LeaseDbError } from './errors.js';
import { appendEvent } from './events.js';
import { toAccount } from './rows.js';
import {
  ACCOUNT_STATUSES,
  type AccountRow,
  type AccountStatus,
  type AccountWithUsage,
} from './types.js';
import {
  assertAccountId,
  assertNickname,
  assertNonNegativeInteger,
  assertPositiveInteger,
  normalizePublicKey,
  normalizeReason,
  pageLimit,
} from './validate.js';

export interface CreateAccountInput {
  /** Ed25519 public key: 32 bytes or 64 hex digits. */
  readonly publicKey: Uint8Array | string;
  readonly nickname: string;
  readonly status?: AccountStatus;
  readonly hardQuotaBytes?: number | null;
  readonly softQuotaBytes?: number | null;
  /** Who created it, for the activity log. */
  readonly actor?: string | null;
}

export interface QuotaInput {
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
}

export const ACCOUNT_ORDERS = [
  'id',
  'nickname',
  'status',
  'shares',
  'bytes',
  'createdAt',
  'lastSeen',
  /** The share of its hard quota an account holds; accounts without one come last either way. */
  'hardQuotaUse',
] as const;
export type AccountOrder = (typeof ACCOUNT_ORDERS)[number];

/** What `setAccountStatus` takes besides the status. */
export interface StatusChangeOptions {
  /** Who changed it, for the activity log. */
  readonly actor?: string | null;
  /** Why, kept in the event (trimmed; at most 200 characters, no control characters). */
  readonly reason?: string;
}

export interface AccountQuery {
  readonly status?: AccountStatus;
  /** Case-insensitive substring of the nickname. */
  readonly search?: string;
  /**
   * Only accounts using at least 80% of their soft quota or, without one, of their hard quota
   * (accounts with neither never match).
   */
  readonly nearQuota?: boolean;
  /** Only accounts holding at least their hard quota: they can store nothing more. */
  readonly atHardQuota?: boolean;
  /** `lastSeen` sorts accounts never seen as the oldest (first ascending, last descending). */
  readonly orderBy?: AccountOrder;
  readonly direction?: 'asc' | 'desc';
  /** Default 100, at most 10,000. */
  readonly limit?: number;
  readonly offset?: number;
}

export interface AccountPage {
  readonly accounts: AccountWithUsage[];
  /** Accounts matching the filters, across all pages. */
  readonly total: number;
}

/** Nicknames are searched in one folded form computed here, identical on both dialects. */
function searchKey(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

function assertStatus(status: unknown): asserts status is AccountStatus {
  if (!ACCOUNT_STATUSES.includes(status as AccountStatus)) {
    throw new TypeError(`account status must be one of ${ACCOUNT_STATUSES.join(', ')}`);
  }
}

/** Throws unless both limits are null or sizes, soft at most hard when both are set. */
export function assertQuota(quota: QuotaInput): void {
  if (quota.hardQuotaBytes !== null)
    assertNonNegativeInteger('hardQuotaBytes', quota.hardQuotaBytes);
  if (quota.softQuotaBytes !== null)
    assertNonNegativeInteger('softQuotaBytes', quota.softQuotaBytes);
  if (
    quota.hardQuotaBytes !== null &&
    quota.softQuotaBytes !== null &&
    quota.softQuotaBytes > quota.hardQuotaBytes
  ) {
    throw new RangeError('softQuotaBytes must not exceed hardQuotaBytes');
  }
}

export async function requireAccount(ctx: Ctx, id: number): Promise<AccountRow> {
  assertAccountId(id);
  const account = await getAccount(ctx, id);
  if (!account)
    throw new LeaseDbError('UNKNOWN_ACCOUNT', `no account ${id}`, { details: { accountId: id } });
  return account;
}

export async function createAccount(ctx: Ctx, input: CreateAccountInput): Promise<AccountRow> {
  const publicKey = normalizePublicKey(input.publicKey);
  assertNickname(input.nickname);
  const status = input.status ?? 'normal';
  assertStatus(status);
  const quota = {
    hardQuotaBytes: input.hardQuotaBytes ?? null,
    softQuotaBytes: input.softQuotaBytes ?? null,
  };
  assertQuota(quota);
  const existing = await getAccountByPublicKey(ctx, publicKey);
  if (existing) {
    throw new LeaseDbError('ACCOUNT_EXISTS', `an account with this key exists (${existing.id})`, {
      details: { accountId: existing.id },
    });
  }
  let row: Awaited<ReturnType<typeof insertAccount>>;
  try {
    row = await insertAccount(ctx, publicKey, input.nickname, status, quota);
  } catch (error) {
    // Two processes creating the same key at once on PostgreSQL: the unique index decides.
    if (isUniqueViolation(error))
      throw new LeaseDbError('ACCOUNT_EXISTS', 'an account with this key exists', { cause: error });
    throw error;
  }
  await ctx.db
    .insertInto('account_usage')
    .values({ account_id: row.id, shares: 0, bytes: 0 })
    .execute();
  await appendEvent(ctx, {
    kind: 'account-created',
    accountId: row.id,
    actor: input.actor ?? null,
    data: { nickname: input.nickname, publicKey, status },
  });
  return toAccount(row);
}

function insertAccount(
  ctx: Ctx,
  publicKey: string,
  nickname: string,
  status: AccountStatus,
  quota: QuotaInput,
) {
  return ctx.db
    .insertInto('accounts')
    .values({
      public_key: publicKey,
      nickname,
      nickname_key: searchKey(nickname),
      status,
      hard_quota_bytes: quota.hardQuotaBytes,
      soft_quota_bytes: quota.softQuotaBytes,
      created_at: ctx.now(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getAccount(ctx: Ctx, id: number): Promise<AccountRow | undefined> {
  assertAccountId(id);
  const row = await ctx.db
    .selectFrom('accounts')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toAccount(row);
}

export async function getAccountByPublicKey(
  ctx: Ctx,
  publicKey: Uint8Array | string,
): Promise<AccountRow | undefined> {
  const key = normalizePublicKey(publicKey);
  const row = await ctx.db
    .selectFrom('accounts')
    .selectAll()
    .where('public_key', '=', key)
    .executeTakeFirst();
  return row && toAccount(row);
}

const ORDER_COLUMNS = {
  id: 'accounts.id',
  nickname: 'accounts.nickname',
  status: 'accounts.status',
  shares: 'account_usage.shares',
  bytes: 'account_usage.bytes',
  createdAt: 'accounts.created_at',
  lastSeen: 'accounts.last_seen_at',
  // Bytes over quota as a fraction (× 1.0: not integer division); a zero quota holding
  // anything is full past any fraction, and holding nothing is empty.
  hardQuotaUse: sql`case
    when accounts.hard_quota_bytes is null then null
    when accounts.hard_quota_bytes = 0 then (case when account_usage.bytes > 0 then 1e18 else 0 end)
    else account_usage.bytes * 1.0 / accounts.hard_quota_bytes end`,
} as const;

/** A page of accounts with their usage; filtering, sorting and paging happen in the database. */
export async function listAccounts(ctx: Ctx, query: AccountQuery = {}): Promise<AccountPage> {
  const limit = pageLimit(query.limit, 100, 10_000);
  const offset = query.offset ?? 0;
  assertNonNegativeInteger('offset', offset);
  const orderBy = query.orderBy ?? 'id';
  if (!ACCOUNT_ORDERS.includes(orderBy))
    throw new TypeError(`cannot order accounts by ${String(orderBy)}`);
  const direction = query.direction ?? 'asc';
  if (direction !== 'asc' && direction !== 'desc')
    throw new TypeError('direction must be asc or desc');
  if (query.status !== undefined) assertStatus(query.status);
  if (query.nearQuota !== undefined && typeof query.nearQuota !== 'boolean')
    throw new TypeError('nearQuota must be a boolean');
  if (query.atHardQuota !== undefined && typeof query.atHardQuota !== 'boolean')
    throw new TypeError('atHardQuota must be a boolean');

  let base = ctx.db
    .selectFrom('accounts')
    .innerJoin('account_usage', 'account_usage.account_id', 'accounts.id');
  if (query.status !== undefined) base = base.where('accounts.status', '=', query.status);
  if (query.search) {
    const pattern = `%${searchKey(query.search).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // SQLite's LIKE has no default escape character; PostgreSQL's is the backslash. Say it.
    base = base.where(sql<boolean>`accounts.nickname_key like ${pattern} escape '\\'`);
  }
  if (query.nearQuota) {
    // 80% in integers (5 × bytes ≥ 4 × quota): no rounding, the same on both dialects.
    base = base.where(
      sql<boolean>`case
        when accounts.soft_quota_bytes is not null
          then 5 * account_usage.bytes >= 4 * accounts.soft_quota_bytes
        when accounts.hard_quota_bytes is not null
          then 5 * account_usage.bytes >= 4 * accounts.hard_quota_bytes
        else false end`,
    );
  }
  if (query.atHardQuota) {
    base = base.where(
      sql<boolean>`accounts.hard_quota_bytes is not null and account_usage.bytes >= accounts.hard_quota_bytes`,
    );
  }
  const rows = await base
    .selectAll('accounts')
    .select(['account_usage.shares as usage_shares', 'account_usage.bytes as usage_bytes'])
    .orderBy(ORDER_COLUMNS[orderBy], (ob) => {
      const ordered = direction === 'asc' ? ob.asc() : ob.desc();
      // Never seen (NULL) is the oldest; no hard quota is no use of one, last either way. The
      // dialects disagree on where NULLs go by default (SQLite: smallest, PostgreSQL:
      // largest), so it is said.
      if (orderBy === 'hardQuotaUse') return ordered.nullsLast();
      if (orderBy !== 'lastSeen') return ordered;
      return direction === 'asc' ? ordered.nullsFirst() : ordered.nullsLast();
    })
    .orderBy('accounts.id', direction)
    .limit(limit)
    .offset(offset)
    .execute();
  const { total } = await base
    .select((eb) => eb.fn.countAll<number>().as('total'))
    .executeTakeFirstOrThrow();
  return {
    accounts: rows.map((row) => ({
      ...toAccount(row),
      usage: { shares: row.usage_shares, bytes: row.usage_bytes },
    })),
    total: Number(total),
  };
}

/** Accounts in each status (every status present, zeros included), from one grouped query. */
export async function countAccountsByStatus(ctx: Ctx): Promise<Record<AccountStatus, number>> {
  const rows = await ctx.db
    .selectFrom('accounts')
    .select((eb) => ['status', eb.fn.countAll<number>().as('count')])
    .groupBy('status')
    .execute();
  const counts = Object.fromEntries(ACCOUNT_STATUSES.map((status) => [status, 0])) as Record<
    AccountStatus,
    number
  >;
  for (const row of rows) {
    if (ACCOUNT_STATUSES.includes(row.status as AccountStatus)) {
      counts[row.status as AccountStatus] = Number(row.count);
    }
  }
  return counts;
}

/**
 * Records that the account made a request at `at`, unless it was seen later already (several
 * processes touch in any order). One statement, no event: being seen is not an activity.
 * An unknown account is left alone.
 */
export async function touchAccount(ctx: Ctx, id: number, at: number): Promise<void> {
  assertAccountId(id);
  assertNonNegativeInteger('at', at);
  await ctx.db
    .updateTable('accounts')
    .set({ last_seen_at: at })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)]))
    .execute();
}

export async function setAccountStatus(
  ctx: Ctx,
  id: number,
  status: AccountStatus,
  options: StatusChangeOptions,
): Promise<AccountRow> {
  assertStatus(status);
  const reason = normalizeReason(options.reason);
  const actor = options.actor ?? null;
  const before = await requireAccount(ctx, id);
  if (before.status === status) return before;
  const row = await ctx.db
    .updateTable('accounts')
    .set({ status })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendEvent(ctx, {
    kind: 'account-status-changed',
    accountId: id,
    actor,
    data: { from: before.status, to: status, ...(reason === undefined ? {} : { reason }) },
  });
  return toAccount(row);
}

export async function setAccountQuota(
  ctx: Ctx,
  id: number,
  quota: QuotaInput,
  actor: string | null,
): Promise<AccountRow> {
  assertQuota(quota);
  const before = await requireAccount(ctx, id);
  const row = await ctx.db
    .updateTable('accounts')
    .set({ hard_quota_bytes: quota.hardQuotaBytes, soft_quota_bytes: quota.softQuotaBytes })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendEvent(ctx, {
    kind: 'account-quota-changed',
    accountId: id,
    actor,
    data: {
      from: { hardQuotaBytes: before.hardQuotaBytes, softQuotaBytes: before.softQuotaBytes },
      to: quota,
    },
  });
  return toAccount(row);
}

export async function setAccountNickname(
  ctx: Ctx,
  id: number,
  nickname: string,
  actor: string | null,
): Promise<AccountRow> {
  assertNickname(nickname);
  const before = await requireAccount(ctx, id);
  const row = await ctx.db
    .updateTable('accounts')
    .set({ nickname, nickname_key: searchKey(nickname) })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendEvent(ctx, {
    kind: 'account-nickname-changed',
    accountId: id,
    actor,
    data: { from: before.nickname, to: nickname },
  });
  return toAccount(row);
}

function assertAttributeName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(name)) {
    throw new TypeError('attribute name must be 1–64 characters of a-z, 0-9, _ . -');
  }
}

function assertAttribute(name: unknown, value: unknown): void {
  assertAttributeName(name);
  if (typeof value !== 'string' || value.length > 4096) {
    throw new TypeError('attribute value must be a string of at most 4096 characters, or null');
  }
}

/** Sets (or, with null, removes) a free-form attribute such as `lease-duration-seconds`. */
export async function setAccountAttribute(
  ctx: Ctx,
  id: number,
  name: string,
  value: string | null,
): Promise<void> {
  if (value === null) assertAttributeName(name);
  else assertAttribute(name, value);
  await requireAccount(ctx, id);
  if (value === null) {
    await ctx.db
      .deleteFrom('account_attributes')
      .where('account_id', '=', id)
      .where('name', '=', name)
      .execute();
    return;
  }
  await ctx.db
    .insertInto('account_attributes')
    .values({ account_id: id, name, value })
    .onConflict((oc) => oc.columns(['account_id', 'name']).doUpdateSet({ value }))
    .execute();
}

export async function getAccountAttributes(ctx: Ctx, id: number): Promise<Record<string, string>> {
  assertAccountId(id);
  const rows = await ctx.db
    .selectFrom('account_attributes')
    .select(['name', 'value'])
    .where('account_id', '=', id)
    .orderBy('name')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.name, row.value]));
}

/**
 * The ids of the accounts whose attribute `name` is `value`, in id order (at most `limit`,
 * default 10,000): e.g. the accounts one account invited.
 */
export async function accountsWithAttribute(
  ctx: Ctx,
  name: string,
  value: string,
  limit = 10_000,
): Promise<number[]> {
  if (typeof name !== 'string' || name.length === 0 || typeof value !== 'string') {
    throw new TypeError('an attribute is a non-empty name and a string value');
  }
  assertPositiveInteger('limit', limit);
  const rows = await ctx.db
    .selectFrom('account_attributes')
    .select('account_id')
    .where('name', '=', name)
    .where('value', '=', value)
    .orderBy('account_id')
    .limit(limit)
    .execute();
  return rows.map((row) => row.account_id);
}

/**
 * Reads an account's row and, inside a transaction on PostgreSQL, locks it until the transaction
 * ends (`FOR UPDATE`), so that the caller's change to the account and what it derives from the
 * row (the account's sealed record beside the shares) are not interleaved with another writer's
 * of the same account (`FOR NO KEY UPDATE`). On SQLite the process's one connection serialises
 * writers already.
 */
export async function lockAccount(ctx: Ctx, id: number): Promise<AccountRow | undefined> {
  assertAccountId(id);
  let query = ctx.db.selectFrom('accounts').selectAll().where('id', '=', id);
  // NO KEY UPDATE: writers of the account wait, but rows that only reference it (a lease, a
  // share's owner: their foreign keys take KEY SHARE) are inserted meanwhile.
  if (ctx.dialect === 'postgres') query = query.forNoKeyUpdate();
  const row = await query.executeTakeFirst();
  return row && toAccount(row);
}

/** An account as a restore gives it back: its id, key and state as they were last recorded. */
export interface RestoreAccountInput {
  readonly id: number;
  /** Ed25519 public key (32 bytes or 64 hex digits); null only for the built-in accounts 0 and 1. */
  readonly publicKey: Uint8Array | string | null;
  readonly nickname: string;
  readonly status: AccountStatus;
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
  readonly createdAt: number;
  /** Every attribute of the account: those the row has and this lacks are removed. */
  readonly attributes: Readonly<Record<string, string>>;
  /** Who restored it, for the activity log. */
  readonly actor?: string | null;
}

/** What `restoreAccount` did: `created` with the given id, `updated` to the given state, or nothing. */
export interface RestoreAccountResult {
  readonly outcome: 'created' | 'updated' | 'unchanged';
  readonly account: AccountRow;
}

/**
 * Makes the account with this id exactly as given: created with that id when missing (the id
 * sequence moved past it, so the id is never issued again), or its nickname, status, quotas and
 * attributes set when it exists with the same key. ACCOUNT_EXISTS, changing nothing, when the id
 * exists with another key (`details.conflict: 'id'`) or the key belongs to another id
 * (`details.conflict: 'key'`): an account is never moved to another id, nor another key to it.
 */
export async function restoreAccount(
  ctx: Ctx,
  input: RestoreAccountInput,
): Promise<RestoreAccountResult> {
  assertAccountId(input.id);
  const publicKey = input.publicKey === null ? null : normalizePublicKey(input.publicKey);
  if ((publicKey === null) !== input.id <= 1) {
    throw new TypeError('only the built-in accounts 0 and 1 have no public key');
  }
  assertNickname(input.nickname);
  assertStatus(input.status);
  const quota = { hardQuotaBytes: input.hardQuotaBytes, softQuotaBytes: input.softQuotaBytes };
  assertQuota(quota);
  assertNonNegativeInteger('createdAt', input.createdAt);
  const attributes = Object.entries(input.attributes);
  for (const [name, value] of attributes) assertAttribute(name, value);
  const actor = input.actor ?? null;

  const existing = await lockAccount(ctx, input.id);
  if (existing) {
    if (existing.publicKey !== publicKey) {
      throw new LeaseDbError(
        'ACCOUNT_EXISTS',
        `account ${input.id} exists with another public key`,
        { details: { accountId: input.id, conflict: 'id' } },
      );
    }
    const before = await getAccountAttributes(ctx, input.id);
    const changed: Record<string, unknown> = {};
    if (existing.nickname !== input.nickname) changed.nickname = input.nickname;
    if (existing.status !== input.status) changed.status = input.status;
    if (
      existing.hardQuotaBytes !== quota.hardQuotaBytes ||
      existing.softQuotaBytes !== quota.softQuotaBytes
    ) {
      changed.quota = quota;
    }
    const sameAttributes =
      attributes.length === Object.keys(before).length &&
      attributes.every(([name, value]) => before[name] === value);
    if (!sameAttributes) changed.attributes = input.attributes;
    if (Object.keys(changed).length === 0) return { outcome: 'unchanged', account: existing };
    const row = await ctx.db
      .updateTable('accounts')
      .set({
        nickname: input.nickname,
        nickname_key: searchKey(input.nickname),
        status: input.status,
        hard_quota_bytes: quota.hardQuotaBytes,
        soft_quota_bytes: quota.softQuotaBytes,
      })
      .where('id', '=', input.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (!sameAttributes) await replaceAttributes(ctx, input.id, attributes);
    await appendEvent(ctx, {
      kind: 'account-restored',
      accountId: input.id,
      actor,
      data: {
        from: {
          nickname: existing.nickname,
          status: existing.status,
          hardQuotaBytes: existing.hardQuotaBytes,
          softQuotaBytes: existing.softQuotaBytes,
        },
        to: changed,
      },
    });
    return { outcome: 'updated', account: toAccount(row) };
  }

  // A missing built-in account cannot happen (the first migration inserts both).
  const holder = publicKey === null ? undefined : await getAccountByPublicKey(ctx, publicKey);
  if (holder) {
    throw new LeaseDbError(
      'ACCOUNT_EXISTS',
      `the public key belongs to account ${holder.id}, not ${input.id}`,
      { details: { accountId: holder.id, conflict: 'key' } },
    );
  }
  // PostgreSQL: no account may be created by the sequence while this one is inserted beside it
  // and the sequence moved past it (an insert waits for this lock, and so does its nextval).
  if (ctx.dialect === 'postgres') {
    await sql`lock table accounts in share row exclusive mode`.execute(ctx.db);
  }
  let row: Awaited<ReturnType<typeof insertAccount>>;
  try {
    row = await ctx.db
      .insertInto('accounts')
      .values({
        id: input.id,
        public_key: publicKey,
        nickname: input.nickname,
        nickname_key: searchKey(input.nickname),
        status: input.status,
        hard_quota_bytes: quota.hardQuotaBytes,
        soft_quota_bytes: quota.softQuotaBytes,
        created_at: input.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    // Created by another process meanwhile: the caller looks again.
    if (isUniqueViolation(error)) {
      throw new LeaseDbError('ACCOUNT_EXISTS', `account ${input.id} was created meanwhile`, {
        cause: error,
        details: { accountId: input.id, conflict: 'id' },
      });
    }
    throw error;
  }
  await reserveAccountIds(ctx, input.id);
  await ctx.db
    .insertInto('account_usage')
    .values({ account_id: input.id, shares: 0, bytes: 0 })
    .execute();
  await replaceAttributes(ctx, input.id, attributes);
  await appendEvent(ctx, {
    kind: 'account-restored',
    accountId: input.id,
    actor,
    data: { nickname: input.nickname, publicKey, status: input.status, created: true },
  });
  return { outcome: 'created', account: toAccount(row) };
}

async function replaceAttributes(
  ctx: Ctx,
  id: number,
  attributes: readonly (readonly [string, string])[],
): Promise<void> {
  await ctx.db.deleteFrom('account_attributes').where('account_id', '=', id).execute();
  if (attributes.length === 0) return;
  await ctx.db
    .insertInto('account_attributes')
    .values(attributes.map(([name, value]) => ({ account_id: id, name, value })))
    .execute();
}

/**
 * Makes every account id issued from now on greater than `throughId` (ids of accounts the
 * database lost must never be issued again: a swissnum names its account by id). Never moves
 * the sequence back. SQLite: AUTOINCREMENT's `sqlite_sequence`; PostgreSQL: the identity
 * sequence of `accounts.id`, with inserts held off by a table lock while it is moved.
 */
export async function reserveAccountIds(ctx: Ctx, throughId: number): Promise<void> {
  assertAccountId(throughId);
  if (ctx.dialect === 'sqlite') {
    const updated = await sql`update sqlite_sequence set seq = ${throughId}
      where name = 'accounts' and seq < ${throughId}`.execute(ctx.db);
    if (Number(updated.numAffectedRows ?? 0) > 0) return;
    const present = await sql`select 1 from sqlite_sequence where name = 'accounts'`.execute(
      ctx.db,
    );
    if (present.rows.length === 0) {
      await sql`insert into sqlite_sequence (name, seq) values ('accounts', ${throughId})`.execute(
        ctx.db,
      );
    }
    return;
  }
  await sql`lock table accounts in share row exclusive mode`.execute(ctx.db);
  const sequence = (
    await sql<{ name: string }>`select pg_get_serial_sequence('accounts', 'id') as name`.execute(
      ctx.db,
    )
  ).rows[0]?.name;
  if (!sequence) throw new LeaseDbError('UNSUPPORTED', 'accounts.id has no sequence');
  // last_value is the last id issued once is_called; before any, the sequence's start - 1.
  const state = (
    await sql<{
      last: string | number;
      called: boolean;
    }>`select last_value as last, is_called as called from ${sql.raw(sequence)}`.execute(ctx.db)
  ).rows[0]!;
  const issued = state.called ? Number(state.last) : Number(state.last) - 1;
  if (issued >= throughId) return;
  await sql`select setval(${sequence}::regclass, ${throughId}, true)`.execute(ctx.db);
}
