import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAccountRequestBody,
  decodeGridInvitation,
  decodeMemberInvitation,
  encodeAccountRequestBody,
  generateAccountKey,
  isGridInvitationCode,
  isMemberInvitationCode,
  newGridInvitationId,
  ProtocolError,
  parseGridInvitationCode,
  parseMemberInvitationCode,
  signGridInvitation,
  signMemberInvitation,
  verifyGridInvitation,
  verifyMemberInvitation,
} from '../src/index.js';

// Grid invitations: signed by the grid's membership key, read back through copying, and any
// change to their bytes is caught (by the checksum, the canonical form, or the signature).

const membership = generateAccountKey();
const invitation = {
  directory: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
  id: newGridInvitationId(),
  nickname: 'edgar',
  expires: 1_800_000_000,
};

describe('grid invitations', () => {
  it('round-trip, verify with the membership key only, and survive whitespace and capitals', () => {
    const code = signGridInvitation(invitation, membership.privateKey);
    expect(isGridInvitationCode(code)).toBe(true);
    expect(isGridInvitationCode('oi1-abc,pb://x')).toBe(false);
    const signed = parseGridInvitationCode(
      `  ${code.toUpperCase().slice(0, 40)}\n${code.slice(40)} `,
    );
    expect(signed.invitation).toEqual(invitation);
    expect(verifyGridInvitation(signed, membership.publicKey)).toBe(true);
    expect(verifyGridInvitation(signed, generateAccountKey().publicKey)).toBe(false);
    const anonymous = signGridInvitation({ ...invitation, nickname: null }, membership.privateKey);
    expect(parseGridInvitationCode(anonymous).invitation.nickname).toBeNull();
  });

  it('property: any byte changed is refused or fails the signature', () => {
    const code = signGridInvitation(invitation, membership.privateKey);
    const { bytes } = parseGridInvitationCode(code);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const changed = new Uint8Array(bytes);
        changed[at] = (changed[at]! ^ flip) & 0xff;
        let accepted = false;
        try {
          const body = encodeAccountRequestBody({
            request: new Uint8Array(10),
            signature: new Uint8Array(64),
            gridInvitation: changed,
          });
          const signed = decodeAccountRequestBody(body).gridInvitation!;
          accepted = verifyGridInvitation(decodeGridInvitation(signed), membership.publicKey);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
        expect(accepted).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a character changed in the code is caught by the checksum', () => {
    const code = signGridInvitation(invitation, membership.privateKey);
    const at = 20;
    const changed = `${code.slice(0, at)}${code[at] === 'a' ? 'b' : 'a'}${code.slice(at + 1)}`;
    expect(() => parseGridInvitationCode(changed)).toThrow(/checksum/);
    expect(() => parseGridInvitationCode('oi1-x,pb://y')).toThrow(/should start with ogi1-/);
  });
});

describe("members' invitations", () => {
  it('are signed by the inviter they name, and refused with a change or another signer', () => {
    const inviter = generateAccountKey();
    const code = signMemberInvitation(
      { id: newGridInvitationId(), nickname: null, expires: 1_800_000_000 },
      inviter.privateKey,
    );
    expect(isMemberInvitationCode(code)).toBe(true);
    expect(isGridInvitationCode(code)).toBe(false);
    const signed = parseMemberInvitationCode(code);
    expect(Buffer.from(signed.invitation.inviter)).toEqual(Buffer.from(inviter.publicKey));
    expect(verifyMemberInvitation(signed)).toBe(true);
    // A grid code is not a member's, nor the reverse.
    expect(() => parseGridInvitationCode(code)).toThrow(ProtocolError);
    // Any byte changed (the inviter's key included) is refused or fails the signature.
    fc.assert(
      fc.property(fc.nat(signed.bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const changed = new Uint8Array(signed.bytes);
        changed[at] = (changed[at]! ^ flip) & 0xff;
        let accepted = false;
        try {
          accepted = verifyMemberInvitation(decodeMemberInvitation(changed));
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
        expect(accepted).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
