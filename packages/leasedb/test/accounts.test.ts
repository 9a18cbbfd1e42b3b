import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  ACCOUNT_STATUSES,
  type AccountStatus,
  type AccountWithUsage,
  type LeaseDb,
} from '../src/index.js';
import { outcome as code } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

/** Gives an account `bytes` of usage: one COMING share of that size (no quota is checked). */
async function use(db: LeaseDb, accountId: number, bytes: number): Promise<void> {
  if (bytes === 0) return;
  await db.addComingShares({
    storageIndex: storageIndex(accountId),
    sharetype: 'immutable',
    accountId,
    shares: [{ shnum: 0, usedBytes: bytes }],
  });
}

/** The nearQuota rule, straight from its definition (in integers, as 80%). */
function nearQuota(account: AccountWithUsage): boolean {
  const quota = account.softQuotaBytes ?? account.hardQuotaBytes;
  return quota !== null && account.usage.bytes * 100 >= quota * 80;
}

/** Ids sorted by last seen with never-seen as the oldest, ties by id in the same direction. */
function byLastSeen(accounts: readonly AccountWithUsage[], direction: 'asc' | 'desc'): number[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...accounts]
    .sort((a, b) => sign * ((a.lastSeenAt ?? -1) - (b.lastSeenAt ?? -1)) || sign * (a.id - b.id))
    .map((a) => a.id);
}

describeEachDialect('accounts', (dialect) => {
  it('createAccount() stores the key, nickname and quotas and can be found by id and key', async () => {
    const clock = manualClock(1_800_000_000);
    const db = await dialect.open({ now: clock.now });
    const key = publicKey(7);
    const alice = await db.createAccount({
      publicKey: key,
      nickname: 'alice',
      hardQuotaBytes: 1000,
      softQuotaBytes: 800,
    });
    expect(alice).toEqual({
      id: 2,
      publicKey: Buffer.from(key).toString('hex'),
      nickname: 'alice',
      status: 'normal',
      hardQuotaBytes: 1000,
      softQuotaBytes: 800,
      createdAt: 1_800_000_000,
      lastSeenAt: null,
    });
    expect(await db.getAccount(alice.id)).toEqual(alice);
    expect(await db.getAccountByPublicKey(key)).toEqual(alice);
    // The hex spelling of the same key, in capitals, finds the same account.
    expect(await db.getAccountByPublicKey(Buffer.from(key).toString('hex').toUpperCase())).toEqual(
      alice,
    );
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
  });

  it('getAccount() and getAccountByPublicKey() return undefined for unknown accounts', async () => {
    const db = await dialect.open();
    expect(await db.getAccount(99)).toBeUndefined();
    expect(await db.getAccountByPublicKey(publicKey(1))).toBeUndefined();
    expect(await db.getAccountUsage(99)).toBeUndefined();
  });

  it('createAccount() with a key that has an account is ACCOUNT_EXISTS and creates nothing', async () => {
    const db = await dialect.open();
    await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect(await code(db.createAccount({ publicKey: publicKey(1), nickname: 'mallory' }))).toBe(
      'ACCOUNT_EXISTS',
    );
    expect((await db.listAccounts()).total).toBe(3);
  });

  it('createAccount() rejects bad keys, nicknames, statuses and quotas before writing', async () => {
    const db = await dialect.open();
    expect(await code(db.createAccount({ publicKey: new Uint8Array(31), nickname: 'a' }))).toBe(
      'RangeError',
    );
    expect(await code(db.createAccount({ publicKey: 'xyz', nickname: 'a' }))).toBe('TypeError');
    expect(await code(db.createAccount({ publicKey: publicKey(1), nickname: '' }))).toBe(
      'TypeError',
    );
    expect(await code(db.createAccount({ publicKey: publicKey(1), nickname: 'a\nb' }))).toBe(
      'TypeError',
    );
    expect(
      await code(db.createAccount({ publicKey: publicKey(1), nickname: 'x'.repeat(65) })),
    ).toBe('TypeError');
    expect(
      await code(
        db.createAccount({ publicKey: publicKey(1), nickname: 'a', status: 'banned' as 'normal' }),
      ),
    ).toBe('TypeError');
    expect(
      await code(db.createAccount({ publicKey: publicKey(1), nickname: 'a', hardQuotaBytes: -1 })),
    ).toBe('RangeError');
    expect(
      await code(db.createAccount({ publicKey: publicKey(1), nickname: 'a', hardQuotaBytes: 1.5 })),
    ).toBe('TypeError');
    expect(
      await code(
        db.createAccount({
          publicKey: publicKey(1),
          nickname: 'a',
          hardQuotaBytes: 10,
          softQuotaBytes: 20,
        }),
      ),
    ).toBe('RangeError');
    expect((await db.listAccounts()).total).toBe(2);
    expect(await db.listEvents()).toEqual([]);
  });

  it('setAccountStatus() moves through the statuses and logs each change with its actor', async () => {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({
      publicKey: publicKey(1),
      nickname: 'alice',
      actor: 'op',
    });
    clock.advance(10);
    expect((await db.setAccountStatus(alice.id, 'frozen', { actor: 'carol' })).status).toBe(
      'frozen',
    );
    clock.advance(10);
    await db.setAccountStatus(alice.id, 'disabled');
    await db.setAccountStatus(alice.id, 'disabled'); // unchanged: no event
    await db.setAccountStatus(alice.id, 'deleted', { actor: 'carol' });
    const events = await db.listEvents({ accountId: alice.id });
    expect(events.map((e) => [e.kind, e.actor, e.data])).toEqual([
      [
        'account-created',
        'op',
        { nickname: 'alice', publicKey: alice.publicKey, status: 'normal' },
      ],
      ['account-status-changed', 'carol', { from: 'normal', to: 'frozen' }],
      ['account-status-changed', null, { from: 'frozen', to: 'disabled' }],
      ['account-status-changed', 'carol', { from: 'disabled', to: 'deleted' }],
    ]);
    expect(events[1]!.at).toBe(events[0]!.at + 10);
    expect(await code(db.setAccountStatus(99, 'frozen'))).toBe('UNKNOWN_ACCOUNT');
    expect(await code(db.setAccountStatus(alice.id, 'gone' as 'frozen'))).toBe('TypeError');
    expect((await db.getAccount(alice.id))!.status).toBe('deleted');
  });

  it('setAccountQuota() sets and clears both limits; soft above hard is refused', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const set = await db.setAccountQuota(alice.id, {
      hardQuotaBytes: 5_000_000_000,
      softQuotaBytes: 4_000_000_000,
    });
    expect([set.hardQuotaBytes, set.softQuotaBytes]).toEqual([5_000_000_000, 4_000_000_000]);
    expect(await code(db.setAccountQuota(alice.id, { hardQuotaBytes: 1, softQuotaBytes: 2 }))).toBe(
      'RangeError',
    );
    const cleared = await db.setAccountQuota(alice.id, {
      hardQuotaBytes: null,
      softQuotaBytes: null,
    });
    expect([cleared.hardQuotaBytes, cleared.softQuotaBytes]).toEqual([null, null]);
    expect(await code(db.setAccountQuota(42, { hardQuotaBytes: 1, softQuotaBytes: null }))).toBe(
      'UNKNOWN_ACCOUNT',
    );
    const kinds = (await db.listEvents({ accountId: alice.id })).map((e) => e.kind);
    expect(kinds).toEqual(['account-created', 'account-quota-changed', 'account-quota-changed']);
  });

  it('setAccountNickname() renames and logs it', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect((await db.setAccountNickname(alice.id, 'Alice B.')).nickname).toBe('Alice B.');
    expect(await code(db.setAccountNickname(alice.id, ''))).toBe('TypeError');
    const [, renamed] = await db.listEvents({ accountId: alice.id });
    expect(renamed?.data).toEqual({ from: 'alice', to: 'Alice B.' });
  });

  it('attributes are free-form, replaced on set and removed by null', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await db.setAccountAttribute(alice.id, 'last-seen', '1700000000');
    await db.setAccountAttribute(alice.id, 'last-connected-from', '192.0.2.1');
    await db.setAccountAttribute(alice.id, 'last-seen', '1700000100');
    expect(await db.getAccountAttributes(alice.id)).toEqual({
      'last-connected-from': '192.0.2.1',
      'last-seen': '1700000100',
    });
    await db.setAccountAttribute(alice.id, 'last-connected-from', null);
    expect(await db.getAccountAttributes(alice.id)).toEqual({ 'last-seen': '1700000100' });
    expect(await code(db.setAccountAttribute(alice.id, 'Bad Name', 'x'))).toBe('TypeError');
    expect(await code(db.setAccountAttribute(99, 'last-seen', 'x'))).toBe('UNKNOWN_ACCOUNT');
    expect(await db.getAccountAttributes(99)).toEqual({});
  });

  it('listAccounts() filters, sorts by usage and pages in the database, with a total', async () => {
    const db = await dialect.open();
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      const account = await db.createAccount({
        publicKey: publicKey(i),
        nickname: `user-${String(i).padStart(2, '0')}`,
      });
      ids.push(account.id);
      // Account i stores i shares of 100 bytes each.
      if (i > 0) {
        await db.addComingShares({
          storageIndex: storageIndex(i),
          sharetype: 'immutable',
          accountId: account.id,
          shares: Array.from({ length: i }, (_, shnum) => ({ shnum, usedBytes: 100 })),
        });
      }
    }
    await db.setAccountStatus(ids[3]!, 'frozen');
    await db.setAccountStatus(ids[5]!, 'frozen');

    const byBytes = await db.listAccounts({ orderBy: 'bytes', direction: 'desc', limit: 3 });
    expect(byBytes.total).toBe(14);
    expect(byBytes.accounts.map((a) => [a.nickname, a.usage])).toEqual([
      ['user-11', { shares: 11, bytes: 1100 }],
      ['user-10', { shares: 10, bytes: 1000 }],
      ['user-09', { shares: 9, bytes: 900 }],
    ]);
    const page2 = await db.listAccounts({
      orderBy: 'bytes',
      direction: 'desc',
      limit: 3,
      offset: 3,
    });
    expect(page2.accounts.map((a) => a.nickname)).toEqual(['user-08', 'user-07', 'user-06']);

    const frozen = await db.listAccounts({ status: 'frozen' });
    expect(frozen.total).toBe(2);
    expect(frozen.accounts.map((a) => a.id)).toEqual([ids[3], ids[5]]);

    const search = await db.listAccounts({ search: 'USER-1', orderBy: 'nickname' });
    expect(search.accounts.map((a) => a.nickname)).toEqual(['user-10', 'user-11']);
    // LIKE wildcards in the search text are taken literally...
    expect((await db.listAccounts({ search: 'user_0' })).total).toBe(0);
    expect((await db.listAccounts({ search: 'user%' })).total).toBe(0);
    // ...and still match themselves; non-ASCII letters fold alike on both dialects.
    await db.createAccount({ publicKey: publicKey(50), nickname: 'Ärger_100%' });
    expect((await db.listAccounts({ search: 'r_1' })).accounts.map((a) => a.nickname)).toEqual([
      'Ärger_100%',
    ]);
    expect((await db.listAccounts({ search: '0%' })).total).toBe(1);
    expect((await db.listAccounts({ search: 'ärg' })).total).toBe(1);

    await expect(db.listAccounts({ limit: 0 })).rejects.toThrow(RangeError);
    await expect(db.listAccounts({ orderBy: 'password' as 'id' })).rejects.toThrow(TypeError);
  });

  it('touchAccount() only moves lastSeenAt forward and logs nothing', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect(alice.lastSeenAt).toBeNull();
    await db.touchAccount(alice.id, 1_000);
    expect((await db.getAccount(alice.id))?.lastSeenAt).toBe(1_000);
    await db.touchAccount(alice.id, 900); // an older report (another process): ignored
    expect((await db.getAccount(alice.id))?.lastSeenAt).toBe(1_000);
    await db.touchAccount(alice.id, 1_060);
    expect((await db.getAccount(alice.id))?.lastSeenAt).toBe(1_060);
    await db.touchAccount(0, 5);
    expect((await db.getAccount(0))?.lastSeenAt).toBe(5);
    await db.touchAccount(99, 1_000); // unknown: nothing to touch
    expect(await db.getAccount(99)).toBeUndefined();
    expect(await code(db.touchAccount(alice.id, 1.5))).toBe('TypeError');
    expect(await code(db.touchAccount(alice.id, -1))).toBe('RangeError');
    expect(await code(db.touchAccount(-1, 1_000))).toBe('RangeError');
    expect((await db.listEvents({ accountId: alice.id })).map((e) => e.kind)).toEqual([
      'account-created',
    ]);
  });

  it('setAccountStatus() keeps a trimmed reason in the event; a bad reason changes nothing', async () => {
    const db = await dialect.open();
    const dave = await db.createAccount({ publicKey: publicKey(1), nickname: 'dave' });
    await db.setAccountStatus(dave.id, 'frozen', { actor: 'carol', reason: '  over quota ' });
    await db.setAccountStatus(dave.id, 'normal', { actor: 'carol', reason: ' ' });
    await db.setAccountStatus(dave.id, 'disabled', { reason: 'x'.repeat(200) });
    for (const reason of ['x'.repeat(201), 'two\nlines', 'bell\u0007', 42 as unknown as string]) {
      expect(await code(db.setAccountStatus(dave.id, 'deleted', { reason }))).toBe('TypeError');
    }
    expect((await db.getAccount(dave.id))?.status).toBe('disabled');
    const events = await db.listEvents({ accountId: dave.id });
    expect(events.slice(1).map((e) => [e.actor, e.data])).toEqual([
      ['carol', { from: 'normal', to: 'frozen', reason: 'over quota' }],
      ['carol', { from: 'frozen', to: 'normal' }],
      [null, { from: 'normal', to: 'disabled', reason: 'x'.repeat(200) }],
    ]);
  });

  it("listAccounts({ orderBy: 'hardQuotaUse' }) sorts by the share of the hard quota held, accounts without one last", async () => {
    const db = await dialect.open();
    const cases = [
      { nickname: 'half', hard: 1000, bytes: 500 },
      { nickname: 'none', hard: null, bytes: 10 ** 9 },
      { nickname: 'over', hard: 10, bytes: 30 },
      { nickname: 'tenth', hard: 10_000, bytes: 1000 },
      { nickname: 'zero-full', hard: 0, bytes: 1 },
      { nickname: 'big', hard: 4e15, bytes: 3e15 },
    ];
    for (const [i, c] of cases.entries()) {
      const account = await db.createAccount({
        publicKey: publicKey(100 + i),
        nickname: c.nickname,
      });
      await use(db, account.id, c.bytes);
      await db.setAccountQuota(account.id, { hardQuotaBytes: c.hard, softQuotaBytes: null });
    }
    const order = async (direction: 'asc' | 'desc') =>
      (await db.listAccounts({ orderBy: 'hardQuotaUse', direction, limit: 100 })).accounts
        .map((a) => a.nickname)
        .filter((name) => cases.some((c) => c.nickname === name));
    expect(await order('desc')).toEqual(['zero-full', 'over', 'big', 'half', 'tenth', 'none']);
    expect(await order('asc')).toEqual(['tenth', 'half', 'big', 'over', 'zero-full', 'none']);
  });

  it('listAccounts({ nearQuota }) keeps accounts at 80% of the soft quota, else of the hard one', async () => {
    const db = await dialect.open();
    const cases = [
      { nickname: 'soft-at-80', soft: 1000, hard: null, bytes: 800, near: true },
      { nickname: 'soft-below', soft: 1000, hard: null, bytes: 799, near: false },
      // The soft quota decides when there is one, even far below the hard quota.
      { nickname: 'soft-not-hard', soft: 1000, hard: 5000, bytes: 900, near: true },
      { nickname: 'soft-under-hard', soft: 5000, hard: 5000, bytes: 3999, near: false },
      { nickname: 'hard-at-80', soft: null, hard: 10, bytes: 8, near: true },
      { nickname: 'hard-over', soft: null, hard: 10, bytes: 50, near: true },
      { nickname: 'hard-below', soft: null, hard: 10, bytes: 7, near: false },
      { nickname: 'no-quota', soft: null, hard: null, bytes: 10 ** 12, near: false },
      { nickname: 'big', soft: 4e15, hard: null, bytes: 3.2e15, near: true },
    ];
    for (const [i, c] of cases.entries()) {
      const account = await db.createAccount({ publicKey: publicKey(i), nickname: c.nickname });
      await use(db, account.id, c.bytes);
      await db.setAccountQuota(account.id, { hardQuotaBytes: c.hard, softQuotaBytes: c.soft });
    }
    const near = await db.listAccounts({ nearQuota: true, orderBy: 'nickname' });
    const expected = cases.filter((c) => c.near).map((c) => c.nickname);
    expect(near.accounts.map((a) => a.nickname)).toEqual(expected.sort());
    expect(near.total).toBe(expected.length);
    expect((await db.listAccounts({ nearQuota: false })).total).toBe(cases.length + 2);
    const page = await db.listAccounts({ nearQuota: true, orderBy: 'bytes', limit: 2 });
    expect([page.accounts.map((a) => a.nickname), page.total]).toEqual([
      ['hard-at-80', 'hard-over'],
      expected.length,
    ]);
    await expect(db.listAccounts({ nearQuota: 'yes' as unknown as boolean })).rejects.toThrow(
      TypeError,
    );
    // At the hard quota: holding it or more, whatever the soft quota says.
    const full = await db.listAccounts({ atHardQuota: true, orderBy: 'nickname' });
    expect(full.accounts.map((a) => a.nickname)).toEqual(['hard-over']);
    await db.setAccountQuota(full.accounts[0]!.id, { hardQuotaBytes: 50, softQuotaBytes: null });
    expect((await db.listAccounts({ atHardQuota: true })).total).toBe(1);
    await expect(db.listAccounts({ atHardQuota: 1 as unknown as boolean })).rejects.toThrow(
      TypeError,
    );
  });

  it("listAccounts({ orderBy: 'lastSeen' }) puts accounts never seen first ascending, last descending", async () => {
    const db = await dialect.open();
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await db.createAccount({ publicKey: publicKey(i), nickname: `u${i}` })).id);
    }
    await db.touchAccount(ids[0]!, 300);
    await db.touchAccount(ids[1]!, 100);
    await db.touchAccount(ids[3]!, 300);
    const order = async (direction: 'asc' | 'desc') =>
      (await db.listAccounts({ orderBy: 'lastSeen', direction })).accounts.map((a) => a.id);
    // Never seen: 0, 1 (built in) and ids[2]; ties by id in the same direction.
    expect(await order('asc')).toEqual([0, 1, ids[2], ids[1], ids[0], ids[3]]);
    expect(await order('desc')).toEqual([ids[3], ids[0], ids[1], ids[2], 1, 0]);
    const second = await db.listAccounts({
      orderBy: 'lastSeen',
      direction: 'desc',
      limit: 2,
      offset: 2,
    });
    expect(second.accounts.map((a) => a.id)).toEqual([ids[1], ids[2]]);
  });

  it('countAccountsByStatus() counts every status, zeros included', async () => {
    const db = await dialect.open();
    expect(await db.countAccountsByStatus()).toEqual({
      pending: 0,
      normal: 2,
      frozen: 0,
      disabled: 0,
      deleted: 0,
    });
    await db.createAccount({ publicKey: publicKey(1), nickname: 'a', status: 'pending' });
    const b = await db.createAccount({ publicKey: publicKey(2), nickname: 'b' });
    await db.createAccount({ publicKey: publicKey(3), nickname: 'c', status: 'frozen' });
    await db.setAccountStatus(b.id, 'deleted');
    expect(await db.countAccountsByStatus()).toEqual({
      pending: 1,
      normal: 2,
      frozen: 1,
      disabled: 0,
      deleted: 1,
    });
  });

  it('nearQuota, lastSeen order and status counts agree with the same rules computed in memory', async () => {
    const quota = fc.option(fc.integer({ min: 0, max: 20 }), { nil: null });
    const accountArb = fc.record({
      soft: quota,
      hard: quota,
      bytes: fc.integer({ min: 0, max: 25 }),
      status: fc.constantFrom(...ACCOUNT_STATUSES),
    });
    const touchArb = fc.record({
      // 0 and 1 are the built-in accounts; the others index the accounts created.
      account: fc.integer({ min: 0, max: 9 }),
      at: fc.integer({ min: 0, max: 6 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(accountArb, { maxLength: 8 }),
        fc.array(touchArb, { maxLength: 12 }),
        fc.constantFrom('asc' as const, 'desc' as const),
        async (specs, touches, direction) => {
          const db = await (await dialect.location()).open();
          const ids = [0, 1];
          for (const [i, spec] of specs.entries()) {
            const account = await db.createAccount({
              publicKey: publicKey(i),
              nickname: `n${i}`,
              status: spec.status,
            });
            await use(db, account.id, spec.bytes);
            const [soft, hard] =
              spec.soft !== null && spec.hard !== null && spec.soft > spec.hard
                ? [spec.hard, spec.soft]
                : [spec.soft, spec.hard];
            await db.setAccountQuota(account.id, { hardQuotaBytes: hard, softQuotaBytes: soft });
            ids.push(account.id);
          }
          for (const touch of touches) {
            const id = ids[touch.account % ids.length]!;
            await db.touchAccount(id, touch.at);
          }
          const all = (await db.listAccounts({ limit: 10_000 })).accounts;
          expect(all.map((a) => a.id)).toEqual(ids);
          const lastSeen = new Map<number, number>();
          for (const touch of touches) {
            const id = ids[touch.account % ids.length]!;
            lastSeen.set(id, Math.max(lastSeen.get(id) ?? 0, touch.at));
          }
          expect(all.map((a) => a.lastSeenAt)).toEqual(ids.map((id) => lastSeen.get(id) ?? null));

          const near = await db.listAccounts({ nearQuota: true, limit: 10_000 });
          expect(near.accounts.map((a) => a.id)).toEqual(all.filter(nearQuota).map((a) => a.id));
          expect(near.total).toBe(near.accounts.length);

          const sorted = await db.listAccounts({ orderBy: 'lastSeen', direction });
          expect(sorted.accounts.map((a) => a.id)).toEqual(byLastSeen(all, direction));
          const nearSorted = await db.listAccounts({
            nearQuota: true,
            orderBy: 'lastSeen',
            direction,
            limit: 2,
            offset: 1,
          });
          expect(nearSorted.accounts.map((a) => a.id)).toEqual(
            byLastSeen(all.filter(nearQuota), direction).slice(1, 3),
          );

          const counted = Object.fromEntries(ACCOUNT_STATUSES.map((s) => [s, 0]));
          for (const a of all) counted[a.status] = (counted[a.status] ?? 0) + 1;
          expect(await db.countAccountsByStatus()).toEqual(
            counted as Record<AccountStatus, number>,
          );
          await db.close();
        },
      ),
      { numRuns: dialect.name === 'postgres' ? 15 : 40 },
    );
  });
});
