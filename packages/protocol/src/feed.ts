import { z } from 'zod';
import { ProtocolError } from './errors.js';
import { describeIssue } from './messages.js';

// `GET /accounting/v1/feed` answers JSON, unlike the rest of the extension: it is meant for
// people's tools (a grid's web page, `curl | jq`), not for Tahoe clients.

/** Most accounts a feed lists; past it the largest are kept and `truncated` is true. */
export const MAX_FEED_ACCOUNTS = 10_000;

/** One account's row of the feed: what it stores and what it stored in the period. No key. */
export interface FeedAccount {
  nickname: string;
  /** Shares it leases now. */
  shares: number;
  /** Bytes of those shares. */
  bytes: number;
  /** Bytes of the shares it stored between `since` and `until`. */
  uploadedBytes: number;
}

/** Sums over every account of the feed, including those past {@link MAX_FEED_ACCOUNTS}. */
export interface FeedTotals {
  accounts: number;
  shares: number;
  bytes: number;
}

/** The answer to `GET /accounting/v1/feed`. */
export interface Feed {
  /** The server's id, as `GET /accounting/v1/server` gives it (the SPKI hash of its TLS key). */
  serverId: string;
  /** When the server built this feed (Unix seconds); it may serve it again for a while. */
  generatedAt: number;
  /** The period of `digest` and `uploadedBytes` (Unix seconds). */
  since: number;
  until: number;
  /** Sentences for people, most notable first ("bob uploaded 62 MB"). */
  digest: string[];
  /** Every account holding data or active in the period, largest first, at most 10,000. */
  accounts: FeedAccount[];
  /** Whether accounts were left out past {@link MAX_FEED_ACCOUNTS}. */
  truncated: boolean;
  totals: FeedTotals;
}

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().max(max);

// z.object drops keys it does not name, on both sides: a receiver ignores fields a newer server
// adds, and an encoder given richer objects (an account row with its public key) sends only
// these fields. That is what keeps keys and swissnums off the wire, whatever the caller passes.
const feedSchema = z
  .object({
    serverId: text(256).min(1),
    generatedAt: uint,
    since: uint,
    until: uint,
    digest: z.array(text(4096)),
    accounts: z
      .array(z.object({ nickname: text(256), shares: uint, bytes: uint, uploadedBytes: uint }))
      .max(MAX_FEED_ACCOUNTS),
    truncated: z.boolean(),
    totals: z.object({ accounts: uint, shares: uint, bytes: uint }),
  })
  .refine((f) => f.since <= f.until, { message: 'must not be after until', path: ['since'] })
  .refine((f) => f.totals.accounts >= f.accounts.length, {
    message: 'fewer than the accounts listed',
    path: ['totals', 'accounts'],
  });

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a feed as UTF-8 JSON with exactly the fields of {@link Feed}. */
export function encodeFeed(feed: Feed): Uint8Array {
  const result = feedSchema.safeParse(feed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const message = `feed: ${describeIssue(result.error)}`;
    if (issue?.code === 'too_big' || issue?.code === 'too_small') throw new RangeError(message);
    throw new TypeError(message);
  }
  return utf8.encode(JSON.stringify(result.data));
}

/**
 * Decodes the answer to `GET /accounting/v1/feed` (UTF-8 JSON, bytes or text); ProtocolError
 * `INVALID_MESSAGE` naming the offending field. Unknown fields are dropped.
 */
export function decodeFeed(body: Uint8Array | string): Feed {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : utf8Decoder.decode(body));
  } catch (cause) {
    throw new ProtocolError('INVALID_MESSAGE', 'feed: not UTF-8 JSON', { cause });
  }
  const result = feedSchema.safeParse(value);
  if (!result.success) {
    throw new ProtocolError('INVALID_MESSAGE', `feed: ${describeIssue(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}
