import { BackendError, type ShareBackend } from '@ostrom/backend';
import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import BetterSqlite3 from 'better-sqlite3';
import { expect, it, onTestFinished } from 'vitest';
import { PREFIXES } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  storageIndex,
  storeOutOfBand,
  upload,
  type World,
} from './setup.js';

const DAY = 86_400;

/** Two shares, leased by the anonymous account for the default 31 days. */
async function twoShares(world: World): Promise<[string, string]> {
  const a = storageIndex('expiring-a');
  const b = storageIndex('expiring-b');
  await upload(world, ANONYMOUS_ACCOUNT_ID, a, 0, bytes(100));
  await upload(world, ANONYMOUS_ACCOUNT_ID, b, 0, bytes(200));
  return [a, b];
}

describeMatrix('cycles: expiry, deletion, usage, resumption, pacing', (matrix) => {
  it('expired leases go at the start of a cycle; unleased shares are deleted only after the grace period', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await twoShares(world);
    const crawler = world.crawler({ deletionGraceSeconds: 7 * DAY });
    world.clock.advance(32 * DAY);
    const first = await crawler.runOnce();
    expect(first.counters).toMatchObject({ expired: 2, deleted: 0 });
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({ shares: 0, bytes: 0 });

    world.clock.advance(5 * DAY); // 6 days after expiry: still within the grace period
    expect((await crawler.runOnce()).counters.deleted).toBe(0);
    world.clock.advance(2 * DAY);
    const third = await crawler.runOnce();
    expect(third.counters).toMatchObject({ deleted: 2, examined: 2 });
    expect(await world.backend.listShares(a)).toEqual([]);
    expect(await world.db.getShare(b, 0)).toBeUndefined();
    expect(await world.db.listEvents({ kinds: ['share-deleted'] })).toHaveLength(2);
    expect((await world.db.getServerUsage()).shares).toBe(0);
  });

  it('a share leased again within the grace period stays', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await twoShares(world);
    world.clock.advance(32 * DAY);
    const crawler = world.crawler({ deletionGraceSeconds: 3 * DAY });
    await crawler.runOnce();
    await world.accountant.anonymous().addOrRenewLease(a, {
      renewSecret: new Uint8Array(32).fill(1),
      cancelSecret: new Uint8Array(32).fill(2),
    });
    world.clock.advance(4 * DAY);
    expect((await crawler.runOnce()).counters.deleted).toBe(1);
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.db.getShare(b, 0)).toBeUndefined();
  });

  it('with deletion off, unleased shares are counted and kept', async () => {
    const world = await makeWorld(matrix);
    const [a] = await twoShares(world);
    world.clock.advance(40 * DAY);
    const report = await world
      .crawler({ deleteUnleased: false, deletionGraceSeconds: 0 })
      .runOnce();
    expect(report.counters).toMatchObject({ expired: 2, unleased: 2, deleted: 0 });
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.backend.listShares(a)).toHaveLength(1);
  });

  it('a failed delete returns the share to STABLE and is retried next cycle', async () => {
    let failing = true;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async deleteShare(si: string, shnum: number) {
            if (failing) throw new Error('the store said no');
            return inner.deleteShare(si, shnum);
          },
        }),
    });
    const [a] = await twoShares(world);
    world.clock.advance(32 * DAY);
    const crawler = world.crawler({ deletionGraceSeconds: 0 });
    expect((await crawler.runOnce()).counters).toMatchObject({ deleteFailures: 2, deleted: 0 });
    expect((await world.db.getShare(a, 0))?.state).toBe('stable');
    expect(await world.db.checkUsage()).toEqual([]);
    failing = false;
    expect((await crawler.runOnce()).counters).toMatchObject({ deleteFailures: 0, deleted: 2 });
    expect(await world.db.getShare(a, 0)).toBeUndefined();
  });

  it('a share leased between the check and its marking by a writer that skips the lock is passed over, not a failed cycle', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await twoShares(world);
    world.clock.advance(40 * DAY);
    const db = world.db;
    // A lease arrives for `a` just before it is marked GOING.
    const racing = new Proxy(db, {
      get(target, property) {
        if (property === 'markGoing') {
          return async (si: string, shnum: number) => {
            if (si === a) await db.addOrRenewLeases({ storageIndex: si, accountId: 0 });
            return target.markGoing(si, shnum);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const report = await world.crawler({ leaseDb: racing, deletionGraceSeconds: 0 }).runOnce();
    expect(report.counters).toMatchObject({ expired: 2, deleted: 1, deleteFailures: 0 });
    expect((await db.getShare(a, 0))?.state).toBe('stable');
    expect(await db.getShare(b, 0)).toBeUndefined();
  });

  it('a deletion cut short between its steps (GOING row) is finished by the next cycle', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await twoShares(world);
    world.clock.advance(32 * DAY);
    await world.db.expireLeases(world.clock.now());
    await world.db.markGoing(a, 0); // ...and the process died before deleting
    await world.db.markGoing(b, 0);
    await world.backend.deleteShare(b, 0); // ...or before recording the delete
    const report = await world.crawler({ deleteUnleased: false }).runOnce();
    expect(report.counters.deleted).toBe(2);
    expect(await world.db.getShare(a, 0)).toBeUndefined();
    expect(await world.db.getShare(b, 0)).toBeUndefined();
    expect(await world.backend.listShares(a)).toEqual([]);
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it('position and counters are saved after each prefix; a new crawler resumes at the next one', async () => {
    const seen: string[] = [];
    let stopAfter: string | undefined;
    let onStop: (() => void) | undefined;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async listShareSets(prefix: string) {
            seen.push(prefix);
            if (prefix === stopAfter) onStop?.();
            return inner.listShareSets(prefix);
          },
        }),
    });
    // One share early in the walk, one late.
    const early = storageIndex('early');
    const late = storageIndex('late');
    await storeOutOfBand(world.backend, early, 0, bytes(10));
    await storeOutOfBand(world.backend, late, 0, bytes(20));
    const [first, second] = [early, late].sort();
    const crash = world.crawler();
    stopAfter = PREFIXES[PREFIXES.indexOf(first!.slice(0, 2)) + 1];
    const stopped = new Promise<void>((resolve) => {
      onStop = resolve;
    });
    crash.start();
    await stopped;
    await crash.stop();
    const status = await crash.status();
    expect(status.position).toBe(stopAfter);
    expect(status.counters.adopted).toBe(1);
    expect(status.prefixesDone).toBe(PREFIXES.indexOf(stopAfter!) + 1);

    seen.length = 0;
    stopAfter = undefined;
    const resumed = world.crawler();
    resumed.start();
    await new Promise<void>((resolve) => {
      const poll = async () => {
        if ((await resumed.status()).history.length > 0) resolve();
        else setImmediate(poll);
      };
      void poll();
    });
    await resumed.stop();
    // It went on from the prefix after the saved one to the end, never back.
    const rest = PREFIXES.slice(PREFIXES.indexOf(status.position!) + 1);
    expect(seen.slice(0, rest.length)).toEqual(rest);
    const [cycle] = (await resumed.status()).history;
    expect(cycle).toMatchObject({ cycle: 1, counters: expect.objectContaining({ adopted: 2 }) });
    expect((await world.db.getShare(second!, 0))?.state).toBe('stable');
  });

  it('a background cycle that fails (the store away) is told to onCycleError and kept as lastError', async () => {
    let failing = true;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async listShareSets(prefix: string) {
            if (failing) throw new BackendError('UNAVAILABLE', 'LIST shares/aa/ failed');
            return inner.listShareSets(prefix);
          },
        }),
    });
    const told: unknown[] = [];
    let toldOnce!: () => void;
    const failed = new Promise<void>((resolve) => {
      toldOnce = resolve;
    });
    const crawler = world.crawler({
      onCycleError: (error) => {
        told.push(error);
        toldOnce();
      },
    });
    crawler.start();
    onTestFinished(() => crawler.stop());
    await failed;
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ code: 'UNAVAILABLE' });
    expect(crawler.lastError).toBe(told[0]);
    failing = false;
  });

  it('the background crawl works an allowed fraction of the time and waits out the minimum cycle', async () => {
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async listShareSets(prefix: string) {
            world.pacing.advance(10); // each prefix "takes" 10 ms
            return inner.listShareSets(prefix);
          },
        }),
    });
    const crawler = world.crawler({ allowedFraction: 0.25, sliceMs: 100, minCycleSeconds: 3600 });
    // 1,024 prefixes of 10 ms: a 300 ms rest after every 100 ms of work (25%)...
    const worked = 1024 * 10 + 102 * 300;
    // ...then, the cycle having taken 1,024 × 10 ms of work plus the rests, the rest of an hour,
    // in steps of a third of the claim's time-to-live (100 s), the claim renewed after each.
    const left = 3_600_000 - worked;
    const steps = [...Array(Math.floor(left / 100_000)).fill(100_000), left % 100_000];
    crawler.start();
    await new Promise<void>((resolve) => {
      const poll = () =>
        world.pacing.sleeps.length >= 102 + steps.length ? resolve() : setImmediate(poll);
      poll();
    });
    await crawler.stop();
    const rests = world.pacing.sleeps.slice(0, 102);
    expect(rests.every((ms) => ms === 300)).toBe(true);
    expect(world.pacing.sleeps.slice(102, 102 + steps.length)).toEqual(steps);
  });

  it('a restarted crawler waits out the minimum cycle after the last one began before a new one', async () => {
    /** Holds taken before the restarted crawler first listed a prefix. */
    let holdsBeforeCrawl: number | undefined;
    let watching = false;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async listShareSets(prefix: string) {
            if (watching) holdsBeforeCrawl ??= world.pacing.sleeps.length;
            return inner.listShareSets(prefix);
          },
        }),
    });
    await world.crawler({ minCycleSeconds: 3600 }).runOnce();
    world.clock.advance(600);
    const before = world.pacing.sleeps.length;
    watching = true;
    const restarted = world.crawler({ minCycleSeconds: 3600 });
    restarted.start();
    onTestFinished(() => restarted.stop());
    await new Promise<void>((resolve) => {
      const poll = () => (holdsBeforeCrawl !== undefined ? resolve() : setImmediate(poll));
      poll();
    });
    // 3,000 s were left of the hour since cycle 1 began: held in steps of a third of the claim's
    // time-to-live (100 s), the claim renewed after each, before anything was crawled.
    expect(holdsBeforeCrawl! - before).toBe(30);
    expect(world.pacing.sleeps.slice(before, before + 30)).toEqual(Array(30).fill(100_000));
  });

  // The damage is done with raw SQL on the SQLite file.
  it.runIf(matrix.dialect === 'sqlite')(
    'usage totals that drifted from a recount are corrected at the end of the cycle',
    async () => {
      const world = await makeWorld(matrix);
      await twoShares(world);
      const raw = new BetterSqlite3(world.sqlitePath!);
      raw.prepare('update account_usage set bytes = bytes + 999 where account_id = 0').run();
      raw.close();
      expect(await world.db.checkUsage()).not.toEqual([]);
      const report = await world.crawler().runOnce();
      expect(report.counters.usageCorrected).toBeGreaterThan(0);
      expect(await world.db.checkUsage()).toEqual([]);
      expect(await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({
        shares: 2,
        bytes: 300,
      });
      expect(await world.db.listEvents({ kinds: ['usage-corrected'] })).not.toEqual([]);
    },
  );

  it('status reports progress and ETA; the history keeps the last cycles, newest first', async () => {
    const world = await makeWorld(matrix);
    const crawler = world.crawler({ historyLength: 3 });
    for (let i = 0; i < 4; i++) {
      await crawler.runOnce();
      world.clock.advance(60);
    }
    const status = await crawler.status();
    expect(status.cycle).toBe(5);
    expect(status.prefixesDone).toBe(0);
    expect(status.etaSeconds).toBeNull();
    expect(status.history.map((c) => c.cycle)).toEqual([4, 3, 2]);
    // Half way through a cycle that has run 100 s: 100 s to go.
    await world.db.saveCrawlerState({
      name: 'accounting',
      cycle: 5,
      position: PREFIXES[511]!,
      cycleStartedAt: world.clock.now() - 100,
      counters: { examined: 7 },
    });
    const halfway = await crawler.status();
    expect(halfway).toMatchObject({ prefixesDone: 512, percent: 50, etaSeconds: 100 });
    expect(halfway.counters).toMatchObject({ examined: 7, adopted: 0 });
  });
});
