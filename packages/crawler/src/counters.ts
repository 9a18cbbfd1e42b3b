/** What one crawler cycle counted; saved after every prefix, kept in the history. */
export const COUNTER_NAMES = [
  /** Shares found in the backend. */
  'examined',
  /** Bytes of the shares examined (as the lease database counts them). */
  'bytes',
  /** Shares found in the backend but not in the database, now STABLE. */
  'adopted',
  /** STABLE rows whose share had gone, removed. */
  'vanished',
  /** COMING rows of uploads no live process holds, removed. */
  'deadUploads',
  /** Leases expired at the start of the cycle. */
  'expired',
  /** Unleased shares deleted after their grace period. */
  'deleted',
  /** Deletions that failed (the share stays STABLE; retried next cycle). */
  'deleteFailures',
  /** Unleased shares past their grace period left alone: deletion off, or held after a restore. */
  'unleased',
  /** Shares that could not be read. */
  'corrupt',
  /** Usage totals that differed from a recount, corrected. */
  'usageCorrected',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export type Counters = Record<CounterName, number>;

export function emptyCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counters;
}

/** Counters as saved (unknown names dropped, missing ones zero), e.g. after an upgrade. */
export function countersFrom(saved: Readonly<Record<string, number>>): Counters {
  const counters = emptyCounters();
  for (const name of COUNTER_NAMES) {
    const value = saved[name];
    if (typeof value === 'number' && Number.isFinite(value)) counters[name] = value;
  }
  return counters;
}
