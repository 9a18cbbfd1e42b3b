import { createHash } from 'node:crypto';
import { base32Decode, storageIndexToBytes } from './storage-index.js';

// How a Tahoe client derives the secrets it sends (`util/hashutil.py`, `docs/specifications/
// lease.rst`). A server treats them as opaque; these exist to reproduce a real client in tests.

const utf8 = new TextEncoder();

function toBytes(x: Uint8Array | string): Uint8Array {
  if (typeof x === 'string') return utf8.encode(x);
  if (x instanceof Uint8Array) return x;
  throw new TypeError('expected a Uint8Array or a string');
}

/** `<decimal length>:<bytes>,` — Tahoe's framing, which makes concatenations unambiguous. */
export function netstring(value: Uint8Array | string): Uint8Array {
  const bytes = toBytes(value);
  const head = utf8.encode(`${bytes.length}:`);
  const out = new Uint8Array(head.length + bytes.length + 1);
  out.set(head, 0);
  out.set(bytes, head.length);
  out[out.length - 1] = 0x2c; // ','
  return out;
}

function sha256d(...parts: Uint8Array[]): Uint8Array {
  const inner = createHash('sha256');
  for (const p of parts) inner.update(p);
  return new Uint8Array(createHash('sha256').update(inner.digest()).digest());
}

/** `SHA256(SHA256(netstring(tag) ‖ value))` (`hashutil.tagged_hash`). */
export function taggedHash(tag: Uint8Array | string, value: Uint8Array | string): Uint8Array {
  return sha256d(netstring(tag), toBytes(value));
}

/** `SHA256(SHA256(netstring(tag) ‖ netstring(a) ‖ netstring(b)))` (`hashutil.tagged_pair_hash`). */
export function taggedPairHash(
  tag: Uint8Array | string,
  a: Uint8Array | string,
  b: Uint8Array | string,
): Uint8Array {
  return sha256d(netstring(tag), netstring(a), netstring(b));
}

/** A tub id as 20 bytes, from its 32-char base32 form or as given. */
function tubIdBytes(tubId: string | Uint8Array): Uint8Array {
  const bytes = typeof tubId === 'string' ? base32Decode(tubId) : tubId;
  if (!(bytes instanceof Uint8Array) || bytes.length !== 20) {
    throw new RangeError('a tub id is 20 bytes (32 chars of lowercase base32)');
  }
  return bytes;
}

/** Inputs of {@link deriveLeaseSecrets}. */
export interface LeaseSecretInputs {
  /** The client's lease secret: base32-decoded `private/secret` (32 bytes). */
  clientLeaseSecret: Uint8Array;
  storageIndex: string | Uint8Array;
  /** The server's tub id from its announced fURL, as 32 base32 chars or 20 bytes. */
  tubId: string | Uint8Array;
}

/**
 * The renew and cancel secrets a Tahoe client sends to one server for one storage index. The
 * client secret sits in the *tag* position of the first hash (`hashutil.my_renewal_secret_hash`).
 */
export function deriveLeaseSecrets(inputs: LeaseSecretInputs): {
  renewSecret: Uint8Array;
  cancelSecret: Uint8Array;
} {
  if (!(inputs.clientLeaseSecret instanceof Uint8Array)) {
    throw new TypeError('clientLeaseSecret must be a Uint8Array');
  }
  const si =
    typeof inputs.storageIndex === 'string'
      ? storageIndexToBytes(inputs.storageIndex)
      : inputs.storageIndex;
  if (!(si instanceof Uint8Array) || si.length !== 16) {
    throw new RangeError('a storage index is 16 bytes');
  }
  const tub = tubIdBytes(inputs.tubId);
  const chain = (kind: 'renewal' | 'cancel') => {
    const client = taggedHash(inputs.clientLeaseSecret, `allmydata_client_${kind}_secret_v1`);
    const file = taggedPairHash(`allmydata_file_${kind}_secret_v1`, client, si);
    return taggedPairHash(`allmydata_bucket_${kind}_secret_v1`, file, tub);
  };
  return { renewSecret: chain('renewal'), cancelSecret: chain('cancel') };
}

/**
 * The write enabler a Tahoe client sends to one server for a mutable file, from the file's
 * write key (the base32 third field of `URI:SSK:` / `URI:MDMF:`, decoded) and the server's tub id.
 */
export function deriveWriteEnabler(inputs: {
  writeKey: Uint8Array;
  tubId: string | Uint8Array;
}): Uint8Array {
  if (!(inputs.writeKey instanceof Uint8Array))
    throw new TypeError('writeKey must be a Uint8Array');
  const master = taggedHash(
    'allmydata_mutable_writekey_to_write_enabler_master_v1',
    inputs.writeKey,
  );
  return taggedPairHash(
    'allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1',
    master,
    tubIdBytes(inputs.tubId),
  );
}
