import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAccountRequestBody,
  encodeAccountRequestBody,
  encodeCbor,
  formatInvitation,
  invitationSecretHash,
  newInvitationSecret,
  ProtocolError,
  parseInvitation,
} from '../src/index.js';

// Invitation codes: what survives copying, and that any other change is caught.

const NURL =
  'pb://sjwPZYDAKtpVlm2ZyK4v94j_mFk3hhF1jdAeeNsPXk0@storage.example.net:3457/swissnumswissnumswissnumswissnu#v=1';

describe('invitation codes', () => {
  it('round-trip, and read back through whitespace, line breaks and capitals before the NURL', () => {
    const secret = newInvitationSecret();
    const code = formatInvitation({ secret, nurl: NURL });
    expect(code).toMatch(/^oi1-[a-z2-7]{26}-[a-z2-7]{6},pb:\/\//);
    const back = parseInvitation(code);
    expect(Buffer.from(back.secret)).toEqual(Buffer.from(secret));
    expect(back.nurl).toBe(NURL);
    const [head, nurl] = [code.slice(0, code.indexOf(',')), code.slice(code.indexOf(',') + 1)];
    const wrapped = `  ${head.toUpperCase().slice(0, 20)}\n${head.toUpperCase().slice(20)},\n${nurl.slice(0, 30)}\r\n  ${nurl.slice(30)}\n`;
    expect(parseInvitation(wrapped).nurl).toBe(NURL);
  });

  it('refuses what is not a code, and says why', () => {
    const code = formatInvitation({ secret: newInvitationSecret(), nurl: NURL });
    for (const [text, why] of [
      ['', /should read/],
      [NURL, /should read|should start/],
      [`oi2-${code.slice(4)}`, /should start with oi1-/],
      [code.replace(/-[a-z2-7]{6},/, ','), /base32 followed by a checksum/],
      [code.replace(',pb://', ',http://'), /NURL does not parse/],
      ['x'.repeat(3000), /longer than/],
    ] as const) {
      expect(() => parseInvitation(text)).toThrow(ProtocolError);
      expect(() => parseInvitation(text)).toThrow(why);
    }
  });

  it('property: any one character changed (other than the case before the NURL) is refused', () => {
    const code = formatInvitation({ secret: newInvitationSecret(), nurl: NURL });
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ234567-_@:/.,#=';
    fc.assert(
      fc.property(fc.nat(code.length - 1), fc.constantFrom(...alphabet), (at, replacement) => {
        const changed = code.slice(0, at) + replacement + code.slice(at + 1);
        const sameIgnoringHeadCase =
          at < code.indexOf(',') && changed.toLowerCase() === code.toLowerCase();
        fc.pre(changed !== code && !sameIgnoringHeadCase);
        expect(() => parseInvitation(changed)).toThrow(ProtocolError);
      }),
      { numRuns: 500 },
    );
  });

  it('the server keeps a hash; secrets are 16 random bytes', () => {
    const secret = newInvitationSecret();
    expect(secret).toHaveLength(16);
    expect(invitationSecretHash(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(() => invitationSecretHash(new Uint8Array(15))).toThrow(RangeError);
    expect(() => formatInvitation({ secret: new Uint8Array(8), nurl: NURL })).toThrow(RangeError);
  });

  it('an account request body carries the secret, or none; a secret of another size is refused', () => {
    const signed = { request: new Uint8Array(40).fill(1), signature: new Uint8Array(64).fill(2) };
    const secret = newInvitationSecret();
    const back = decodeAccountRequestBody(
      encodeAccountRequestBody({ ...signed, invitation: secret }),
    );
    expect(Buffer.from(back.invitation!)).toEqual(Buffer.from(secret));
    expect(decodeAccountRequestBody(encodeAccountRequestBody(signed))).not.toHaveProperty(
      'invitation',
    );
    // Misuse on the sender's side; what a server receives is a ProtocolError.
    expect(() => encodeAccountRequestBody({ ...signed, invitation: new Uint8Array(15) })).toThrow(
      TypeError,
    );
    const short = encodeCbor(
      new Map<string, Uint8Array>([...Object.entries(signed), ['invitation', new Uint8Array(15)]]),
    );
    expect(() => decodeAccountRequestBody(short)).toThrow(ProtocolError);
    expect(() => decodeAccountRequestBody(short)).toThrow(/invitation/);
  });
});
