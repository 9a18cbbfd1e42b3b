import type { Feed } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { type GridFeedServer, mergeGridFeeds } from '../src/index.js';

// The grid's feed merged from each server's: rows joined by nickname, sentences by server.

function feed(over: Partial<Feed>): Feed {
  return {
    serverId: 'x',
    generatedAt: 200,
    since: 100,
    until: 200,
    digest: [],
    accounts: [],
    truncated: false,
    totals: { accounts: 0, shares: 0, bytes: 0 },
    ...over,
  };
}

describe('mergeGridFeeds()', () => {
  it('joins rows by nickname, largest first, says where each stores, and sums only the feeds read', () => {
    const servers: GridFeedServer[] = [
      {
        petname: 'a',
        serverId: 'v0-a',
        status: 'read',
        feed: feed({
          since: 90,
          digest: ['alice uploaded 3 kB'],
          accounts: [
            { nickname: 'alice', shares: 2, bytes: 3000, uploadedBytes: 3000 },
            { nickname: 'bob', shares: 1, bytes: 500, uploadedBytes: 0 },
          ],
          totals: { accounts: 3, shares: 4, bytes: 3600 },
        }),
      },
      {
        petname: 'b',
        serverId: 'v0-b',
        status: 'read',
        feed: feed({
          until: 250,
          digest: ['the operator froze carol', 'bob joined'],
          accounts: [
            { nickname: 'bob', shares: 5, bytes: 9000, uploadedBytes: 100 },
            { nickname: 'alice', shares: 1, bytes: 1000, uploadedBytes: 0 },
          ],
          totals: { accounts: 2, shares: 6, bytes: 10_000 },
        }),
      },
      { petname: 'c', serverId: 'v0-c', status: 'off', reason: 'its feed is not on' },
      { petname: 'd', serverId: 'v0-d', status: 'unreachable', reason: 'cannot reach it' },
    ];
    const merged = mergeGridFeeds(servers);
    expect(merged.digest).toEqual([
      'a: alice uploaded 3 kB',
      'b: the operator froze carol',
      'b: bob joined',
    ]);
    expect(merged.accounts).toEqual([
      {
        nickname: 'bob',
        shares: 6,
        bytes: 9500,
        uploadedBytes: 100,
        where: [
          { petname: 'b', bytes: 9000 },
          { petname: 'a', bytes: 500 },
        ],
      },
      {
        nickname: 'alice',
        shares: 3,
        bytes: 4000,
        uploadedBytes: 3000,
        where: [
          { petname: 'a', bytes: 3000 },
          { petname: 'b', bytes: 1000 },
        ],
      },
    ]);
    // Totals are the feeds' own (they count accounts a feed did not list).
    expect(merged.totals).toEqual({ servers: 2, accounts: 5, shares: 10, bytes: 13_600 });
    expect([merged.since, merged.until]).toEqual([90, 250]);
    expect(merged.servers).toBe(servers);
  });

  it('no feed read: empty, with no period', () => {
    const merged = mergeGridFeeds([
      { petname: 'c', serverId: 'v0-c', status: 'off', reason: 'its feed is not on' },
    ]);
    expect(merged).toMatchObject({ digest: [], accounts: [], since: null, until: null });
    expect(merged.totals.servers).toBe(0);
  });
});
