import { formatSize as accountantFormatSize } from '@ostrom/accountant';
import { describe, expect, it } from 'vitest';
import { formatSize, parseDuration } from '../src/size.js';

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

it('the CLI formats sizes with the one formatter the panel and the digest use', () => {
  expect(formatSize).toBe(accountantFormatSize);
});
