import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AccountRequest,
  accountKeyFingerprint,
  decodeAccountRequest,
  encodeAccountRequest,
  generateAccountKey,
  publicKeyFromPrivate,
  signAccountRequest,
  verifyAccountRequest,
} from '../src/account-request.js';
import { encodeCbor } from '../src/cbor.js';

const code = (c: string) => expect.objectContaining({ code: c });
const key = generateAccountKey();
const base: AccountRequest = {
  serverId: 'v0-2drlpwfhv7gowehomfrxuerldu4m77c633u6znbfwphkkmgnmlwa',
  publicKey: key.publicKey,
  nickname: 'alice laptop',
  timestamp: 1_790_000_000,
  nonce: new Uint8Array(16).fill(9),
};

const request = fc.record({
  serverId: fc.stringMatching(/^[a-z0-9-]{1,80}$/),
  nickname: fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 64 })
    .filter((s) => !/\p{Cc}/u.test(s) && [...s].length <= 64),
  timestamp: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 64 }),
});

describe('account requests', () => {
  it('encodeAccountRequest is the fixed-order CBOR array', () => {
    const bytes = encodeAccountRequest(base);
    expect(bytes).toEqual(
      encodeCbor([
        'ostrom-account-request-v1',
        base.serverId,
        base.publicKey,
        base.nickname,
        base.timestamp,
        base.nonce,
      ]),
    );
    expect(Buffer.from(bytes.subarray(0, 2)).toString('hex')).toBe('8678'); // array(6), tstr(25)
  });

  it('encodes strings with minimal length headers (canonical for non-cbor-x signers)', () => {
    const bytes = encodeAccountRequest({ ...base, nickname: 'n'.repeat(64) });
    const at = Buffer.from(bytes).indexOf(Buffer.from('n'.repeat(64)));
    expect(Buffer.from(bytes.subarray(at - 2, at)).toString('hex')).toBe('7840');
  });

  it('verifyAccountRequest(signAccountRequest(r, k)) returns r', () => {
    fc.assert(
      fc.property(request, (r) => {
        const req = { ...r, publicKey: key.publicKey };
        expect(verifyAccountRequest(signAccountRequest(req, key.privateKey))).toEqual(req);
      }),
      { numRuns: 50 },
    );
  });

  it('any single-bit flip of the request or the signature fails verification', () => {
    const signed = signAccountRequest(base, key.privateKey);
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.nat(7), (inRequest, index, bit) => {
        const request = new Uint8Array(signed.request);
        const signature = new Uint8Array(signed.signature);
        const target = inRequest ? request : signature;
        target[index % target.length]! ^= 1 << bit;
        let err: unknown;
        try {
          verifyAccountRequest({ request, signature });
        } catch (e) {
          err = e;
        }
        expect(['INVALID_ACCOUNT_REQUEST', 'BAD_SIGNATURE']).toContain(
          (err as { code?: string })?.code,
        );
      }),
    );
  });

  it('verifyAccountRequest accepts a KeyObject signer', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    const req = { ...base, publicKey: raw };
    expect(verifyAccountRequest(signAccountRequest(req, privateKey)).publicKey).toEqual(raw);
  });

  it('verifyAccountRequest refuses non-canonical and malformed requests', () => {
    const sig = new Uint8Array(64);
    const wrongTag = encodeCbor(['other', base.serverId, base.publicKey, 'n', 1, base.nonce]);
    expect(() => verifyAccountRequest({ request: wrongTag, signature: sig })).toThrow(
      code('INVALID_ACCOUNT_REQUEST'),
    );
    // A uint in a longer form than needed: same values, other bytes.
    const canonical = encodeAccountRequest({ ...base, timestamp: 5 });
    const at = canonical.length - 18; // timestamp byte precedes the 16-byte nonce and its header
    expect(canonical[at]).toBe(5);
    const loose = new Uint8Array([
      ...canonical.subarray(0, at),
      0x18,
      5,
      ...canonical.subarray(at + 1),
    ]);
    expect(() => decodeAccountRequest(loose)).toThrow(code('INVALID_ACCOUNT_REQUEST'));
    for (const bad of [
      { ...base, nickname: '' },
      { ...base, nickname: 'a\u0007b' },
      { ...base, nickname: 'x'.repeat(65) },
      { ...base, nonce: new Uint8Array(15) },
      { ...base, publicKey: new Uint8Array(31) },
    ]) {
      expect(() => encodeAccountRequest(bad)).toThrow(RangeError);
      const bytes = encodeCbor([
        'ostrom-account-request-v1',
        bad.serverId,
        bad.publicKey,
        bad.nickname,
        bad.timestamp,
        bad.nonce,
      ]);
      expect(() => decodeAccountRequest(bytes)).toThrow(code('INVALID_ACCOUNT_REQUEST'));
    }
    expect(() => decodeAccountRequest(new Uint8Array([0xff]))).toThrow(
      code('INVALID_ACCOUNT_REQUEST'),
    );
  });

  it('signAccountRequest refuses a key that does not match publicKey', () => {
    expect(() => signAccountRequest(base, generateAccountKey().privateKey)).toThrow(RangeError);
  });

  it('keys: publicKeyFromPrivate matches generateAccountKey; fingerprints are 16 base32 chars', () => {
    expect(publicKeyFromPrivate(key.privateKey)).toEqual(key.publicKey);
    // RFC 8032 test 1: secret key 9d61…7f60 has public key d75a…511a.
    const seed = Buffer.from(
      '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      'hex',
    );
    expect(Buffer.from(publicKeyFromPrivate(seed)).toString('hex')).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(accountKeyFingerprint(key.publicKey)).toMatch(/^[a-z2-7]{16}$/);
  });
});
