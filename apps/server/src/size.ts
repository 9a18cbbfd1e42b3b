// Sizes as Tahoe's `allmydata.util.abbreviate.parse_abbreviated_size` reads them (`5GB`,
// `512MiB`, `1k`): decimal units are powers of 1000, `i` units powers of 1024, the `B` is
// optional. Unlike Tahoe, a decimal fraction (`1.5TB`) is accepted; the result is rounded to a
// whole byte, and must stay a safe integer.

const UNITS = ['', 'k', 'm', 'g', 't', 'p', 'e'] as const;
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

/** A byte count for people: `1.5 GB`, `512 B` (decimal units, as sizes are usually written). */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${text.replace(/\.?0+$/, '')} ${UNITS[unit]!.toUpperCase()}B`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 7 * 86_400,
  y: 365 * 86_400,
};
const DURATION = /^(\d+)\s*([smhdwy]?)$/i;

/** Seconds of a duration such as `31d`, `12h`, `90m`, `3600s` or an integer of seconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * DURATION_UNITS[(m[2] || 's').toLowerCase()]!;
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}
