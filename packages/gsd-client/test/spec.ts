// An independent sealer written from the README's specification, so tests check the format and
// not only that the code agrees with itself.
import { createCipheriv, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { encodeCbor } from '@ostrom/protocol';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface RawDocumentOptions {
  seed: Uint8Array;
  /** The `key` field (normally the seed's verifying key). */
  key: Uint8Array;
  readKey: Uint8Array;
  kind: string;
  seqnum: number;
  timestamp: number;
  /** The decrypted body, encoded as CBOR as it stands. */
  body: unknown;
  /** Extra or replaced top-level fields. */
  extra?: Record<string, unknown>;
}

export function sealRaw(o: RawDocumentOptions): Uint8Array {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', o.readKey, nonce);
  cipher.setAAD(encodeCbor(['ostrom-gsd-v1', o.kind, o.seqnum, o.timestamp]));
  const ciphertext = Buffer.concat([
    cipher.update(encodeCbor(o.body)),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const signed = encodeCbor([
    'ostrom-gsd-v1',
    o.kind,
    o.seqnum,
    o.timestamp,
    new Uint8Array(nonce),
    new Uint8Array(ciphertext),
  ]);
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, o.seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return encodeCbor({
    v: 1,
    kind: o.kind,
    seqnum: o.seqnum,
    timestamp: o.timestamp,
    key: o.key,
    nonce: new Uint8Array(nonce),
    ciphertext: new Uint8Array(ciphertext),
    signature: new Uint8Array(sign(null, signed, key)),
    ...o.extra,
  });
}

/** Share data by the specification: `OSTRGSD1` ‖ seqnum (u64 BE) ‖ document. */
export function slotRaw(seqnum: number, document: Uint8Array): Uint8Array {
  const header = Buffer.alloc(16);
  header.write('OSTRGSD1', 0, 'ascii');
  header.writeBigUInt64BE(BigInt(seqnum), 8);
  return new Uint8Array(Buffer.concat([header, document]));
}
