// Sizes as Tahoe's `allmydata.util.abbreviate.parse_abbreviated_size` reads them (`5GB`,
// `512MiB`, `1k`): decimal units are powers of 1000, `i` units powers of 1024, the `B` is
// optional. Unlike Tahoe, a decimal fraction (`1.5TB`) is accepted; the result is rounded to a
// whole byte, and must stay a safe integer.

const UNITS = ['', 'k', 'm', 'g', 't', 'p', 'e'] as const;
const UNIT_NAMES = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'] as const;
const SIZE = /^(\d+)(?:\.(\d+))?\s*([kmgtpe]?)(i?)b?$/i;

/**
 * Bytes of a size such as `5GB`, `512MiB`, `1.5TB`, `1000` or a non-negative integer; undefined
 * when it is not one (the caller names the setting in its message).
 */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const [, whole, fraction = '', unitText = '', binary] = m;
  const unit = UNITS.indexOf(unitText.toLowerCase() as (typeof UNITS)[number]);
  if (binary && unit === 0) return undefined; // `5iB` is no unit at all
  if (unit === 0 && fraction !== '') return undefined; // there is no fraction of a byte
  const base = BigInt(binary ? 1024 : 1000) ** BigInt(unit);
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(whole! + fraction) * base;
  // Round half up to a whole byte.
  const bytes = (scaled * 2n + scale) / (scale * 2n);
  return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : undefined;
}

/**
 * A byte count for people, in decimal units with three significant figures: `999 B`, `1.5 kB`,
 * `200 MB`, `1.23 GB`. The one formatter of every size a node shows (CLI, panel, digest, feed);
 * `parseSize` reads what it writes back to within its rounding (half a unit of its last digit).
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError('a size is a non-negative number');
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  let text = digits(value);
  // 999.96 kB rounds to "1000": that is 1 MB.
  if (Number(text) >= 1000 && unit < UNITS.length - 1) {
    unit++;
    text = digits(Number(text) / 1000);
  }
  // Trailing zeros after the point go ("1.50" → "1.5", "2.00" → "2"); those of "200" stay.
  if (text.includes('.')) text = text.replace(/\.?0+$/, '');
  return `${text} ${UNIT_NAMES[unit]}`;
}

/**
 * A size written exactly, for a form to be read back with `parseSize` unchanged: the shortest of
 * `5 GB`, `512 MiB` and `123456789 B` that is exact. (`formatSize` rounds, so a form filled with
 * it would change a quota nobody touched.)
 */
export function formatSizeExact(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError('an exact size is a non-negative safe integer');
  }
  let best = `${bytes} B`;
  if (bytes === 0) return best;
  for (let unit = 1; unit < UNITS.length; unit++) {
    for (const [base, suffix] of [
      [1000, UNIT_NAMES[unit]],
      [1024, `${UNITS[unit]!.toUpperCase()}iB`],
    ] as const) {
      const scale = base ** unit;
      if (scale > Number.MAX_SAFE_INTEGER || bytes % scale !== 0) continue;
      const text = `${bytes / scale} ${suffix}`;
      if (text.length < best.length) best = text;
    }
  }
  return best;
}
