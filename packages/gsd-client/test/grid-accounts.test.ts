import {
  type AccountingClient,
  decodeAccountRequestBody,
  encodeAccountRequestBody,
  generateAccountKey,
  StorageClientError,
  verifyAccountRequest,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  type GridAccount,
  type GridAccountsTransport,
  type GridServer,
  gridServersYamlEntries,
  gridUsage,
  readCapOf,
  requestGridAccounts,
  setGridLeaseDuration,
  settleGridAccounts,
} from '../src/index.js';
import { announcementFor, memoryServers } from './helpers.js';

// What each server's answer becomes, through a transport that answers as a server would (the
// real servers answer in apps/server/test/grid-accounts.test.ts); and how answers are settled.

function server(petname: string): GridServer {
  const nurls = memoryServers(1).map((s) => s.nurl);
  return {
    petname,
    readcap: readCapOf(createWriteCap()),
    seqnum: 1,
    announcement: announcementFor(nurls, { nickname: petname }),
    reachable: true,
  };
}

const httpError = (status: number, body = '') =>
  new StorageClientError('HTTP_STATUS', `status ${status}`, { status, body });

/** A transport where each NURL answers as `answers` says; records the requests it verified. */
function transport(answers: Record<string, Partial<AccountingClient>>) {
  const closed: string[] = [];
  const t: GridAccountsTransport = {
    connect(nurl) {
      const answer = answers[nurl] ?? {};
      const refuse = () => Promise.reject(new Error('not expected'));
      return {
        accounting: {
          requestAccount: answer.requestAccount ?? refuse,
          getAccount: answer.getAccount ?? refuse,
          setLeaseDuration: answer.setLeaseDuration ?? refuse,
          getServer: answer.getServer ?? refuse,
          getFeed: answer.getFeed ?? refuse,
        },
        close: () => closed.push(nurl),
      };
    },
  };
  return { t, closed };
}

const policy = (accountingMode: string) => async () => ({
  serverId: 'x',
  accountingMode,
  approval: 'automatic',
  requestWindowSeconds: 300,
  leaseDurationSeconds: 2_678_400,
  minLeaseDurationSeconds: 86_400,
  maxLeaseDurationSeconds: 31_536_000,
});

describe('requestGridAccounts()', () => {
  it('maps every kind of answer, signs for each server, and closes every connection', async () => {
    const servers = ['active', 'pending', 'refused', 'tahoe', 'disabled', 'down', 'broken'].map(
      server,
    );
    const nurl = (i: number) => servers[i]!.announcement.nurls[0]!;
    const key = generateAccountKey();
    // The account's NURL: the same server (its key pinned), another swissnum.
    const accountNurl = nurl(0).replace(/\/[^/#]+#/, '/accountswissnum#');
    const seen: string[] = [];
    const { t, closed } = transport({
      [nurl(0)]: {
        getServer: policy('enabled'),
        async requestAccount(signed) {
          // What goes on the wire is a valid request from the key, for this server.
          const request = verifyAccountRequest(
            decodeAccountRequestBody(encodeAccountRequestBody(signed)),
          );
          seen.push(request.nickname);
          expect(Buffer.from(request.publicKey)).toEqual(Buffer.from(key.publicKey));
          return { status: 'active', accountId: 7, nurl: accountNurl };
        },
      },
      [nurl(1)]: {
        getServer: policy('required'),
        requestAccount: async () => ({ status: 'pending', retryAfterSeconds: 3600 }),
      },
      [nurl(2)]: {
        getServer: policy('required'),
        requestAccount: async () => ({ status: 'refused', reason: 'not you' }),
      },
      [nurl(3)]: { getServer: () => Promise.reject(httpError(404)) },
      [nurl(4)]: { getServer: policy('disabled') },
      [nurl(5)]: {
        getServer: () => Promise.reject(new StorageClientError('NETWORK', 'connect ECONNREFUSED')),
      },
      [nurl(6)]: { getServer: () => Promise.reject(httpError(503, 'database unavailable\n')) },
    });
    const answers = await requestGridAccounts({
      servers,
      key,
      nickname: 'alice',
      now: () => 1000,
      transport: t,
    });
    expect(answers.map((a) => [a.petname, a.status, a.reason ?? a.accountNurl])).toEqual([
      ['active', 'active', accountNurl],
      ['pending', 'pending', "waiting for the operator's approval"],
      ['refused', 'refused', 'not you'],
      ['tahoe', 'no-accounting', 'it has no accounting'],
      ['disabled', 'no-accounting', 'its accounting is disabled'],
      ['down', 'unreachable', 'cannot reach it: connect ECONNREFUSED'],
      ['broken', 'unreachable', 'it answered 503: database unavailable'],
    ]);
    expect(answers[1]!.retryAt).toBe(1000 + 3600);
    expect(seen).toEqual(['alice']);
    expect(closed.sort()).toEqual(servers.map((s) => s.announcement.nurls[0]!).sort());
  });

  it('checks what a server says: an account NURL of another key, or not a NURL; long or control-laden reasons', async () => {
    const servers = ['elsewhere', 'garbage', 'chatty'].map(server);
    const other = server('other').announcement.nurls[0]!;
    const nurl = (i: number) => servers[i]!.announcement.nurls[0]!;
    const { t } = transport({
      [nurl(0)]: {
        getServer: policy('enabled'),
        requestAccount: async () => ({ status: 'active', accountId: 1, nurl: other }),
      },
      [nurl(1)]: {
        getServer: policy('enabled'),
        requestAccount: async () => ({ status: 'active', accountId: 1, nurl: 'not a nurl' }),
      },
      [nurl(2)]: {
        getServer: policy('enabled'),
        requestAccount: async () => ({
          status: 'refused',
          reason: `no\u001b[2J${'x'.repeat(5000)}`,
        }),
      },
    });
    const answers = await requestGridAccounts({
      servers,
      key: generateAccountKey(),
      nickname: 'alice',
      now: () => 1,
      transport: t,
    });
    expect(answers.map((a) => a.status)).toEqual(['unreachable', 'unreachable', 'refused']);
    expect(answers[0]!.reason).toMatch(/another server/);
    expect(answers[1]!.reason).toMatch(/not a NURL/);
    expect(answers[2]!.reason).toHaveLength(200);
    expect(answers[2]!.reason).toMatch(/^no \[2Jx+$/);
  });

  it('a server announcing no NURL is unreachable, and a wrong key is refused before any request', async () => {
    const bare = { ...server('bare') };
    bare.announcement = { ...bare.announcement, nurls: [] };
    const { t } = transport({});
    const [answer] = await requestGridAccounts({
      servers: [bare],
      key: generateAccountKey(),
      nickname: 'alice',
      now: () => 1,
      transport: t,
    });
    expect(answer).toMatchObject({ status: 'unreachable', reason: 'it announces no NURL' });
    await expect(
      requestGridAccounts({
        servers: [bare],
        key: { privateKey: new Uint8Array(31), publicKey: new Uint8Array(32) },
        nickname: 'alice',
        now: () => 1,
        transport: t,
      }),
    ).rejects.toThrow(RangeError);
  });
});

describe('settleGridAccounts() and gridServersYamlEntries()', () => {
  const base = { serverId: 'v0-a', petname: 'a', askedAt: 1 };
  const active: GridAccount = { ...base, status: 'active', accountNurl: 'pb://acct', accountId: 3 };

  it('keeps an active account while its server does not answer, and only then', () => {
    const down: GridAccount = { ...base, status: 'unreachable', reason: 'timeout', askedAt: 2 };
    const [kept] = settleGridAccounts([active], [down]);
    expect(kept).toMatchObject({ status: 'active', accountNurl: 'pb://acct', askedAt: 2 });
    expect(kept!.reason).toMatch(/did not answer this time \(timeout\)/);
    const refused: GridAccount = { ...base, status: 'refused', reason: 'disabled', askedAt: 2 };
    expect(settleGridAccounts([active], [refused])).toEqual([refused]);
    expect(settleGridAccounts([], [down])).toEqual([down]);
    // A server gone from this round is gone.
    expect(settleGridAccounts([active], [])).toEqual([]);
  });

  it('uses the account NURL where the account is active, the announced NURLs elsewhere', () => {
    const [a, b] = [server('a'), server('b')];
    const entries = gridServersYamlEntries(
      [a, b],
      [
        { ...active, serverId: a.announcement.serverId },
        { ...base, serverId: b.announcement.serverId, status: 'pending' },
      ],
    );
    expect(entries.map((e) => e.nurls)).toEqual([['pb://acct'], undefined]);
  });
});

describe('gridUsage() and setGridLeaseDuration()', () => {
  const account = (petname: string, status: GridAccount['status'] = 'active'): GridAccount => ({
    serverId: `v0-${petname}`,
    petname,
    status,
    askedAt: 1,
    ...(status === 'active' ? { accountNurl: `https://${petname}` } : { reason: 'pending' }),
  });
  const info = (bytes: number) => ({
    accountId: 3,
    nickname: 'alice',
    status: 'normal',
    shares: 1,
    bytes,
    hardQuotaBytes: null,
    softQuotaBytes: null,
    leaseDurationSeconds: 100,
  });

  it('reads only active accounts, sums what was read, and says why for the rest', async () => {
    const { t } = transport({
      'https://a': { getAccount: async () => info(1000) },
      'https://b': { getAccount: async () => info(250) },
      'https://c': { getAccount: () => Promise.reject(httpError(503, 'database away')) },
    });
    const usage = await gridUsage(
      [account('a'), account('b'), account('c'), account('d', 'pending')],
      { transport: t },
    );
    expect(usage.servers.map((r) => [r.petname, r.status])).toEqual([
      ['a', 'read'],
      ['b', 'read'],
      ['c', 'unreachable'],
      ['d', 'pending'],
    ]);
    expect(usage.total).toEqual({ servers: 2, shares: 2, bytes: 1250 });
  });

  it('granted, clamped, refused with the reason, and skipped without an account', async () => {
    const { t } = transport({
      'https://a': { setLeaseDuration: async (s) => s },
      'https://b': { setLeaseDuration: async () => 86_400 },
      'https://c': { setLeaseDuration: () => Promise.reject(httpError(403, 'account frozen')) },
    });
    const answers = await setGridLeaseDuration(
      [account('a'), account('b'), account('c'), account('d', 'refused')],
      7 * 86_400,
      { transport: t },
    );
    expect(answers).toEqual([
      { serverId: 'v0-a', petname: 'a', outcome: 'granted', leaseDurationSeconds: 7 * 86_400 },
      { serverId: 'v0-b', petname: 'b', outcome: 'clamped', leaseDurationSeconds: 86_400 },
      {
        serverId: 'v0-c',
        petname: 'c',
        outcome: 'refused',
        reason: 'it answered 403: account frozen',
      },
      { serverId: 'v0-d', petname: 'd', outcome: 'skipped', reason: 'pending' },
    ]);
    await expect(setGridLeaseDuration([], 0, { transport: t })).rejects.toThrow(RangeError);
  });
});
