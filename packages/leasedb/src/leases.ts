import { sql } from 'kysely';
import {
  addAccountUsage,
  addUsageByAccount,
  type Ctx,
  lockStorageIndex,
  releasedUsage,
} from './context.js';
import { LeaseDbError } from './errors.js';
import { appendEvents } from './events.js';
import { toLease } from './rows.js';
import { assertLeaseSecret, optionalSecretHash } from './secrets.js';
import { assertLeaseDuration } from './shares.js';
import { type Lease, STARTER_ACCOUNT_ID } from './types.js';
import {
  assertAccountId,
  assertNonNegativeInteger,
  assertShnum,
  assertStorageIndex,
} from './validate.js';

export interface AddOrRenewInput {
  readonly storageIndex: string;
  /** One share; when omitted, every share of the storage index. */
  readonly shnum?: number;
  readonly accountId: number;
  /** The client's 32-byte lease secrets; stored only as BLAKE2b-256 hashes. */
  readonly renewSecret?: Uint8Array | null;
  readonly cancelSecret?: Uint8Array | null;
  /** Defaults to the policy's (the starter duration for the starter account). */
  readonly durationSeconds?: number;
  /**
   * Lease only STABLE shares, leaving an upload in progress (COMING) as it is, as Tahoe's
   * add-lease sees only complete shares (default false: every share but GOING ones).
   */
  readonly stableOnly?: boolean;
}

export interface AddOrRenewResult {
  /** Leases created for shares the account held none on. */
  readonly added: number;
  /** Existing leases whose expiry was extended (or kept, when already later). */
  readonly renewed: number;
}

export interface ExpiredLease {
  readonly storageIndex: string;
  readonly shnum: number;
  readonly accountId: number;
  readonly expiresAt: number;
}

/**
 * Adds a lease for the account on each share of the storage index (or the named one) that it
 * holds none on, and renews those it does. Renewal never shortens a lease (Tahoe's rule, unlike
 * the 2016 leasedb branch which allowed backdating). Shares being deleted (GOING) are not
 * leased again, nor, with `stableOnly`, shares still uploading. With no shnum and no such share,
 * nothing happens and zeros come back; a named shnum that does not exist is SHARE_NOT_FOUND.
 */
export async function addOrRenewLeases(
  ctx: Ctx,
  input: AddOrRenewInput,
): Promise<AddOrRenewResult> {
  assertStorageIndex(input.storageIndex);
  assertAccountId(input.accountId);
  if (input.shnum !== undefined) assertShnum(input.shnum);
  const duration =
    input.durationSeconds ??
    (input.accountId === STARTER_ACCOUNT_ID
      ? ctx.policy.starterLeaseDurationSeconds
      : ctx.policy.leaseDurationSeconds);
  assertLeaseDuration(ctx, duration);
  // Checked now, hashed only for a lease that is new: a renewal, the hot path, needs no hash
  // (BLAKE2b in JavaScript, about 6 µs a secret).
  assertLeaseSecret('renewSecret', input.renewSecret);
  assertLeaseSecret('cancelSecret', input.cancelSecret);

  // Lease renewal is the hottest write path (every client renews every file it keeps), so its
  // fixed-shape statements are written as SQL templates: kysely's builder costs about three
  // times a template per statement (see bench/), which showed in the ratio to the raw driver.
  const { storageIndex, accountId } = input;
  const oneShare = input.shnum === undefined ? sql`` : sql`and shnum = ${input.shnum}`;
  const leasable = input.stableOnly ? sql`state = 'stable'` : sql`state <> 'going'`;
  await lockStorageIndex(ctx, storageIndex);
  const account = await sql`select id from accounts where id = ${accountId}`.execute(ctx.db);
  if (account.rows.length === 0) {
    throw new LeaseDbError('UNKNOWN_ACCOUNT', `no account ${accountId}`, {
      details: { accountId },
    });
  }
  const { rows: shares } = await sql<{ shnum: number; used_space: number }>`
    select shnum, used_space from shares
    where storage_index = ${storageIndex} and ${leasable} ${oneShare}`.execute(ctx.db);
  if (shares.length === 0) {
    if (input.shnum === undefined) return { added: 0, renewed: 0 };
    throw new LeaseDbError('SHARE_NOT_FOUND', `no share ${storageIndex}/${input.shnum}`, {
      details: { storageIndex, shnum: input.shnum },
    });
  }
  const now = ctx.now();
  const expiresAt = now + duration;

  // Renew first, then insert what the renewal did not find: a lease that an expiry deleted
  // meanwhile (PostgreSQL, another process) is then re-created rather than silently lost.
  const { rows: renewed } = await sql<{ shnum: number }>`
    update leases
    set renewed_at = ${now},
        expires_at = case when expires_at < ${expiresAt} then ${expiresAt} else expires_at end
    where storage_index = ${storageIndex} and account_id = ${accountId} ${oneShare}
      ${input.stableOnly ? sql`and shnum in (${sql.join(shares.map((share) => share.shnum))})` : sql``}
    returning shnum`.execute(ctx.db);
  const renewedShnums = new Set(renewed.map((r) => r.shnum));
  const fresh = shares.filter((share) => !renewedShnums.has(share.shnum));
  if (fresh.length) {
    const renewSecretHash = optionalSecretHash(input.renewSecret);
    const cancelSecretHash = optionalSecretHash(input.cancelSecret);
    await ctx.db
      .insertInto('leases')
      .values(
        fresh.map((share) => ({
          storage_index: storageIndex,
          shnum: share.shnum,
          account_id: accountId,
          renewed_at: now,
          expires_at: expiresAt,
          used_space: share.used_space,
          renew_secret_hash: renewSecretHash,
          cancel_secret_hash: cancelSecretHash,
        })),
      )
      .execute();
    await addAccountUsage(
      ctx,
      accountId,
      fresh.length,
      fresh.reduce((sum, share) => sum + share.used_space, 0),
    );
  }
  await sql`
    update shares
    set lease_expires_at = case
      when lease_expires_at is null or lease_expires_at < ${expiresAt} then ${expiresAt}
      else lease_expires_at end
    where storage_index = ${storageIndex} and ${leasable} ${oneShare}`.execute(ctx.db);
  return { added: fresh.length, renewed: renewed.length };
}

/** Leases of a storage index (or one share), by shnum then account. */
export async function listLeases(ctx: Ctx, storageIndex: string, shnum?: number): Promise<Lease[]> {
  assertStorageIndex(storageIndex);
  let query = ctx.db.selectFrom('leases').selectAll().where('storage_index', '=', storageIndex);
  if (shnum !== undefined) {
    assertShnum(shnum);
    query = query.where('shnum', '=', shnum);
  }
  const rows = await query.orderBy('shnum').orderBy('account_id').execute();
  return rows.map(toLease);
}

/**
 * Removes every lease that expired before `before` in one statement, returns what it removed,
 * and takes the released bytes off each account's usage in the same transaction. One
 * `leases-expired` event per account summarises it.
 */
export async function expireLeases(ctx: Ctx, before: number): Promise<ExpiredLease[]> {
  assertNonNegativeInteger('before', before);
  const removed = await ctx.db
    .deleteFrom('leases')
    .where('expires_at', '<', before)
    .returning(['storage_index', 'shnum', 'account_id', 'expires_at', 'used_space'])
    .execute();
  const deltas = releasedUsage(removed);
  await addUsageByAccount(ctx, deltas);
  await appendEvents(
    ctx,
    [...deltas].map(([accountId, delta]) => ({
      kind: 'leases-expired' as const,
      accountId,
      actor: 'expiry',
      data: { leases: -delta.shares, bytes: -delta.bytes, before },
    })),
  );
  return removed.map((row) => ({
    storageIndex: row.storage_index,
    shnum: row.shnum,
    accountId: row.account_id,
    expiresAt: row.expires_at,
  }));
}

export interface DroppedLease {
  readonly storageIndex: string;
  readonly shnum: number;
  /** Leases other accounts still hold on the share; 0 means it is now unleased. */
  readonly remainingLeases: number;
}

/**
 * Removes up to `limit` of an account's leases (a deleted account's, a few at a time) and takes
 * them off its usage. Returns each share with the leases left on it, so the caller can delete the
 * shares nobody else keeps. One `leases-dropped` event summarises the batch.
 */
export async function dropAccountLeases(
  ctx: Ctx,
  accountId: number,
  limit: number,
  actor: string | null,
): Promise<DroppedLease[]> {
  assertAccountId(accountId);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be ≥ 1');
  const batch = await ctx.db
    .selectFrom('leases')
    .select(['storage_index', 'shnum', 'account_id', 'used_space'])
    .where('account_id', '=', accountId)
    .orderBy('storage_index')
    .orderBy('shnum')
    .limit(limit)
    .execute();
  if (batch.length === 0) return [];
  const dropped: DroppedLease[] = [];
  for (const lease of batch) {
    await lockStorageIndex(ctx, lease.storage_index);
    await ctx.db
      .deleteFrom('leases')
      .where('storage_index', '=', lease.storage_index)
      .where('shnum', '=', lease.shnum)
      .where('account_id', '=', accountId)
      .execute();
    const left = await ctx.db
      .selectFrom('leases')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('storage_index', '=', lease.storage_index)
      .where('shnum', '=', lease.shnum)
      .executeTakeFirstOrThrow();
    dropped.push({
      storageIndex: lease.storage_index,
      shnum: lease.shnum,
      remainingLeases: Number(left.n),
    });
  }
  const deltas = releasedUsage(batch);
  await addUsageByAccount(ctx, deltas);
  const delta = deltas.get(accountId);
  await appendEvents(ctx, [
    {
      kind: 'leases-dropped' as const,
      accountId,
      actor,
      data: { leases: -(delta?.shares ?? 0), bytes: -(delta?.bytes ?? 0) },
    },
  ]);
  return dropped;
}

/**
 * Records the nonce of a signed account request; false if it was seen before (a replay).
 * Nonces seen before `forgetBefore` are dropped first: requests that old are refused by their
 * timestamp anyway, so the table stays as small as the acceptance window.
 */
export async function claimNonce(ctx: Ctx, nonce: string, forgetBefore: number): Promise<boolean> {
  if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 256)
    throw new TypeError('nonce must be a non-empty string of at most 256 characters');
  assertNonNegativeInteger('forgetBefore', forgetBefore);
  await ctx.db.deleteFrom('account_request_nonces').where('seen_at', '<', forgetBefore).execute();
  const inserted = await ctx.db
    .insertInto('account_request_nonces')
    .values({ nonce, seen_at: ctx.now() })
    .onConflict((oc) => oc.column('nonce').doNothing())
    .returning('nonce')
    .execute();
  return inserted.length === 1;
}
