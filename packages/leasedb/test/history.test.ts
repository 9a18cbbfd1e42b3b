import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { UsageSample } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

const HOUR = 3600;

describeEachDialect('events', (dialect) => {
  it('listEvents() filters by time range, account and kind, and pages by id', async () => {
    const clock = manualClock(1_700_000_000);
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    clock.advance(100);
    await db.appendEvent({ kind: 'quota-warning', accountId: alice.id, data: { percent: 80 } });
    clock.advance(100);
    await db.appendEvent({ kind: 'notice', actor: 'op', data: { text: 'maintenance' } });
    await db.appendEvent({
      kind: 'share-corrupt',
      storageIndex: storageIndex(1),
      shnum: 3,
      at: 1_600_000_000,
    });

    const all = await db.listEvents();
    expect(all.map((e) => e.kind)).toEqual([
      'account-created',
      'quota-warning',
      'notice',
      'share-corrupt',
    ]);
    expect(all[3]).toMatchObject({
      at: 1_600_000_000,
      storageIndex: storageIndex(1),
      shnum: 3,
      accountId: null,
    });
    expect((await db.listEvents({ since: 1_700_000_100 })).map((e) => e.kind)).toEqual([
      'quota-warning',
      'notice',
    ]);
    expect(
      (await db.listEvents({ since: 1_700_000_000, until: 1_700_000_100 })).map((e) => e.kind),
    ).toEqual(['account-created']);
    expect((await db.listEvents({ accountId: alice.id })).map((e) => e.kind)).toEqual([
      'account-created',
      'quota-warning',
    ]);
    expect((await db.listEvents({ kinds: ['notice', 'share-corrupt'] })).length).toBe(2);
    expect(await db.listEvents({ kinds: [] })).toEqual([]);
    expect((await db.listEvents({ afterId: all[1]!.id })).map((e) => e.id)).toEqual([
      all[2]!.id,
      all[3]!.id,
    ]);
    expect((await db.listEvents({ order: 'desc', limit: 1 }))[0]!.id).toBe(all[3]!.id);
    // Paging back, newest first: the page before an id holds the ids just below it.
    expect(
      (await db.listEvents({ order: 'desc', beforeId: all[3]!.id, limit: 2 })).map((e) => e.id),
    ).toEqual([all[2]!.id, all[1]!.id]);
    expect(await db.listEvents({ beforeId: all[0]!.id })).toEqual([]);
    expect(all[1]!.data).toEqual({ percent: 80 });
    expect(await db.pruneEvents(1_700_000_000)).toBe(1);
    expect((await db.listEvents()).length).toBe(3);
  });

  it('appendEvent() refuses unknown kinds and malformed references', async () => {
    const db = await dialect.open();
    expect(await outcome(db.appendEvent({ kind: 'party' as 'notice' }))).toBe('TypeError');
    expect(await outcome(db.appendEvent({ kind: 'notice', storageIndex: 'x' }))).toBe('TypeError');
    expect(await outcome(db.appendEvent({ kind: 'notice', shnum: 999 }))).toBe('RangeError');
    expect(await outcome(db.listEvents({ limit: 0 }))).toBe('RangeError');
    expect(await outcome(db.listEvents({ since: 'abc' as unknown as number }))).toBe('TypeError');
    expect(await outcome(db.listEvents({ until: 1.5 }))).toBe('TypeError');
    expect(await outcome(db.listEvents({ afterId: Number.NaN }))).toBe('TypeError');
    expect(await outcome(db.listEvents({ order: 'sideways' as 'asc' }))).toBe('TypeError');

    expect(await db.listEvents()).toEqual([]);
  });
});

/** The level in force at `t` in a changes-only series: its latest sample at or before `t`. */
function levelAt(samples: readonly UsageSample[], t: number): [number, number] | undefined {
  const sample = samples.findLast((s) => s.at <= t);
  return sample && [sample.shares, sample.bytes];
}

describeEachDialect('usage history', (dialect) => {
  it('snapshotUsage() writes an account in the hours its totals changed, the server every hour', async () => {
    const clock = manualClock(1_700_000_000 - (1_700_000_000 % HOUR));
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const hour0 = clock.now();
    await db.addComingShares({
      storageIndex: storageIndex(1),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 100 }],
    });
    expect(await db.snapshotUsage()).toBe(hour0);
    clock.advance(30 * 60);
    await db.addComingShares({
      storageIndex: storageIndex(2),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 50 }],
    });
    // Again in the same hour: the hour's sample is overwritten.
    await db.snapshotUsage();
    clock.advance(60 * 60);
    await db.abortComing(storageIndex(1), 0);
    expect(await db.snapshotUsage()).toBe(hour0 + HOUR);
    // Two idle hours: nothing for alice, an hourly row for the server.
    clock.advance(2 * HOUR);
    await db.snapshotUsage();
    expect(await db.getUsageHistory(alice.id)).toEqual([
      { at: hour0, shares: 2, bytes: 150 },
      { at: hour0 + HOUR, shares: 1, bytes: 50 },
    ]);
    expect(await db.getUsageHistory(alice.id, { from: hour0 + HOUR })).toEqual([
      { at: hour0 + HOUR, shares: 1, bytes: 50 },
    ]);
    // A range starts with the level in force at its start, dated at the start.
    expect(await db.getUsageHistory(alice.id, { from: hour0 + 1 })).toEqual([
      { at: hour0 + 1, shares: 2, bytes: 150 },
      { at: hour0 + HOUR, shares: 1, bytes: 50 },
    ]);
    expect(
      await db.getUsageHistory(alice.id, { from: hour0 + 3 * HOUR, to: hour0 + 4 * HOUR }),
    ).toEqual([{ at: hour0 + 3 * HOUR, shares: 1, bytes: 50 }]);
    expect(await db.getUsageHistory(alice.id, { to: hour0 + 1 })).toEqual([
      { at: hour0, shares: 2, bytes: 150 },
    ]);
    expect(await db.getUsageHistory(alice.id, { from: hour0 - 1, to: hour0 })).toEqual([]);
    expect(await db.getUsageHistory(alice.id, { from: hour0 + 5, to: hour0 + 5 })).toEqual([]);
    // The anonymous account never changed: one sample, from the first snapshot.
    expect(await db.getUsageHistory(0)).toEqual([{ at: hour0, shares: 0, bytes: 0 }]);
    expect(await db.getServerUsageHistory()).toEqual([
      { at: hour0, shares: 2, bytes: 150 },
      { at: hour0 + HOUR, shares: 1, bytes: 50 },
      { at: hour0 + 3 * HOUR, shares: 1, bytes: 50 },
    ]);
    expect(await db.getServerUsageHistory({ from: hour0 + 2 * HOUR })).toEqual([
      { at: hour0 + 2 * HOUR, shares: 1, bytes: 50 },
      { at: hour0 + 3 * HOUR, shares: 1, bytes: 50 },
    ]);
  });

  it('a change undone within the hour leaves no sample for that hour', async () => {
    const clock = manualClock(1_700_000_000 - (1_700_000_000 % HOUR));
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const hour0 = clock.now();
    await db.snapshotUsage();
    clock.advance(HOUR + 60);
    await db.addComingShares({
      storageIndex: storageIndex(1),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 100 }],
    });
    await db.snapshotUsage();
    expect(await db.getUsageHistory(alice.id)).toHaveLength(2);
    await db.abortComing(storageIndex(1), 0);
    clock.advance(60);
    await db.snapshotUsage();
    expect(await db.getUsageHistory(alice.id)).toEqual([{ at: hour0, shares: 0, bytes: 0 }]);
  });

  it('pruneUsageHistory() keeps the last sample of each day before the cut, all samples after', async () => {
    const DAY = 24 * HOUR;
    const day0 = 1_700_000_000 - (1_700_000_000 % DAY);
    const clock = manualClock(day0);
    const db = await dialect.open({ now: clock.now });
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const hours = Array.from({ length: 72 }, (_, i) => day0 + i * HOUR);
    // Alice's totals change every hour; the built-in accounts' never do.
    for (const [i, at] of hours.entries()) {
      await db.addComingShares({
        storageIndex: storageIndex(100 + i),
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [{ shnum: 0, usedBytes: 10 }],
      });
      await db.snapshotUsage(at);
    }
    const cut = day0 + 2 * DAY + 5 * HOUR;
    // Alice and the server: of the 53 hours before the cut, all but each day's last go (the
    // third day's last before the cut is 04:00). The built-in accounts have one sample each.
    expect(await db.pruneUsageHistory(cut)).toBe(2 * 50);
    const kept = [
      day0 + 23 * HOUR,
      day0 + DAY + 23 * HOUR,
      day0 + 2 * DAY + 4 * HOUR,
      ...hours.filter((at) => at >= cut),
    ];
    const aliceSamples = await db.getUsageHistory(alice.id);
    expect(aliceSamples.map((s) => s.at)).toEqual(kept);
    // The level at the end of each thinned day is still the one it had.
    expect(levelAt(aliceSamples, day0 + DAY - 1)).toEqual([24, 240]);
    expect(levelAt(aliceSamples, day0 + 2 * DAY - 1)).toEqual([48, 480]);
    expect((await db.getUsageHistory(0)).map((s) => s.at)).toEqual([day0]);
    expect((await db.getServerUsageHistory()).map((s) => s.at)).toEqual(kept);
    expect(await db.pruneUsageHistory(cut)).toBe(0);
    await expect(db.pruneUsageHistory(-1)).rejects.toThrow(RangeError);
  });

  it('property: the stored changes give the level of every snapshot, before and after pruning', async () => {
    type Step =
      | { op: 'add'; account: 0 | 1; size: number }
      | { op: 'drop'; account: 0 | 1 }
      | { op: 'snapshot'; advance: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        op: fc.constant('add' as const),
        account: fc.constantFrom(0 as const, 1 as const),
        size: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({
        op: fc.constant('drop' as const),
        account: fc.constantFrom(0 as const, 1 as const),
      }),
      // Up to three days, often less than an hour (a second snapshot in the same hour).
      fc.record({
        op: fc.constant('snapshot' as const),
        advance: fc.oneof(
          fc.integer({ min: 0, max: HOUR }),
          fc.integer({ min: 0, max: 3 * 86_400 }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), fc.nat(), async (steps, cutPick) => {
        const clock = manualClock(1_700_000_000);
        const db = await dialect.open({ now: clock.now });
        const ids = [
          (await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' })).id,
          (await db.createAccount({ publicKey: publicKey(2), nickname: 'bob' })).id,
        ];
        const held: number[][] = [[], []]; // each account's coming shares, by storage index seed
        // What every snapshot saw, hour by hour (a later snapshot in the same hour replaces it).
        const seen = ids.map(() => new Map<number, [number, number]>());
        let seed = 0;
        for (const s of steps) {
          if (s.op === 'add') {
            seed += 1;
            await db.addComingShares({
              storageIndex: storageIndex(seed),
              sharetype: 'immutable',
              accountId: ids[s.account]!,
              shares: [{ shnum: 0, usedBytes: s.size }],
            });
            held[s.account]!.push(seed);
          } else if (s.op === 'drop') {
            const gone = held[s.account]!.pop();
            if (gone !== undefined) await db.abortComing(storageIndex(gone), 0);
          } else {
            clock.advance(s.advance);
            const hour = await db.snapshotUsage();
            for (const [k, id] of ids.entries()) {
              const usage = (await db.getAccountUsage(id))!;
              seen[k]!.set(hour, [usage.shares, usage.bytes]);
            }
          }
        }
        const hours = [...new Set(seen.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
        for (const [k, id] of ids.entries()) {
          const stored = await db.getUsageHistory(id);
          // Changes only: no sample repeats the one before it.
          for (let i = 1; i < stored.length; i++) {
            expect([stored[i]!.shares, stored[i]!.bytes]).not.toEqual([
              stored[i - 1]!.shares,
              stored[i - 1]!.bytes,
            ]);
          }
          for (const hour of hours) expect(levelAt(stored, hour)).toEqual(seen[k]!.get(hour));
          // A range from any snapshot hour starts with that hour's level.
          if (hours.length > 0) {
            const from = hours[cutPick % hours.length]!;
            const first = (await db.getUsageHistory(id, { from }))[0];
            expect(first && [first.at, first.shares, first.bytes]).toEqual([
              from,
              ...seen[k]!.get(from)!,
            ]);
          }
        }
        if (hours.length === 0) return;
        // Pruning keeps the level at every snapshot from the cut on, and at every day's end.
        const cut = hours[cutPick % hours.length]!;
        await db.pruneUsageHistory(cut);
        for (const [k, id] of ids.entries()) {
          const stored = await db.getUsageHistory(id);
          const days = stored.filter((s) => s.at < cut).map((s) => Math.floor(s.at / 86_400));
          expect(new Set(days).size).toBe(days.length);
          for (const hour of hours) {
            const dayEnd = hour - (hour % 86_400) + 86_400 - 1;
            const checked = hour >= cut ? hour : Math.min(dayEnd, cut - 1);
            const expected = [...seen[k]!].filter(([h]) => h <= checked).at(-1)?.[1];
            expect(levelAt(stored, checked)).toEqual(expected);
          }
        }
      }),
      { numRuns: dialect.name === 'postgres' ? 15 : 50 },
    );
  });
});

describeEachDialect('crawler state', (dialect) => {
  it('saveCrawlerState() persists the position so that a new connection resumes from it', async () => {
    const clock = manualClock();
    const { open } = await dialect.location();
    const first = await open({ now: clock.now });
    expect(await first.getCrawlerState('accounting')).toBeUndefined();
    await first.saveCrawlerState({
      name: 'accounting',
      cycle: 3,
      position: 'ab',
      cycleStartedAt: 1_000,
      counters: { examined: 12 },
    });
    await first.saveCrawlerState({
      name: 'accounting',
      cycle: 3,
      position: 'ac',
      cycleStartedAt: 1_000,
      counters: { examined: 20 },
    });
    await first.close();
    const second = await open({ now: clock.now });
    expect(await second.getCrawlerState('accounting')).toEqual({
      name: 'accounting',
      cycle: 3,
      position: 'ac',
      cycleStartedAt: 1_000,
      updatedAt: clock.now(),
      counters: { examined: 20 },
    });
    expect(
      await outcome(
        second.saveCrawlerState({
          name: 'Bad Name',
          cycle: 0,
          position: null,
          cycleStartedAt: null,
          counters: {},
        }),
      ),
    ).toBe('TypeError');
  });

  it('recordCrawlerCycle() keeps the newest N cycles, newest first', async () => {
    const db = await dialect.open();
    for (let cycle = 1; cycle <= 13; cycle++) {
      await db.recordCrawlerCycle('accounting', {
        cycle,
        startedAt: cycle * 100,
        finishedAt: cycle * 100 + 50,
        counters: { adopted: cycle },
      });
    }
    const cycles = await db.listCrawlerCycles('accounting');
    expect(cycles.map((c) => c.cycle)).toEqual([13, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
    expect(cycles[0]).toEqual({
      cycle: 13,
      startedAt: 1300,
      finishedAt: 1350,
      counters: { adopted: 13 },
    });
    await db.recordCrawlerCycle(
      'accounting',
      { cycle: 14, startedAt: 1, finishedAt: 2, counters: {} },
      2,
    );
    expect((await db.listCrawlerCycles('accounting')).map((c) => c.cycle)).toEqual([14, 13]);
    expect(await db.listCrawlerCycles('other')).toEqual([]);
  });
});

describeEachDialect('transactions', (dialect) => {
  it('transaction() commits all of its operations or none of them', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await expect(
      db.transaction(async (tx) => {
        await tx.setAccountStatus(alice.id, 'frozen');
        await tx.addComingShares({
          storageIndex: storageIndex(1),
          sharetype: 'immutable',
          accountId: alice.id,
          shares: [{ shnum: 0, usedBytes: 10 }],
        });
        await tx.markStable(storageIndex(1), 7, 10); // illegal: aborts the whole transaction
      }),
    ).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    expect((await db.getAccount(alice.id))!.status).toBe('normal');
    expect(await db.listShares(storageIndex(1))).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });

    const stored = await db.transaction(async (tx) => {
      await tx.addComingShares({
        storageIndex: storageIndex(1),
        sharetype: 'immutable',
        accountId: alice.id,
        shares: [{ shnum: 0, usedBytes: 10 }],
      });
      return await tx.markStable(storageIndex(1), 0, 10);
    });
    expect(stored.state).toBe('stable');
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 10 });
  });
});

describeEachDialect('usage repair', (dialect) => {
  it('checkUsage() finds drifted totals and repairUsage() corrects them with an event each', async () => {
    const location = await dialect.location();
    const db = await location.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await db.addComingShares({
      storageIndex: storageIndex(1),
      sharetype: 'immutable',
      accountId: alice.id,
      shares: [{ shnum: 0, usedBytes: 10 }],
    });
    expect(await db.checkUsage()).toEqual([]);
    // Damage the counters behind the API's back, as a bug or a hand edit would.
    await location.exec(`UPDATE account_usage SET bytes = 999 WHERE account_id = ${alice.id}`);
    await location.exec('UPDATE server_usage SET shares = 7');
    await location.exec('UPDATE leases SET used_space = 3');
    const found = await db.checkUsage();
    expect(found).toEqual([
      {
        scope: alice.id,
        maintained: { shares: 1, bytes: 999 },
        recomputed: { shares: 1, bytes: 10 },
      },
      {
        scope: 'server',
        maintained: { shares: 7, bytes: 10 },
        recomputed: { shares: 1, bytes: 10 },
      },
    ]);
    expect(await db.repairUsage({ actor: 'crawler' })).toEqual(found);
    expect(await db.checkUsage()).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 10 });
    // The lease copies of the share size were repaired too: an expiry now releases 10 bytes.
    await db.expireLeases(Number.MAX_SAFE_INTEGER);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    const corrections = await db.listEvents({ kinds: ['usage-corrected'] });
    expect(corrections.map((e) => [e.accountId, e.actor])).toEqual([
      [alice.id, 'crawler'],
      [null, 'crawler'],
    ]);
  });
});
