// Facts of Tahoe-LAFS's storage protocol that every Ostrom package checks: what a storage index,
// a share number, a share prefix and a share type are, and how long a lease secret is. Defined
// once, here, in a module with no imports, so that the lease database and the backends can use
// them (`@ostrom/protocol/facts`) without loading the wire codecs (cbor-x, zod, asn1).

/** Bytes in a storage index. */
export const STORAGE_INDEX_BYTES = 16;

/** Characters of a storage index in its text form: 16 bytes in unpadded base32. */
export const STORAGE_INDEX_CHARS = 26;

// 16 bytes = 128 bits; 26 base32 digits carry 130, so the last digit's two low bits are spare,
// and only the 8 digits with both zero (a, e, i, m, q, u, y, 4) are canonical. Tahoe's URL
// converter (`http_server.StorageIndexConverter` → `base32.a2b`) is laxer: its last-digit check
// (`could_be_base32_encoded`) looks at one spare bit only, and `b32decode` drops the other, so
// it routes `…c` to the same index as `…a`. Its clients always send `b2a`'s canonical form, so
// refusing the other 8 digits changes nothing for them, and keeps one spelling per index: the
// lease database and the backends key rows, directories and objects by this string.
const CANONICAL_STORAGE_INDEX = /^[a-z2-7]{25}[aeimquy4]$/;

/**
 * Whether `value` is a storage index in canonical text form: 26 characters of lowercase,
 * unpadded RFC 4648 base32 whose spare bits are zero, so that one index has one spelling. The
 * form Tahoe clients put in URLs, and the key of every share in Ostrom's stores.
 */
export function isStorageIndex(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL_STORAGE_INDEX.test(value);
}

/** The largest share number: sets of share numbers hold at most 256 entries (`interfaces.py` MAX_BUCKETS). */
export const MAX_SHNUM = 255;

/** Whether `value` is a share number: an integer 0–{@link MAX_SHNUM}. */
export function isShareNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_SHNUM;
}

const SHARE_PREFIX = /^[a-z2-7]{2}$/;

/**
 * Whether `value` is a share prefix: the first two characters of a storage index (its top 10
 * bits), under which Tahoe files shares on disk (`storage/common.storage_index_to_dir`) and which
 * its crawler walks one at a time. There are 1024 of them.
 */
export function isSharePrefix(value: unknown): value is string {
  return typeof value === 'string' && SHARE_PREFIX.test(value);
}

/** The share prefix of a storage index; TypeError if `storageIndex` is not one. */
export function sharePrefixOf(storageIndex: string): string {
  if (!isStorageIndex(storageIndex)) throw new TypeError('not a storage index');
  return storageIndex.slice(0, 2);
}

/** The two kinds of share Tahoe stores: immutable (uploaded once) and mutable (read-test-write). */
export const SHARE_TYPES = ['immutable', 'mutable'] as const;
/** One of {@link SHARE_TYPES}. */
export type ShareType = (typeof SHARE_TYPES)[number];

/** Bytes of a lease secret (renew or cancel), and of its stored digest (`X-Tahoe-Authorization`). */
export const LEASE_SECRET_BYTES = 32;

/** A half-open byte range [begin, end) of a share: a read's, or one an upload still lacks (Tahoe's `required`). */
export interface ByteRange {
  readonly begin: number;
  readonly end: number;
}
