import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import { decodeFeed, encodeFeed, type Feed, MAX_FEED_ACCOUNTS } from '../src/feed.js';

const FEED: Feed = {
  serverId: 'x2lemvhwt3gq6ijpkdmcgdixw4r5ipbznz4uve6lmy7bi6mzrjxq',
  generatedAt: 1_797_000_000,
  since: 1_796_913_600,
  until: 1_797_000_000,
  digest: ['bob uploaded 62 MB', 'alice is using 3.5 GB'],
  accounts: [
    { nickname: 'alice', shares: 10, bytes: 3_500_000_000, uploadedBytes: 0 },
    { nickname: 'bob', shares: 2, bytes: 62_000_000, uploadedBytes: 62_000_000 },
  ],
  truncated: false,
  totals: { accounts: 2, shares: 12, bytes: 3_562_000_000 },
};

const text = (value: unknown) => JSON.stringify(value);

function refusal(body: Uint8Array | string): ProtocolError {
  try {
    decodeFeed(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error('expected decodeFeed to refuse');
}

describe('encodeFeed / decodeFeed', () => {
  it('decodeFeed(encodeFeed(feed)) is the feed; the body is UTF-8 JSON', () => {
    const body = encodeFeed(FEED);
    expect(JSON.parse(new TextDecoder().decode(body))).toEqual(FEED);
    expect(decodeFeed(body)).toEqual(FEED);
    expect(decodeFeed(text(FEED))).toEqual(FEED);
  });

  it('encodeFeed sends only the fields of a Feed, whatever the objects carry', () => {
    const richer = {
      ...FEED,
      swissnum: 'secret',
      accounts: FEED.accounts.map((a, i) => ({
        ...a,
        accountId: i + 2,
        publicKey: 'ab'.repeat(32),
      })),
    };
    const body = new TextDecoder().decode(encodeFeed(richer));
    expect(body).not.toContain('secret');
    expect(body).not.toContain('ab'.repeat(32));
    expect(body).not.toContain('accountId');
    expect(JSON.parse(body)).toEqual(FEED);
  });

  it('decodeFeed ignores fields it does not know (servers may add some)', () => {
    expect(decodeFeed(text({ ...FEED, extra: 1 }))).toEqual(FEED);
  });

  it.each([
    ['not JSON', '{"serverId":'],
    ['not an object', '[]'],
    ['a missing field', text({ ...FEED, digest: undefined })],
    ['a negative size', text({ ...FEED, accounts: [{ ...FEED.accounts[0], bytes: -1 }] })],
    ['a fractional count', text({ ...FEED, totals: { ...FEED.totals, shares: 1.5 } })],
    [
      'a nickname that is not text',
      text({ ...FEED, accounts: [{ ...FEED.accounts[0], nickname: 7 }] }),
    ],
    ['truncated as a string', text({ ...FEED, truncated: 'no' })],
    ['a digest line that is not text', text({ ...FEED, digest: [1] })],
    ['since after until', text({ ...FEED, since: FEED.until + 1 })],
    [
      'totals counting fewer accounts than listed',
      text({ ...FEED, totals: { ...FEED.totals, accounts: 1 } }),
    ],
    [
      'more accounts than a feed lists',
      text({
        ...FEED,
        accounts: Array.from({ length: MAX_FEED_ACCOUNTS + 1 }, () => FEED.accounts[0]),
        totals: { ...FEED.totals, accounts: MAX_FEED_ACCOUNTS + 1 },
      }),
    ],
  ])('decodeFeed refuses %s (INVALID_MESSAGE)', (_what, body) => {
    expect(refusal(body).code).toBe('INVALID_MESSAGE');
  });

  it('decodeFeed refuses bytes that are not UTF-8', () => {
    expect(refusal(new Uint8Array([0x7b, 0xff, 0x7d])).code).toBe('INVALID_MESSAGE');
  });

  it('the refusal names the field', () => {
    expect(
      refusal(text({ ...FEED, accounts: [{ ...FEED.accounts[0], bytes: -1 }] })).message,
    ).toMatch(/accounts\.0\.bytes/);
  });

  it('encodeFeed refuses a malformed feed (TypeError, RangeError past the cap)', () => {
    expect(() => encodeFeed({ ...FEED, truncated: 'no' } as unknown as Feed)).toThrow(TypeError);
    expect(() =>
      encodeFeed({
        ...FEED,
        accounts: Array.from({ length: MAX_FEED_ACCOUNTS + 1 }, () => FEED.accounts[0]!),
        totals: { ...FEED.totals, accounts: MAX_FEED_ACCOUNTS + 1 },
      }),
    ).toThrow(RangeError);
  });
});
