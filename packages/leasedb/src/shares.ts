import { sql } from 'kysely';
import { requireAccount } from './accounts.js';
import {
  addAccountUsage,
  addServerUsage,
  addUsageByAccount,
  type Ctx,
  lockAccountsInOrder,
  lockAccountUsage,
  lockStorageIndex,
  releasedUsage,
} from './context.js';
import { LeaseDbError } from './errors.js';
import { appendEvent } from './events.js';
import { assertProcessId } from './processes.js';
import { toShare } from './rows.js';
import { assertSecretHash, optionalSecretHash } from './secrets.js';
import {
  type LeaseInput,
  SHARE_TYPES,
  type Share,
  type ShareState,
  type ShareType,
} from './types.js';
import {
  assertAccountId,
  assertNonNegativeInteger,
  assertPrefix,
  assertShnum,
  assertStorageIndex,
  pageLimit,
  prefixOf,
} from './validate.js';

// The share state machine (docs/ARCHITECTURE.md, "Share states"): NONE → COMING → STABLE → GOING →
// NONE, plus NONE → STABLE for shares the crawler finds, COMING → NONE for aborted uploads, GOING →
// STABLE for a failed delete and STABLE → NONE for a share that vanished. Every function checks the
// current state inside its transaction and throws before writing anything when it does not fit.

export interface ComingShareInput {
  readonly storageIndex: string;
  readonly sharetype: ShareType;
  readonly shares: readonly { readonly shnum: number; readonly usedBytes: number }[];
  /** The uploading account: it owns the shares and gets a lease on each at once. */
  readonly accountId: number;
  /** The client's 32-byte lease secrets; stored only as BLAKE2b-256 hashes. */
  readonly renewSecret?: Uint8Array | null;
  readonly cancelSecret?: Uint8Array | null;
  /** Lease duration; defaults to the policy's. */
  readonly leaseDurationSeconds?: number;
  /** Refuse with QUOTA_EXCEEDED if the account's hard quota would be passed (default true). */
  readonly enforceQuota?: boolean;
  /** The server process that holds the upload (see `heartbeatProcess`); default none. */
  readonly uploadProcess?: string | null;
}

export interface AdoptShareInput {
  readonly storageIndex: string;
  readonly shnum: number;
  readonly sharetype: ShareType;
  readonly usedBytes: number;
  readonly ownerAccountId?: number | null;
  /** Leases to give it; when omitted, one starter lease. An empty list leaves it unleased. */
  readonly leases?: readonly LeaseInput[];
}

function transitionError(
  storageIndex: string,
  shnum: number,
  from: ShareState | 'none',
  to: ShareState | 'none',
) {
  return new LeaseDbError(
    'INVALID_STATE_TRANSITION',
    `share ${storageIndex}/${shnum}: ${from} → ${to} is not allowed`,
    {
      details: { storageIndex, shnum, from, to },
    },
  );
}

function assertShareType(value: unknown): asserts value is ShareType {
  if (!SHARE_TYPES.includes(value as ShareType))
    throw new TypeError(`sharetype must be one of ${SHARE_TYPES.join(', ')}`);
}

export function assertLeaseDuration(ctx: Ctx, seconds: number): void {
  assertNonNegativeInteger('lease duration', seconds);
  if (seconds === 0 || seconds > ctx.policy.maxLeaseDurationSeconds) {
    throw new RangeError(`lease duration must be 1–${ctx.policy.maxLeaseDurationSeconds} seconds`);
  }
}

async function currentState(ctx: Ctx, storageIndex: string, shnum: number) {
  return await ctx.db
    .selectFrom('shares')
    .selectAll()
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .executeTakeFirst();
}

async function expectState(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  from: ShareState,
  to: ShareState | 'none',
) {
  assertStorageIndex(storageIndex);
  assertShnum(shnum);
  await lockStorageIndex(ctx, storageIndex);
  const row = await currentState(ctx, storageIndex, shnum);
  if (row?.state !== from)
    throw transitionError(storageIndex, shnum, (row?.state as ShareState) ?? 'none', to);
  return row;
}

/** Deletes a share's leases, returning each account's usage, then the share row itself. */
async function deleteShareAndLeases(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  usedBytes: number,
): Promise<void> {
  await dropLeases(ctx, storageIndex, shnum);
  await ctx.db
    .deleteFrom('shares')
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .execute();
  await addServerUsage(ctx, -1, -usedBytes);
}

async function dropLeases(ctx: Ctx, storageIndex: string, shnum: number): Promise<number> {
  const released = await ctx.db
    .deleteFrom('leases')
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returning(['account_id', 'used_space'])
    .execute();
  await addUsageByAccount(ctx, releasedUsage(released));
  return released.length;
}

/**
 * NONE → COMING for each share of an allocation, with a lease for the uploader, all or nothing.
 * The hard-quota check and the insert happen under the account's row lock.
 */
export async function addComingShares(ctx: Ctx, input: ComingShareInput): Promise<Share[]> {
  assertStorageIndex(input.storageIndex);
  assertShareType(input.sharetype);
  assertAccountId(input.accountId);
  if (!Array.isArray(input.shares) || input.shares.length === 0)
    throw new TypeError('shares must be a non-empty list');
  const seen = new Set<number>();
  let totalBytes = 0;
  for (const share of input.shares) {
    assertShnum(share.shnum);
    assertNonNegativeInteger('usedBytes', share.usedBytes);
    if (seen.has(share.shnum)) throw new TypeError(`shnum ${share.shnum} listed twice`);
    seen.add(share.shnum);
    totalBytes += share.usedBytes;
  }
  const duration = input.leaseDurationSeconds ?? ctx.policy.leaseDurationSeconds;
  assertLeaseDuration(ctx, duration);
  const renewSecretHash = optionalSecretHash(input.renewSecret);
  const cancelSecretHash = optionalSecretHash(input.cancelSecret);
  const uploadProcess = input.uploadProcess ?? null;
  if (uploadProcess !== null) assertProcessId(uploadProcess);

  await lockStorageIndex(ctx, input.storageIndex);
  const account = await requireAccount(ctx, input.accountId);
  const existing = await ctx.db
    .selectFrom('shares')
    .select(['shnum', 'state'])
    .where('storage_index', '=', input.storageIndex)
    .where('shnum', 'in', [...seen])
    .executeTakeFirst();
  if (existing)
    throw transitionError(
      input.storageIndex,
      existing.shnum,
      existing.state as ShareState,
      'coming',
    );

  const usage = await lockAccountUsage(ctx, input.accountId);
  if (
    (input.enforceQuota ?? true) &&
    account.hardQuotaBytes !== null &&
    // Adding nothing never passes a quota, even for an account already over it.
    totalBytes > 0 &&
    usage.bytes + totalBytes > account.hardQuotaBytes
  ) {
    throw new LeaseDbError('QUOTA_EXCEEDED', `account ${account.id} would pass its hard quota`, {
      details: {
        accountId: account.id,
        usedBytes: usage.bytes,
        requestedBytes: totalBytes,
        hardQuotaBytes: account.hardQuotaBytes,
      },
    });
  }

  const now = ctx.now();
  const expiresAt = now + duration;
  const rows = await ctx.db
    .insertInto('shares')
    .values(
      input.shares.map((share) => ({
        storage_index: input.storageIndex,
        shnum: share.shnum,
        prefix: prefixOf(input.storageIndex),
        sharetype: input.sharetype,
        state: 'coming',
        used_space: share.usedBytes,
        owner_account_id: input.accountId,
        created_at: now,
        updated_at: now,
        lease_expires_at: expiresAt,
        upload_process: uploadProcess,
      })),
    )
    .returningAll()
    .execute();
  await ctx.db
    .insertInto('leases')
    .values(
      input.shares.map((share) => ({
        storage_index: input.storageIndex,
        shnum: share.shnum,
        account_id: input.accountId,
        renewed_at: now,
        expires_at: expiresAt,
        used_space: share.usedBytes,
        renew_secret_hash: renewSecretHash,
        cancel_secret_hash: cancelSecretHash,
      })),
    )
    .execute();
  await addAccountUsage(ctx, input.accountId, input.shares.length, totalBytes);
  await addServerUsage(ctx, input.shares.length, totalBytes);
  return rows.map(toShare).sort((a, b) => a.shnum - b.shnum);
}

/** Changes a share's size, with its leases' copies and every leaseholder's usage. */
async function resize(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  fromBytes: number,
  toBytes: number,
): Promise<void> {
  const delta = toBytes - fromBytes;
  if (delta === 0) return;
  const holders = await ctx.db
    .updateTable('leases')
    .set({ used_space: toBytes })
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returning('account_id')
    .execute();
  await addUsageByAccount(
    ctx,
    new Map(holders.map((h) => [h.account_id, { shares: 0, bytes: delta }])),
  );
  await addServerUsage(ctx, 0, delta);
}

/**
 * COMING → STABLE: the upload is complete; `usedBytes` is what the share takes now. It may be
 * less than was allocated but not more: the allocation is what the quota was checked against,
 * and a quota is never passed after the fact. Allocate the stored size (container included).
 */
export async function markStable(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  usedBytes: number,
): Promise<Share> {
  assertNonNegativeInteger('usedBytes', usedBytes);
  const row = await expectState(ctx, storageIndex, shnum, 'coming', 'stable');
  if (usedBytes > row.used_space) {
    throw new RangeError(
      `share ${storageIndex}/${shnum} would end at ${usedBytes} bytes, more than the ${row.used_space} allocated`,
    );
  }
  await resize(ctx, storageIndex, shnum, row.used_space, usedBytes);
  const updated = await ctx.db
    .updateTable('shares')
    .set({ state: 'stable', used_space: usedBytes, updated_at: ctx.now(), upload_process: null })
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendEvent(ctx, {
    kind: 'share-stored',
    accountId: row.owner_account_id,
    storageIndex,
    shnum,
    data: { bytes: usedBytes, sharetype: row.sharetype },
  });
  return toShare(updated);
}

/** COMING → NONE: an aborted or timed-out upload leaves no row and no lease behind. */
export async function abortComing(ctx: Ctx, storageIndex: string, shnum: number): Promise<void> {
  const row = await expectState(ctx, storageIndex, shnum, 'coming', 'none');
  await deleteShareAndLeases(ctx, storageIndex, shnum, row.used_space);
}

/** STABLE → STABLE with a new size: a mutable share was rewritten. */
export async function setUsedSpace(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  usedBytes: number,
  enforceQuotaFor?: number,
): Promise<Share> {
  assertNonNegativeInteger('usedBytes', usedBytes);
  if (enforceQuotaFor !== undefined) assertAccountId(enforceQuotaFor);
  const row = await expectState(ctx, storageIndex, shnum, 'stable', 'stable');
  const delta = usedBytes - row.used_space;
  if (enforceQuotaFor !== undefined && delta > 0) {
    const account = await requireAccount(ctx, enforceQuotaFor);
    // Lock the checked account with every leaseholder whose total the resize changes, all in
    // one ascending order, so a concurrent rewrite cannot deadlock with this one.
    const holders = await ctx.db
      .selectFrom('leases')
      .select('account_id')
      .where('storage_index', '=', storageIndex)
      .where('shnum', '=', shnum)
      .execute();
    await lockAccountsInOrder(ctx, [enforceQuotaFor, ...holders.map((h) => h.account_id)]);
    const usage = await lockAccountUsage(ctx, enforceQuotaFor);
    if (account.hardQuotaBytes !== null && usage.bytes + delta > account.hardQuotaBytes) {
      throw new LeaseDbError('QUOTA_EXCEEDED', `account ${account.id} would pass its hard quota`, {
        details: {
          accountId: account.id,
          usedBytes: usage.bytes,
          requestedBytes: delta,
          hardQuotaBytes: account.hardQuotaBytes,
        },
      });
    }
  }
  await resize(ctx, storageIndex, shnum, row.used_space, usedBytes);
  const updated = await ctx.db
    .updateTable('shares')
    .set({ used_space: usedBytes, updated_at: ctx.now() })
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toShare(updated);
}

/** NONE → STABLE for one share; see adoptShares. */
export async function adoptShare(ctx: Ctx, input: AdoptShareInput): Promise<Share> {
  return (await adoptShares(ctx, [input]))[0]!;
}

/**
 * Rows (or storage indexes) per statement of a batch: far below either dialect's limit on bound
 * parameters (11 a share row).
 */
const ROWS_PER_STATEMENT = 200;

/**
 * NONE → STABLE for shares found in the backend, all or none: a rebuild adopts every share on the
 * node, and a statement per table for a batch instead of seven per share is what makes it fast.
 * Each share gets its leases, or one starter lease when none are given. Throws before writing
 * anything when an input is malformed, names a share twice, names an unknown account, or names a
 * share the database already has (INVALID_STATE_TRANSITION for the first such share).
 */
export async function adoptShares(ctx: Ctx, inputs: readonly AdoptShareInput[]): Promise<Share[]> {
  const now = ctx.now();
  const adoptions = inputs.map((input) => checkAdoption(ctx, input, now));
  const keys = new Set<string>();
  for (const { storageIndex, shnum } of inputs) {
    const key = `${storageIndex}/${shnum}`;
    if (keys.has(key)) throw new TypeError(`share ${key} is adopted twice`);
    keys.add(key);
  }
  if (inputs.length === 0) return [];

  const indexes = [...new Set(inputs.map((input) => input.storageIndex))].sort();
  for (const storageIndex of indexes) await lockStorageIndex(ctx, storageIndex);
  for (let start = 0; start < indexes.length; start += ROWS_PER_STATEMENT) {
    const existing = await ctx.db
      .selectFrom('shares')
      .select(['storage_index', 'shnum', 'state'])
      .where('storage_index', 'in', indexes.slice(start, start + ROWS_PER_STATEMENT))
      .execute();
    const taken = existing.find((row) => keys.has(`${row.storage_index}/${row.shnum}`));
    if (taken) {
      throw transitionError(taken.storage_index, taken.shnum, taken.state as ShareState, 'stable');
    }
  }
  const accounts = new Set<number>();
  for (const { input, leases } of adoptions) {
    for (const lease of leases) accounts.add(lease.accountId);
    if (input.ownerAccountId != null) accounts.add(input.ownerAccountId);
  }
  for (const accountId of [...accounts].sort((a, b) => a - b)) await requireAccount(ctx, accountId);

  const rows = adoptions.map(({ input, leases }) => ({
    storage_index: input.storageIndex,
    shnum: input.shnum,
    prefix: prefixOf(input.storageIndex),
    sharetype: input.sharetype,
    state: 'stable',
    used_space: input.usedBytes,
    owner_account_id: input.ownerAccountId ?? null,
    created_at: now,
    updated_at: now,
    lease_expires_at: leases.length ? Math.max(...leases.map((l) => l.expiresAt)) : null,
    upload_process: null,
  }));
  const leaseRows = adoptions.flatMap(({ input, leases }) =>
    leases.map((lease) => ({
      storage_index: input.storageIndex,
      shnum: input.shnum,
      account_id: lease.accountId,
      renewed_at: lease.renewedAt ?? now,
      expires_at: lease.expiresAt,
      used_space: input.usedBytes,
      renew_secret_hash: lease.renewSecretHash ?? null,
      cancel_secret_hash: lease.cancelSecretHash ?? null,
    })),
  );
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    await ctx.db
      .insertInto('shares')
      .values(rows.slice(start, start + ROWS_PER_STATEMENT))
      .execute();
  }
  for (let start = 0; start < leaseRows.length; start += ROWS_PER_STATEMENT) {
    await ctx.db
      .insertInto('leases')
      .values(leaseRows.slice(start, start + ROWS_PER_STATEMENT))
      .execute();
  }
  const usage = new Map<number, { shares: number; bytes: number }>();
  for (const lease of leaseRows) {
    const delta = usage.get(lease.account_id) ?? { shares: 0, bytes: 0 };
    delta.shares += 1;
    delta.bytes += lease.used_space;
    usage.set(lease.account_id, delta);
  }
  await addUsageByAccount(ctx, usage);
  await addServerUsage(
    ctx,
    rows.length,
    rows.reduce((sum, row) => sum + row.used_space, 0),
  );
  return rows.map((row) => toShare(row));
}

/** Checks one adoption's input and returns the leases it gets (a starter lease by default). */
function checkAdoption(ctx: Ctx, input: AdoptShareInput, now: number) {
  assertStorageIndex(input.storageIndex);
  assertShnum(input.shnum);
  assertShareType(input.sharetype);
  assertNonNegativeInteger('usedBytes', input.usedBytes);
  if (input.ownerAccountId != null) assertAccountId(input.ownerAccountId);
  const leases = input.leases ?? [
    { accountId: 1, expiresAt: now + ctx.policy.starterLeaseDurationSeconds },
  ];
  const accounts = new Set<number>();
  for (const lease of leases) {
    assertAccountId(lease.accountId);
    assertNonNegativeInteger('expiresAt', lease.expiresAt);
    if (lease.renewedAt !== undefined) assertNonNegativeInteger('renewedAt', lease.renewedAt);
    assertSecretHash('renewSecretHash', lease.renewSecretHash);
    assertSecretHash('cancelSecretHash', lease.cancelSecretHash);
    if (accounts.has(lease.accountId))
      throw new TypeError(`two leases for account ${lease.accountId}`);
    accounts.add(lease.accountId);
  }
  return { input, leases };
}

/**
 * STABLE → GOING: the share is queued for deletion. A share that still has leases is refused
 * with SHARE_LEASED unless `dropLeases` (a writer deleting its mutable share, an account being
 * deleted) says to remove them first.
 */
export async function markGoing(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  dropLeasesFirst: boolean,
): Promise<Share> {
  await expectState(ctx, storageIndex, shnum, 'stable', 'going');
  if (dropLeasesFirst) {
    await dropLeases(ctx, storageIndex, shnum);
  } else {
    const lease = await ctx.db
      .selectFrom('leases')
      .select('account_id')
      .where('storage_index', '=', storageIndex)
      .where('shnum', '=', shnum)
      .executeTakeFirst();
    if (lease) {
      throw new LeaseDbError('SHARE_LEASED', `share ${storageIndex}/${shnum} still has leases`, {
        details: { storageIndex, shnum },
      });
    }
  }
  const row = await ctx.db
    .updateTable('shares')
    .set({ state: 'going', updated_at: ctx.now() })
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toShare(row);
}

/** GOING → STABLE: deleting the share from the backend failed; it will be tried again. */
export async function returnToStable(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
): Promise<Share> {
  await expectState(ctx, storageIndex, shnum, 'going', 'stable');
  const row = await ctx.db
    .updateTable('shares')
    .set({ state: 'stable', updated_at: ctx.now() })
    .where('storage_index', '=', storageIndex)
    .where('shnum', '=', shnum)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toShare(row);
}

/** GOING → NONE: the backend confirmed the deletion. */
export async function removeGoing(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  actor: string | null,
): Promise<void> {
  const row = await expectState(ctx, storageIndex, shnum, 'going', 'none');
  await deleteShareAndLeases(ctx, storageIndex, shnum, row.used_space);
  await appendEvent(ctx, {
    kind: 'share-deleted',
    accountId: row.owner_account_id,
    actor,
    storageIndex,
    shnum,
    data: { bytes: row.used_space },
  });
}

/** STABLE → NONE: the share is gone from the backend without being deleted through GOING. */
export async function removeVanished(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
  actor: string | null,
): Promise<void> {
  const row = await expectState(ctx, storageIndex, shnum, 'stable', 'none');
  await deleteShareAndLeases(ctx, storageIndex, shnum, row.used_space);
  await appendEvent(ctx, {
    kind: 'share-vanished',
    accountId: row.owner_account_id,
    actor,
    storageIndex,
    shnum,
    data: { bytes: row.used_space },
  });
}

export async function getShare(
  ctx: Ctx,
  storageIndex: string,
  shnum: number,
): Promise<Share | undefined> {
  assertStorageIndex(storageIndex);
  assertShnum(shnum);
  const row = await currentState(ctx, storageIndex, shnum);
  return row && toShare(row);
}

/** Every share row of one storage index, by shnum. */
export async function listShares(ctx: Ctx, storageIndex: string): Promise<Share[]> {
  assertStorageIndex(storageIndex);
  const rows = await ctx.db
    .selectFrom('shares')
    .selectAll()
    .where('storage_index', '=', storageIndex)
    .orderBy('shnum')
    .execute();
  return rows.map(toShare);
}

/** Every share row under one of the 1024 two-character prefixes, by storage index and shnum. */
export async function listSharesByPrefix(ctx: Ctx, prefix: string): Promise<Share[]> {
  assertPrefix(prefix);
  const rows = await ctx.db
    .selectFrom('shares')
    .selectAll()
    .where('prefix', '=', prefix)
    .orderBy('storage_index')
    .orderBy('shnum')
    .execute();
  return rows.map(toShare);
}

export interface UnleasedQuery {
  /** Only shares whose last lease expired before this time (a grace period); default: all. */
  readonly leaseExpiredBefore?: number;
  /** Default 1000. */
  readonly limit?: number;
}

/** STABLE shares with no lease left: the candidates for deletion, oldest expiry first. */
export async function listUnleasedShares(ctx: Ctx, query: UnleasedQuery = {}): Promise<Share[]> {
  const limit = pageLimit(query.limit, 1000, 100_000);
  let select = ctx.db
    .selectFrom('shares')
    .selectAll()
    .where('state', '=', 'stable')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('leases')
            .select('leases.account_id')
            .whereRef('leases.storage_index', '=', 'shares.storage_index')
            .whereRef('leases.shnum', '=', 'shares.shnum'),
        ),
      ),
    );
  if (query.leaseExpiredBefore !== undefined) {
    assertNonNegativeInteger('leaseExpiredBefore', query.leaseExpiredBefore);
    const before = query.leaseExpiredBefore;
    select = select.where((eb) =>
      eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', before)]),
    );
  }
  // NULLs sort first on SQLite and last on PostgreSQL; coalesce gives both one order.
  const rows = await select
    .orderBy(sql`coalesce(lease_expires_at, 0)`)
    .orderBy('storage_index')
    .orderBy('shnum')
    .limit(limit)
    .execute();
  return rows.map(toShare);
}

export interface ComingQuery {
  /** Only shares whose row was last changed before this time. */
  readonly updatedBefore?: number;
  /** Default 1000. */
  readonly limit?: number;
}

/**
 * COMING shares, oldest first. Uploads that a crash interrupted leave COMING rows that hold quota
 * and block a retried upload; the server lists those older than its upload timeout at start-up
 * and aborts them.
 */
export async function listComingShares(ctx: Ctx, query: ComingQuery = {}): Promise<Share[]> {
  const limit = pageLimit(query.limit, 1000, 100_000);
  let select = ctx.db.selectFrom('shares').selectAll().where('state', '=', 'coming');
  if (query.updatedBefore !== undefined) {
    assertNonNegativeInteger('updatedBefore', query.updatedBefore);
    select = select.where('updated_at', '<', query.updatedBefore);
  }
  const rows = await select
    .orderBy('updated_at')
    .orderBy('storage_index')
    .orderBy('shnum')
    .limit(limit)
    .execute();
  return rows.map(toShare);
}
