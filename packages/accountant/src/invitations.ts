import {
  type AccountRow,
  type InvitationRow,
  type LeaseDbOperations,
  MAX_INVITATION_USES,
} from '@ostrom/leasedb';
import { invitationSecretHash, newInvitationSecret } from '@ostrom/protocol';
import { changeAccount, createRecordedAccount } from './account-records.js';
import { type Core, guard } from './core.js';
import { AccountantError } from './errors.js';

// Server invitations (README, "Invitations"): the operator issues a code, and the first account
// request that carries its secret gets an active account at once with the invitation's quota,
// whatever the approval setting. The secret is kept only as a hash. A use is spent in the same
// transaction that creates (or activates) the account, so a failed creation spends nothing.
// Failed redemptions are bounded per server and logged, since a code can be guessed at only by
// asking the server.

/** The account attribute naming the invitation an account joined with. */
export const INVITED_BY_INVITATION = 'invitation-id';

/** Longest an invitation may stay valid: a year. */
export const MAX_INVITATION_SECONDS = 365 * 86_400;

/**
 * Failed redemptions a server answers in {@link GUESS_WINDOW_SECONDS}; past it every request with
 * an invitation is refused unread until the window has passed. With 128-bit secrets this bounds
 * what guessing costs the server (a database read each), and the events it logs.
 */
export const MAX_FAILED_REDEMPTIONS = 20;
export const GUESS_WINDOW_SECONDS = 600;

/** What {@link createInvitation} is given. */
export interface InvitationInput {
  /** The account's nickname (default: the one its request gives). */
  readonly nickname?: string | null;
  /** The account's quotas (default: none, for an account an operator invited on purpose). */
  readonly hardQuotaBytes?: number | null;
  readonly softQuotaBytes?: number | null;
  /** How long it may be redeemed, from now. */
  readonly expiresInSeconds: number;
  /** How many accounts it may make (default 1). */
  readonly maxUses?: number;
  /** Who issued it, for the activity log. */
  readonly actor: string;
}

/** A new invitation and its secret, which exists only here: the database keeps its hash. */
export async function createInvitation(
  core: Core,
  input: InvitationInput,
): Promise<{ invitation: InvitationRow; secret: Uint8Array }> {
  const { expiresInSeconds, maxUses = 1 } = input;
  if (
    !Number.isSafeInteger(expiresInSeconds) ||
    expiresInSeconds <= 0 ||
    expiresInSeconds > MAX_INVITATION_SECONDS
  ) {
    throw new RangeError(`an invitation expires after 1 s to ${MAX_INVITATION_SECONDS} s`);
  }
  if (!Number.isSafeInteger(maxUses) || maxUses < 1 || maxUses > MAX_INVITATION_USES) {
    throw new RangeError(`an invitation has 1 to ${MAX_INVITATION_USES} uses`);
  }
  const secret = newInvitationSecret();
  const invitation = await guard(() =>
    core.db.createInvitation({
      secretHash: invitationSecretHash(secret),
      nickname: input.nickname ?? null,
      hardQuotaBytes: input.hardQuotaBytes ?? null,
      softQuotaBytes: input.softQuotaBytes ?? null,
      maxUses,
      expiresAt: core.now() + expiresInSeconds,
      actor: input.actor,
    }),
  );
  return { invitation, secret };
}

/** Failed redemptions in the current window, per Core (one server process). */
const guesses = new WeakMap<Core, { windowStart: number; failures: number }>();

/** Refuses unread while the failures of this window are used up. */
function checkGuessBudget(core: Core): void {
  const now = core.now();
  const state = guesses.get(core);
  if (!state || now - state.windowStart >= GUESS_WINDOW_SECONDS) return;
  if (state.failures >= MAX_FAILED_REDEMPTIONS) {
    throw new AccountantError(
      'TOO_MANY_ATTEMPTS',
      `too many invitation codes refused here lately; try again in ${state.windowStart + GUESS_WINDOW_SECONDS - now} s`,
      { details: { retryAfterSeconds: state.windowStart + GUESS_WINDOW_SECONDS - now } },
    );
  }
}

/** Counts a failed redemption, and logs it while the window's budget lasts. */
async function noteFailure(core: Core, reason: string, invitationId: number | null) {
  const now = core.now();
  let state = guesses.get(core);
  if (!state || now - state.windowStart >= GUESS_WINDOW_SECONDS) {
    state = { windowStart: now, failures: 0 };
    guesses.set(core, state);
  }
  state.failures++;
  const last = state.failures === MAX_FAILED_REDEMPTIONS;
  await guard(() =>
    core.db.appendEvent({
      kind: 'invitation-refused',
      accountId: null,
      actor: null,
      data: {
        reason,
        invitationId,
        ...(last ? { note: 'further codes refused unread for the rest of the window' } : {}),
      },
    }),
  ).catch(() => undefined);
}

const REFUSALS = {
  unknown: 'this invitation code is not one of this server’s',
  revoked: 'this invitation was revoked',
  expired: 'this invitation has expired',
  spent: 'this invitation has been used',
} as const;

class Refused extends Error {
  constructor(
    readonly reason: keyof typeof REFUSALS,
    readonly invitationId: number | null,
  ) {
    super(reason);
  }
}

/** Spends one use of the invitation in `tx`, or throws {@link Refused} (rolling `tx` back). */
async function redeem(tx: LeaseDbOperations, secret: Uint8Array): Promise<InvitationRow> {
  const result = await tx.redeemInvitation(invitationSecretHash(secret));
  if (result.status === 'redeemed') return result.invitation;
  throw new Refused(result.status, result.status === 'unknown' ? null : result.invitation.id);
}

/**
 * The account request of `publicKey` with an invitation's `secret`: a new key gets an active
 * account with the invitation's quotas (and nickname, when it names one); a pending account is
 * activated with them. Either spends one use, in the transaction that makes the change. An
 * account already active, frozen, disabled or deleted spends nothing: undefined is returned and
 * the request goes on as one without an invitation. A refused invitation is `{ refused }`.
 */
export async function requestWithInvitation(
  core: Core,
  request: { publicKey: Uint8Array; nickname: string },
  secret: Uint8Array,
  existing: AccountRow | undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  if (existing && existing.status !== 'pending') return undefined;
  checkGuessBudget(core);
  try {
    if (existing) {
      const account = await changeAccount(core, existing.id, async (tx) => {
        const invitation = await redeem(tx, secret);
        await tx.setAccountQuota(existing.id, quotasOf(invitation), { actor: 'invitation' });
        await tx.setAccountAttribute(existing.id, INVITED_BY_INVITATION, String(invitation.id));
        return await tx.setAccountStatus(existing.id, 'normal', { actor: 'invitation' });
      });
      return { account };
    }
    const account = await createRecordedAccount(
      core,
      {
        publicKey: request.publicKey,
        nickname: request.nickname,
        status: 'normal',
        actor: 'invitation',
      },
      async (tx, created) => {
        const invitation = await redeem(tx, secret);
        if (invitation.nickname !== null && invitation.nickname !== created.nickname) {
          await tx.setAccountNickname(created.id, invitation.nickname, { actor: 'invitation' });
        }
        await tx.setAccountQuota(created.id, quotasOf(invitation), { actor: 'invitation' });
        await tx.setAccountAttribute(created.id, INVITED_BY_INVITATION, String(invitation.id));
      },
    );
    return { account };
  } catch (error) {
    const refused = error instanceof Refused ? error : (error as { cause?: unknown }).cause;
    if (!(refused instanceof Refused)) throw error;
    await noteFailure(core, refused.reason, refused.invitationId);
    return { refused: REFUSALS[refused.reason] };
  }
}

function quotasOf(invitation: InvitationRow) {
  return { hardQuotaBytes: invitation.hardQuotaBytes, softQuotaBytes: invitation.softQuotaBytes };
}
