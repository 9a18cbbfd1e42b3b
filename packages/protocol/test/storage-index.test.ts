import { base32nopad } from '@scure/base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isShareNumber,
  isSharePrefix,
  isStorageIndex,
  SHARE_TYPES,
  STORAGE_INDEX_CHARS,
  sharePrefixOf,
} from '../src/facts.js';
import * as root from '../src/index.js';
import { leaseSecretDigest } from '../src/lease-secret.js';
import { storageIndexFromBytes, storageIndexToBytes } from '../src/storage-index.js';

describe('storage indexes', () => {
  it('storageIndexFromBytes(storageIndexToBytes(si)) round-trips any 16 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const si = storageIndexFromBytes(bytes);
        expect(si).toMatch(/^[a-z2-7]{26}$/);
        expect(isStorageIndex(si)).toBe(true);
        expect(storageIndexToBytes(si)).toEqual(bytes);
      }),
    );
  });

  it('isStorageIndex(s) accepts the trace SIs and rejects other shapes', () => {
    expect(isStorageIndex('fyld2r7m5bwe7onrmfdoghopem')).toBe(true);
    expect(isStorageIndex('y7y4imx7dqphbdgbeypx6i4mmi')).toBe(true);
    for (const bad of [
      'FYLD2R7M5BWE7ONRMFDOGHOPEM', // upper case
      'fyld2r7m5bwe7onrmfdoghope', // 25 chars
      'fyld2r7m5bwe7onrmfdoghopema', // 27 chars
      'fyld2r7m5bwe7onrmfdoghope1', // not base32
      'aaaaaaaaaaaaaaaaaaaaaaaaab', // non-zero padding bits
      'AAAAAAAAAAAAAAAA',
      42,
      undefined,
    ]) {
      expect(isStorageIndex(bad)).toBe(false);
    }
  });

  it('isStorageIndex(s) holds exactly for the strings that are the base32 of 16 bytes', () => {
    // Strings over the whole alphabet, mostly of the right length: a last digit with a spare bit
    // set decodes to the same bytes as a canonical one and must be refused.
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'.split('');
    const digits = fc.array(fc.constantFrom(...alphabet), { minLength: 25, maxLength: 27 });
    fc.assert(
      fc.property(digits, (chars) => {
        const s = chars.join('');
        let canonical = false;
        try {
          const bytes = base32nopad.decode(s.toUpperCase());
          canonical = bytes.length === 16 && storageIndexFromBytes(bytes) === s;
        } catch {}
        expect(isStorageIndex(s)).toBe(canonical);
      }),
      { numRuns: 2000 },
    );
  });

  it('isStorageIndex(s) refuses the spellings Tahoe routes but no Tahoe client writes', () => {
    // Tahoe's converter checks one of the two spare bits: `…c` routes as `…a` there. Ostrom
    // keeps one spelling per index (facts.ts), so these are refused and 404 on the wire.
    const si = 'aaaaaaaaaaaaaaaaaaaaaaaaa';
    for (const last of 'aeimquy4') expect(isStorageIndex(si + last)).toBe(true);
    for (const last of 'cgkoswz26bdfhjlnprtvx357') expect(isStorageIndex(si + last)).toBe(false);
    expect(STORAGE_INDEX_CHARS).toBe(26);
  });

  it('storageIndexToBytes(bad) throws INVALID_STORAGE_INDEX', () => {
    expect(() => storageIndexToBytes('aaaaaaaaaaaaaaaaaaaaaaaaab')).toThrow(
      expect.objectContaining({ code: 'INVALID_STORAGE_INDEX' }),
    );
  });

  it('storageIndexFromBytes(wrong length) is a RangeError', () => {
    expect(() => storageIndexFromBytes(new Uint8Array(15))).toThrow(RangeError);
  });

  it('isShareNumber(n) accepts integers 0..255 only', () => {
    expect([0, 1, 255].every(isShareNumber)).toBe(true);
    expect([-1, 256, 1.5, Number.NaN, '1'].some(isShareNumber)).toBe(false);
  });

  it('sharePrefixOf(si) is its first two characters, one of 1024 prefixes', () => {
    expect(sharePrefixOf('fyld2r7m5bwe7onrmfdoghopem')).toBe('fy');
    expect(isSharePrefix('fy')).toBe(true);
    for (const bad of ['f', 'fyl', 'F7', 'f1', 7]) expect(isSharePrefix(bad)).toBe(false);
    expect(() => sharePrefixOf('aaaaaaaaaaaaaaaaaaaaaaaaab')).toThrow(TypeError);
  });

  it('SHARE_TYPES lists immutable and mutable', () => {
    expect(SHARE_TYPES).toEqual(['immutable', 'mutable']);
  });
});

describe('lease secrets', () => {
  it('leaseSecretDigest(secret) is BLAKE2b with a 32-byte digest, as PyNaCl computes it', () => {
    // Python: hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest()
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(Buffer.from(leaseSecretDigest(secret)).toString('hex')).toBe(
      'cb2f5160fc1f7e05a55ef49d340b48da2e5a78099d53393351cd579dd42503d6',
    );
  });

  it('leaseSecretDigest(not 32 bytes) is a TypeError', () => {
    expect(() => leaseSecretDigest(new Uint8Array(31))).toThrow(TypeError);
    expect(() => leaseSecretDigest('secret' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('@ostrom/protocol/facts', () => {
  it('imports nothing, so the stores can use it without loading the wire codecs', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('../src/facts.ts', import.meta.url), 'utf8');
    expect(source).not.toMatch(/^\s*import\b/m);
  });

  it('is re-exported from the package root as the very same values', () => {
    expect(root.isStorageIndex).toBe(isStorageIndex);
    expect(root.SHARE_TYPES).toBe(SHARE_TYPES);
    expect(root.leaseSecretDigest).toBe(leaseSecretDigest);
  });
});
