import type { ByteRange } from './types.js';

// Which bytes of an upload have arrived, as a sorted list of disjoint, non-adjacent half-open
// ranges. Pure functions over readonly arrays: an upload keeps one list and replaces it.

/** The list with [begin, end) added, merged with what it overlaps or touches. */
export function addRange(ranges: readonly ByteRange[], added: ByteRange): ByteRange[] {
  if (added.end <= added.begin) return [...ranges];
  const result: ByteRange[] = [];
  let { begin, end } = added;
  for (const range of ranges) {
    if (range.end < begin || range.begin > end) {
      result.push(range);
    } else {
      begin = Math.min(begin, range.begin);
      end = Math.max(end, range.end);
    }
  }
  result.push({ begin, end });
  return result.sort((a, b) => a.begin - b.begin);
}

/** The parts of `query` that the list already covers, in order. */
export function coveredParts(ranges: readonly ByteRange[], query: ByteRange): ByteRange[] {
  const parts: ByteRange[] = [];
  for (const range of ranges) {
    const begin = Math.max(range.begin, query.begin);
    const end = Math.min(range.end, query.end);
    if (begin < end) parts.push({ begin, end });
  }
  return parts;
}

/** The ranges of [0, total) that the list does not cover, in order. */
export function missingRanges(ranges: readonly ByteRange[], total: number): ByteRange[] {
  const missing: ByteRange[] = [];
  let position = 0;
  for (const range of ranges) {
    if (range.begin > position)
      missing.push({ begin: position, end: Math.min(range.begin, total) });
    position = Math.max(position, range.end);
    if (position >= total) break;
  }
  if (position < total) missing.push({ begin: position, end: total });
  return missing.filter((r) => r.begin < r.end);
}
