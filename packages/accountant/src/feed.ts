import type { AccountWithUsage } from '@ostrom/leasedb';
import { encodeFeed, type Feed, type FeedAccount, MAX_FEED_ACCOUNTS } from '@ostrom/protocol';
import { buildDigest, type DigestDb } from './digest.js';

/** The period a feed covers: the last 24 hours, ending when it is built. */
export const FEED_PERIOD_SECONDS = 86_400;

/** How long a built feed is served again before it is rebuilt. */
export const FEED_CACHE_SECONDS = 60;

/** What the feed reads from the lease database. */
export type FeedDb = DigestDb;

/** Options of {@link createFeedSource}. */
export interface FeedSourceOptions {
  readonly leaseDb: FeedDb;
  /** The server's id, as `GET /accounting/v1/server` gives it. */
  readonly serverId: string;
  /** Unix seconds. */
  readonly now: () => number;
}

/** The public feed of a node, built at most once every {@link FEED_CACHE_SECONDS}. */
export interface FeedSource {
  /** The feed and its JSON body (the same bytes while cached). */
  get(): Promise<{ readonly feed: Feed; readonly body: Uint8Array }>;
}

const PAGE = 10_000;

/**
 * Every account the feed shows: those holding shares, then those that stored some in the period
 * and hold none now; deleted accounts never. Largest usage first.
 */
async function feedAccounts(
  db: FeedDb,
  uploaded: ReadonlyMap<number, number>,
): Promise<FeedAccount[]> {
  const rows: FeedAccount[] = [];
  const listed = new Set<number>();
  const add = (account: AccountWithUsage) => {
    listed.add(account.id);
    if (account.status === 'deleted') return;
    rows.push({
      nickname: account.nickname,
      shares: account.usage.shares,
      bytes: account.usage.bytes,
      uploadedBytes: uploaded.get(account.id) ?? 0,
    });
  };
  // By bytes, largest first, until the first account holding nothing: the rest hold nothing too.
  for (let offset = 0; ; offset += PAGE) {
    const page = await db.listAccounts({
      orderBy: 'bytes',
      direction: 'desc',
      limit: PAGE,
      offset,
    });
    let empty = false;
    for (const account of page.accounts) {
      if (account.usage.bytes === 0 && account.usage.shares === 0) {
        empty = true;
        break;
      }
      add(account);
    }
    if (empty || page.accounts.length < PAGE) break;
  }
  for (const accountId of uploaded.keys()) {
    if (listed.has(accountId)) continue;
    const account = await db.getAccount(accountId);
    if (account === undefined) continue;
    const usage = (await db.getAccountUsage(accountId)) ?? { shares: 0, bytes: 0 };
    add({ ...account, usage });
  }
  return rows.sort(
    (a, b) =>
      b.bytes - a.bytes ||
      b.uploadedBytes - a.uploadedBytes ||
      (a.nickname < b.nickname ? -1 : a.nickname > b.nickname ? 1 : 0),
  );
}

/** Builds the feed of the period ending at `until`. */
export async function buildFeed(db: FeedDb, serverId: string, until: number): Promise<Feed> {
  const since = Math.max(0, until - FEED_PERIOD_SECONDS);
  // The activity log's ranges are [since, until): shifted by one second, the period is
  // (since, until], so what happened in the second the feed is built is in it.
  const digest = await buildDigest(db, { since: since + 1, until: until + 1 });
  const uploaded = new Map<number, number>();
  for (const account of digest.accounts) {
    if (account.uploadedBytes > 0) uploaded.set(account.accountId, account.uploadedBytes);
  }
  const all = await feedAccounts(db, uploaded);
  const totals = { accounts: all.length, shares: 0, bytes: 0 };
  for (const row of all) {
    totals.shares += row.shares;
    totals.bytes += row.bytes;
  }
  return {
    serverId,
    generatedAt: until,
    since,
    until,
    digest: [...digest.lines],
    accounts: all.slice(0, MAX_FEED_ACCOUNTS),
    truncated: all.length > MAX_FEED_ACCOUNTS,
    totals,
  };
}

/**
 * The feed, cached: every member of a grid may poll it, and each build reads the whole day's
 * activity log and every account holding data, so a node builds it at most once a minute
 * (by `now`), and requests arriving while it builds wait for that one build.
 */
export function createFeedSource(options: FeedSourceOptions): FeedSource {
  const { leaseDb, serverId, now } = options;
  let cached: { at: number; value: { feed: Feed; body: Uint8Array } } | undefined;
  let building: Promise<{ feed: Feed; body: Uint8Array }> | undefined;
  return {
    get() {
      const at = now();
      // A clock set back (at < cached.at) rebuilds rather than serve a feed from the future.
      if (cached !== undefined && at >= cached.at && at - cached.at < FEED_CACHE_SECONDS) {
        return Promise.resolve(cached.value);
      }
      building ??= buildFeed(leaseDb, serverId, at)
        .then((feed) => {
          const value = { feed, body: encodeFeed(feed) };
          cached = { at, value };
          return value;
        })
        .finally(() => {
          building = undefined;
        });
      return building;
    },
  };
}
