import { createHash, randomBytes } from 'node:crypto';
import { publicKeyFromPrivate, signEd25519, verifyEd25519 } from './account-request.js';
import { decodeCbor, encodeCbor } from './cbor.js';
import { ProtocolError } from './errors.js';
import { base32Decode, base32Encode } from './storage-index.js';

// A grid invitation (README, "Grid invitations"): one code that admits a person to every server
// of a grid whose operator opted in. The directory's holder signs it with the grid's membership
// key, whose public half the directory publishes; each server checks the signature against the
// directory it read, and binds the invitation to the first key that uses it there (servers do
// not coordinate, so the client uses one key everywhere).
//
//   ogi1-<base32 of: payload ‖ signature (64 bytes)>-<checksum: 6 base32>
//
// payload = CBOR [ "ostrom-grid-invitation-v1", directory, id, nickname, expires ]
//   directory  tstr  the storage index of the grid's directory (binds the code to one grid)
//   id         bstr  16 random bytes (names the invitation; a server binds it to one key)
//   nickname   tstr / null   the account's nickname, as the directory's holder chose it
//   expires    uint  Unix seconds; not valid from then on
// checksum = the first 6 base32 characters of SHA-256("ostrom grid invitation v1\n" ‖ bytes).

export const GRID_INVITATION_PREFIX = 'ogi1-';
/** A member's invitation: the same form, signed by a member's account key (README). */
export const MEMBER_INVITATION_PREFIX = 'omi1-';

/** The two kinds of signed invitation: the grid's, and a member's. */
type Kind = 'grid' | 'member';
const KINDS = {
  grid: {
    prefix: GRID_INVITATION_PREFIX,
    domain: 'ostrom-grid-invitation-v1',
    label: 'ostrom grid invitation v1\n',
  },
  member: {
    prefix: MEMBER_INVITATION_PREFIX,
    domain: 'ostrom-member-invitation-v1',
    label: 'ostrom member invitation v1\n',
  },
} as const;
const CHECKSUM_CHARS = 6;
/** Most bytes of a signed grid invitation (payload and signature). */
export const MAX_GRID_INVITATION_BYTES = 512;

/** What a grid invitation says. */
export interface GridInvitation {
  /** The storage index of the grid's directory. */
  readonly directory: string;
  /** 16 bytes naming it. */
  readonly id: Uint8Array;
  readonly nickname: string | null;
  /** Unix seconds. */
  readonly expires: number;
}

/** A grid invitation with its bytes as signed: what a client sends a server. */
export interface SignedGridInvitation {
  readonly invitation: GridInvitation;
  /** payload ‖ signature. */
  readonly bytes: Uint8Array;
}

const bad = (why: string) =>
  new ProtocolError('INVALID_INVITATION', `not a signed invitation: ${why}`);

function payloadOf(invitation: GridInvitation, kind: Kind = 'grid'): Uint8Array {
  const { directory, id, nickname, expires } = invitation;
  if (typeof directory !== 'string' || directory.length < 1 || directory.length > 64) {
    throw new RangeError('directory is a storage index');
  }
  if (id.length !== 16) throw new RangeError('an invitation id is 16 bytes');
  if (
    nickname !== null &&
    (nickname.length < 1 || nickname.length > 64 || /\p{Cc}/u.test(nickname))
  ) {
    throw new RangeError('a nickname is 1 to 64 characters, none of them a control');
  }
  if (!Number.isSafeInteger(expires) || expires < 0)
    throw new RangeError('expires is Unix seconds');
  return encodeCbor([KINDS[kind].domain, directory, id, nickname, expires]);
}

function checksum(bytes: Uint8Array, kind: Kind = 'grid'): string {
  const digest = createHash('sha256').update(KINDS[kind].label).update(bytes).digest();
  return base32Encode(digest).slice(0, CHECKSUM_CHARS);
}

/** A new invitation id (16 random bytes). */
export function newGridInvitationId(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

/** Signs `invitation` with the membership key's 32-byte seed; returns its code. */
export function signGridInvitation(invitation: GridInvitation, membershipSeed: Uint8Array): string {
  return sign(invitation, membershipSeed, 'grid');
}

function sign(invitation: GridInvitation, seed: Uint8Array, kind: Kind): string {
  const payload = payloadOf(invitation, kind);
  const bytes = new Uint8Array([...payload, ...signEd25519(seed, payload)]);
  return `${KINDS[kind].prefix}${base32Encode(bytes)}-${checksum(bytes, kind)}`;
}

/** What a member's invitation says: the inviter's public key in place of the directory. */
export interface MemberInvitation {
  /** The inviting account's Ed25519 public key (32 bytes), which signs it. */
  readonly inviter: Uint8Array;
  readonly id: Uint8Array;
  readonly nickname: string | null;
  readonly expires: number;
}

/** A member's invitation with its bytes as signed. */
export interface SignedMemberInvitation {
  readonly invitation: MemberInvitation;
  readonly bytes: Uint8Array;
}

/** Signs a member's invitation with that member's account key (seed); returns its code. */
export function signMemberInvitation(
  invitation: Omit<MemberInvitation, 'inviter'>,
  inviterSeed: Uint8Array,
): string {
  const inviter = publicKeyFromPrivate(inviterSeed);
  return sign({ ...invitation, directory: base32Encode(inviter) }, inviterSeed, 'member');
}

/** Whether `text` looks like a member's invitation code. */
export function isMemberInvitationCode(text: string): boolean {
  return text.trim().toLowerCase().startsWith(MEMBER_INVITATION_PREFIX);
}

/** Reads a member's invitation code as pasted; see {@link parseGridInvitationCode}. */
export function parseMemberInvitationCode(text: string): SignedMemberInvitation {
  return decodeMemberInvitation(codeBytes(text, 'member'));
}

/** Decodes a member's invitation (as a server receives it); the signature is not checked here. */
export function decodeMemberInvitation(bytes: Uint8Array): SignedMemberInvitation {
  const { invitation } = decode(bytes, 'member');
  const inviter = base32Decode(invitation.directory);
  if (inviter?.length !== 32) throw bad('its inviter is not a public key');
  const { directory: _directory, ...rest } = invitation;
  return { invitation: { ...rest, inviter }, bytes: new Uint8Array(bytes) };
}

/** Whether a member's invitation is signed by the inviter it names. */
export function verifyMemberInvitation(signed: SignedMemberInvitation): boolean {
  const { bytes } = signed;
  return verifyEd25519(
    signed.invitation.inviter,
    bytes.subarray(0, bytes.length - 64),
    bytes.subarray(bytes.length - 64),
  );
}

/** Whether `text` looks like a grid invitation code rather than a server's. */
export function isGridInvitationCode(text: string): boolean {
  return text.trim().toLowerCase().startsWith(GRID_INVITATION_PREFIX);
}

/**
 * Reads a grid invitation code as pasted (whitespace dropped, capitals accepted): its bytes and
 * what they say. The signature is not checked here (only a server knows the grid's membership
 * key it trusts: {@link verifyGridInvitation}). ProtocolError `INVALID_INVITATION` with why.
 */
export function parseGridInvitationCode(text: string): SignedGridInvitation {
  return decodeGridInvitation(codeBytes(text, 'grid'));
}

/** The signed bytes of a code of `kind`, its checksum checked. */
function codeBytes(text: string, kind: Kind): Uint8Array {
  const { prefix } = KINDS[kind];
  if (typeof text !== 'string' || text.length > 2 * MAX_GRID_INVITATION_BYTES) {
    throw bad('too long');
  }
  const compact = text.replace(/\s+/g, '').toLowerCase();
  if (!compact.startsWith(prefix)) throw bad(`it should start with ${prefix}`);
  const [body, sum, ...rest] = compact.slice(prefix.length).split('-');
  const bytes = base32Decode(body ?? '');
  if (rest.length > 0 || sum === undefined || bytes === undefined) {
    throw bad('it should be base32 followed by a checksum');
  }
  if (sum !== checksum(bytes, kind)) {
    throw bad('the checksum does not match: a character was lost or changed in copying');
  }
  return bytes;
}

/** Decodes signed grid invitation bytes (as a server receives them); the signature is not checked. */
export function decodeGridInvitation(bytes: Uint8Array): SignedGridInvitation {
  return decode(bytes, 'grid');
}

function decode(bytes: Uint8Array, kind: Kind): SignedGridInvitation {
  if (bytes.length <= 64 || bytes.length > MAX_GRID_INVITATION_BYTES) throw bad('wrong size');
  const payload = bytes.subarray(0, bytes.length - 64);
  let item: unknown;
  try {
    item = decodeCbor(payload);
  } catch {
    throw bad('its payload is not CBOR');
  }
  if (!Array.isArray(item) || item.length !== 5 || item[0] !== KINDS[kind].domain) {
    throw bad('its payload is not one');
  }
  const [, directory, id, nickname, expires] = item as unknown[];
  if (
    typeof directory !== 'string' ||
    !(id instanceof Uint8Array) ||
    !(nickname === null || typeof nickname === 'string') ||
    typeof expires !== 'number'
  ) {
    throw bad('a field has the wrong type');
  }
  const invitation: GridInvitation = { directory, id, nickname, expires };
  let canonical: Uint8Array;
  try {
    canonical = payloadOf(invitation, kind);
  } catch (error) {
    throw bad((error as Error).message);
  }
  if (Buffer.compare(Buffer.from(canonical), Buffer.from(payload)) !== 0) {
    throw bad('its payload is not in canonical form');
  }
  return { invitation, bytes: new Uint8Array(bytes) };
}

/** Whether the invitation's signature is the membership key's. */
export function verifyGridInvitation(
  signed: SignedGridInvitation,
  membershipKey: Uint8Array,
): boolean {
  const { bytes } = signed;
  return verifyEd25519(
    membershipKey,
    bytes.subarray(0, bytes.length - 64),
    bytes.subarray(bytes.length - 64),
  );
}
