import { LEASE_SECRET_BYTES } from '@ostrom/protocol/facts';
import { leaseSecretDigest } from '@ostrom/protocol/lease-secret';
import { assertBytes, assertU32, viewOf } from './bytes.js';
import { assertContainerVersion, type ContainerVersion } from './version.js';

// Lease records, big-endian (`lease.py`: IMMUTABLE_FORMAT ">L32s32sL", MUTABLE_FORMAT
// ">LL32s32s20s"). The two kinds order the fields differently: the immutable record puts the
// expiration time last, the mutable one puts it second and appends the accepting node's id.
//
//   field          immutable      mutable
//   owner_num      0, u32         0, u32   (mutable: 0 marks an empty slot)
//   expiration     68, u32        4, u32   (Unix seconds)
//   renew secret   4, 32 B        8, 32 B
//   cancel secret  36, 32 B       40, 32 B
//   nodeid         –              72, 20 B

/** Bytes of one lease record in an immutable container. */
export const IMMUTABLE_LEASE_BYTES = 72;
/** Bytes of one lease record in a mutable container. */
export const MUTABLE_LEASE_BYTES = 92;
// A lease secret's length and the digest a v2 container stores in its place are Tahoe facts,
// defined once in @ostrom/protocol; this module re-exports them beside the records that hold them.
export { LEASE_SECRET_BYTES, leaseSecretDigest };
/** Bytes of a Tahoe node id (the server's tub id). */
export const NODE_ID_BYTES = 20;

/** One lease record as a container stores it. */
export interface ContainerLease {
  /** Tahoe's owner number: 0 for allocation leases, 1 for `add_lease` and mutable writes. */
  readonly ownerNum: number;
  /** 32 bytes as stored: the secret itself in v1, its BLAKE2b-256 hash in v2. */
  readonly renewSecret: Uint8Array;
  /** 32 bytes as stored: the secret itself in v1, its BLAKE2b-256 hash in v2. */
  readonly cancelSecret: Uint8Array;
  /** Expiration time, Unix seconds (u32). */
  readonly expiresAt: number;
  /** The 20-byte id of the node that accepted the lease; mutable records only. */
  readonly nodeId?: Uint8Array;
}

/** What a container of `version` stores for a presented `secret`: a copy (v1) or its digest (v2). */
export function storedLeaseSecret(version: ContainerVersion, secret: Uint8Array): Uint8Array {
  assertContainerVersion(version);
  assertBytes('lease secret', secret, LEASE_SECRET_BYTES);
  return version === 1 ? secret.slice() : leaseSecretDigest(secret);
}

/** The 72-byte immutable record of `lease` (a `nodeId`, if any, is not part of it). */
export function encodeImmutableLease(lease: ContainerLease): Uint8Array {
  assertLease(lease);
  const record = new Uint8Array(IMMUTABLE_LEASE_BYTES);
  const view = viewOf(record);
  view.setUint32(0, lease.ownerNum);
  record.set(lease.renewSecret, 4);
  record.set(lease.cancelSecret, 36);
  view.setUint32(68, lease.expiresAt);
  return record;
}

/** The lease in a 72-byte immutable record. */
export function decodeImmutableLease(record: Uint8Array): ContainerLease {
  assertBytes('immutable lease record', record, IMMUTABLE_LEASE_BYTES);
  const view = viewOf(record);
  return {
    ownerNum: view.getUint32(0),
    renewSecret: record.slice(4, 36),
    cancelSecret: record.slice(36, 68),
    expiresAt: view.getUint32(68),
  };
}

/** The 92-byte mutable record of `lease`, which must carry a `nodeId`. */
export function encodeMutableLease(lease: ContainerLease): Uint8Array {
  assertLease(lease);
  assertBytes('mutable lease nodeId', lease.nodeId, NODE_ID_BYTES);
  const record = new Uint8Array(MUTABLE_LEASE_BYTES);
  const view = viewOf(record);
  view.setUint32(0, lease.ownerNum);
  view.setUint32(4, lease.expiresAt);
  record.set(lease.renewSecret, 8);
  record.set(lease.cancelSecret, 40);
  record.set(lease.nodeId, 72);
  return record;
}

/** The lease in a 92-byte mutable record (owner 0 is an empty slot; the caller decides). */
export function decodeMutableLease(record: Uint8Array): ContainerLease {
  assertBytes('mutable lease record', record, MUTABLE_LEASE_BYTES);
  const view = viewOf(record);
  return {
    ownerNum: view.getUint32(0),
    expiresAt: view.getUint32(4),
    renewSecret: record.slice(8, 40),
    cancelSecret: record.slice(40, 72),
    nodeId: record.slice(72, 92),
  };
}

function assertLease(lease: ContainerLease): void {
  if (lease === null || typeof lease !== 'object') throw new TypeError('a lease must be an object');
  assertU32('lease ownerNum', lease.ownerNum);
  assertU32('lease expiresAt', lease.expiresAt);
  assertBytes('lease renewSecret', lease.renewSecret, LEASE_SECRET_BYTES);
  assertBytes('lease cancelSecret', lease.cancelSecret, LEASE_SECRET_BYTES);
}
