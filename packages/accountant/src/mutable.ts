import type { WriteVector } from './types.js';

/**
 * The data length a mutable share has after a write request, as Tahoe computes it
 * (`mutable.py`): writes extend the share (gaps are zero-filled), then a `newLength` smaller
 * than the result truncates it and a larger one is ignored. Known before writing, so the hard
 * quota is checked before any byte changes.
 */
export function predictMutableLength(
  currentLength: number,
  writes: readonly WriteVector[],
  newLength: number | null,
): number {
  let length = currentLength;
  for (const write of writes) length = Math.max(length, write.offset + write.data.length);
  return newLength !== null && newLength < length ? newLength : length;
}
