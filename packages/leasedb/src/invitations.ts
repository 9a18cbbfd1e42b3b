import { assertQuota } from './accounts.js';
import { type Ctx, isUniqueViolation } from './context.js';
import { LeaseDbError } from './errors.js';
import { appendEvent } from './events.js';
import { toInvitation } from './rows.js';
import type { CreateInvitationInput, InvitationRedemption, InvitationRow } from './types.js';
import { assertNickname, assertNonNegativeInteger, assertPositiveInteger } from './validate.js';

// Invitations an operator issues (issue 25). A code carries a 128-bit secret that the database
// never sees: callers hash it (SHA-256) and every lookup is by that hash, so neither a backup nor
// the activity log can admit anyone. A redemption is one conditional UPDATE: on PostgreSQL a
// concurrent redemption of the same row waits for the first to commit or roll back and then
// re-checks the WHERE against the row as it is, so no use is counted twice. It runs in the
// caller's transaction, where the account it admits is created: a failed creation takes the use
// back with it.

/** At most this many uses per invitation. */
export const MAX_INVITATION_USES = 1_000_000;

const SECRET_HASH = /^[0-9a-f]{64}$/;

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

function assertSecretHash(value: unknown): asserts value is string {
  if (typeof value !== 'string' || !SECRET_HASH.test(value)) {
    throw new TypeError('secretHash must be a SHA-256 as 64 lowercase hex digits');
  }
}

function assertInvitationId(value: unknown): asserts value is number {
  assertNonNegativeInteger('invitation id', value);
}

function assertActor(value: unknown): asserts value is string {
  if (
    typeof value !== 'string' ||
    value.length < 1 ||
    value.length > 64 ||
    CONTROL_CHARACTERS.test(value)
  ) {
    throw new TypeError('actor must be 1–64 characters without control characters');
  }
}

function validate(ctx: Ctx, input: CreateInvitationInput): void {
  if (typeof input !== 'object' || input === null) {
    throw new TypeError('an invitation is an object');
  }
  assertSecretHash(input.secretHash);
  if (input.nickname != null) assertNickname(input.nickname);
  assertQuota({
    hardQuotaBytes: input.hardQuotaBytes ?? null,
    softQuotaBytes: input.softQuotaBytes ?? null,
  });
  assertPositiveInteger('maxUses', input.maxUses);
  if (input.maxUses > MAX_INVITATION_USES) {
    throw new RangeError(`maxUses must be at most ${MAX_INVITATION_USES}`);
  }
  assertNonNegativeInteger('expiresAt', input.expiresAt);
  if (input.expiresAt <= ctx.now()) throw new RangeError('expiresAt must be after now');
  assertActor(input.actor);
}

/**
 * Stores an invitation and logs `invitation-created` (its id, nickname, uses and expiry; never
 * the hash). INVITATION_EXISTS when an invitation has that hash already.
 */
export async function createInvitation(
  ctx: Ctx,
  input: CreateInvitationInput,
): Promise<InvitationRow> {
  validate(ctx, input);
  const existing = await ctx.db
    .selectFrom('invitations')
    .select('id')
    .where('secret_hash', '=', input.secretHash)
    .executeTakeFirst();
  if (existing) {
    throw new LeaseDbError(
      'INVITATION_EXISTS',
      `an invitation with this hash exists (${existing.id})`,
      {
        details: { invitationId: existing.id },
      },
    );
  }
  let row: Awaited<ReturnType<typeof insertInvitation>>;
  try {
    row = await insertInvitation(ctx, input);
  } catch (error) {
    // Two processes storing the same hash at once on PostgreSQL: the unique index decides.
    if (isUniqueViolation(error)) {
      throw new LeaseDbError('INVITATION_EXISTS', 'an invitation with this hash exists', {
        cause: error,
      });
    }
    throw error;
  }
  const invitation = toInvitation(row);
  await appendEvent(ctx, {
    kind: 'invitation-created',
    actor: input.actor,
    data: {
      invitationId: invitation.id,
      nickname: invitation.nickname,
      maxUses: invitation.maxUses,
      expiresAt: invitation.expiresAt,
    },
  });
  return invitation;
}

function insertInvitation(ctx: Ctx, input: CreateInvitationInput) {
  return ctx.db
    .insertInto('invitations')
    .values({
      secret_hash: input.secretHash,
      nickname: input.nickname ?? null,
      hard_quota_bytes: input.hardQuotaBytes ?? null,
      soft_quota_bytes: input.softQuotaBytes ?? null,
      max_uses: input.maxUses,
      uses: 0,
      created_at: ctx.now(),
      expires_at: input.expiresAt,
      revoked_at: null,
      created_by: input.actor,
      last_used_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Every invitation, newest (highest id) first. */
export async function listInvitations(ctx: Ctx): Promise<InvitationRow[]> {
  const rows = await ctx.db.selectFrom('invitations').selectAll().orderBy('id', 'desc').execute();
  return rows.map(toInvitation);
}

export async function getInvitation(ctx: Ctx, id: number): Promise<InvitationRow | undefined> {
  assertInvitationId(id);
  const row = await ctx.db
    .selectFrom('invitations')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toInvitation(row);
}

/**
 * Revokes an invitation now, unless it was revoked already (the first time stays, and only the
 * revocation that changed the row logs `invitation-revoked`): one conditional UPDATE, so two
 * operators revoking at once log one event. Undefined when there is no such invitation.
 */
export async function revokeInvitation(
  ctx: Ctx,
  id: number,
  actor: string,
): Promise<InvitationRow | undefined> {
  assertInvitationId(id);
  assertActor(actor);
  const revoked = await ctx.db
    .updateTable('invitations')
    .set({ revoked_at: ctx.now() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!revoked) return await getInvitation(ctx, id);
  await appendEvent(ctx, { kind: 'invitation-revoked', actor, data: { invitationId: id } });
  return toInvitation(revoked);
}

/**
 * Counts one use of the invitation with this hash if it is usable now (not revoked, `now` before
 * `expires_at`, a use left) and returns it as it is after; else says why not, revoked first,
 * then expired, then spent. No event: the account the caller creates with it says so.
 */
export async function redeemInvitation(
  ctx: Ctx,
  secretHash: string,
): Promise<InvitationRedemption> {
  assertSecretHash(secretHash);
  const now = ctx.now();
  const redeemed = await ctx.db
    .updateTable('invitations')
    .set((eb) => ({ uses: eb('uses', '+', 1), last_used_at: now }))
    .where('secret_hash', '=', secretHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) => eb('uses', '<', eb.ref('max_uses')))
    .returningAll()
    .executeTakeFirst();
  if (redeemed) return { status: 'redeemed', invitation: toInvitation(redeemed) };
  // Refused: read the row to say why. What refused it cannot have been undone since (uses only
  // grow, a revocation stays, the expiry is fixed), so one of the reasons holds.
  const row = await ctx.db
    .selectFrom('invitations')
    .selectAll()
    .where('secret_hash', '=', secretHash)
    .executeTakeFirst();
  if (!row) return { status: 'unknown' };
  const invitation = toInvitation(row);
  if (invitation.revokedAt !== null) return { status: 'revoked', invitation };
  if (now >= invitation.expiresAt) return { status: 'expired', invitation };
  return { status: 'spent', invitation };
}

const INVITATION_ID = /^[0-9a-f]{32}$/;
const PUBLIC_KEY = /^[0-9a-f]{64}$/;

/**
 * Binds a grid invitation (its 16-byte id as 32 lowercase hex) to a public key (64 lowercase
 * hex) at its first use here: true when it is bound to that key now (just bound, or bound to it
 * before), false when another key used it first. Run it in the transaction that creates the
 * account it admits, so a failed creation leaves it unbound.
 */
export async function bindGridInvitation(
  ctx: Ctx,
  invitationId: string,
  publicKey: string,
): Promise<boolean> {
  if (typeof invitationId !== 'string' || !INVITATION_ID.test(invitationId)) {
    throw new TypeError('invitationId must be 32 lowercase hex digits');
  }
  if (typeof publicKey !== 'string' || !PUBLIC_KEY.test(publicKey)) {
    throw new TypeError('publicKey must be 64 lowercase hex digits');
  }
  await ctx.db
    .insertInto('grid_invitation_bindings')
    .values({ invitation_id: invitationId, public_key: publicKey, bound_at: ctx.now() })
    .onConflict((oc) => oc.column('invitation_id').doNothing())
    .execute();
  const row = await ctx.db
    .selectFrom('grid_invitation_bindings')
    .select('public_key')
    .where('invitation_id', '=', invitationId)
    .executeTakeFirstOrThrow();
  return row.public_key === publicKey;
}
