import type { InvitationRow } from '@ostrom/leasedb';

// How an operator's tools show an invitation (the admin API, the node's panel): its row as the
// lease database keeps it, with where it stands, and never its secret's hash. The hash is not a
// secret that admits anyone, but nothing needs it outside the database, so nothing gets it.

/** Where an invitation stands, in the order they are checked. */
export const INVITATION_STATES = ['revoked', 'expired', 'spent', 'open'] as const;

/** A state of {@link INVITATION_STATES}. */
export type InvitationState = (typeof INVITATION_STATES)[number];

/** An invitation as the operator sees it: its row without `secretHash`, and its state. */
export type InvitationView = Omit<InvitationRow, 'secretHash'> & {
  readonly state: InvitationState;
};

/**
 * Where an invitation stands at `now` (Unix seconds): revoked, else expired (from `expiresAt`
 * on), else spent (every use made), else open. Only an open one can admit anyone.
 */
export function invitationState(row: InvitationRow, now: number): InvitationState {
  if (row.revokedAt !== null) return 'revoked';
  if (now >= row.expiresAt) return 'expired';
  if (row.uses >= row.maxUses) return 'spent';
  return 'open';
}

/** `row` without its secret's hash, with its state at `now`. */
export function invitationView(row: InvitationRow, now: number): InvitationView {
  const { secretHash: _hash, ...shown } = row;
  return { ...shown, state: invitationState(row, now) };
}
