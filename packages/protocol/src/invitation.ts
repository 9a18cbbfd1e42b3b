import { createHash, randomBytes } from 'node:crypto';
import { ProtocolError } from './errors.js';
import { parseNurl } from './nurl.js';
import { base32Decode, base32Encode } from './storage-index.js';

// An invitation code: what an operator hands a person so that their first account request on
// that server makes an active account at once (README, "Invitations"). It names the server (a
// NURL, whose pinned key is the server's identity) and carries a secret of 128 bits, which the
// server keeps only as a hash. Written to survive being pasted from a mail or a chat: one word
// without spaces, lowercase base32 before the NURL, and a checksum over the whole so that a
// character lost or changed anywhere is caught on the client before anything is sent.
//
//   oi1-<secret: 26 base32>-<checksum: 6 base32>,<NURL>
//
// The checksum is the first 30 bits of SHA-256("ostrom invitation v1\n" ‖ secret ‖ NURL).

export const INVITATION_PREFIX = 'oi1-';
/** Bytes of an invitation's secret. */
export const INVITATION_SECRET_BYTES = 16;
const CHECKSUM_CHARS = 6;
const CHECKSUM_LABEL = 'ostrom invitation v1\n';
/** Longest code accepted (a NURL is well under 1 KiB). */
export const MAX_INVITATION_LENGTH = 2048;

/** An invitation code's parts. */
export interface Invitation {
  /** 16 bytes; the server stores only {@link invitationSecretHash} of it. */
  readonly secret: Uint8Array;
  /** A NURL of the server that issued it (its anonymous one). */
  readonly nurl: string;
}

function checksum(secret: Uint8Array, nurl: string): string {
  const digest = createHash('sha256')
    .update(CHECKSUM_LABEL)
    .update(secret)
    .update(nurl, 'utf8')
    .digest();
  return base32Encode(digest).slice(0, CHECKSUM_CHARS);
}

/** A new invitation secret (16 random bytes). */
export function newInvitationSecret(): Uint8Array {
  return new Uint8Array(randomBytes(INVITATION_SECRET_BYTES));
}

/** What a server keeps of a secret: SHA-256, 64 lowercase hex. */
export function invitationSecretHash(secret: Uint8Array): string {
  if (secret.length !== INVITATION_SECRET_BYTES) {
    throw new RangeError(`an invitation secret is ${INVITATION_SECRET_BYTES} bytes`);
  }
  return createHash('sha256').update(secret).digest('hex');
}

/** The code of an invitation. RangeError for a secret of the wrong size or a bad NURL. */
export function formatInvitation(invitation: Invitation): string {
  const { secret, nurl } = invitation;
  if (secret.length !== INVITATION_SECRET_BYTES) {
    throw new RangeError(`an invitation secret is ${INVITATION_SECRET_BYTES} bytes`);
  }
  parseNurl(nurl);
  return `${INVITATION_PREFIX}${base32Encode(secret)}-${checksum(secret, nurl)},${nurl}`;
}

/**
 * Reads an invitation code, as pasted: surrounding and embedded whitespace (a line wrapped by
 * a mail program) is dropped, and the part before the NURL may be in capitals. ProtocolError
 * `INVALID_INVITATION` saying what is wrong: not a code, a bad secret, a bad NURL, or a checksum
 * that does not match (a character lost or changed).
 */
export function parseInvitation(text: string): Invitation {
  const bad = (why: string) =>
    new ProtocolError('INVALID_INVITATION', `not an Ostrom invitation code: ${why}`);
  if (typeof text !== 'string' || text.length > MAX_INVITATION_LENGTH) {
    throw bad(`longer than ${MAX_INVITATION_LENGTH} characters`);
  }
  const compact = text.replace(/\s+/g, '');
  const comma = compact.indexOf(',');
  if (comma < 0) throw bad(`it should read ${INVITATION_PREFIX}…,pb://…`);
  const head = compact.slice(0, comma).toLowerCase();
  const nurl = compact.slice(comma + 1);
  if (!head.startsWith(INVITATION_PREFIX)) {
    throw bad(`it should start with ${INVITATION_PREFIX}`);
  }
  const [secretText, sum, ...rest] = head.slice(INVITATION_PREFIX.length).split('-');
  const secret = base32Decode(secretText ?? '');
  if (rest.length > 0 || sum === undefined || secret?.length !== INVITATION_SECRET_BYTES) {
    throw bad('the secret is not 26 characters of base32 followed by a checksum');
  }
  try {
    parseNurl(nurl);
  } catch (error) {
    throw bad(`its NURL does not parse (${(error as Error).message})`);
  }
  if (sum !== checksum(secret, nurl)) {
    throw bad('the checksum does not match: a character was lost or changed in copying');
  }
  return { secret, nurl };
}
