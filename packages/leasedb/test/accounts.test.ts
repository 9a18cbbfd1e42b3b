import { expect, it } from 'vitest';
import { outcome as code } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

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
});
