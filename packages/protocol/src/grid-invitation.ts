import { createHash, randomBytes } from 'node:crypto';
import { signEd25519, verifyEd25519 } from './account-request.js';
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
const DOMAIN = 'ostrom-grid-invitation-v1';
const CHECKSUM_LABEL = 'ostrom grid invitation v1\n';
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
  new ProtocolError('INVALID_INVITATION', `not a grid invitation: ${why}`);

function payloadOf(invitation: GridInvitation): Uint8Array {
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
  return encodeCbor([DOMAIN, directory, id, nickname, expires]);
}

function checksum(bytes: Uint8Array): string {
  const digest = createHash('sha256').update(CHECKSUM_LABEL).update(bytes).digest();
  return base32Encode(digest).slice(0, CHECKSUM_CHARS);
}

/** A new invitation id (16 random bytes). */
export function newGridInvitationId(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

/** Signs `invitation` with the membership key's 32-byte seed; returns its code. */
export function signGridInvitation(invitation: GridInvitation, membershipSeed: Uint8Array): string {
  const payload = payloadOf(invitation);
  const bytes = new Uint8Array([...payload, ...signEd25519(membershipSeed, payload)]);
  return `${GRID_INVITATION_PREFIX}${base32Encode(bytes)}-${checksum(bytes)}`;
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
  if (typeof text !== 'string' || text.length > 2 * MAX_GRID_INVITATION_BYTES) {
    throw bad('too long');
  }
  const compact = text.replace(/\s+/g, '').toLowerCase();
  if (!compact.startsWith(GRID_INVITATION_PREFIX)) {
    throw bad(`it should start with ${GRID_INVITATION_PREFIX}`);
  }
  const [body, sum, ...rest] = compact.slice(GRID_INVITATION_PREFIX.length).split('-');
  const bytes = base32Decode(body ?? '');
  if (rest.length > 0 || sum === undefined || bytes === undefined) {
    throw bad('it should be base32 followed by a checksum');
  }
  if (sum !== checksum(bytes)) {
    throw bad('the checksum does not match: a character was lost or changed in copying');
  }
  return decodeGridInvitation(bytes);
}

/** Decodes signed grid invitation bytes (as a server receives them); the signature is not checked. */
export function decodeGridInvitation(bytes: Uint8Array): SignedGridInvitation {
  if (bytes.length <= 64 || bytes.length > MAX_GRID_INVITATION_BYTES) throw bad('wrong size');
  const payload = bytes.subarray(0, bytes.length - 64);
  let item: unknown;
  try {
    item = decodeCbor(payload);
  } catch {
    throw bad('its payload is not CBOR');
  }
  if (!Array.isArray(item) || item.length !== 5 || item[0] !== DOMAIN) {
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
    canonical = payloadOf(invitation);
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
