import type { EmbeddedLease } from '@ostrom/backend';
import { type ContainerLease, leaseSecretDigest } from './container/index.js';

// Leases between the backend contract's form and a container's lease records.

/** Twenty zero bytes: the node id written where the caller gave none. */
export const NO_NODE_ID = new Uint8Array(20);

/** A contract lease as a v2 container stores it: secrets hashed, node id for mutable records. */
export function toContainerLease(lease: EmbeddedLease, nodeId: Uint8Array): ContainerLease {
  return {
    ownerNum: lease.ownerNum,
    renewSecret: lease.secretsHashed ? lease.renewSecret : leaseSecretDigest(lease.renewSecret),
    cancelSecret: lease.secretsHashed ? lease.cancelSecret : leaseSecretDigest(lease.cancelSecret),
    expiresAt: lease.expiresAt,
    nodeId,
  };
}

export function toEmbeddedLease(lease: ContainerLease, version: 1 | 2): EmbeddedLease {
  return {
    ownerNum: lease.ownerNum,
    renewSecret: lease.renewSecret,
    cancelSecret: lease.cancelSecret,
    secretsHashed: version === 2,
    expiresAt: lease.expiresAt,
  };
}
