import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSize, formatSizeExact, parseSize } from '../src/size.js';

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['1000', 1000],
    [1234, 1234],
    ['5GB', 5_000_000_000],
    ['5G', 5_000_000_000],
    ['5gb', 5_000_000_000],
    ['512MiB', 512 * 1024 ** 2],
    ['512Mi', 512 * 1024 ** 2],
    ['1.5TB', 1_500_000_000_000],
    ['1.5KiB', 1536],
    ['10kB', 10_000],
    ['2 MB', 2_000_000],
    ['1B', 1],
    ['1EB', 1e18 > Number.MAX_SAFE_INTEGER ? undefined : 1e18],
  ])('parseSize(%j) is %j', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['', 'abc', '-1', '5XB', '5iB', '1.5', '0.5B', '1e3', '5 G B', 'GB'])(
    'parseSize(%j) is undefined',
    (input) => {
      expect(parseSize(input)).toBeUndefined();
    },
  );

  it('refuses negative, fractional and unsafe numbers', () => {
    expect(parseSize(-1)).toBeUndefined();
    expect(parseSize(1.5)).toBeUndefined();
    expect(parseSize(2 ** 60)).toBeUndefined();
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1 kB'],
    [1500, '1.5 kB'],
    [62_000_000, '62 MB'],
    [100_000_000, '100 MB'],
    [150_000_000, '150 MB'],
    [200_000_000, '200 MB'],
    [725_000_000, '725 MB'],
    [123_456_789, '123 MB'],
    [10_000_000_000, '10 GB'],
    [3_500_000_000, '3.5 GB'],
    [1_230_000_000, '1.23 GB'],
    [999_960, '1 MB'],
    [999_499, '999 kB'],
    [5_000_000_000_000, '5 TB'],
  ])('formatSize(%j) is %j', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it('parseSize reads back what formatSize writes, to within its rounding (half of the third figure)', () => {
    // Up to 9 PB: a count rounded up past Number.MAX_SAFE_INTEGER reads as no size at all.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9e15 }), (bytes) => {
        const text = formatSize(bytes);
        const back = parseSize(text);
        expect(back, text).toBeDefined();
        expect(Math.abs(back! - bytes), `${bytes} → ${text} → ${back}`).toBeLessThanOrEqual(
          bytes * 0.005,
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('round numbers keep their zeros: n × 10^k bytes reads as n × 10^k', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 0, max: 12 }), (n, k) => {
        const bytes = n * 10 ** k;
        expect(parseSize(formatSize(bytes))).toBe(bytes);
      }),
    );
  });

  it('refuses what is not a size', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => formatSize(bad)).toThrow(RangeError);
    }
  });
});

describe('formatSizeExact', () => {
  it.each([
    [0, '0 B'],
    [123_456_789, '123456789 B'],
    [5_000_000_000, '5 GB'],
    [500 * 1024 * 1024, '500 MiB'],
    [1024, '1 KiB'],
    [1000, '1 kB'],
    [1_500_000, '1500 kB'],
  ])('formatSizeExact(%j) is %j', (bytes, text) => {
    expect(formatSizeExact(bytes)).toBe(text);
  });

  it('parseSize reads it back exactly', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.maxSafeNat(),
          fc
            .tuple(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 0, max: 3 }))
            .map(([n, k]) => n * 1024 ** k),
        ),
        (bytes) => {
          expect(parseSize(formatSizeExact(bytes))).toBe(bytes);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
