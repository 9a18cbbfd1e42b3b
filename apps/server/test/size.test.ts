import { describe, expect, it } from 'vitest';
import { formatSize, parseDuration, parseSize } from '../src/size.js';

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

describe('parseDuration', () => {
  it.each([
    ['31d', 31 * 86_400],
    ['12h', 43_200],
    ['90m', 5400],
    ['3600s', 3600],
    ['3600', 3600],
    [60, 60],
  ])('parseDuration(%j) is %j', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each(['0', '0d', 'x', '1.5d', '-1d', 0])('parseDuration(%j) is undefined', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1500, '1.5 KB'],
    [5_000_000_000, '5 GB'],
    [123_456_789, '123 MB'],
  ])('formatSize(%j) is %j', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});
