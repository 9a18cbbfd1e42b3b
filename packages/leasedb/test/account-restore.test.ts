import { expect, it } from 'vitest';
import { LeaseDbError } from '../src/index.js';
import { describeEachDialect, manualClock, publicKey } from './setup.js';

// Giving accounts back under the ids their swissnums name (docs/ARCHITECTURE.md, "Recovering a
// lost database"): restoreAccount and reserveAccountIds.

const hex = (seed: number) => Buffer.from(publicKey(seed)).toString('hex');

function input(id: number, seed: number, overrides: Record<string, unknown> = {}) {
  return {
    id,
    publicKey: hex(seed),
    nickname: `acct-${id}`,
    status: 'normal' as const,
    hardQuotaBytes: null,
    softQuotaBytes: null,
    createdAt: 1_700_000_000 + id,
    attributes: {},
    ...overrides,
  };
}

describeEachDialect('restoring accounts', (dialect) => {
  it('restoreAccount() creates a missing account with its id and state; new ids come after it', async () => {
    const clock = manualClock(1_800_000_000);
    const db = await dialect.open({ now: clock.now });
    const result = await db.restoreAccount(
      input(7, 7, {
        status: 'frozen',
        hardQuotaBytes: 5000,
        softQuotaBytes: 4000,
        attributes: { 'lease-duration-seconds': '86400' },
        actor: 'crawler',
      }),
    );
    expect(result.outcome).toBe('created');
    expect(await db.getAccount(7)).toMatchObject({
      id: 7,
      publicKey: hex(7),
      nickname: 'acct-7',
      status: 'frozen',
      hardQuotaBytes: 5000,
      softQuotaBytes: 4000,
      createdAt: 1_700_000_007,
    });
    expect(await db.getAccountAttributes(7)).toEqual({ 'lease-duration-seconds': '86400' });
    expect(await db.getAccountUsage(7)).toEqual({ shares: 0, bytes: 0 });
    const [event] = await db.listEvents({ kinds: ['account-restored'] });
    expect(event).toMatchObject({ accountId: 7, actor: 'crawler' });
    // The id sequence moved past it: the next account is 8, not 2.
    const next = await db.createAccount({ publicKey: publicKey(100), nickname: 'new' });
    expect(next.id).toBe(8);
  });

  it('restoreAccount() sets an existing account to the recorded state, or leaves it as it is', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await db.setAccountAttribute(alice.id, 'stale', 'x');
    const recorded = input(alice.id, 1, {
      nickname: 'alice2',
      status: 'deleted',
      hardQuotaBytes: 10,
      softQuotaBytes: null,
      createdAt: alice.createdAt,
      attributes: { 'deleted-at': '123' },
    });
    expect((await db.restoreAccount(recorded)).outcome).toBe('updated');
    expect(await db.getAccount(alice.id)).toMatchObject({
      nickname: 'alice2',
      status: 'deleted',
      hardQuotaBytes: 10,
    });
    expect(await db.getAccountAttributes(alice.id)).toEqual({ 'deleted-at': '123' });
    expect((await db.restoreAccount(recorded)).outcome).toBe('unchanged');
    // The built-in accounts exist always: their state is restored in place.
    const anonymous = {
      ...input(0, 0, { nickname: 'anonymous', createdAt: 0, hardQuotaBytes: 99 }),
      publicKey: null,
    };
    expect((await db.restoreAccount(anonymous)).outcome).toBe('updated');
    expect((await db.getAccount(0))?.hardQuotaBytes).toBe(99);
  });

  it('restoreAccount() never moves a key to another id nor another key to an id', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const conflict = async (promise: Promise<unknown>) => {
      const error = await promise.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseDbError);
      return [(error as LeaseDbError).code, (error as LeaseDbError).details.conflict];
    };
    // Alice's id, someone else's key.
    expect(await conflict(db.restoreAccount(input(alice.id, 2)))).toEqual(['ACCOUNT_EXISTS', 'id']);
    // Alice's key, another id.
    expect(await conflict(db.restoreAccount(input(9, 1)))).toEqual(['ACCOUNT_EXISTS', 'key']);
    expect(await db.getAccount(9)).toBeUndefined();
    expect(await db.getAccount(alice.id)).toMatchObject({ publicKey: hex(1), nickname: 'alice' });
    await expect(db.restoreAccount({ ...input(5, 5), publicKey: null })).rejects.toThrow(TypeError);
  });

  it('reserveAccountIds() moves the id sequence forward, never back, also across a reopen', async () => {
    const location = await dialect.location();
    let db = await location.open();
    await db.reserveAccountIds(41);
    expect((await db.createAccount({ publicKey: publicKey(1), nickname: 'a' })).id).toBe(42);
    await db.reserveAccountIds(10);
    expect((await db.createAccount({ publicKey: publicKey(2), nickname: 'b' })).id).toBe(43);
    await db.close();
    db = await location.open();
    expect((await db.createAccount({ publicKey: publicKey(3), nickname: 'c' })).id).toBe(44);
  });
});
