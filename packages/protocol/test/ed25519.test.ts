import { describe, expect, it } from 'vitest';
import { publicKeyFromPrivate, signEd25519, verifyEd25519 } from '../src/index.js';

// RFC 8032 section 7.1, TEST 1 (the empty message).
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const SIGNATURE = hex(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
);

describe('signEd25519 / verifyEd25519 on raw keys', () => {
  it('match RFC 8032 test 1', () => {
    expect(publicKeyFromPrivate(SEED)).toEqual(PUBLIC);
    expect(signEd25519(SEED, new Uint8Array(0))).toEqual(SIGNATURE);
    expect(verifyEd25519(PUBLIC, new Uint8Array(0), SIGNATURE)).toBe(true);
  });

  it('refuse another message, a flipped signature byte, a wrong-sized or off-curve key', () => {
    expect(verifyEd25519(PUBLIC, new Uint8Array([0]), SIGNATURE)).toBe(false);
    const flipped = SIGNATURE.slice();
    flipped[10]! ^= 1;
    expect(verifyEd25519(PUBLIC, new Uint8Array(0), flipped)).toBe(false);
    expect(verifyEd25519(PUBLIC.subarray(1), new Uint8Array(0), SIGNATURE)).toBe(false);
    expect(verifyEd25519(PUBLIC, new Uint8Array(0), SIGNATURE.subarray(1))).toBe(false);
    // y = 2 has no x on the curve: not a public key at all, and still an answer, not an exception.
    const offCurve = new Uint8Array(32);
    offCurve[0] = 2;
    expect(verifyEd25519(offCurve, new Uint8Array(0), SIGNATURE)).toBe(false);
    expect(() => signEd25519(SEED.subarray(1), new Uint8Array(0))).toThrow(RangeError);
  });
});
