// Sizes are the accountant's (parseSize, formatSize: one formatter for the CLI, the panel and the
// digest); durations are read here.

export { formatSize, parseSize } from '@ostrom/accountant';

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
