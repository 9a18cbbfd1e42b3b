import { base32Encode } from '@ostrom/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccountListError, isNickname, parseAccountList, parsePublicKey } from '../src/index.js';
import { describeMatrix, makeWorld } from './setup.js';

// Account lists as operators write them: every line checked before anything is added, each bad
// one named; importing a list twice adds nothing the second time.

const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);

describe('parseAccountList', () => {
  it('reads keys (hex or base32) and nicknames, skipping comments and blank lines', () => {
    const base32 = base32Encode(Buffer.from(B, 'hex'));
    const list = `# friends\n\n${A.toUpperCase()} alice\r\n  ${base32}   bob smith  # the builder\n`;
    expect(parseAccountList(list, 'friends.txt')).toEqual([
      { line: 3, publicKey: A, nickname: 'alice' },
      { line: 4, publicKey: B, nickname: 'bob smith' },
    ]);
  });

  it('names every bad line, and adds none of a list with one', () => {
    const list = [
      `${A} alice`,
      'nokey',
      `${'zz'.repeat(32)} x`,
      `${A} again`,
      `${B} ${'n'.repeat(65)}`,
    ].join('\n');
    let thrown: unknown;
    try {
      parseAccountList(list, 'the list');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AccountListError);
    expect((thrown as AccountListError).problems).toEqual([
      { line: 2, problem: 'expected "<public key> <nickname>"' },
      { line: 3, problem: 'the public key must be 64 hex digits or 52 base32 characters' },
      { line: 4, problem: 'the same key as line 1' },
      { line: 5, problem: 'the nickname must be 1–64 characters without control characters' },
    ]);
    expect((thrown as Error).message).toMatch(/^the list, line 2: expected/);
  });

  it('a key reads back as the 32 bytes it was written from, in either form', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        const hex = Buffer.from(key).toString('hex');
        expect(parsePublicKey(hex)).toBe(hex);
        expect(parsePublicKey(base32Encode(key))).toBe(hex);
      }),
    );
    expect(parsePublicKey('a1'.repeat(31))).toBeUndefined();
    expect(isNickname('dave\u0007')).toBe(false);
  });
});

describeMatrix('importAccounts', (matrix) => {
  it('adds each new key once, active with the default quotas, and leaves known keys alone', async () => {
    const { accountant, db } = await makeWorld(matrix, { defaultHardQuotaBytes: 5000 });
    const entries = parseAccountList(`${A} alice\n${B} bob\n`, 'list');
    const first = await accountant.importAccounts(entries, { actor: 'carol' });
    expect(first.added.map((a) => [a.nickname, a.status, a.hardQuotaBytes])).toEqual([
      ['alice', 'normal', 5000],
      ['bob', 'normal', 5000],
    ]);
    expect(first.existing).toEqual([]);
    const again = await accountant.importAccounts(entries, { actor: 'carol' });
    expect(again.added).toEqual([]);
    expect(again.existing.map((a) => a.id)).toEqual(first.added.map((a) => a.id));
    const created = await db.listEvents({ kinds: ['account-created'] });
    expect(created.filter((e) => e.actor === 'carol')).toHaveLength(2);
  });
});
