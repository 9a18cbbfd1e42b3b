import { randomBytes } from 'node:crypto';
import {
  encodeAccountRequestBody,
  encodeCbor,
  generateAccountKey,
  type SignedAccountRequest,
  signAccountRequest,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  bytes,
  SERVER_ID,
  secrets,
  startServer,
  storageIndex,
  type TestServer,
  uploadShare,
} from './http-setup.js';

function signed(t: TestServer, overrides: { serverId?: string; timestamp?: number } = {}) {
  const key = generateAccountKey();
  return signAccountRequest(
    {
      serverId: overrides.serverId ?? SERVER_ID,
      publicKey: key.publicKey,
      nickname: 'laptop',
      timestamp: overrides.timestamp ?? t.clock.now(),
      nonce: new Uint8Array(randomBytes(16)),
    },
    key.privateKey,
  );
}

async function post(t: TestServer, request: SignedAccountRequest) {
  return await t.client().raw({
    method: 'POST',
    path: '/accounting/v1/account',
    headers: { 'Content-Type': 'application/cbor' },
    body: encodeAccountRequestBody(request),
  });
}

describe('accounting extension and per-account NURLs', () => {
  it('GET /server tells any member the server id to sign for and the policy', async () => {
    const t = await startServer();
    expect(await t.client().accounting.getServer()).toEqual({
      serverId: SERVER_ID,
      accountingMode: 'enabled',
      approval: 'automatic',
      requestWindowSeconds: 300,
      leaseDurationSeconds: 31 * 86_400,
      minLeaseDurationSeconds: 86_400,
      maxLeaseDurationSeconds: 5 * 365 * 86_400,
    });
    // The signed request built from what it says is accepted.
    const answer = await t.client().accounting.requestAccount(signed(t));
    expect(answer.status).toBe('active');
    // Only members of the grid: an unknown swissnum is 401, and secrets are refused (exact set).
    const stranger = await t.client().raw({
      method: 'GET',
      path: '/accounting/v1/server',
      headers: { authorization: 'Tahoe-LAFS bm90LWEtc3dpc3NudW0=' },
    });
    expect(stranger.status).toBe(401);
  });

  it('POST /account gives an active account whose NURL is accounted to it', async () => {
    const t = await startServer();
    const answer = await t.client().accounting.requestAccount(signed(t));
    expect(answer.status).toBe('active');
    if (answer.status !== 'active') return;
    expect(answer.nurl).toBe(t.nurl(answer.accountId));
    const mine = t.client(answer.accountId);
    const si = storageIndex('acct');
    await uploadShare(mine, si, bytes(1234));
    expect(await t.db.getAccountUsage(answer.accountId)).toEqual({ shares: 1, bytes: 1234 });
    expect((await t.db.getAccountUsage(0))?.bytes ?? 0).toBe(0);
    const info = await mine.accounting.getAccount();
    expect(info).toMatchObject({
      accountId: answer.accountId,
      nickname: 'laptop',
      shares: 1,
      bytes: 1234,
    });
    const granted = await mine.accounting.setLeaseDuration(10 * 86_400);
    expect(granted).toBe(10 * 86_400);
    expect((await mine.accounting.getAccount()).leaseDurationSeconds).toBe(10 * 86_400);
  });

  it('POST /account answers 202 pending with retry-after under manual approval', async () => {
    const t = await startServer({ approval: 'manual', pendingRetrySeconds: 600 });
    const res = await post(t, signed(t));
    expect(res.status).toBe(202);
    expect(res.headers['retry-after']).toBe('600');
    expect(await t.client().accounting.requestAccount(signed(t))).toEqual({
      status: 'pending',
      retryAfterSeconds: 600,
    });
  });

  it('POST /account answers 403 refused when accounting is disabled', async () => {
    const t = await startServer({ mode: 'disabled' });
    const res = await post(t, signed(t));
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/cbor');
  });

  it('POST /account refuses other servers, stale and replayed requests, bad bodies', async () => {
    const t = await startServer();
    expect((await post(t, signed(t, { serverId: 'v0-elsewhere' }))).status).toBe(400);
    expect((await post(t, signed(t, { timestamp: t.clock.now() - 3600 }))).status).toBe(400);
    const once = signed(t);
    expect((await post(t, once)).status).toBe(200);
    expect((await post(t, once)).status).toBe(409);
    const forged = { ...once, signature: new Uint8Array(64) };
    expect((await post(t, forged)).status).toBe(400);
    const junk = await t.client().raw({
      method: 'POST',
      path: '/accounting/v1/account',
      body: encodeCbor({ request: 1 }),
    });
    expect(junk.status).toBe(400);
    // Only grid members (any swissnum of this node) may ask.
    const outsider = await t.clientWithSwissnum('outsider').raw({
      method: 'POST',
      path: '/accounting/v1/account',
      body: encodeAccountRequestBody(signed(t)),
    });
    expect(outsider.status).toBe(401);
  });

  it('a frozen account cannot allocate (403) but still reads; an unknown swissnum is 401', async () => {
    const t = await startServer();
    const answer = await t.client().accounting.requestAccount(signed(t));
    if (answer.status !== 'active') throw new Error('expected an active account');
    const mine = t.client(answer.accountId);
    const si = storageIndex('frozen');
    await uploadShare(mine, si, bytes(100));
    await t.accountant.setAccountStatus(answer.accountId, 'frozen');
    await expect(
      mine.immutable.allocate(storageIndex('frozen2'), {
        ...secrets('f'),
        shareNumbers: [0],
        allocatedSize: 10,
      }),
    ).rejects.toMatchObject({ status: 403 });
    expect(await mine.immutable.read(si, 0)).toEqual(bytes(100));
    expect((await mine.accounting.getAccount()).status).toBe('frozen');
    const lease = await mine.raw({
      method: 'PUT',
      path: '/accounting/v1/lease-duration',
      body: encodeCbor({ seconds: 86_400 }),
    });
    expect(lease.status).toBe(403);
    const unknown = t.clientWithSwissnum(`${answer.accountId}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`);
    await expect(unknown.getVersion()).rejects.toMatchObject({ status: 401 });
  });

  it('a hard quota refuses the allocation with 403 and a plain-text reason', async () => {
    const t = await startServer({ defaultHardQuotaBytes: 1000 });
    const answer = await t.client().accounting.requestAccount(signed(t));
    if (answer.status !== 'active') throw new Error('expected an active account');
    const mine = t.client(answer.accountId);
    const s = secrets('quota');
    const res = await mine.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${storageIndex('quota')}`,
      headers: {
        'X-Tahoe-Authorization': [
          `lease-renew-secret ${Buffer.from(s.renewSecret).toString('base64')}`,
          `lease-cancel-secret ${Buffer.from(s.cancelSecret).toString('base64')}`,
          `upload-secret ${Buffer.from(s.uploadSecret).toString('base64')}`,
        ],
      },
      body: encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': 5000 }),
    });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('PUT /lease-duration with a zero or malformed duration is a 400', async () => {
    const t = await startServer();
    const client = t.client();
    for (const body of [encodeCbor({ seconds: 0 }), encodeCbor({ seconds: -5 }), encodeCbor({})]) {
      const res = await client.raw({ method: 'PUT', path: '/accounting/v1/lease-duration', body });
      expect(res.status).toBe(400);
    }
  });
});
