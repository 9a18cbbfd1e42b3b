import { base32nopad } from '@scure/base';
import { ProtocolError } from './errors.js';

/** The largest share number: sets of share numbers hold at most 256 entries (`interfaces.py` MAX_BUCKETS). */
export const MAX_SHNUM = 255;

/** Bytes in a storage index. */
export const STORAGE_INDEX_BYTES = 16;

// 16 bytes = 128 bits = 25 full base32 digits plus 3 bits; the last digit's 2 spare bits must be
// zero, or two strings would name one index (`http_server.StorageIndexConverter` routes only
// the canonical form).
const STORAGE_INDEX_PATTERN = /^[a-z2-7]{26}$/;

/** Whether `s` is a storage index as Tahoe puts it in URLs: 26 chars of canonical lowercase base32. */
export function isStorageIndex(s: unknown): s is string {
  if (typeof s !== 'string' || !STORAGE_INDEX_PATTERN.test(s)) return false;
  try {
    base32nopad.decode(s.toUpperCase());
    return true;
  } catch {
    return false;
  }
}

/** The 16 bytes of a storage index; ProtocolError `INVALID_STORAGE_INDEX` if it is not one. */
export function storageIndexToBytes(si: string): Uint8Array {
  if (!isStorageIndex(si)) {
    throw new ProtocolError('INVALID_STORAGE_INDEX', `not a storage index: ${JSON.stringify(si)}`);
  }
  return base32nopad.decode(si.toUpperCase());
}

/** The URL form of a 16-byte storage index; RangeError for any other length. */
export function storageIndexFromBytes(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== STORAGE_INDEX_BYTES) {
    throw new RangeError(`a storage index is ${STORAGE_INDEX_BYTES} bytes`);
  }
  return base32nopad.encode(bytes).toLowerCase();
}

/** Whether `n` is a share number (an integer 0..255). */
export function isShareNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_SHNUM;
}

/** Tahoe's base32 (RFC 4648, lowercase, unpadded) of any bytes. */
export function base32Encode(bytes: Uint8Array): string {
  return base32nopad.encode(bytes).toLowerCase();
}

/** Decodes Tahoe's base32; undefined if `s` is not canonical lowercase unpadded base32. */
export function base32Decode(s: string): Uint8Array | undefined {
  if (!/^[a-z2-7]*$/.test(s)) return undefined;
  try {
    return base32nopad.decode(s.toUpperCase());
  } catch {
    return undefined;
  }
}
