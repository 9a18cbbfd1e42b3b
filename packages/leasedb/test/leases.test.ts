import { expect, it } from 'vitest';
import { hashLeaseSecret } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

const SI = storageIndex(1);
const OTHER = storageIndex(2);
const DAY = 86_400;

describeEachDialect('leases', (dialect) => {
  async function setup(policy = {}) {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now, policy });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const bob = await db.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    // Three stable shares of 1000 bytes on SI, uploaded by alice; one on OTHER.
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [0, 1, 2].map((shnum) => ({ shnum, usedBytes: 1000 })),
    });
    for (const shnum of [0, 1, 2]) await db.markStable(SI, shnum, 1000);
    await db.adoptShare({
      storageIndex: OTHER,
      shnum: 0,
      sharetype: 'mutable',
      usedBytes: 50,
      leases: [],
    });
    return { clock, db, alice, bob };
  }

  it('addOrRenewLeases() without shnum adds a lease on every share of the index', async () => {
    const { db, bob, clock } = await setup();
    expect(
      await db.addOrRenewLeases({
        storageIndex: SI,
        accountId: bob.id,
        renewSecret: new Uint8Array(32).fill(1),
      }),
    ).toEqual({ added: 3, renewed: 0 });
    const bobs = (await db.listLeases(SI)).filter((l) => l.accountId === bob.id);
    expect(bobs.map((l) => [l.shnum, l.expiresAt, l.renewSecretHash])).toEqual([
      [0, clock.now() + 31 * DAY, hashLeaseSecret(new Uint8Array(32).fill(1))],
      [1, clock.now() + 31 * DAY, hashLeaseSecret(new Uint8Array(32).fill(1))],
      [2, clock.now() + 31 * DAY, hashLeaseSecret(new Uint8Array(32).fill(1))],
    ]);
    // Each leaseholder counts every share it leases, whole.
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 3, bytes: 3000 });
    expect(await db.getServerUsage()).toEqual({ shares: 4, bytes: 3050 });
  });

  it('addOrRenewLeases() with a shnum touches only that share; a missing one is SHARE_NOT_FOUND', async () => {
    const { db, bob } = await setup();
    expect(await db.addOrRenewLeases({ storageIndex: SI, shnum: 1, accountId: bob.id })).toEqual({
      added: 1,
      renewed: 0,
    });
    expect(
      (await db.listLeases(SI)).filter((l) => l.accountId === bob.id).map((l) => l.shnum),
    ).toEqual([1]);
    expect(
      await outcome(db.addOrRenewLeases({ storageIndex: SI, shnum: 9, accountId: bob.id })),
    ).toBe('SHARE_NOT_FOUND');
  });

  it('addOrRenewLeases() with stableOnly leaves a share still uploading as it is', async () => {
    const { db, alice, bob, clock } = await setup();
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 5, usedBytes: 1000 }],
    });
    const uploading = await db.listLeases(SI, 5);
    clock.advance(DAY);
    expect(
      await db.addOrRenewLeases({ storageIndex: SI, accountId: alice.id, stableOnly: true }),
    ).toEqual({ added: 0, renewed: 3 });
    expect(await db.listLeases(SI, 5)).toEqual(uploading);
    expect((await db.getShare(SI, 5))?.leaseExpiresAt).toBe(uploading[0]!.expiresAt);
    expect(
      await db.addOrRenewLeases({ storageIndex: SI, accountId: bob.id, stableOnly: true }),
    ).toEqual({ added: 3, renewed: 0 });
    expect(
      await outcome(
        db.addOrRenewLeases({ storageIndex: SI, shnum: 5, accountId: bob.id, stableOnly: true }),
      ),
    ).toBe('SHARE_NOT_FOUND');
    // Without it, the upload's lease is renewed too.
    expect(await db.addOrRenewLeases({ storageIndex: SI, accountId: alice.id })).toEqual({
      added: 0,
      renewed: 4,
    });
    expect((await db.listLeases(SI, 5))[0]?.renewedAt).toBe(clock.now());
  });

  it('addOrRenewLeases() on an index with no share does nothing and says so', async () => {
    const { db, bob } = await setup();
    expect(await db.addOrRenewLeases({ storageIndex: storageIndex(3), accountId: bob.id })).toEqual(
      { added: 0, renewed: 0 },
    );
    expect(await db.listLeases(storageIndex(3))).toEqual([]);
  });

  it('renewal extends to now + duration but never shortens a lease', async () => {
    const { db, alice, clock } = await setup();
    const start = clock.now();
    clock.advance(10 * DAY);
    expect(await db.addOrRenewLeases({ storageIndex: SI, accountId: alice.id })).toEqual({
      added: 0,
      renewed: 3,
    });
    let lease = (await db.listLeases(SI, 0))[0]!;
    expect([lease.renewedAt, lease.expiresAt]).toEqual([start + 10 * DAY, start + 41 * DAY]);
    // A shorter request later leaves the expiry where it was (renewal time still moves).
    clock.advance(DAY);
    await db.addOrRenewLeases({
      storageIndex: SI,
      shnum: 0,
      accountId: alice.id,
      durationSeconds: DAY,
    });
    lease = (await db.listLeases(SI, 0))[0]!;
    expect([lease.renewedAt, lease.expiresAt]).toEqual([start + 11 * DAY, start + 41 * DAY]);
    // Renewing adds no usage: the account already counted these shares.
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 3, bytes: 3000 });
    expect((await db.getShare(SI, 0))?.leaseExpiresAt).toBe(start + 41 * DAY);
  });

  it('the starter account gets 60-day leases; the policy sets both durations', async () => {
    const { db, clock } = await setup({
      leaseDurationSeconds: 7 * DAY,
      starterLeaseDurationSeconds: 90 * DAY,
    });
    await db.addOrRenewLeases({ storageIndex: OTHER, accountId: 1 });
    await db.addOrRenewLeases({ storageIndex: OTHER, accountId: 0 });
    const leases = await db.listLeases(OTHER);
    expect(leases.map((l) => [l.accountId, l.expiresAt - clock.now()])).toEqual([
      [0, 7 * DAY],
      [1, 90 * DAY],
    ]);
    expect(db.policy.leaseDurationSeconds).toBe(7 * DAY);
  });

  it('lease durations outside the policy are refused', async () => {
    const { db, bob } = await setup({ maxLeaseDurationSeconds: 365 * DAY });
    expect(
      await outcome(
        db.addOrRenewLeases({ storageIndex: SI, accountId: bob.id, durationSeconds: 366 * DAY }),
      ),
    ).toBe('RangeError');
    expect(
      await outcome(
        db.addOrRenewLeases({ storageIndex: SI, accountId: bob.id, durationSeconds: -1 }),
      ),
    ).toBe('RangeError');
    expect(await outcome(db.addOrRenewLeases({ storageIndex: SI, accountId: 404 }))).toBe(
      'UNKNOWN_ACCOUNT',
    );
    expect(await outcome(db.addOrRenewLeases({ storageIndex: 'nope', accountId: bob.id }))).toBe(
      'TypeError',
    );
    expect((await db.listLeases(SI)).length).toBe(3);
    await expect(dialect.open({ policy: { leaseDurationSeconds: 0 } })).rejects.toThrow(RangeError);
  });

  it('a GOING share gets no new lease', async () => {
    const { db, bob } = await setup();
    await db.markGoing(OTHER, 0);
    expect(await db.addOrRenewLeases({ storageIndex: OTHER, accountId: bob.id })).toEqual({
      added: 0,
      renewed: 0,
    });
    expect(
      await outcome(db.addOrRenewLeases({ storageIndex: OTHER, shnum: 0, accountId: bob.id })),
    ).toBe('SHARE_NOT_FOUND');
  });

  it('expireLeases(t) removes exactly the leases expiring before t, returns them and fixes usage', async () => {
    const { db, alice, bob, clock } = await setup();
    const t0 = clock.now();
    clock.advance(5 * DAY);
    await db.addOrRenewLeases({ storageIndex: SI, shnum: 2, accountId: bob.id });
    await db.addOrRenewLeases({ storageIndex: OTHER, accountId: bob.id, durationSeconds: DAY });
    // alice's leases end at t0+31d; bob's at t0+36d (SI/2) and t0+6d (OTHER).
    expect(await db.expireLeases(t0 + 6 * DAY)).toEqual([]);
    const expired = await db.expireLeases(t0 + 31 * DAY + 1);
    expect(expired.map((l) => [l.storageIndex, l.shnum, l.accountId, l.expiresAt]).sort()).toEqual(
      [
        [OTHER, 0, bob.id, t0 + 6 * DAY],
        [SI, 0, alice.id, t0 + 31 * DAY],
        [SI, 1, alice.id, t0 + 31 * DAY],
        [SI, 2, alice.id, t0 + 31 * DAY],
      ].sort(),
    );
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 1000 });
    // Shares stay until deleted through GOING; the server total is unchanged.
    expect(await db.getServerUsage()).toEqual({ shares: 4, bytes: 3050 });
    const events = await db.listEvents({ kinds: ['leases-expired'] });
    expect(events.map((e) => [e.accountId, e.data.leases, e.data.bytes]).sort()).toEqual(
      [
        [alice.id, 3, 3000],
        [bob.id, 1, 50],
      ].sort(),
    );
    expect(await db.checkUsage()).toEqual([]);
  });

  it('listUnleasedShares() lists STABLE shares with no lease, and honours a grace period', async () => {
    const { db, alice, clock } = await setup();
    const t0 = clock.now();
    // OTHER/0 was adopted with no lease and never had one.
    expect((await db.listUnleasedShares()).map((s) => `${s.storageIndex}/${s.shnum}`)).toEqual([
      `${OTHER}/0`,
    ]);
    await db.expireLeases(t0 + 32 * DAY);
    const all = await db.listUnleasedShares();
    expect(all.map((s) => `${s.storageIndex}/${s.shnum}`)).toEqual([
      `${OTHER}/0`,
      `${SI}/0`,
      `${SI}/1`,
      `${SI}/2`,
    ]);
    // Only shares whose last lease ended before the cutoff (one day after alice's expiry here).
    const graced = await db.listUnleasedShares({ leaseExpiredBefore: t0 + 31 * DAY });
    expect(graced.map((s) => s.storageIndex)).toEqual([OTHER]);
    expect((await db.listUnleasedShares({ limit: 2 })).length).toBe(2);
    // A COMING share is never a deletion candidate, even unleased.
    await db.addComingShares({
      storageIndex: storageIndex(9),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 1 }],
    });
    await db.expireLeases(t0 + 1000 * DAY);
    expect((await db.listUnleasedShares()).some((s) => s.state !== 'stable')).toBe(false);
  });

  it('expireLeases() across more accounts than one statement takes keeps every total right', async () => {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now });
    const ids = await db.transaction(async (tx) => {
      const created: number[] = [];
      for (let i = 0; i < 1100; i++) {
        created.push(
          (await tx.createAccount({ publicKey: publicKey(1000 + i), nickname: `n${i}` })).id,
        );
      }
      await tx.adoptShare({
        storageIndex: SI,
        shnum: 0,
        sharetype: 'immutable',
        usedBytes: 7,
        leases: created.map((accountId, i) => ({
          accountId,
          expiresAt: clock.now() + (i % 2 ? 10 : 1000),
        })),
      });
      return created;
    });
    const expired = await db.expireLeases(clock.now() + 100);
    expect(expired.length).toBe(550);
    for (const [i, id] of ids.entries()) {
      expect(await db.getAccountUsage(id)).toEqual(
        i % 2 ? { shares: 0, bytes: 0 } : { shares: 1, bytes: 7 },
      );
    }
    expect((await db.listEvents({ kinds: ['leases-expired'], limit: 2000 })).length).toBe(550);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('a renewal that races an expiry is not lost', async () => {
    const { db, alice, clock } = await setup();
    const t0 = clock.now();
    clock.advance(31 * DAY + 1);
    // Expiry and renewal of the same leases at once: whichever runs first, the renewal stands.
    const [expired, renewed] = await Promise.all([
      db.expireLeases(t0 + 31 * DAY + 1),
      db.addOrRenewLeases({ storageIndex: SI, accountId: alice.id }),
    ]);
    expect(renewed.added + renewed.renewed).toBe(3);
    expect(expired.length === 0 || expired.length === 3).toBe(true);
    const leases = await db.listLeases(SI);
    expect(leases.map((l) => l.expiresAt)).toEqual([1, 2, 3].map(() => clock.now() + 31 * DAY));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 3, bytes: 3000 });
    expect(await db.checkUsage()).toEqual([]);
  });
});

describeEachDialect('account deletion and request nonces', (dialect) => {
  it('dropAccountLeases() removes a batch, releases the usage and reports leases left', async () => {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const bob = await db.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [0, 1, 2].map((shnum) => ({ shnum, usedBytes: 1000 })),
    });
    for (const shnum of [0, 1, 2]) await db.markStable(SI, shnum, 1000);
    await db.addOrRenewLeases({ storageIndex: SI, shnum: 1, accountId: bob.id });

    const first = await db.dropAccountLeases(alice.id, 2, { actor: 'operator' });
    expect(first).toEqual([
      { storageIndex: SI, shnum: 0, remainingLeases: 0 },
      { storageIndex: SI, shnum: 1, remainingLeases: 1 },
    ]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 1000 });
    expect(await db.dropAccountLeases(alice.id, 2)).toEqual([
      { storageIndex: SI, shnum: 2, remainingLeases: 0 },
    ]);
    expect(await db.dropAccountLeases(alice.id, 2)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 1000 });
    expect(await db.checkUsage()).toEqual([]);
    const events = await db.listEvents({ kinds: ['leases-dropped'] });
    expect(events.map((e) => [e.accountId, e.actor, e.data])).toEqual([
      [alice.id, 'operator', { leases: 2, bytes: 2000 }],
      [alice.id, null, { leases: 1, bytes: 1000 }],
    ]);
  });

  it('claimNonce() accepts a nonce once and forgets those older than the window', async () => {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now });
    const start = clock.now();
    expect(await db.claimNonce('aa', start - 300)).toBe(true);
    expect(await db.claimNonce('aa', start - 300)).toBe(false);
    expect(await db.claimNonce('bb', start - 300)).toBe(true);
    clock.advance(301);
    // 'aa' was seen more than 300 s ago: forgotten, because a request that old is refused anyway.
    expect(await db.claimNonce('aa', clock.now() - 300)).toBe(true);
  });
});

describeEachDialect('shares by state', (dialect) => {
  it('countSharesByState() counts shares and bytes of each state in the database', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect(await db.countSharesByState()).toEqual({
      coming: { shares: 0, bytes: 0 },
      stable: { shares: 0, bytes: 0 },
      going: { shares: 0, bytes: 0 },
    });
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [0, 1, 2].map((shnum) => ({ shnum, usedBytes: 100 })),
    });
    await db.markStable(SI, 0, 100);
    await db.markStable(SI, 1, 90);
    await db.markGoing(SI, 1, { dropLeases: true });
    expect(await db.countSharesByState()).toEqual({
      coming: { shares: 1, bytes: 100 },
      stable: { shares: 1, bytes: 100 },
      going: { shares: 1, bytes: 90 },
    });
  });
});
