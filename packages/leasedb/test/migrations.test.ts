import { expect, it } from 'vitest';
import { ANONYMOUS_ACCOUNT_ID, STARTER_ACCOUNT_ID } from '../src/index.js';
import { describeEachDialect, publicKey } from './setup.js';

describeEachDialect('migrations', (dialect) => {
  it('an empty database migrates to latest with the anonymous and starter accounts', async () => {
    const db = await dialect.open();
    const anonymous = await db.getAccount(ANONYMOUS_ACCOUNT_ID);
    const starter = await db.getAccount(STARTER_ACCOUNT_ID);
    expect(anonymous).toMatchObject({ nickname: 'anonymous', publicKey: null, status: 'normal' });
    expect(starter).toMatchObject({ nickname: 'starter', publicKey: null, status: 'normal' });
    expect(await db.getAccountUsage(0)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
  });

  it('running the migrations twice is a no-op that keeps the data', async () => {
    const { open } = await dialect.location();
    const first = await open();
    const created = await first.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await first.close();
    const second = await open();
    expect(await second.getAccount(created.id)).toEqual(created);
    const { accounts, total } = await second.listAccounts();
    expect(total).toBe(3);
    expect(accounts.map((a) => a.id)).toEqual([0, 1, created.id]);
  });

  it('the first created account gets id 2, after the two built-in ones', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const bob = await db.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    expect([alice.id, bob.id]).toEqual([2, 3]);
  });

  it('two lease databases side by side (PostgreSQL: two schemas of one database) migrate independently', async () => {
    const first = await (await dialect.location()).open();
    const second = await (await dialect.location()).open();
    await first.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect((await first.listAccounts()).total).toBe(3);
    expect((await second.listAccounts()).total).toBe(2);
  });

  it('migrate: false opens without touching the schema', async () => {
    const { open } = await dialect.location();
    const db = await open({ migrate: false });
    await expect(db.getAccount(0)).rejects.toThrow();
  });
});
