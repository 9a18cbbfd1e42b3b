/**
 * Container versions, the same numbers for both kinds: 1 stores lease secrets as presented,
 * 2 stores their BLAKE2b-256 hashes (Tahoe #3839/#3841, `immutable.py` footnote 2).
 */
export const CONTAINER_VERSIONS = [1, 2] as const;

export type ContainerVersion = (typeof CONTAINER_VERSIONS)[number];

/** The version Tahoe-LAFS gives new shares (`NEWEST_SCHEMA_VERSION` in both schema modules). */
export const NEWEST_CONTAINER_VERSION: ContainerVersion = 2;

/** Whether `value` is a container version this codec knows. */
export function isContainerVersion(value: unknown): value is ContainerVersion {
  return value === 1 || value === 2;
}

/** Throws unless `value` is 1 or 2. */
export function assertContainerVersion(value: unknown): asserts value is ContainerVersion {
  if (!Number.isInteger(value)) throw new TypeError('container version must be an integer');
  if (!isContainerVersion(value)) {
    throw new RangeError(`container version must be 1 or 2, got ${String(value)}`);
  }
}
