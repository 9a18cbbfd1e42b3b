import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isShareNumber,
  isStorageIndex,
  storageIndexFromBytes,
  storageIndexToBytes,
} from '../src/storage-index.js';

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
});
