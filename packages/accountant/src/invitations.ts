import {
  type AccountRow,
  type InvitationRow,
  type LeaseDbOperations,
  MAX_INVITATION_USES,
} from '@ostrom/leasedb';
import {
  decodeGridInvitation,
  decodeMemberInvitation,
  invitationSecretHash,
  newInvitationSecret,
  verifyGridInvitation,
  verifyMemberInvitation,
} from '@ostrom/protocol';
import { changeAccount, createRecordedAccount } from './account-records.js';
import { type Core, guard } from './core.js';
import { AccountantError } from './errors.js';

// Server invitations (README, "Invitations"): the operator issues a code, and the first account
// request that carries its secret gets an active account at once with the invitation's quota,
// whatever the approval setting. The secret is kept only as a hash. A use is spent in the same
// transaction that creates (or activates) the account, so a failed creation spends nothing.
// Failed redemptions are bounded per source and logged (boundedly), since a code can be guessed
// at only by asking the server. Grid invitations (signed by the grid's membership key, bound to
// the first key that uses one here) go through the same steps.

/** The account attribute naming the invitation an account joined with. */
export const INVITED_BY_INVITATION = 'invitation-id';
/** The account attribute naming the grid invitation (its id, hex) an account joined with. */
export const INVITED_BY_GRID_INVITATION = 'grid-invitation-id';
/** The account attribute naming the account (its id) whose invitation an account joined with. */
export const INVITED_BY_ACCOUNT = 'invited-by-account';
/** The account attribute holding how many accounts an account may invite on this server. */
export const INVITATION_BUDGET = 'invitation-budget';
/** The actor of what an invitation does to an account (its creation, its activation). */
export const INVITATION_ACTOR = 'invitation';

/** Longest an invitation may stay valid: a year. */
export const MAX_INVITATION_SECONDS = 365 * 86_400;

/**
 * Failed redemptions one source (a client address, as the embedder names it) may have in a
 * window of {@link GUESS_WINDOW_SECONDS}; past it that source's requests with an invitation are
 * refused unread (TOO_MANY_ATTEMPTS) until the window ends, while other sources' are read as
 * ever. With 128-bit secrets guessing cannot succeed: this bounds what it costs the server.
 */
export const MAX_FAILED_REDEMPTIONS = 20;
export const GUESS_WINDOW_SECONDS = 600;
/** `invitation-refused` events logged in a window, all sources together; the rest are counted. */
export const MAX_REFUSAL_EVENTS = 100;
/** Sources tracked in a window; sources past it share one count (a flood of addresses). */
const MAX_TRACKED_SOURCES = 10_000;
const OTHER_SOURCES = '(other sources)';

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

/** The current window's failed redemptions by source, and its logged events, per Core (process). */
interface GuessWindow {
  readonly start: number;
  readonly failures: Map<string, number>;
  events: number;
  /** Refusals not logged in this window (past MAX_REFUSAL_EVENTS). */
  unlogged: number;
}
const windows = new WeakMap<Core, GuessWindow>();

function currentWindow(core: Core): GuessWindow {
  const now = core.now();
  let window = windows.get(core);
  if (!window || now - window.start >= GUESS_WINDOW_SECONDS) {
    window = { start: now, failures: new Map(), events: 0, unlogged: 0 };
    windows.set(core, window);
  }
  return window;
}

function sourceKey(window: GuessWindow, source: string): string {
  if (window.failures.has(source) || window.failures.size < MAX_TRACKED_SOURCES) return source;
  return OTHER_SOURCES;
}

/** Refuses unread while `source` has used up this window's failures. */
function checkGuessBudget(core: Core, source: string): void {
  const window = currentWindow(core);
  if ((window.failures.get(sourceKey(window, source)) ?? 0) < MAX_FAILED_REDEMPTIONS) return;
  const retryAfterSeconds = window.start + GUESS_WINDOW_SECONDS - core.now();
  throw new AccountantError(
    'TOO_MANY_ATTEMPTS',
    `too many invitation codes refused from here lately; try again in ${retryAfterSeconds} s`,
    { details: { retryAfterSeconds } },
  );
}

/** Counts a failed redemption of `source`, and logs it while the window's events last. */
async function noteFailure(
  core: Core,
  source: string,
  reason: string,
  data: Readonly<Record<string, unknown>>,
): Promise<void> {
  const window = currentWindow(core);
  const key = sourceKey(window, source);
  const failures = (window.failures.get(key) ?? 0) + 1;
  window.failures.set(key, failures);
  if (window.events >= MAX_REFUSAL_EVENTS) {
    window.unlogged++;
    return;
  }
  window.events++;
  const notes = [
    ...(failures === MAX_FAILED_REDEMPTIONS
      ? ['further codes from this source refused unread for the rest of the window']
      : []),
    ...(window.events === MAX_REFUSAL_EVENTS
      ? ['further refusals in this window are counted, not logged']
      : []),
  ];
  await guard(() =>
    core.db.appendEvent({
      kind: 'invitation-refused',
      accountId: null,
      actor: null,
      data: { reason, source, ...data, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) },
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
  'unknown-inviter': 'whoever signed this invitation has no account here',
  'inviter-not-active':
    'whoever signed this invitation cannot invite here now (their account is not active)',
  'no-budget': 'whoever signed this invitation may not invite anyone here',
  'over-budget': 'whoever signed this invitation has used every invitation this server gave them',
  'bad-member-signature': 'this invitation is not signed by the key it names',
  'member-other-key': 'this invitation was used here with another key',
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
  request: InvitedRequest,
  existing: AccountRow | undefined,
  grant: (tx: LeaseDbOperations) => Promise<Admission>,
  /** Checks that need no transaction (a signature, an expiry): a refusal, or undefined. */
  precheck: () => Promise<Refused | undefined> = async () => undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  if (existing && existing.status !== 'pending') return undefined;
  checkGuessBudget(core, request.source);
  const early = await precheck();
  if (early) return await refuse(core, request.source, early);
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
    return await refuse(core, request.source, refused);
  }
}

async function refuse(core: Core, source: string, refused: Refused): Promise<{ refused: string }> {
  await noteFailure(core, source, refused.reason, refused.data);
  return { refused: REFUSALS[refused.reason] };
}

/** An account request as an invitation sees it, and where it came from (for the bound). */
export interface InvitedRequest {
  readonly publicKey: Uint8Array;
  readonly nickname: string;
  /** The client's address (or any name of where it came from) the guessing bound counts by. */
  readonly source: string;
}

/**
 * The account request of `request.publicKey` with an invitation's `secret`: see {@link admit};
 * spends one use of the invitation, with its quotas and nickname. A refused invitation is
 * `{ refused }`.
 */
export async function requestWithInvitation(
  core: Core,
  request: InvitedRequest,
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
  request: InvitedRequest,
  bytes: Uint8Array,
  existing: AccountRow | undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  const options = core.options.gridInvitations;
  const signed = decodeGridInvitation(bytes);
  const id = Buffer.from(signed.invitation.id).toString('hex');
  const check = async (): Promise<Refused | undefined> => {
    const refused = (reason: RefusalReason) => new Refused(reason, { grid: id });
    if (options === null) return refused('not-honoured');
    if (signed.invitation.directory !== options.directory) return refused('other-grid');
    const key = options.membershipKey();
    if (key === undefined) return refused('no-membership-key');
    if (!verifyGridInvitation(signed, key)) return refused('bad-signature');
    if (core.now() >= signed.invitation.expires) return refused('expired');
    return undefined;
  };
  const publicKey = Buffer.from(request.publicKey).toString('hex');
  return await admit(
    core,
    request,
    existing,
    async (tx) => {
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
    },
    check,
  );
}

function quotasOf(invitation: InvitationRow) {
  return { hardQuotaBytes: invitation.hardQuotaBytes, softQuotaBytes: invitation.softQuotaBytes };
}

/**
 * The account request of `request.publicKey` with a member's invitation's bytes: honoured when
 * the inviter it names (and whose key signs it) has an active account here with an invitation
 * budget (`INVITATION_BUDGET`, given by the operator) not yet used up, the invitation has not
 * expired, and it is not bound here to another key. The account gets this server's default
 * quotas, the invitation's nickname and `INVITED_BY_ACCOUNT`; the inviter's row is locked while
 * its invitees are counted, so two redemptions at once cannot pass its budget. See {@link admit}.
 */
export async function requestWithMemberInvitation(
  core: Core,
  request: InvitedRequest,
  bytes: Uint8Array,
  existing: AccountRow | undefined,
): Promise<{ account: AccountRow } | { refused: string } | undefined> {
  const signed = decodeMemberInvitation(bytes);
  const id = Buffer.from(signed.invitation.id).toString('hex');
  let inviter: AccountRow | undefined;
  const data = () => ({ member: id, inviter: inviter?.id ?? null });
  const check = async (): Promise<Refused | undefined> => {
    const refused = (reason: RefusalReason) => new Refused(reason, data());
    if (!verifyMemberInvitation(signed)) return refused('bad-member-signature');
    if (core.now() >= signed.invitation.expires) return refused('expired');
    inviter = await guard(() => core.db.getAccountByPublicKey(signed.invitation.inviter));
    if (!inviter) return refused('unknown-inviter');
    if (inviter.status !== 'normal') return refused('inviter-not-active');
    return undefined;
  };
  const publicKey = Buffer.from(request.publicKey).toString('hex');
  return await admit(
    core,
    request,
    existing,
    async (tx) => {
      const inviterId = inviter!.id;
      // The inviter's row locked: its invitees are counted against its budget one at a time.
      await tx.lockAccount(inviterId);
      const budget = Number((await tx.getAccountAttributes(inviterId))[INVITATION_BUDGET] ?? 0);
      if (!(budget > 0)) throw new Refused('no-budget', data());
      const invited = await tx.accountsWithAttribute(INVITED_BY_ACCOUNT, String(inviterId));
      if (invited.length >= budget) throw new Refused('over-budget', data());
      if (!(await tx.bindGridInvitation(id, publicKey))) {
        throw new Refused('member-other-key', data());
      }
      return {
        quotas: {
          hardQuotaBytes: core.options.defaultHardQuotaBytes,
          softQuotaBytes: core.options.defaultSoftQuotaBytes,
        },
        nickname: signed.invitation.nickname,
        attribute: [INVITED_BY_ACCOUNT, String(inviterId)],
      };
    },
    check,
  );
}
