import { randomBytes } from 'node:crypto';
import { LeaseDbError } from '@ostrom/leasedb';
import { generateAccountKey, publicKeyFromPrivate, signAccountRequest } from '@ostrom/protocol';
import { expect, it, vi } from 'vitest';
import { type Account, Accountant, buildDigest, REQUEST_REFUSED_AT } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  SERVER_ID,
  SERVER_SECRET,
  secrets,
  storageIndex,
  type WorldOptions,
} from './setup.js';

const SI = storageIndex(1);

function signedRequest(
  now: number,
  overrides: { serverId?: string; timestamp?: number; nickname?: string; key?: Uint8Array } = {},
) {
  const key = overrides.key ?? generateAccountKey().privateKey;
  return signAccountRequest(
    {
      serverId: overrides.serverId ?? SERVER_ID,
      publicKey: publicKeyFromPrivate(key),
      nickname: overrides.nickname ?? 'carol',
      timestamp: overrides.timestamp ?? now,
      nonce: new Uint8Array(randomBytes(16)),
    },
    key,
  );
}

describeMatrix('accounts', (matrix) => {
  async function setup(options: WorldOptions = {}) {
    const world = await makeWorld(matrix, options);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    return { ...world, alice: world.accountant.account(alice.id) };
  }

  async function storeOne(account: Account, si = SI) {
    const s = secrets(`${account.id}:${si}`);
    await account.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 100 });
    await account.writeUpload(si, 0, s.uploadSecret, 0, bytes(100));
    return s;
  }

  it('a frozen account reads but cannot write; thawed it writes again', async () => {
    const { accountant, alice } = await setup();
    const s = await storeOne(alice);
    await accountant.setAccountStatus(alice.id, 'frozen', { actor: 'operator' });
    expect(await alice.listShares('immutable', SI)).toEqual([0]);
    expect((await alice.readShare('immutable', SI, 0)).data.length).toBe(100);
    await expect(
      alice.allocate(storageIndex(2), { ...s, shareNumbers: [0], allocatedSize: 1 }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', details: { status: 'frozen' } });
    await expect(alice.addOrRenewLease(SI, s)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await accountant.setAccountStatus(alice.id, 'normal');
    await alice.addOrRenewLease(SI, s);
  });

  it('a disabled or pending account can neither read nor write', async () => {
    const { accountant, alice } = await setup();
    await storeOne(alice);
    await accountant.setAccountStatus(alice.id, 'disabled');
    await expect(alice.listShares('immutable', SI)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(alice.readShare('immutable', SI, 0)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(accountant.setAccountStatus(alice.id, 'pending')).rejects.toMatchObject({
      code: 'INVALID_OPERATION',
    });
  });

  it('swissnums: each account has its own, the anonymous one is bare, forgeries map to nothing', async () => {
    const { accountant, alice } = await setup();
    const anon = accountant.swissnumFor(0);
    expect(anon).toMatch(/^[a-z2-7]{32}$/);
    expect(accountant.accountForSwissnum(anon)?.id).toBe(0);
    const own = accountant.swissnumFor(alice.id);
    expect(own).toMatch(new RegExp(`^${alice.id}-[a-z2-7]{32}$`));
    expect(accountant.accountForSwissnum(own)?.id).toBe(alice.id);
    // Another account's number with alice's code, a truncated code, the starter account: nothing.
    expect(
      accountant.accountForSwissnum(own.replace(/^\d+/, String(alice.id + 1))),
    ).toBeUndefined();
    expect(accountant.accountForSwissnum(own.slice(0, -1))).toBeUndefined();
    expect(accountant.accountForSwissnum(accountant.swissnumFor(1))).toBeUndefined();
    expect(accountant.accountForSwissnum('')).toBeUndefined();
  });

  it('mode disabled: only the anonymous swissnum works and account requests are refused', async () => {
    const { accountant, alice, clock } = await setup({ mode: 'disabled' });
    expect(accountant.accountForSwissnum(accountant.swissnumFor(alice.id))).toBeUndefined();
    expect(accountant.accountForSwissnum(accountant.swissnumFor(0))?.id).toBe(0);
    expect(await accountant.requestAccount(signedRequest(clock.now()))).toMatchObject({
      status: 'refused',
    });
  });

  it('mode required: the anonymous account reads but cannot write', async () => {
    const { accountant, alice } = await setup({ mode: 'required' });
    await storeOne(alice);
    const anonymous = accountant.anonymous();
    expect(await anonymous.listShares('immutable', SI)).toEqual([0]);
    await expect(
      anonymous.allocate(storageIndex(3), { ...secrets(3), shareNumbers: [0], allocatedSize: 1 }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', details: { mode: 'required' } });
  });

  it('mode enabled: anonymous clients write and are labelled as the anonymous account', async () => {
    const { accountant, db } = await setup();
    await storeOne(accountant.anonymous());
    expect(await db.getAccountUsage(0)).toEqual({ shares: 1, bytes: 100 });
  });

  for (const mode of ['enabled', 'disabled'] as const) {
    it(`mode ${mode}: the shared accounts cannot set their lease duration; their leases last the node's`, async () => {
      const { accountant, alice, db, clock } = await setup({ mode });
      const policy = db.policy.leaseDurationSeconds;
      for (const shared of [accountant.anonymous(), accountant.account(1)]) {
        for (const seconds of [86_400, 5 * 365 * 86_400]) {
          await expect(shared.setLeaseDuration(seconds)).rejects.toMatchObject({
            code: 'FORBIDDEN',
          });
        }
        expect(await db.getAccountAttributes(shared.id)).toEqual({});
      }
      expect((await accountant.anonymous().info()).leaseDurationSeconds).toBe(policy);
      // A choice recorded for the anonymous account before it was refused stays without effect.
      await db.setAccountAttribute(0, 'lease-duration-seconds', '86400');
      const anonymous = accountant.anonymous();
      expect((await anonymous.info()).leaseDurationSeconds).toBe(policy);
      await storeOne(anonymous);
      expect((await db.listLeases(SI, 0))[0]?.expiresAt).toBe(clock.now() + policy);
      // An account of its own still chooses its own.
      expect(await alice.setLeaseDuration(10 * 86_400)).toBe(10 * 86_400);
      expect((await alice.info()).leaseDurationSeconds).toBe(10 * 86_400);
    });
  }

  it('requestAccount() with automatic approval creates an active account and answers its swissnum', async () => {
    const { accountant, clock, db } = await setup();
    const outcome = await accountant.requestAccount(signedRequest(clock.now()));
    expect(outcome.status).toBe('active');
    if (outcome.status !== 'active') return;
    expect(outcome.account).toMatchObject({ nickname: 'carol', status: 'normal' });
    expect(accountant.accountForSwissnum(outcome.swissnum)?.id).toBe(outcome.account.id);
    const created = await db.listEvents({ kinds: ['account-created'] });
    expect(created.map((e) => e.accountId)).toContain(outcome.account.id);
  });

  it('requestAccount() again with the same key returns the same account', async () => {
    const { accountant, clock } = await setup();
    const key = generateAccountKey().privateKey;
    const first = await accountant.requestAccount(signedRequest(clock.now(), { key }));
    const second = await accountant.requestAccount(signedRequest(clock.now(), { key }));
    expect(first.status === 'active' && second.status === 'active').toBe(true);
    if (first.status === 'active' && second.status === 'active') {
      expect(second.account.id).toBe(first.account.id);
      expect(second.swissnum).toBe(first.swissnum);
    }
  });

  it('requestAccount() with manual approval is pending until approved', async () => {
    const { accountant, clock } = await setup({ approval: 'manual', pendingRetrySeconds: 600 });
    const key = generateAccountKey().privateKey;
    const first = await accountant.requestAccount(signedRequest(clock.now(), { key }));
    expect(first).toMatchObject({ status: 'pending', retryAfterSeconds: 600 });
    if (first.status !== 'pending') return;
    // A pending account's swissnum grants nothing yet.
    await expect(
      accountant.account(first.account.id).listShares('immutable', SI),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await accountant.approveAccount(first.account.id, { actor: 'operator' });
    await expect(accountant.approveAccount(first.account.id)).rejects.toMatchObject({
      code: 'INVALID_OPERATION',
    });
    expect((await accountant.requestAccount(signedRequest(clock.now(), { key }))).status).toBe(
      'active',
    );
  });

  it('requestAccount() refuses disabled and deleted accounts', async () => {
    const { accountant, clock } = await setup();
    const key = generateAccountKey().privateKey;
    const first = await accountant.requestAccount(signedRequest(clock.now(), { key }));
    if (first.status !== 'active') throw new Error('expected an active account');
    await accountant.setAccountStatus(first.account.id, 'disabled');
    expect(await accountant.requestAccount(signedRequest(clock.now(), { key }))).toMatchObject({
      status: 'refused',
    });
  });

  it('refuseAccount(): a refused request becomes a disabled account whose key is answered refused; enabling admits it', async () => {
    const { accountant, db, clock } = await setup({ approval: 'manual' });
    const key = generateAccountKey().privateKey;
    const first = await accountant.requestAccount(
      signedRequest(clock.now(), { key, nickname: 'mallory' }),
    );
    if (first.status !== 'pending') throw new Error('expected a pending account');
    const id = first.account.id;
    const refused = await accountant.refuseAccount(id, { actor: 'carol', reason: 'unknown key' });
    expect(refused.status).toBe('disabled');
    expect((await db.getAccountAttributes(id))[REQUEST_REFUSED_AT]).toBe(String(clock.now()));
    const [event] = await db.listEvents({ kinds: ['account-status-changed'], accountId: id });
    expect(event).toMatchObject({
      actor: 'carol',
      data: { from: 'pending', to: 'disabled', reason: 'unknown key' },
    });
    // Asking again queues nothing: the same account, refused, the operator's reason not told.
    const again = await accountant.requestAccount(signedRequest(clock.now(), { key }));
    expect(again).toEqual({
      status: 'refused',
      reason: "the operator refused this key's request for an account",
    });
    expect((await db.listAccounts({ status: 'pending' })).total).toBe(0);
    expect((await buildDigest(db, { since: 0, until: clock.now() + 1 })).lines).toContain(
      'carol refused the request of mallory: unknown key',
    );
    // Only a pending account can be refused.
    await expect(accountant.refuseAccount(id)).rejects.toMatchObject({ code: 'INVALID_OPERATION' });
    await expect(accountant.refuseAccount(0)).rejects.toMatchObject({ code: 'INVALID_OPERATION' });
    // Enabled, it is admitted, and no longer marked refused; disabled again, it is only disabled.
    await accountant.setAccountStatus(id, 'normal', { actor: 'carol' });
    expect((await db.getAccountAttributes(id))[REQUEST_REFUSED_AT]).toBeUndefined();
    expect((await accountant.requestAccount(signedRequest(clock.now(), { key }))).status).toBe(
      'active',
    );
    await accountant.setAccountStatus(id, 'disabled');
    expect(await accountant.requestAccount(signedRequest(clock.now(), { key }))).toEqual({
      status: 'refused',
      reason: 'this account is disabled',
    });
  });

  it('renameAccount(): the nickname changes with an event naming both; built-in accounts and bad names are refused', async () => {
    const { accountant, db, alice } = await setup();
    const renamed = await accountant.renameAccount(alice.id, 'alice2', { actor: 'carol' });
    expect(renamed.nickname).toBe('alice2');
    expect((await db.getAccount(alice.id))?.nickname).toBe('alice2');
    const events = await db.listEvents({ kinds: ['account-nickname-changed'] });
    expect(events).toMatchObject([
      { accountId: alice.id, actor: 'carol', data: { from: 'alice', to: 'alice2' } },
    ]);
    // The same name again changes nothing and logs nothing.
    await accountant.renameAccount(alice.id, 'alice2');
    expect(await db.listEvents({ kinds: ['account-nickname-changed'] })).toHaveLength(1);
    for (const builtIn of [0, 1]) {
      await expect(accountant.renameAccount(builtIn, 'mine')).rejects.toMatchObject({
        code: 'INVALID_OPERATION',
      });
    }
    await expect(accountant.renameAccount(alice.id, 'bad\nname')).rejects.toThrow(TypeError);
    await expect(accountant.renameAccount(alice.id, '')).rejects.toThrow(TypeError);
    await expect(accountant.renameAccount(999, 'who')).rejects.toMatchObject({
      code: 'UNKNOWN_ACCOUNT',
    });
    expect((await db.getAccount(alice.id))?.nickname).toBe('alice2');
  });

  it('requestAccount() checks the signature, the server id, the time window and the nonce', async () => {
    const { accountant, clock } = await setup();
    const good = signedRequest(clock.now());
    const forged = {
      ...good,
      signature: Uint8Array.from(good.signature, (b, i) => (i ? b : b ^ 1)),
    };
    await expect(accountant.requestAccount(forged)).rejects.toMatchObject({
      code: 'INVALID_ACCOUNT_REQUEST',
    });
    await expect(
      accountant.requestAccount(signedRequest(clock.now(), { serverId: 'v0-elsewhere' })),
    ).rejects.toMatchObject({ code: 'WRONG_SERVER' });
    await expect(
      accountant.requestAccount(signedRequest(clock.now(), { timestamp: clock.now() - 301 })),
    ).rejects.toMatchObject({ code: 'STALE_REQUEST' });
    await expect(
      accountant.requestAccount(signedRequest(clock.now(), { timestamp: clock.now() + 301 })),
    ).rejects.toMatchObject({ code: 'STALE_REQUEST' });
    await accountant.requestAccount(good);
    await expect(accountant.requestAccount(good)).rejects.toMatchObject({
      code: 'REPLAYED_REQUEST',
    });
  });

  it('requestAccount() gives new accounts the default quotas', async () => {
    const { accountant, clock } = await setup({
      defaultHardQuotaBytes: 5000,
      defaultSoftQuotaBytes: 4000,
    });
    const outcome = await accountant.requestAccount(signedRequest(clock.now()));
    expect(outcome).toMatchObject({
      account: { hardQuotaBytes: 5000, softQuotaBytes: 4000 },
    });
  });

  it('a deleted account keeps its shares through the grace period, then the worker removes the unshared ones', async () => {
    const { accountant, alice, clock, db, backend } = await setup({ deletionGraceSeconds: 3600 });
    const bobRow = await accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    const bob = accountant.account(bobRow.id);
    await storeOne(alice, storageIndex(1));
    await storeOne(alice, storageIndex(2));
    await bob.addOrRenewLease(storageIndex(2), secrets('bob'));
    await expect(accountant.setAccountStatus(0, 'deleted')).rejects.toMatchObject({
      code: 'INVALID_OPERATION',
    });
    await accountant.setAccountStatus(alice.id, 'deleted', { actor: 'operator' });
    await expect(alice.listShares('immutable', SI)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await accountant.sweep()).toMatchObject({ leasesDropped: 0, sharesDeleted: 0 });
    clock.advance(3600);
    expect(await accountant.sweep()).toMatchObject({ leasesDropped: 2, sharesDeleted: 1 });
    expect(await backend.listShares(storageIndex(1))).toEqual([]);
    expect((await backend.listShares(storageIndex(2))).length).toBe(1);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 100 });
    expect(await db.checkUsage()).toEqual([]);
    const deleted = await db.listEvents({ kinds: ['share-deleted'] });
    expect(deleted.map((e) => e.storageIndex)).toEqual([storageIndex(1)]);
  });

  it('undeleting within the grace period keeps everything', async () => {
    const { accountant, alice, clock, db } = await setup({ deletionGraceSeconds: 3600 });
    await storeOne(alice);
    await accountant.setAccountStatus(alice.id, 'deleted');
    await accountant.setAccountStatus(alice.id, 'normal');
    clock.advance(7200);
    expect(await accountant.sweep()).toMatchObject({ leasesDropped: 0 });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 100 });
  });

  it('the deletion worker is paced: one batch per sweep', async () => {
    const { accountant, alice, clock, db } = await setup({
      deletionGraceSeconds: 0,
      deletionBatchSize: 2,
    });
    for (let i = 0; i < 5; i++) await storeOne(alice, storageIndex(i));
    await accountant.setAccountStatus(alice.id, 'deleted');
    clock.advance(1);
    const steps: number[] = [];
    for (let i = 0; i < 4; i++) steps.push((await accountant.sweep()).sharesDeleted);
    expect(steps).toEqual([2, 2, 1, 0]);
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
  });

  it('info() reports status, usage, quotas and lease duration', async () => {
    const { accountant, alice } = await setup();
    await storeOne(alice);
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 10_000, softQuotaBytes: 5000 });
    expect(await alice.info()).toEqual({
      accountId: alice.id,
      nickname: 'alice',
      status: 'normal',
      usage: { shares: 1, bytes: 100 },
      hardQuotaBytes: 10_000,
      softQuotaBytes: 5000,
      leaseDurationSeconds: 31 * 86_400,
    });
  });

  it('version() reports the room and Tahoe constants, from a cache between refreshes', async () => {
    const { accountant, alice, clock } = await setup({
      availableBytes: 10_000,
      reservedBytes: 1000,
    });
    const first = await accountant.version();
    expect(first).toMatchObject({
      availableSpace: 9000,
      maximumImmutableShareSize: 9000,
      maximumMutableShareSize: 69_105_000_000_000_000,
    });
    await alice.allocate(SI, { ...secrets('a'), shareNumbers: [0], allocatedSize: 500 });
    expect((await accountant.version()).availableSpace).toBe(9000);
    clock.advance(5);
    expect((await accountant.refreshVersion()).availableSpace).toBe(8500);
    expect((await accountant.version()).availableSpace).toBe(8500);
  });

  it('version() reports maxMutableShareBytes as the mutable maximum; it must be a positive integer', async () => {
    const { accountant } = await setup({ maxMutableShareBytes: 1024 * 1024 });
    expect((await accountant.version()).maximumMutableShareSize).toBe(1024 * 1024);
    await expect(setup({ maxMutableShareBytes: 0 })).rejects.toThrow(/maxMutableShareBytes/);
    await expect(setup({ maxMutableShareBytes: 1.5 })).rejects.toThrow(/maxMutableShareBytes/);
  });

  it('buildDigest() tells who uploaded what and who uses the most', async () => {
    const { accountant, alice, clock, db } = await setup();
    clock.advance(1);
    const since = clock.now();
    await storeOne(alice, storageIndex(1));
    await storeOne(alice, storageIndex(2));
    await accountant.setAccountStatus(alice.id, 'frozen', { actor: 'carol', reason: 'over quota' });
    await accountant.setAccountStatus(alice.id, 'normal', { actor: 'carol' });
    await accountant.setAccountStatus(alice.id, 'disabled', { actor: 'carol' });
    await accountant.setAccountStatus(alice.id, 'normal', { actor: 'carol' });
    await accountant.setAccountStatus(alice.id, 'deleted', { actor: 'carol' });
    await accountant.setAccountStatus(alice.id, 'normal', { actor: 'carol' });
    const digest = await buildDigest(db, { since, until: clock.now() + 1 });
    expect(digest.lines).toEqual([
      'alice uploaded 200 B',
      'carol froze alice: over quota',
      'carol thawed alice',
      'carol disabled alice',
      'carol enabled alice',
      'carol deleted alice',
      'carol restored alice',
      'alice is using 200 B',
    ]);
    expect(digest.accounts).toEqual([
      { accountId: alice.id, nickname: 'alice', uploadedBytes: 200, usageBytes: 200, shares: 2 },
    ]);
  });

  it('buildDigest() names a few lines of each kind and sums up the rest; outsiders of the top keep their usage', async () => {
    const { accountant, clock, db } = await setup();
    clock.advance(1);
    const since = clock.now();
    const users: Account[] = [];
    for (let k = 1; k <= 5; k++) {
      const added = await accountant.addAccount({ publicKey: randomKey(), nickname: `u${k}` });
      users.push(accountant.account(added.id));
    }
    // u1 stores one share of 100 B, u2 two, ... u5 five.
    for (const [i, user] of users.entries()) {
      for (let n = 0; n <= i; n++) await storeOne(user, storageIndex(`${user.id}:${n}`));
    }
    for (const user of users.slice(0, 3)) {
      await accountant.setAccountStatus(user.id, 'frozen', { actor: 'carol' });
    }
    const digest = await buildDigest(db, {
      since,
      until: clock.now() + 1,
      topAccounts: 1,
      linesPerKind: 2,
    });
    expect(digest.lines).toEqual([
      'u5 uploaded 500 B',
      'u4 uploaded 400 B',
      '3 other accounts uploaded 600 B',
      'u1 joined',
      'u2 joined',
      'carol froze u1',
      'carol froze u2',
      '3 more accounts joined',
      '1 more status change',
      'u5 is using 500 B',
    ]);
    // Every uploader is in the table with its own totals, not only the top one.
    expect(
      digest.accounts.map((a) => [a.nickname, a.uploadedBytes, a.usageBytes, a.shares]),
    ).toEqual([
      ['u5', 500, 500, 5],
      ['u4', 400, 400, 4],
      ['u3', 300, 300, 3],
      ['u2', 200, 200, 2],
      ['u1', 100, 100, 1],
    ]);
    // With the default, a handful of accounts is named in full.
    const full = await buildDigest(db, { since, until: clock.now() + 1 });
    expect(full.lines.filter((line) => line.includes('uploaded'))).toHaveLength(5);
    expect(full.lines.some((line) => line.includes('more'))).toBe(false);
  });

  it('requests record lastSeenAt by the accountant clock, writing at most once a minute per account', async () => {
    const { accountant, alice, clock, db } = await setup();
    const touches = vi.spyOn(db, 'touchAccount');
    const seen = async (id: number) => (await db.getAccount(id))?.lastSeenAt;
    expect(await seen(alice.id)).toBeNull();
    const first = clock.now();
    await alice.listShares('immutable', SI);
    expect(await seen(alice.id)).toBe(first);
    clock.advance(10);
    await alice.info(); // the accounting API counts too
    expect(await seen(alice.id)).toBe(first);
    expect(touches).toHaveBeenCalledTimes(1);
    clock.advance(51);
    await storeOne(alice);
    expect(await seen(alice.id)).toBe(first + 61);
    expect(touches).toHaveBeenCalledTimes(2);
    // Another account has its own minute; a refused request is a request too.
    await accountant.setAccountStatus(alice.id, 'frozen');
    const bob = accountant.account(
      (await accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' })).id,
    );
    await accountant.setAccountStatus(bob.id, 'disabled');
    await expect(bob.listShares('immutable', SI)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await seen(bob.id)).toBe(first + 61);
    await accountant.anonymous().readShare('immutable', SI, 0);
    expect(await seen(0)).toBe(first + 61);
    expect(await db.getAccountAttributes(alice.id)).toEqual({});
    const kinds = (await db.listEvents({ accountId: bob.id })).map((e) => e.kind);
    expect(kinds).toEqual(['account-created', 'account-status-changed']);
  });

  it('a failing touchAccount fails no request, and the next request tries again', async () => {
    const { alice, backend, clock, db } = await setup();
    let failing = true;
    // The database as the Accountant sees it, its touchAccount failing while `failing`.
    const leaseDb = new Proxy(db, {
      get(target, property) {
        if (property === 'touchAccount' && failing) {
          return async () => {
            throw new LeaseDbError('BUSY', 'injected');
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const accountant = new Accountant({
      leaseDb,
      backend,
      serverSecret: SERVER_SECRET,
      serverId: SERVER_ID,
      now: clock.now,
    });
    const facet = accountant.account(alice.id);
    expect((await facet.info()).nickname).toBe('alice');
    expect(await facet.listShares('immutable', SI)).toEqual([]);
    expect((await db.getAccount(alice.id))?.lastSeenAt).toBeNull();
    failing = false;
    clock.advance(1);
    await facet.listShares('immutable', SI);
    expect((await db.getAccount(alice.id))?.lastSeenAt).toBe(clock.now());
  });

  it('setAccountStatus() refuses a malformed reason and changes nothing', async () => {
    const { accountant, alice, db } = await setup();
    await expect(
      accountant.setAccountStatus(alice.id, 'frozen', { reason: 'x'.repeat(201) }),
    ).rejects.toThrow(TypeError);
    expect((await db.getAccount(alice.id))?.status).toBe('normal');
  });
});
