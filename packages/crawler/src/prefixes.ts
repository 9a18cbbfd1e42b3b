/** Tahoe's storage-index alphabet (RFC 4648 base32, lowercase). */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * The 1,024 two-character prefixes under which share sets are filed, in the order the crawler
 * walks them (byte order, as a directory listing sorts them).
 */
export const PREFIXES: readonly string[] = [...ALPHABET]
  .flatMap((a) => [...ALPHABET].map((b) => a + b))
  .sort();

/** The index of the prefix after `position` (0 for a cycle not yet begun), or PREFIXES.length. */
export function nextPrefixIndex(position: string | null): number {
  if (position === null) return 0;
  const index = PREFIXES.indexOf(position);
  if (index < 0) throw new TypeError(`unknown crawler position ${JSON.stringify(position)}`);
  return index + 1;
}
