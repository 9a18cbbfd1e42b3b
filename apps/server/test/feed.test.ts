import { randomBytes } from 'node:crypto';
import { buildFeed, createFeedSource, type FeedDb } from '@ostrom/accountant';
import type { AccountQuery, AccountWithUsage } from '@ostrom/leasedb';
import {
  accountKeyFingerprint,
  base32Encode,
  decodeFeed,
  type Feed,
  formatNurl,
  generateAccountKey,
  parseNurl,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import { freePort } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import type { RunningNode } from '../src/server.js';
import { ostrom } from './helpers.js';
import { addAccount, createTestNode, T0, type TestNode, upload } from './node-harness.js';

// `GET /accounting/v1/feed` and `ostrom grid feed`, on whole nodes over HTTPS: off unless the
// operator enables it, any member may read it, it names nicknames and totals but never a key, a
// swissnum or a NURL, and it is rebuilt at most once a minute of the node's clock.

const FEED = '/accounting/v1/feed';
const STRANGER = { authorization: 'Tahoe-LAFS bm90LWEtc3dpc3NudW0=' };

interface Member {
  readonly id: number;
  readonly nurl: string;
  readonly hexKey: string;
  readonly key: Uint8Array;
  readonly client: StorageClient;
}

async function member(t: TestNode, running: RunningNode, nickname: string): Promise<Member> {
  const { publicKey } = generateAccountKey();
  const hexKey = Buffer.from(publicKey).toString('hex');
  const { id, nurl } = await addAccount(t, running, hexKey, nickname);
  return { id, nurl, hexKey, key: publicKey, client: t.client(nurl) };
}

const si = () => storageIndexFromBytes(new Uint8Array(randomBytes(16)));

async function getFeed(client: StorageClient, headers: Record<string, string> = {}) {
  const response = await client.raw({
    method: 'GET',
    path: FEED,
    headers: { accept: 'application/json', ...headers },
  });
  return { ...response, text: Buffer.from(response.body).toString('utf8') };
}

/** One line on stderr, nothing on stdout. */
function oneLine(result: { stdout: string; stderr: string }): string {
  const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(add --help'));
  expect(lines).toHaveLength(1);
  expect(result.stdout).toBe('');
  return lines[0]!;
}

describe('GET /accounting/v1/feed', () => {
  it('is a 404 by default, after the swissnum check (401 for strangers, as /server)', async () => {
    const t = await createTestNode('disk');
    const running = await t.start();
    const anonymous = t.client(running.nurl);
    const disabled = await getFeed(anonymous);
    expect(disabled.status).toBe(404);
    expect(disabled.headers['content-type']).toMatch(/^text\/plain/);
    expect(disabled.text).toContain('feed is not enabled');
    for (const path of [FEED, '/accounting/v1/server']) {
      expect((await anonymous.raw({ method: 'GET', path, headers: STRANGER })).status).toBe(401);
    }

    const cli = await ostrom(['grid', 'feed', running.nurl]);
    expect(cli.code).toBe(1);
    expect(oneLine(cli)).toBe('ostrom: the feed is not enabled on that node');
  });

  it('lists every account holding data, largest first, with the digest, and no key or swissnum', async () => {
    const t = await createTestNode('disk', { feed: true });
    const running = await t.start();
    const alice = await member(t, running, 'alice');
    const bob = await member(t, running, 'bob');
    await member(t, running, 'carol'); // holds nothing and stored nothing: not listed
    await upload(alice.client, running, si(), 0, new Uint8Array(3000).fill(1));
    await upload(alice.client, running, si(), 1, new Uint8Array(2000).fill(2));
    await upload(bob.client, running, si(), 0, new Uint8Array(1000).fill(3));

    // Any member: the anonymous NURL and an account's give the same feed.
    const response = await getFeed(t.client(running.nurl));
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect((await getFeed(bob.client)).text).toBe(response.text);

    const feed = decodeFeed(response.body);
    expect(JSON.parse(response.text)).toEqual(feed); // nothing the decoder would drop
    expect(feed).toMatchObject({
      serverId: parseNurl(running.nurl).spkiHash,
      generatedAt: T0,
      since: T0 - 86_400,
      until: T0,
      truncated: false,
      accounts: [
        { nickname: 'alice', shares: 2, bytes: 5000, uploadedBytes: 5000 },
        { nickname: 'bob', shares: 1, bytes: 1000, uploadedBytes: 1000 },
      ],
      totals: { accounts: 2, shares: 3, bytes: 6000 },
    });
    expect(feed.digest).toEqual(
      expect.arrayContaining([
        'alice uploaded 5 kB',
        'bob uploaded 1 kB',
        'alice is using 5 kB',
        'bob is using 1 kB',
      ]),
    );

    // Not in the body in any form: keys (hex, base32, fingerprint), swissnums, NURLs, ids.
    for (const m of [alice, bob]) {
      for (const secret of [
        m.hexKey,
        base32Encode(m.key),
        accountKeyFingerprint(m.key),
        parseNurl(m.nurl).swissnum,
        m.nurl,
      ]) {
        expect(response.text).not.toContain(secret);
        expect(response.text.toLowerCase()).not.toContain(secret.toLowerCase());
      }
    }
    expect(response.text).not.toContain(parseNurl(running.nurl).swissnum);
    expect(response.text).not.toMatch(/publicKey|accountId|swissnum|nurl|pb:\/\//i);
  });

  it('answers JSON only: an Accept without it is a 406, */* and none are served', async () => {
    const t = await createTestNode('disk', { feed: true });
    const running = await t.start();
    const client = t.client(running.nurl);
    for (const accept of ['application/cbor', 'text/html', 'application/json;q=0, */*']) {
      expect((await getFeed(client, { accept })).status).toBe(406);
    }
    for (const accept of ['*/*', 'application/*', 'text/html, application/json;q=0.5']) {
      expect((await getFeed(client, { accept })).status).toBe(200);
    }
    const none = await client.raw({ method: 'GET', path: FEED, headers: { accept: null } });
    expect(none.status).toBe(200);
    // The CBOR routes keep Tahoe's rule: */* alone is not CBOR.
    expect(
      (
        await client.raw({
          method: 'GET',
          path: '/accounting/v1/server',
          headers: { accept: 'application/json' },
        })
      ).status,
    ).toBe(406);
  });

  it('serves the same feed for 60 s of the node clock, then rebuilds it; deleted accounts leave', async () => {
    const t = await createTestNode('disk', { feed: true });
    const running = await t.start();
    const alice = await member(t, running, 'alice');
    const bob = await member(t, running, 'bob');
    await upload(alice.client, running, si(), 0, new Uint8Array(3000).fill(1));
    const client = t.client(running.nurl);
    const nicknames = (feed: Feed) => feed.accounts.map((a) => a.nickname);

    const first = await client.accounting.getFeed();
    expect(nicknames(first)).toEqual(['alice']);
    await upload(bob.client, running, si(), 0, new Uint8Array(4000).fill(2));
    t.clock.advance(59);
    expect(await client.accounting.getFeed()).toEqual(first);

    t.clock.advance(1);
    const second = await client.accounting.getFeed();
    expect(second.generatedAt).toBe(T0 + 60);
    expect(second.accounts).toEqual([
      { nickname: 'bob', shares: 1, bytes: 4000, uploadedBytes: 4000 },
      { nickname: 'alice', shares: 1, bytes: 3000, uploadedBytes: 3000 },
    ]);

    expect((await ostrom(['accounts', 'delete', String(bob.id), '-d', t.dir])).code).toBe(0);
    t.clock.advance(60);
    const third = await client.accounting.getFeed();
    expect(nicknames(third)).toEqual(['alice']);
    expect(third.totals).toEqual({ accounts: 1, shares: 1, bytes: 3000 });
  });
});

describe('ostrom grid feed NURL', () => {
  it('prints the digest and the accounts; --json prints the feed', async () => {
    const t = await createTestNode('disk', { feed: true });
    const running = await t.start();
    const alice = await member(t, running, 'alice');
    const bob = await member(t, running, 'bob');
    await upload(alice.client, running, si(), 0, new Uint8Array(3000).fill(1));
    await upload(bob.client, running, si(), 0, new Uint8Array(1000).fill(2));

    const human = await ostrom(['grid', 'feed', alice.nurl]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe('');
    for (const line of ['alice uploaded 3 kB', 'bob uploaded 1 kB', 'alice is using 3 kB']) {
      expect(human.stdout).toContain(`  ${line}\n`);
    }
    expect(human.stdout).toMatch(/alice\s+│?\s*1\s+│?\s*3 kB\s+│?\s*3 kB/);
    expect(human.stdout).toMatch(/bob\s+│?\s*1\s+│?\s*1 kB\s+│?\s*1 kB/);
    expect(human.stdout).toContain('2 account(s), 2 share(s), 4 kB');

    const json = await ostrom(['grid', 'feed', running.nurl, '--json']);
    expect(json.code).toBe(0);
    const feed = JSON.parse(json.stdout) as Feed;
    expect(decodeFeed(json.stdout)).toEqual(feed);
    expect(feed.accounts.map((a) => a.nickname)).toEqual(['alice', 'bob']);
  });

  it('refuses a malformed NURL (exit 2) and says when the node cannot be reached (exit 1)', async () => {
    const bad = await ostrom(['grid', 'feed', 'pb://nope@127.0.0.1/x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('NURL');

    const port = await freePort();
    const dead = formatNurl({
      spkiHash: 'A'.repeat(43),
      host: '127.0.0.1',
      port,
      swissnum: 'a'.repeat(32),
    });
    const unreachable = await ostrom(['grid', 'feed', dead]);
    expect(unreachable.code).toBe(1);
    expect(oneLine(unreachable)).toMatch(
      new RegExp(`^ostrom: cannot reach 127\\.0\\.0\\.1:${port}: `),
    );
  });
});

/**
 * A lease database of `count` accounts holding data (account i holds i bytes), in memory: the
 * cap of 10,000 rows needs more accounts than a test should upload for. Counts its reads.
 */
function manyAccounts(count: number): FeedDb & { reads: number } {
  const accounts: AccountWithUsage[] = Array.from({ length: count + 1 }, (_, id) => ({
    id,
    publicKey: id < 2 ? null : id.toString(16).padStart(64, 'f'),
    nickname: `user${id}`,
    status: 'normal',
    hardQuotaBytes: null,
    softQuotaBytes: null,
    createdAt: T0,
    lastSeenAt: null,
    usage: { shares: id === 0 ? 0 : 1, bytes: id },
  }));
  const db = {
    reads: 0,
    listEvents: async () => {
      db.reads++;
      return [];
    },
    listAccounts: async (q: AccountQuery = {}) => {
      const sorted = [...accounts].sort((a, b) => b.usage.bytes - a.usage.bytes);
      const offset = q.offset ?? 0;
      return { accounts: sorted.slice(offset, offset + (q.limit ?? 100)), total: sorted.length };
    },
    getAccount: async (id: number) => accounts[id],
    getAccountUsage: async (id: number) => accounts[id]?.usage,
    getAccountAttributes: async () => ({}),
    getInvitation: async () => undefined,
  };
  return db;
}

describe('buildFeed and its cache', () => {
  it('lists the 10,000 largest accounts, says it truncated, and totals them all', async () => {
    const feed = await buildFeed(manyAccounts(10_005), 'server', T0);
    expect(feed.accounts).toHaveLength(10_000);
    expect(feed.truncated).toBe(true);
    expect(feed.accounts[0]).toEqual({
      nickname: 'user10005',
      shares: 1,
      bytes: 10_005,
      uploadedBytes: 0,
    });
    expect(feed.accounts.at(-1)?.nickname).toBe('user6');
    // Accounts 1..10005 hold data (account 0 holds nothing).
    expect(feed.totals).toEqual({ accounts: 10_005, shares: 10_005, bytes: (10_005 * 10_006) / 2 });
    expect(JSON.stringify(feed)).not.toMatch(/f{20}/);
  });

  it('builds once for requests that arrive together or within the minute', async () => {
    const db = manyAccounts(3);
    let now = T0;
    const source = createFeedSource({ leaseDb: db, serverId: 'server', now: () => now });
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect(b).toBe(a);
    expect(db.reads).toBe(1);
    now += 59;
    expect(await source.get()).toBe(a);
    now += 1;
    expect((await source.get()).feed.generatedAt).toBe(T0 + 60);
    expect(db.reads).toBe(2);
    now -= 10; // a clock set back: rebuilt, never a feed from the future
    expect((await source.get()).feed.generatedAt).toBe(T0 + 50);
  });
});
