import { createHash, randomBytes } from 'node:crypto';
import { base32Decode, base32Encode, publicKeyFromPrivate } from '@ostrom/protocol';
import { deriveReadKey, deriveStorageIndex } from './derive.js';
import { GsdError } from './errors.js';

/** The printed prefix of a writecap. */
export const WRITECAP_PREFIX = 'gsd:w1:';
/** The printed prefix of a readcap. */
export const READCAP_PREFIX = 'gsd:r1:';

const SEED_BYTES = 32;
const READCAP_BYTES = 64;
const CHECKSUM_BYTES = 4;
const CHECKSUM_TAG = Buffer.from('ostrom-gsd-cap', 'ascii');

/** A parsed readcap. */
export interface ReadCap {
  verifyingKey: Uint8Array;
  readKey: Uint8Array;
  storageIndex: string;
}

/** A parsed writecap: the Ed25519 seed, and what follows from it (its readcap's parts too). */
export interface WriteCap extends ReadCap {
  seed: Uint8Array;
  readcap: string;
}

function checksum(prefix: string, payload: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(CHECKSUM_TAG)
    .update(Buffer.from(prefix, 'ascii'))
    .update(payload)
    .digest();
  return new Uint8Array(digest.subarray(0, CHECKSUM_BYTES));
}

function format(prefix: string, payload: Uint8Array): string {
  const body = new Uint8Array(payload.length + CHECKSUM_BYTES);
  body.set(payload);
  body.set(checksum(prefix, payload), payload.length);
  return prefix + base32Encode(body);
}

function parse(text: unknown, prefix: string, payloadBytes: number, what: string): Uint8Array {
  if (typeof text !== 'string') throw new GsdError('BAD_CAP', `a ${what} is a string`);
  if (!text.startsWith(prefix)) {
    const other = prefix === WRITECAP_PREFIX ? READCAP_PREFIX : WRITECAP_PREFIX;
    if (text.startsWith(other)) {
      const found = other === WRITECAP_PREFIX ? 'writecap' : 'readcap';
      throw new GsdError('BAD_CAP', `this is a ${found}, not a ${what}`);
    }
    throw new GsdError('BAD_CAP', `a ${what} starts with "${prefix}"`);
  }
  const encoded = text.slice(prefix.length);
  const expectedChars = Math.ceil(((payloadBytes + CHECKSUM_BYTES) * 8) / 5);
  if (encoded.length !== expectedChars) {
    throw new GsdError(
      'BAD_CAP',
      `a ${what} has ${expectedChars} characters after "${prefix}", not ${encoded.length}`,
    );
  }
  const bytes = base32Decode(encoded);
  // base32Decode refuses upper case, padding, other letters and non-zero spare bits; the
  // re-encoding check keeps one cap to exactly one spelling.
  if (bytes === undefined || base32Encode(bytes) !== encoded) {
    throw new GsdError('BAD_CAP', `a ${what} is lowercase base32 (a-z, 2-7) after "${prefix}"`);
  }
  const payload = bytes.subarray(0, payloadBytes);
  const sum = bytes.subarray(payloadBytes);
  if (!Buffer.from(sum).equals(Buffer.from(checksum(prefix, payload)))) {
    throw new GsdError('BAD_CAP', `the ${what}'s checksum does not match: a character is wrong`);
  }
  return new Uint8Array(payload);
}

/** A new random writecap. Keep it secret: whoever holds it can rewrite the document. */
export function createWriteCap(): string {
  return format(WRITECAP_PREFIX, new Uint8Array(randomBytes(SEED_BYTES)));
}

/** The writecap of a given 32-byte seed (for tests and key escrow). */
export function writeCapFromSeed(seed: Uint8Array): string {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new TypeError('a seed is 32 bytes');
  }
  return format(WRITECAP_PREFIX, seed);
}

/** Parses a writecap; GsdError `BAD_CAP` for anything else. */
export function parseWriteCap(text: string): WriteCap {
  const seed = parse(text, WRITECAP_PREFIX, SEED_BYTES, 'writecap');
  const verifyingKey = publicKeyFromPrivate(seed);
  const readKey = deriveReadKey(seed);
  const payload = new Uint8Array(READCAP_BYTES);
  payload.set(verifyingKey);
  payload.set(readKey, 32);
  return {
    seed,
    readcap: format(READCAP_PREFIX, payload),
    verifyingKey,
    readKey,
    storageIndex: deriveStorageIndex(readKey),
  };
}

/** The readcap of a writecap; GsdError `BAD_CAP` if it is not one. */
export function readCapOf(writecap: string): string {
  return parseWriteCap(writecap).readcap;
}

/** Parses a readcap; GsdError `BAD_CAP` for anything else. */
export function parseReadCap(text: string): ReadCap {
  const payload = parse(text, READCAP_PREFIX, READCAP_BYTES, 'readcap');
  const verifyingKey = payload.slice(0, 32);
  const readKey = payload.slice(32);
  return { verifyingKey, readKey, storageIndex: deriveStorageIndex(readKey) };
}
