import type { Feed } from '@ostrom/protocol';
import {
  failureReason,
  type GridAccountsTransport,
  HTTPS_ACCOUNTS_TRANSPORT,
  isStatus,
} from './grid-accounts.js';
import type { GridServer } from './gsd-client.js';

// The grid's feed: every server's public feed (`GET /accounting/v1/feed`, where its operator
// turned it on), read at once and merged into one digest for the grid. A feed names accounts by
// nickname only (never a key), so the merged table joins rows by nickname: two people who chose
// one nickname are one row, as they would be to anyone reading the feeds side by side.

/** One server's part of {@link GridFeed}. */
export type GridFeedServer = Pick<GridServer, 'petname'> & { readonly serverId: string } & (
    | { readonly status: 'read'; readonly feed: Feed }
    | {
        /** `off`: the server answered that its feed is not on; `unreachable`: no feed read. */
        readonly status: 'off' | 'unreachable';
        readonly reason: string;
      }
  );

/** One nickname across the grid: what it stores on each server, and the sums. */
export interface GridFeedAccount {
  readonly nickname: string;
  readonly shares: number;
  readonly bytes: number;
  readonly uploadedBytes: number;
  /** Where, largest first: the server's petname and the bytes the nickname stores there. */
  readonly where: readonly { readonly petname: string; readonly bytes: number }[];
}

/** Every server's feed, merged. */
export interface GridFeed {
  readonly servers: readonly GridFeedServer[];
  /** Each server's digest sentences, as "petname: sentence", servers in directory order. */
  readonly digest: readonly string[];
  /** Nicknames across the feeds read, the largest first. */
  readonly accounts: readonly GridFeedAccount[];
  /** Sums over the feeds read (every account of each, listed or not). */
  readonly totals: {
    readonly servers: number;
    readonly accounts: number;
    readonly shares: number;
    readonly bytes: number;
  };
  /** The earliest `since` and latest `until` of the feeds read (null when none was). */
  readonly since: number | null;
  readonly until: number | null;
}

/** Merges the feeds read: pure, so that any source of feeds can be merged the same way. */
export function mergeGridFeeds(servers: readonly GridFeedServer[]): GridFeed {
  const read = servers.flatMap((s) => (s.status === 'read' ? [{ ...s, feed: s.feed }] : []));
  const byNickname = new Map<
    string,
    { shares: number; bytes: number; uploadedBytes: number; where: Map<string, number> }
  >();
  for (const { petname, feed } of read) {
    for (const a of feed.accounts) {
      const row = byNickname.get(a.nickname) ?? {
        shares: 0,
        bytes: 0,
        uploadedBytes: 0,
        where: new Map<string, number>(),
      };
      row.shares += a.shares;
      row.bytes += a.bytes;
      row.uploadedBytes += a.uploadedBytes;
      row.where.set(petname, (row.where.get(petname) ?? 0) + a.bytes);
      byNickname.set(a.nickname, row);
    }
  }
  const accounts = [...byNickname]
    .map(([nickname, r]) => ({
      nickname,
      shares: r.shares,
      bytes: r.bytes,
      uploadedBytes: r.uploadedBytes,
      where: [...r.where]
        .map(([petname, bytes]) => ({ petname, bytes }))
        .sort((x, y) => y.bytes - x.bytes || x.petname.localeCompare(y.petname)),
    }))
    .sort((x, y) => y.bytes - x.bytes || x.nickname.localeCompare(y.nickname));
  return {
    servers,
    digest: read.flatMap(({ petname, feed }) => feed.digest.map((line) => `${petname}: ${line}`)),
    accounts,
    totals: {
      servers: read.length,
      accounts: read.reduce((sum, r) => sum + r.feed.totals.accounts, 0),
      shares: read.reduce((sum, r) => sum + r.feed.totals.shares, 0),
      bytes: read.reduce((sum, r) => sum + r.feed.totals.bytes, 0),
    },
    since: read.length === 0 ? null : Math.min(...read.map((r) => r.feed.since)),
    until: read.length === 0 ? null : Math.max(...read.map((r) => r.feed.until)),
  };
}

/**
 * Reads every server's feed through its announced NURL, all at once, and merges them. A server
 * whose feed is off (404) or that does not answer is listed as such; it never fails the rest.
 */
export async function readGridFeed(
  servers: readonly GridServer[],
  options: { transport?: GridAccountsTransport } = {},
): Promise<GridFeed> {
  const transport = options.transport ?? HTTPS_ACCOUNTS_TRANSPORT;
  const parts = await Promise.all(
    servers.map(async (server): Promise<GridFeedServer> => {
      const base = { petname: server.petname, serverId: server.announcement.serverId };
      const nurl = server.announcement.nurls[0];
      if (nurl === undefined) {
        return { ...base, status: 'unreachable', reason: 'it announces no NURL' };
      }
      const client = transport.connect(nurl);
      try {
        return { ...base, status: 'read', feed: await client.accounting.getFeed() };
      } catch (error) {
        const off = isStatus(error, 404);
        return off
          ? { ...base, status: 'off', reason: 'its feed is not on' }
          : { ...base, status: 'unreachable', reason: failureReason(error) };
      } finally {
        client.close();
      }
    }),
  );
  return mergeGridFeeds(parts);
}
