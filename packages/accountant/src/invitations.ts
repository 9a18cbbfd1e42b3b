import {
  type AccountRow,
  type InvitationRow,
  type LeaseDbOperations,
  MAX_INVITATION_USES,
} from '@ostrom/leasedb';
import {
  decodeGridInvitation,
  invitationSecretHash,
  newInvitationSecret,
  verifyGridInvitation,
} from '@ostrom/protocol';
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
/** The account attribute naming the grid invitation (its id, hex) an account joined with. */
export const INVITED_BY_GRID_INVITATION = 'grid-invitation-id';
/** The actor of what an invitation does to an account (its creation, its activation). */
export const INVITATION_ACTOR = 'invitation';

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
async function noteFailure(
  core: Core,
  reason: string,
  data: Readonly<Record<string, unknown>>,
): Promise<void> {
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
        ...data,
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
  'not-honoured': 'this server does not honour grid invitations',
  'other-grid': 'this grid invitation is for another grid',
  'no-membership-key': 'this server does not know its grid’s membership key yet; try again later',
  'bad-signature': 'this grid invitation is not signed by the grid’s membership key',
  'other-key': 'this grid invitation was used here with another key',
} as const;
type RefusalReason = keyof typeof REFUSALS;

class Refused extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly data: Readonly<Record<string, unknown>>,
  ) {
    super(reason);
  }
}

/** Spends one use of the invitation in `tx`, or throws {@link Refused} (rolling `tx` back). */
async function redeem(tx: LeaseDbOperations, secret: Uint8Array): Promise<InvitationRow> {
  const result = await tx.redeemInvitation(invitationSecretHash(secret));
  if (result.status === 'redeemed') return result.invitation;
  throw new Refused(result.status, {
    invitationId: result.status === 'unknown' ? null : result.invitation.id,
  });
}

/** What an invitation gives the account it admits. */
interface Admission {
  readonly quotas: { hardQuotaBytes: number | null; softQuotaBytes: number | null };
  /** The nickname it names, or null for the one the request gives. */
  readonly nickname: string | null;
  /** The attribute recording where the account came from. */
  readonly attribute: readonly [string, string];
}

/**
 * Makes `request`'s account active through an invitation: a new key gets an active account, a
 * pending one is activated, with what `grant` (run in the transaction that makes the change,
 * before the account's record is written: what it throws rolls all back) gives. An account
 * already active, frozen, disabled or deleted: undefined, nothing granted. Refusals are counted
 * against the guessing bound and logged.
 */
async function admit(
  core: Core,
  request: { publicKey: Uint8Array; nickname: string },
  existing: AccountRow | undefined,
  grant: (tx: LeaseDbOperations) => Promise<Admission>,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  if (existing && existing.status !== 'pending') return undefined;
  checkGuessBudget(core);
  const apply = async (tx: LeaseDbOperations, id: number, nickname: string) => {
    const admission = await grant(tx);
    if (admission.nickname !== null && admission.nickname !== nickname) {
      await tx.setAccountNickname(id, admission.nickname, { actor: INVITATION_ACTOR });
    }
    await tx.setAccountQuota(id, admission.quotas, { actor: INVITATION_ACTOR });
    await tx.setAccountAttribute(id, ...admission.attribute);
  };
  try {
    if (existing) {
      const account = await changeAccount(core, existing.id, async (tx) => {
        await apply(tx, existing.id, existing.nickname);
        return await tx.setAccountStatus(existing.id, 'normal', { actor: INVITATION_ACTOR });
      });
      return { account };
    }
    const account = await createRecordedAccount(
      core,
      {
        publicKey: request.publicKey,
        nickname: request.nickname,
        status: 'normal',
        actor: INVITATION_ACTOR,
      },
      (tx, created) => apply(tx, created.id, created.nickname),
    );
    return { account };
  } catch (error) {
    const refused = error instanceof Refused ? error : (error as { cause?: unknown }).cause;
    if (!(refused instanceof Refused)) throw error;
    return await refuse(core, refused);
  }
}

async function refuse(core: Core, refused: Refused): Promise<{ refused: string }> {
  await noteFailure(core, refused.reason, refused.data);
  return { refused: REFUSALS[refused.reason] };
}

/**
 * The account request of `request.publicKey` with an invitation's `secret`: see {@link admit};
 * spends one use of the invitation, with its quotas and nickname. A refused invitation is
 * `{ refused }`.
 */
export async function requestWithInvitation(
  core: Core,
  request: { publicKey: Uint8Array; nickname: string },
  secret: Uint8Array,
  existing: AccountRow | undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  return await admit(core, request, existing, async (tx) => {
    const invitation = await redeem(tx, secret);
    return {
      quotas: quotasOf(invitation),
      nickname: invitation.nickname,
      attribute: [INVITED_BY_INVITATION, String(invitation.id)],
    };
  });
}

/**
 * The account request of `request.publicKey` with a grid invitation's bytes: honoured when the
 * embedder opted in (`gridInvitations`), the invitation is for its grid's directory, signed by
 * the grid's membership key as the embedder knows it now, not expired, and not bound here to
 * another key (it is bound to this one in the transaction that makes the account). The account
 * gets the embedder's quotas for such accounts and the invitation's nickname. See {@link admit}.
 */
export async function requestWithGridInvitation(
  core: Core,
  request: { publicKey: Uint8Array; nickname: string },
  bytes: Uint8Array,
  existing: AccountRow | undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  const options = core.options.gridInvitations;
  const signed = decodeGridInvitation(bytes);
  const id = Buffer.from(signed.invitation.id).toString('hex');
  const check = (): RefusalReason | undefined => {
    if (options === null) return 'not-honoured';
    if (signed.invitation.directory !== options.directory) return 'other-grid';
    const key = options.membershipKey();
    if (key === undefined) return 'no-membership-key';
    if (!verifyGridInvitation(signed, key)) return 'bad-signature';
    if (core.now() >= signed.invitation.expires) return 'expired';
    return undefined;
  };
  if (existing && existing.status !== 'pending') return undefined;
  checkGuessBudget(core);
  const reason = check();
  if (reason !== undefined) return await refuse(core, new Refused(reason, { grid: id }));
  const publicKey = Buffer.from(request.publicKey).toString('hex');
  return await admit(core, request, existing, async (tx) => {
    if (!(await tx.bindGridInvitation(id, publicKey))) {
      throw new Refused('other-key', { grid: id });
    }
    return {
      quotas: {
        hardQuotaBytes: options!.hardQuotaBytes,
        softQuotaBytes: options!.softQuotaBytes,
      },
      nickname: signed.invitation.nickname,
      attribute: [INVITED_BY_GRID_INVITATION, id],
    };
  });
}

function quotasOf(invitation: InvitationRow) {
  return { hardQuotaBytes: invitation.hardQuotaBytes, softQuotaBytes: invitation.softQuotaBytes };
}
