const DAY = 24 * 60 * 60;

/** How long leases last. Tahoe's defaults: 31 days; starter leases (found shares) 60 days. */
export interface LeasePolicy {
  /** Duration of a lease added or renewed by a client (default 31 days). */
  readonly leaseDurationSeconds: number;
  /** Duration of a starter lease given to a found share with no known owner (default 60 days). */
  readonly starterLeaseDurationSeconds: number;
  /** Longest duration a caller may ask for (default 5 years). */
  readonly maxLeaseDurationSeconds: number;
}

export const DEFAULT_LEASE_POLICY: LeasePolicy = Object.freeze({
  leaseDurationSeconds: 31 * DAY,
  starterLeaseDurationSeconds: 60 * DAY,
  maxLeaseDurationSeconds: 5 * 365 * DAY,
});

/** Fills in and checks a partial policy. */
export function resolvePolicy(partial: Partial<LeasePolicy> = {}): LeasePolicy {
  const policy = { ...DEFAULT_LEASE_POLICY, ...partial };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`lease policy ${name} must be a positive integer of seconds`);
    }
  }
  if (
    policy.leaseDurationSeconds > policy.maxLeaseDurationSeconds ||
    policy.starterLeaseDurationSeconds > policy.maxLeaseDurationSeconds
  ) {
    throw new RangeError('lease policy durations must not exceed maxLeaseDurationSeconds');
  }
  return Object.freeze(policy);
}
