import { blake2b } from '@noble/hashes/blake2.js';
import { LEASE_SECRET_BYTES } from './facts.js';

// Its own entry point (`@ostrom/protocol/lease-secret`), apart from the dependency-free facts,
// so that a package that only checks storage indexes does not load a hash.

/**
 * The digest Tahoe-LAFS stores in place of a lease secret: BLAKE2b with a 32-byte digest,
 * unkeyed and unpersonalised (v2 share containers, `lease_schema.py`,
 * `HashedLeaseSerializer._hash_secret`, #3839). Ostrom stores the same digest, so digests read
 * from a Tahoe share file and digests of secrets presented over HTTP compare directly.
 * TypeError unless `secret` is {@link LEASE_SECRET_BYTES} bytes.
 */
export function leaseSecretDigest(secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== LEASE_SECRET_BYTES) {
    throw new TypeError(`a lease secret is ${LEASE_SECRET_BYTES} bytes`);
  }
  return blake2b(secret, { dkLen: LEASE_SECRET_BYTES });
}
