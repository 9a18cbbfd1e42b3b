import { hkdfSync } from 'node:crypto';
import { storageIndexFromBytes } from '@ostrom/protocol';

// Every derivation is HKDF-SHA256 with its own `info`, so no two outputs can be equal or
// computed from one another; none can be inverted to reach its input (the seed or read key).
const INFO = {
  readKey: 'ostrom-gsd-v1 read key',
  storageIndex: 'ostrom-gsd-v1 storage index',
  writeEnabler: 'ostrom-gsd-v1 write enabler',
  renewSecret: 'ostrom-gsd-v1 lease renew secret',
  cancelSecret: 'ostrom-gsd-v1 lease cancel secret',
} as const;

const NO_SALT = new Uint8Array(0);

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

/** The 32-byte symmetric read key of a writecap's seed. */
export function deriveReadKey(seed: Uint8Array): Uint8Array {
  return hkdf(seed, NO_SALT, INFO.readKey, 32);
}

/** The storage index (26-char base32 of 16 bytes) of a read key. */
export function deriveStorageIndex(readKey: Uint8Array): string {
  return storageIndexFromBytes(hkdf(readKey, NO_SALT, INFO.storageIndex, 16));
}

/** What a writer presents to one server: its write enabler and lease secrets (32 bytes each). */
export interface SlotSecrets {
  writeEnabler: Uint8Array;
  renewSecret: Uint8Array;
  cancelSecret: Uint8Array;
}

/**
 * The secrets for one server, salted with its server id (the SPKI hash bytes of its NURL), so a
 * server learns only its own and cannot use them on another server.
 */
export function deriveSlotSecrets(seed: Uint8Array, serverId: Uint8Array): SlotSecrets {
  if (!(serverId instanceof Uint8Array) || serverId.length === 0) {
    throw new TypeError('serverId must be non-empty bytes');
  }
  return {
    writeEnabler: hkdf(seed, serverId, INFO.writeEnabler, 32),
    renewSecret: hkdf(seed, serverId, INFO.renewSecret, 32),
    cancelSecret: hkdf(seed, serverId, INFO.cancelSecret, 32),
  };
}
