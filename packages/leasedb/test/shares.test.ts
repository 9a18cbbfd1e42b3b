import { expect, it } from 'vitest';
import { hashLeaseSecret, type LeaseDb } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

const SI = storageIndex(1);
const RENEW = new Uint8Array(32).fill(7);
const CANCEL = new Uint8Array(32).fill(9);
const DAY = 86_400;

/** Everything observable about one storage index, to show that a refused call changed nothing. */
async function snapshot(db: LeaseDb, si = SI) {
  return {
    shares: await db.listShares(si),
    leases: await db.listLeases(si),
    server: await db.getServerUsage(),
    usage: (await db.listAccounts()).accounts.map((a) => a.usage),
  };
}

describeEachDialect('share state machine', (dialect) => {
  async function setup() {
    const clock = manualClock();
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    return { clock, db, alice };
  }

  it('NONE → COMING → STABLE → GOING → NONE, with usage following each step', async () => {
    const { db, alice, clock } = await setup();
    const coming = await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [
        { shnum: 0, usedBytes: 1000 },
        { shnum: 3, usedBytes: 1000 },
      ],
      renewSecret: RENEW,
      cancelSecret: CANCEL,
    });
    expect(coming.map((s) => [s.shnum, s.state, s.usedBytes, s.ownerAccountId, s.prefix])).toEqual([
      [0, 'coming', 1000, alice.id, SI.slice(0, 2)],
      [3, 'coming', 1000, alice.id, SI.slice(0, 2)],
    ]);
    // A COMING share counts as leased, and its allocation counts against the uploader.
    expect(await db.listLeases(SI)).toEqual([
      {
        storageIndex: SI,
        shnum: 0,
        accountId: alice.id,
        renewedAt: clock.now(),
        expiresAt: clock.now() + 31 * DAY,
        renewSecretHash: hashLeaseSecret(RENEW),
        cancelSecretHash: hashLeaseSecret(CANCEL),
      },
      expect.objectContaining({ shnum: 3, accountId: alice.id }),
    ]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 2000 });

    // The stored size may differ from the allocation; usage follows it.
    const stable = await db.markStable(SI, 0, 900);
    expect([stable.state, stable.usedBytes]).toEqual(['stable', 900]);
    await db.markStable(SI, 3, 900);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 1800 });
    expect(await db.getServerUsage()).toEqual({ shares: 2, bytes: 1800 });

    await db.markGoing(SI, 0, { dropLeases: true });
    expect((await db.getShare(SI, 0))?.state).toBe('going');
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 900 });
    await db.removeGoing(SI, 0, { actor: 'crawler' });
    expect(await db.getShare(SI, 0)).toBeUndefined();
    expect(await db.getServerUsage()).toEqual({ shares: 1, bytes: 900 });
    expect(await db.checkUsage()).toEqual([]);
    const kinds = (await db.listEvents({ accountId: alice.id })).map((e) => [
      e.kind,
      e.shnum,
      e.actor,
    ]);
    expect(kinds).toEqual([
      ['account-created', null, null],
      ['share-stored', 0, null],
      ['share-stored', 3, null],
      ['share-deleted', 0, 'crawler'],
    ]);
  });

  it('markStable() refuses a share larger than its allocation: quota is never passed after the fact', async () => {
    const { db, alice } = await setup();
    await db.setAccountQuota(alice.id, { hardQuotaBytes: 1000, softQuotaBytes: null });
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 1000 }],
    });
    const before = await snapshot(db);
    expect(await outcome(db.markStable(SI, 0, 50_000))).toBe('RangeError');
    expect(await snapshot(db)).toEqual(before);
    expect((await db.markStable(SI, 0, 1000)).state).toBe('stable');
  });

  it('listComingShares() finds uploads left behind, oldest first, so they can be aborted', async () => {
    const { db, alice, clock } = await setup();
    const upload = (seed: number) =>
      db.addComingShares({
        storageIndex: storageIndex(seed),
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [{ shnum: 0, usedBytes: 10 }],
      });
    await upload(10);
    clock.advance(3600);
    await upload(11);
    await upload(12);
    await db.markStable(storageIndex(12), 0, 10);
    const stale = await db.listComingShares({ updatedBefore: clock.now() - 1800 });
    expect(stale.map((s) => s.storageIndex)).toEqual([storageIndex(10)]);
    expect((await db.listComingShares()).map((s) => s.storageIndex)).toEqual([
      storageIndex(10),
      storageIndex(11),
    ]);
    for (const share of stale) await db.abortComing(share.storageIndex, share.shnum);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 20 });
    expect(await outcome(db.listComingShares({ updatedBefore: -1 }))).toBe('RangeError');
  });

  it('abortComing() removes the COMING row and its lease and gives the bytes back', async () => {
    const { db, alice } = await setup();
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 1, usedBytes: 500 }],
    });
    await db.abortComing(SI, 1);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.listLeases(SI)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
    // Aborting is not storing: no share event.
    expect((await db.listEvents({ kinds: ['share-stored'] })).length).toBe(0);
  });

  it('a failed delete goes GOING → STABLE and the share can be queued again', async () => {
    const { db } = await setup();
    await db.adoptShare({
      storageIndex: SI,
      shnum: 2,
      sharetype: 'mutable',
      usedBytes: 300,
      leases: [],
    });
    await db.markGoing(SI, 2);
    const back = await db.returnToStable(SI, 2);
    expect(back.state).toBe('stable');
    expect((await db.markGoing(SI, 2)).state).toBe('going');
  });

  it('adoptShare() enters STABLE directly, with a starter lease of 60 days by default', async () => {
    const { db, clock } = await setup();
    const share = await db.adoptShare({
      storageIndex: SI,
      shnum: 4,
      sharetype: 'immutable',
      usedBytes: 4096,
    });
    expect(share.state).toBe('stable');
    expect(share.ownerAccountId).toBeNull();
    expect(await db.listLeases(SI)).toEqual([
      expect.objectContaining({ shnum: 4, accountId: 1, expiresAt: clock.now() + 60 * DAY }),
    ]);
    expect(await db.getAccountUsage(1)).toEqual({ shares: 1, bytes: 4096 });
  });

  it('adoptShare() keeps the leases found in a share file, for every owner given', async () => {
    const { db, alice } = await setup();
    await db.adoptShare({
      storageIndex: SI,
      shnum: 0,
      sharetype: 'mutable',
      usedBytes: 100,
      ownerAccountId: alice.id,
      leases: [
        {
          accountId: 0,
          expiresAt: 1_700_100_000,
          renewedAt: 1_699_000_000,
          renewSecretHash: 'ab'.repeat(32),
        },
        { accountId: alice.id, expiresAt: 1_700_200_000 },
      ],
    });
    const leases = await db.listLeases(SI, 0);
    expect(leases.map((l) => [l.accountId, l.expiresAt, l.renewSecretHash])).toEqual([
      [0, 1_700_100_000, 'ab'.repeat(32)],
      [alice.id, 1_700_200_000, null],
    ]);
    expect((await db.getShare(SI, 0))?.leaseExpiresAt).toBe(1_700_200_000);
    expect(await db.getAccountUsage(0)).toEqual({ shares: 1, bytes: 100 });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 100 });
    expect(await db.getServerUsage()).toEqual({ shares: 1, bytes: 100 });
    expect(
      await outcome(
        db.adoptShare({
          storageIndex: storageIndex(2),
          shnum: 0,
          sharetype: 'mutable',
          usedBytes: 1,
          leases: [{ accountId: 77, expiresAt: 1 }],
        }),
      ),
    ).toBe('UNKNOWN_ACCOUNT');
    expect(await db.listShares(storageIndex(2))).toEqual([]);
  });

  it('adoptShares() adopts a batch across indexes and accounts, with the totals of one by one', async () => {
    const { db, alice, clock } = await setup();
    const adopted = await db.adoptShares([
      { storageIndex: SI, shnum: 0, sharetype: 'immutable', usedBytes: 100 },
      {
        storageIndex: SI,
        shnum: 1,
        sharetype: 'immutable',
        usedBytes: 200,
        ownerAccountId: alice.id,
        leases: [{ accountId: alice.id, expiresAt: 1_800_000_000 }],
      },
      {
        storageIndex: storageIndex(2),
        shnum: 5,
        sharetype: 'mutable',
        usedBytes: 300,
        leases: [
          { accountId: 0, expiresAt: 1_750_000_000, renewSecretHash: 'cd'.repeat(32) },
          { accountId: alice.id, expiresAt: 1_760_000_000 },
        ],
      },
      { storageIndex: storageIndex(3), shnum: 0, sharetype: 'mutable', usedBytes: 7, leases: [] },
    ]);
    expect(adopted.map((share) => [share.storageIndex, share.shnum, share.state])).toEqual([
      [SI, 0, 'stable'],
      [SI, 1, 'stable'],
      [storageIndex(2), 5, 'stable'],
      [storageIndex(3), 0, 'stable'],
    ]);
    for (const share of adopted)
      expect(await db.getShare(share.storageIndex, share.shnum)).toEqual(share);
    expect(adopted[0]!.leaseExpiresAt).toBe(clock.now() + 60 * DAY);
    expect(adopted[2]!.leaseExpiresAt).toBe(1_760_000_000);
    expect(adopted[3]!.leaseExpiresAt).toBeNull();
    expect(adopted[1]!.ownerAccountId).toBe(alice.id);
    expect(await db.getAccountUsage(1)).toEqual({ shares: 1, bytes: 100 });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 500 });
    expect(await db.getAccountUsage(0)).toEqual({ shares: 1, bytes: 300 });
    expect(await db.getServerUsage()).toEqual({ shares: 4, bytes: 607 });
    expect((await db.listLeases(storageIndex(2), 5)).map((l) => l.renewSecretHash)).toEqual([
      'cd'.repeat(32),
      null,
    ]);
    expect(await db.checkUsage()).toEqual([]);
    expect(await db.adoptShares([])).toEqual([]);
  });

  it('adoptShares() writes nothing when one share of the batch is known, repeated or unknown-owned', async () => {
    const { db, alice } = await setup();
    await db.adoptShare({ storageIndex: SI, shnum: 3, sharetype: 'immutable', usedBytes: 10 });
    const before = {
      one: await snapshot(db),
      two: await snapshot(db, storageIndex(2)),
      events: await db.listEvents(),
    };
    const fresh = {
      storageIndex: storageIndex(2),
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: 5,
    } as const;
    const known = { storageIndex: SI, shnum: 3, sharetype: 'immutable', usedBytes: 10 } as const;
    const refused = async (batch: Parameters<LeaseDb['adoptShares']>[0]) => {
      const result = await outcome(db.adoptShares(batch));
      expect({
        one: await snapshot(db),
        two: await snapshot(db, storageIndex(2)),
        events: await db.listEvents(),
      }).toEqual(before);
      return result;
    };
    expect(await refused([fresh, known])).toBe('INVALID_STATE_TRANSITION');
    await expect(db.adoptShares([fresh, { ...fresh, usedBytes: 6 }])).rejects.toThrow(
      /adopted twice/,
    );
    expect(
      await refused([
        fresh,
        { ...known, shnum: 4, leases: [{ accountId: alice.id + 50, expiresAt: 1 }] },
      ]),
    ).toBe('UNKNOWN_ACCOUNT');
    expect(await refused([fresh, { ...known, shnum: 4, ownerAccountId: 999 }])).toBe(
      'UNKNOWN_ACCOUNT',
    );
    await expect(db.adoptShares([fresh, { ...known, shnum: 256 }])).rejects.toThrow(RangeError);
    expect(await snapshot(db, storageIndex(2))).toEqual(before.two);
  });

  it('appendEvents() appends every event in the order given', async () => {
    const { db, alice } = await setup();
    await db.appendEvents([
      { kind: 'notice', actor: 'crawler', data: { n: 1 } },
      {
        kind: 'notice',
        actor: 'crawler',
        accountId: alice.id,
        storageIndex: SI,
        shnum: 2,
        data: { n: 2 },
      },
      { kind: 'notice', actor: 'crawler', data: { n: 3 } },
    ]);
    const events = await db.listEvents({ kinds: ['notice'] });
    expect(events.map((e) => e.data['n']).sort()).toEqual([1, 2, 3]);
    const ids = Object.fromEntries(events.map((e) => [e.data['n'] as number, e.id]));
    expect(ids[1]! < ids[2]! && ids[2]! < ids[3]!).toBe(true);
    expect(events.find((e) => e.data['n'] === 2)).toMatchObject({
      accountId: alice.id,
      storageIndex: SI,
      shnum: 2,
    });
    await db.appendEvents([]);
    expect(await db.listEvents({ kinds: ['notice'] })).toHaveLength(3);
  });

  it('setUsedSpace() follows a mutable rewrite for every leaseholder, growing or shrinking', async () => {
    const { db, alice } = await setup();
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'mutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 100 }],
    });
    await db.markStable(SI, 0, 100);
    await db.addOrRenewLeases({ storageIndex: SI, accountId: 0 });
    await db.setUsedSpace(SI, 0, 5000);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 5000 });
    expect(await db.getAccountUsage(0)).toEqual({ shares: 1, bytes: 5000 });
    const shrunk = await db.setUsedSpace(SI, 0, 10);
    expect([shrunk.state, shrunk.usedBytes]).toEqual(['stable', 10]);
    expect(await db.getAccountUsage(0)).toEqual({ shares: 1, bytes: 10 });
    expect(await db.getServerUsage()).toEqual({ shares: 1, bytes: 10 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('setUsedSpace() with enforceQuotaFor refuses growth past the hard quota and changes nothing', async () => {
    const { db, alice } = await setup();
    await db.setAccountQuota(alice.id, { hardQuotaBytes: 1000, softQuotaBytes: null });
    await db.addComingShares({
      storageIndex: SI,
      sharetype: 'mutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 600 }],
    });
    await db.markStable(SI, 0, 600);
    const before = await snapshot(db);
    expect(await outcome(db.setUsedSpace(SI, 0, 1001, { enforceQuotaFor: alice.id }))).toBe(
      'QUOTA_EXCEEDED',
    );
    expect(await snapshot(db)).toEqual(before);
    await db.setUsedSpace(SI, 0, 1000, { enforceQuotaFor: alice.id });
    // Shrinking is always allowed, even over quota.
    await db.setAccountQuota(alice.id, { hardQuotaBytes: 10, softQuotaBytes: null });
    await db.setUsedSpace(SI, 0, 500, { enforceQuotaFor: alice.id });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 500 });
  });

  it('markGoing() refuses a share that still has leases with SHARE_LEASED', async () => {
    const { db } = await setup();
    await db.adoptShare({ storageIndex: SI, shnum: 0, sharetype: 'immutable', usedBytes: 10 });
    const before = await snapshot(db);
    expect(await outcome(db.markGoing(SI, 0))).toBe('SHARE_LEASED');
    expect(await snapshot(db)).toEqual(before);
  });

  it('removeVanished() takes a STABLE share and its leases away and logs it', async () => {
    const { db, alice } = await setup();
    await db.adoptShare({
      storageIndex: SI,
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: 10,
      ownerAccountId: alice.id,
      leases: [{ accountId: alice.id, expiresAt: 2_000_000_000 }],
    });
    await db.removeVanished(SI, 0, { actor: 'crawler' });
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    const [event] = await db.listEvents({ kinds: ['share-vanished'] });
    expect(event).toMatchObject({
      accountId: alice.id,
      storageIndex: SI,
      shnum: 0,
      actor: 'crawler',
      data: { bytes: 10 },
    });
  });

  // Every transition that the state machine does not allow, from every state (NONE included).
  const illegal: [
    string,
    'none' | 'coming' | 'stable' | 'going',
    (db: LeaseDb, accountId: number) => Promise<unknown>,
  ][] = [
    ['markStable from NONE', 'none', (db) => db.markStable(SI, 0, 1)],
    ['abortComing from NONE', 'none', (db) => db.abortComing(SI, 0)],
    ['setUsedSpace from NONE', 'none', (db) => db.setUsedSpace(SI, 0, 1)],
    ['markGoing from NONE', 'none', (db) => db.markGoing(SI, 0)],
    ['returnToStable from NONE', 'none', (db) => db.returnToStable(SI, 0)],
    ['removeGoing from NONE', 'none', (db) => db.removeGoing(SI, 0)],
    ['removeVanished from NONE', 'none', (db) => db.removeVanished(SI, 0)],
    [
      'addComingShares over COMING',
      'coming',
      (db, a) =>
        db.addComingShares({
          storageIndex: SI,
          sharetype: 'immutable',
          accountId: a,
          shares: [{ shnum: 0, usedBytes: 1 }],
        }),
    ],
    [
      'adoptShare over COMING',
      'coming',
      (db) => db.adoptShare({ storageIndex: SI, shnum: 0, sharetype: 'immutable', usedBytes: 1 }),
    ],
    ['setUsedSpace on COMING', 'coming', (db) => db.setUsedSpace(SI, 0, 5)],
    ['markGoing from COMING', 'coming', (db) => db.markGoing(SI, 0, { dropLeases: true })],
    ['returnToStable from COMING', 'coming', (db) => db.returnToStable(SI, 0)],
    ['removeGoing from COMING', 'coming', (db) => db.removeGoing(SI, 0)],
    ['removeVanished from COMING', 'coming', (db) => db.removeVanished(SI, 0)],
    [
      'addComingShares over STABLE',
      'stable',
      (db, a) =>
        db.addComingShares({
          storageIndex: SI,
          sharetype: 'immutable',
          accountId: a,
          shares: [{ shnum: 0, usedBytes: 1 }],
        }),
    ],
    [
      'adoptShare over STABLE',
      'stable',
      (db) => db.adoptShare({ storageIndex: SI, shnum: 0, sharetype: 'immutable', usedBytes: 1 }),
    ],
    ['markStable from STABLE', 'stable', (db) => db.markStable(SI, 0, 1)],
    ['abortComing from STABLE', 'stable', (db) => db.abortComing(SI, 0)],
    ['returnToStable from STABLE', 'stable', (db) => db.returnToStable(SI, 0)],
    ['removeGoing from STABLE', 'stable', (db) => db.removeGoing(SI, 0)],
    [
      'addComingShares over GOING (nothing re-creates a GOING share)',
      'going',
      (db, a) =>
        db.addComingShares({
          storageIndex: SI,
          sharetype: 'immutable',
          accountId: a,
          shares: [{ shnum: 0, usedBytes: 1 }],
        }),
    ],
    [
      'adoptShare over GOING',
      'going',
      (db) => db.adoptShare({ storageIndex: SI, shnum: 0, sharetype: 'immutable', usedBytes: 1 }),
    ],
    ['markStable from GOING', 'going', (db) => db.markStable(SI, 0, 1)],
    ['abortComing from GOING', 'going', (db) => db.abortComing(SI, 0)],
    ['setUsedSpace on GOING', 'going', (db) => db.setUsedSpace(SI, 0, 1)],
    ['markGoing from GOING', 'going', (db) => db.markGoing(SI, 0)],
    ['removeVanished from GOING', 'going', (db) => db.removeVanished(SI, 0)],
  ];

  it.each(illegal)(
    '%s throws INVALID_STATE_TRANSITION and changes nothing',
    async (_name, from, act) => {
      const { db, alice } = await setup();
      if (from !== 'none') {
        await db.addComingShares({
          storageIndex: SI,
          sharetype: 'immutable',
          accountId: alice.id,
          shares: [{ shnum: 0, usedBytes: 64 }],
        });
        if (from !== 'coming') await db.markStable(SI, 0, 64);
        if (from === 'going') await db.markGoing(SI, 0, { dropLeases: true });
      }
      const before = await snapshot(db);
      const eventsBefore = await db.listEvents();
      let error: unknown;
      try {
        await act(db, alice.id);
      } catch (caught) {
        error = caught;
      }
      expect(error).toMatchObject({
        name: 'LeaseDbError',
        code: 'INVALID_STATE_TRANSITION',
        details: { from },
      });
      expect(await snapshot(db)).toEqual(before);
      expect(await db.listEvents()).toEqual(eventsBefore);
    },
  );

  it('addComingShares() is all or nothing when one of the shares exists', async () => {
    const { db, alice } = await setup();
    await db.adoptShare({ storageIndex: SI, shnum: 5, sharetype: 'immutable', usedBytes: 1 });
    const before = await snapshot(db);
    const result = await outcome(
      db.addComingShares({
        storageIndex: SI,
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [
          { shnum: 4, usedBytes: 1 },
          { shnum: 5, usedBytes: 1 },
        ],
      }),
    );
    expect(result).toBe('INVALID_STATE_TRANSITION');
    expect(await snapshot(db)).toEqual(before);
  });

  it('bad input is refused before anything is written', async () => {
    const { db, alice } = await setup();
    const coming = (over: Record<string, unknown>) =>
      db.addComingShares({
        storageIndex: SI,
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [{ shnum: 0, usedBytes: 1 }],
        ...over,
      } as never);
    expect(await outcome(coming({ storageIndex: 'a'.repeat(25) }))).toBe('TypeError');
    expect(await outcome(coming({ storageIndex: 'A'.repeat(26) }))).toBe('TypeError');
    expect(await outcome(coming({ storageIndex: `${'a'.repeat(25)}b` }))).toBe('TypeError'); // non-canonical last digit
    expect(await outcome(coming({ storageIndex: '../../etc/passwd/aaaaaaaaa' }))).toBe('TypeError');
    expect(await outcome(coming({ shares: [{ shnum: 256, usedBytes: 1 }] }))).toBe('RangeError');
    expect(await outcome(coming({ shares: [{ shnum: -1, usedBytes: 1 }] }))).toBe('RangeError');
    expect(await outcome(coming({ shares: [{ shnum: 0.5, usedBytes: 1 }] }))).toBe('TypeError');
    expect(await outcome(coming({ shares: [{ shnum: 0, usedBytes: -5 }] }))).toBe('RangeError');
    expect(await outcome(coming({ shares: [] }))).toBe('TypeError');
    expect(
      await outcome(
        coming({
          shares: [
            { shnum: 1, usedBytes: 1 },
            { shnum: 1, usedBytes: 1 },
          ],
        }),
      ),
    ).toBe('TypeError');
    expect(await outcome(coming({ sharetype: 'directory' }))).toBe('TypeError');
    expect(await outcome(coming({ accountId: 99 }))).toBe('UNKNOWN_ACCOUNT');
    expect(await outcome(coming({ accountId: -1 }))).toBe('RangeError');
    expect(await outcome(coming({ leaseDurationSeconds: 0 }))).toBe('RangeError');
    expect(await outcome(db.markStable(SI, 0, -1))).toBe('RangeError');
    expect(await outcome(db.listSharesByPrefix('a'))).toBe('TypeError');
    expect(await outcome(db.getShare(SI, 300))).toBe('RangeError');
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
  });

  it('listSharesByPrefix() returns exactly the shares under one two-character prefix, in order', async () => {
    const { db } = await setup();
    const sis = [
      'aaaaaaaaaaaaaaaaaaaaaaaaaa',
      'aazzzzzzzzzzzzzzzzzzzzzzzq',
      'abaaaaaaaaaaaaaaaaaaaaaaaa',
      '77aaaaaaaaaaaaaaaaaaaaaaaa',
    ];
    for (const si of sis) {
      for (const shnum of [2, 0])
        await db.adoptShare({ storageIndex: si, shnum, sharetype: 'immutable', usedBytes: 1 });
    }
    const aa = await db.listSharesByPrefix('aa');
    expect(aa.map((s) => `${s.storageIndex}/${s.shnum}`)).toEqual([
      'aaaaaaaaaaaaaaaaaaaaaaaaaa/0',
      'aaaaaaaaaaaaaaaaaaaaaaaaaa/2',
      'aazzzzzzzzzzzzzzzzzzzzzzzq/0',
      'aazzzzzzzzzzzzzzzzzzzzzzzq/2',
    ]);
    expect((await db.listSharesByPrefix('77')).length).toBe(2);
    expect(await db.listSharesByPrefix('zz')).toEqual([]);
  });
});
