import { base32nopad } from '@scure/base';
import { ProtocolError } from './errors.js';
import { isStorageIndex, STORAGE_INDEX_BYTES } from './facts.js';

// Conversions between a storage index's text and its bytes. What a storage index, a share number
// and a share prefix are is in facts.ts, the one definition every package checks against.

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
