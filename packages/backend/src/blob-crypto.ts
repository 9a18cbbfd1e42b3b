import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BackendError } from './errors.js';

// State blobs (leasedb backups, owner records) are sealed before any backend stores them, the same
// way for every backend: AES-256-GCM, a random 96-bit nonce per blob, and the blob's name as
// associated data, so a blob moved to another name fails authentication instead of being
// accepted as that name's content.
//   layout: "OSB1" (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

const MAGIC = Buffer.from('OSB1', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function checkKey(key: unknown): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new TypeError('a blob key is 32 bytes');
  return Buffer.from(key);
}

function associatedData(name: string): Buffer {
  return Buffer.from(`ostrom state blob\0${name}`, 'utf8');
}

/** Encrypts and authenticates `data` for storage under `name`. */
export function sealBlob(name: string, data: Uint8Array, key: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', checkKey(key), nonce);
  cipher.setAAD(associatedData(name));
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
  return Buffer.concat([MAGIC, nonce, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts a sealed blob; CORRUPT if it is not one, was altered, or the key or name differ. */
export function openBlob(name: string, sealed: Uint8Array, key: Uint8Array): Uint8Array {
  const keyBuffer = checkKey(key);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (
    bytes.length < MAGIC.length + NONCE_BYTES + TAG_BYTES ||
    !bytes.subarray(0, 4).equals(MAGIC)
  ) {
    throw new BackendError('CORRUPT', `blob ${name} is not a sealed state blob`, {
      details: { name },
    });
  }
  const nonce = bytes.subarray(4, 4 + NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const ciphertext = bytes.subarray(4 + NONCE_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyBuffer, nonce);
    decipher.setAAD(associatedData(name));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch (error) {
    throw new BackendError('CORRUPT', `blob ${name} failed authentication (wrong key or altered)`, {
      cause: error,
      details: { name },
    });
  }
}
