import { LEASE_SECRET_BYTES } from '@ostrom/protocol/facts';
import { leaseSecretDigest } from '@ostrom/protocol/lease-secret';

/**
 * The stored form of a lease secret: the digest Tahoe-LAFS's v2 share containers store
 * (`leaseSecretDigest`, BLAKE2b-256), in hex, so hashes read from a Tahoe share file and hashes
 * of secrets presented over HTTP compare directly. Secrets are never stored in plain text.
 * TypeError unless `secret` is 32 bytes.
 */
export function hashLeaseSecret(secret: Uint8Array): string {
  return Buffer.from(leaseSecretDigest(secret)).toString('hex');
}

/** Throws unless `value` is a stored secret hash (64 hex digits) or null/undefined. */
export function assertSecretHash(name: string, value: unknown): void {
  if (value == null) return;
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) {
    throw new TypeError(`${name} must be 64 lowercase hex digits (a BLAKE2b-256 hash)`);
  }
}

/** Throws as hashing would (TypeError unless 32 bytes), without hashing: null/undefined pass. */
export function assertLeaseSecret(name: string, secret: unknown): void {
  if (secret == null) return;
  if (!(secret instanceof Uint8Array) || secret.length !== LEASE_SECRET_BYTES) {
    throw new TypeError(`${name} must be ${LEASE_SECRET_BYTES} bytes`);
  }
}

/** Hashes an optional secret for storage. */
export function optionalSecretHash(secret: Uint8Array | undefined | null): string | null {
  return secret == null ? null : hashLeaseSecret(secret);
}
