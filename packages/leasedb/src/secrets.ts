import { blake2b } from '@noble/hashes/blake2.js';

/** Tahoe lease secrets (renew, cancel) are 32 bytes. */
const SECRET_BYTES = 32;

/**
 * The stored form of a lease secret: BLAKE2b-256, hex — the hash Tahoe-LAFS's v2 share
 * containers store (`lease_schema.py`, #3839), so hashes read from a Tahoe share file and hashes
 * of secrets presented over HTTP compare directly. Secrets are never stored in plain text.
 */
export function hashLeaseSecret(secret: Uint8Array): string {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES) {
    throw new TypeError(`a lease secret is ${SECRET_BYTES} bytes`);
  }
  return Buffer.from(blake2b(secret, { dkLen: 32 })).toString('hex');
}

/** Throws unless `value` is a stored secret hash (64 hex digits) or null/undefined. */
export function assertSecretHash(name: string, value: unknown): void {
  if (value == null) return;
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) {
    throw new TypeError(`${name} must be 64 lowercase hex digits (a BLAKE2b-256 hash)`);
  }
}

/** Hashes an optional secret for storage. */
export function optionalSecretHash(secret: Uint8Array | undefined | null): string | null {
  return secret == null ? null : hashLeaseSecret(secret);
}
