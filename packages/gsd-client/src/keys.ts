import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

// RFC 8410 DER prefixes: a PKCS#8 Ed25519 private key and an SPKI Ed25519 public key, each
// followed by the raw 32 bytes. node:crypto takes Ed25519 keys only in these containers.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// (The verifying key of a seed is @ostrom/protocol's publicKeyFromPrivate.)

/** The Ed25519 signing key of a 32-byte seed. */
function signingKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** Ed25519 signature (64 bytes) of `message`. */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, signingKey(seed)));
}

/** Whether `signature` is a valid Ed25519 signature of `message` by the raw `publicKey`. */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, message, key, signature);
  } catch {
    // Not a point on the curve.
    return false;
  }
}
