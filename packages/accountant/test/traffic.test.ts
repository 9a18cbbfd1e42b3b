import type { LeaseDb, TrafficCounts, TrafficSample } from '@ostrom/leasedb';
import { LeaseDbError } from '@ostrom/leasedb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Account,
  Accountant,
  type AccountReadTestWriteOptions,
  MAX_TRAFFIC_ENTRIES,
  type TestWriteVectors,
  TRAFFIC_RETENTION_DEFAULT_SECONDS,
} from '../src/index.js';
import { TrafficMeter } from '../src/traffic.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  SERVER_ID,
  SERVER_SECRET,
  secrets,
  storageIndex,
  type World,
  type WorldOptions,
} from './setup.js';

// Traffic per account and hour (README, "Traffic"): what each operation counts once it is
// answered, what a refusal or a failure counts (nothing), the hour by the accountant's clock,
// flushes that lose nothing and write nothing twice, the memory bound and the retention.

const HOUR = 3600;
const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER };
const WE = secrets('slot').writeEnabler;
/** Tahoe's create-if-absent test: the first byte of a missing share reads as empty. */
const ABSENT = { offset: 0, size: 1, specimen: new Uint8Array(0) } as const;

const hourOf = (at: number) => Math.floor(at / HOUR) * HOUR;

function sample(hour: number, counts: Partial<TrafficCounts>): TrafficSample {
  return { hour, uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0, ...counts };
}

/** Flushes the accountant's counts and reads back one account's traffic, or the node's. */
async function flushed(world: Pick<World, 'accountant' | 'db'>, accountId?: number) {
  await world.accountant.flushTraffic();
  return await world.db.getTraffic(accountId === undefined ? ALL : { accountId, ...ALL });
}

/** Allocates share `shnum` of `si` and uploads `data` in `chunks` chunks. */
async function upload(account: Account, si: string, data: Uint8Array, chunks = 1, shnum = 0) {
  const s = secrets(si);
  await account.allocate(si, { ...s, shareNumbers: [shnum], allocatedSize: data.length });
  const size = Math.max(1, Math.ceil(data.length / chunks));
  for (let offset = 0; offset < data.length; offset += size) {
    await account.writeUpload(
      si,
      shnum,
      s.uploadSecret,
      offset,
      data.subarray(offset, offset + size),
    );
  }
}

/** A read-test-write of the slot's share 0 (or none), with its read vector. */
function rtw(
  vector: Partial<TestWriteVectors> | undefined,
  readVector: { offset: number; size: number }[] = [],
): AccountReadTestWriteOptions {
  const s = secrets('writer');
  return {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: WE,
    testWriteVectors: new Map(
      vector
        ? [
            [
              0,
              {
                test: vector.test ?? [],
                write: vector.write ?? [],
                newLength: vector.newLength ?? null,
              },
            ],
          ]
        : [],
    ),
    readVector,
  };
}

/** The database as an Accountant sees it, `addTraffic` failing (UNAVAILABLE) while `failing`. */
function flakyTraffic(db: LeaseDb) {
  const state = { failing: false, calls: 0 };
  const leaseDb = new Proxy(db, {
    get(target, property) {
      if (property === 'addTraffic') {
        return async (...args: Parameters<LeaseDb['addTraffic']>) => {
          state.calls++;
          if (state.failing) {
            throw new LeaseDbError('UNAVAILABLE', 'the lease database is unavailable: 57P01');
          }
          return await target.addTraffic(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { leaseDb, state };
}

// Counting is the accountant's, whatever the store: the memory backend on both databases.
describeMatrix(
  'traffic',
  (matrix) => {
    async function setup(options: WorldOptions = {}) {
      const world = await makeWorld(matrix, options);
      const row = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
      return {
        ...world,
        alice: world.accountant.account(row.id),
        anonymous: world.accountant.anonymous(),
      };
    }

    it('writeUpload(): every chunk taken counts its bytes in, the chunk completing a share counts an upload', async () => {
      const world = await setup();
      const { alice, anonymous, clock } = world;
      await upload(alice, storageIndex('a'), bytes(3000), 3);
      await upload(alice, storageIndex('b'), bytes(10), 1);
      // Allocated and partly written: bytes in, no upload yet.
      const s = secrets('c');
      await alice.allocate(storageIndex('c'), { ...s, shareNumbers: [0], allocatedSize: 100 });
      await alice.writeUpload(storageIndex('c'), 0, s.uploadSecret, 0, bytes(40));
      // The anonymous account's traffic is its own, under account 0.
      await upload(anonymous, storageIndex('d'), bytes(500), 2);
      const hour = hourOf(clock.now());
      expect(await flushed(world, alice.id)).toEqual([sample(hour, { uploads: 2, bytesIn: 3050 })]);
      expect(await flushed(world, 0)).toEqual([sample(hour, { uploads: 1, bytesIn: 500 })]);
      expect(await flushed(world)).toEqual([sample(hour, { uploads: 3, bytesIn: 3550 })]);
    });

    it('readShare() and openShareRead() count a read each and the bytes handed out; mutable reads too', async () => {
      const world = await setup();
      const { alice, anonymous, clock } = world;
      const si = storageIndex('r');
      const slot = storageIndex('r-slot');
      const data = bytes(1000);
      await upload(alice, si, data);
      await alice.readTestWrite(
        slot,
        rtw({ test: [ABSENT], write: [{ offset: 0, data: bytes(64) }] }),
      );
      const hour = hourOf(clock.now());
      await world.accountant.flushTraffic();
      await world.db.deleteTrafficBefore(Number.MAX_SAFE_INTEGER);

      await alice.readShare('immutable', si, 0);
      await alice.readShare('immutable', si, 0, { offset: 900, length: 500 });
      // A read past the end is answered, with nothing.
      await alice.readShare('immutable', si, 0, { offset: 2000, length: 5 });
      await alice.readShare('mutable', slot, 0, { offset: 0, length: 10 });
      // A stream counts the bytes of the pieces handed out, not the bytes it would have held.
      const stream = await anonymous.openShareRead('immutable', si, 0);
      expect(stream.length).toBe(1000);
      expect((await stream.next(300))?.length).toBe(300);
      expect(await flushed(world, 0)).toEqual([sample(hour, { reads: 1, bytesOut: 300 })]);
      expect((await stream.next(300))?.length).toBe(300);
      await stream.close();
      const mutable = await anonymous.openShareRead('mutable', slot, 0, { offset: 60, length: 10 });
      expect((await mutable.next(100))?.length).toBe(4);
      expect(await mutable.next(100)).toBeUndefined();
      await mutable.close();
      expect(await flushed(world, alice.id)).toEqual([sample(hour, { reads: 4, bytesOut: 1110 })]);
      expect(await flushed(world, 0)).toEqual([sample(hour, { reads: 2, bytesOut: 604 })]);
    });

    it('readTestWrite(): a read when it asks for any, an upload with the bytes of its write vectors when its tests pass and it changes a share', async () => {
      const world = await setup();
      const { alice, clock } = world;
      const si = storageIndex('m');
      const hour = hourOf(clock.now());
      // Created: an upload of 100 bytes in, no read asked.
      await alice.readTestWrite(
        si,
        rtw({ test: [ABSENT], write: [{ offset: 0, data: bytes(100) }] }),
      );
      expect(await flushed(world, alice.id)).toEqual([sample(hour, { uploads: 1, bytesIn: 100 })]);
      // Rewritten with two write vectors, reading 8 bytes back first.
      const both = rtw(
        {
          write: [
            { offset: 0, data: bytes(10) },
            { offset: 200, data: bytes(20) },
          ],
        },
        [{ offset: 0, size: 8 }],
      );
      expect((await alice.readTestWrite(si, both)).success).toBe(true);
      // Tests that fail: the read is answered, nothing is written.
      const refused = rtw({ test: [ABSENT], write: [{ offset: 0, data: bytes(50) }] }, [
        { offset: 0, size: 4 },
        { offset: 210, size: 100 },
      ]);
      expect((await alice.readTestWrite(si, refused)).success).toBe(false);
      // Reads only (no test-write vectors).
      await alice.readTestWrite(si, rtw(undefined, [{ offset: 0, size: 16 }]));
      // Tests only: nothing changes, so no upload.
      await alice.readTestWrite(si, rtw({ test: [] }));
      // A deletion is a change, but writes no bytes.
      await alice.readTestWrite(si, rtw({ write: [{ offset: 0, data: bytes(30) }], newLength: 0 }));
      expect(await alice.listShares('mutable', si)).toEqual([]);
      expect(await flushed(world, alice.id)).toEqual([
        sample(hour, { uploads: 3, bytesIn: 130, reads: 3, bytesOut: 8 + 4 + 10 + 16 }),
      ]);
    });

    it('the hour is the accountant clock’s: counts on either side of an hour go to their own hours', async () => {
      const world = await setup();
      const { alice, clock } = world;
      const si = storageIndex('h');
      const first = hourOf(clock.now()) + HOUR;
      clock.set(first - 1);
      await upload(alice, si, bytes(100));
      clock.advance(1);
      await alice.readShare('immutable', si, 0);
      clock.advance(2 * HOUR);
      await alice.readShare('immutable', si, 0, { offset: 0, length: 1 });
      expect(await flushed(world, alice.id)).toEqual([
        sample(first - HOUR, { uploads: 1, bytesIn: 100 }),
        sample(first, { reads: 1, bytesOut: 100 }),
        sample(first + 2 * HOUR, { reads: 1, bytesOut: 1 }),
      ]);
    });

    it('refused and failed operations count nothing: over quota, frozen, disabled, a bad secret or write enabler, no such share', async () => {
      const world = await setup();
      const { accountant, alice, clock, db } = world;
      const si = storageIndex('q');
      const slot = storageIndex('q-slot');
      const s = secrets(si);
      await alice.allocate(si, { ...s, shareNumbers: [0, 1], allocatedSize: 100 });
      await alice.readTestWrite(
        slot,
        rtw({ test: [ABSENT], write: [{ offset: 0, data: bytes(10) }] }),
      );
      const before = await flushed(world, alice.id);
      expect(before).toEqual([sample(hourOf(clock.now()), { uploads: 1, bytesIn: 10 })]);
      const rewrite = (length: number) =>
        rtw({ write: [{ offset: 0, data: bytes(length) }] }, [{ offset: 0, size: 4 }]);
      const refusals: [string, () => Promise<unknown>][] = [
        [
          'BAD_UPLOAD_SECRET',
          () => alice.writeUpload(si, 0, secrets('x').uploadSecret, 0, bytes(9)),
        ],
        ['OUT_OF_RANGE', () => alice.writeUpload(si, 0, s.uploadSecret, 50, bytes(100))],
        ['NOT_FOUND', () => alice.writeUpload(si, 2, s.uploadSecret, 0, bytes(1))],
        ['NOT_FOUND', () => alice.readShare('immutable', si, 0)],
        ['NOT_FOUND', () => alice.openShareRead('immutable', si, 7)],
        [
          'BAD_WRITE_ENABLER',
          () =>
            alice.readTestWrite(slot, {
              ...rewrite(5),
              writeEnabler: secrets('not the enabler').writeEnabler,
            }),
        ],
      ];
      for (const [code, refused] of refusals) {
        await expect(refused(), code).rejects.toMatchObject({ code });
      }
      // 210 bytes held (two allocations and the slot); the rewrite would grow it by 90.
      await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 250, softQuotaBytes: null });
      await expect(alice.readTestWrite(slot, rewrite(100))).rejects.toMatchObject({
        code: 'QUOTA_EXCEEDED',
      });
      await accountant.setAccountStatus(alice.id, 'frozen');
      await expect(alice.writeUpload(si, 0, s.uploadSecret, 0, bytes(100))).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await expect(alice.readTestWrite(slot, rewrite(5))).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await accountant.setAccountStatus(alice.id, 'disabled');
      for (const read of [
        () => alice.readShare('mutable', slot, 0),
        () => alice.openShareRead('mutable', slot, 0),
        () => alice.readTestWrite(slot, rtw(undefined, [{ offset: 0, size: 4 }])),
      ]) {
        await expect(read()).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
      expect(await flushed(world, alice.id)).toEqual(before);
      expect(await db.getTraffic(ALL)).toEqual(before);
    });

    it('flushTraffic() while the database is away keeps the counts; the next flush writes them once, with those counted meanwhile', async () => {
      const world = await setup();
      const { backend, clock, db } = world;
      const si = storageIndex('f');
      await upload(world.anonymous, si, bytes(100));
      await world.accountant.flushTraffic();
      const { leaseDb, state } = flakyTraffic(db);
      const accountant = new Accountant({
        leaseDb,
        backend,
        serverSecret: SERVER_SECRET,
        serverId: SERVER_ID,
        processId: 'flaky',
        now: clock.now,
      });
      const reader = accountant.anonymous();
      const hour = hourOf(clock.now());
      await reader.readShare('immutable', si, 0);
      state.failing = true;
      await expect(accountant.flushTraffic()).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        details: { dependency: 'database' },
      });
      // The sweep's flush fails the same way and the sweep goes on, saying what it holds.
      expect(await accountant.sweep()).toMatchObject({
        trafficRowsWritten: 0,
        trafficEntriesHeld: 1,
      });
      await reader.readShare('immutable', si, 0, { offset: 0, length: 10 });
      expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual([
        sample(hour, { uploads: 1, bytesIn: 100 }),
      ]);
      state.failing = false;
      const expected = [sample(hour, { uploads: 1, bytesIn: 100, reads: 2, bytesOut: 110 })];
      // Two flushes at once: they take turns, the second finds nothing left.
      await Promise.all([accountant.flushTraffic(), accountant.flushTraffic()]);
      expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual(expected);
      const calls = state.calls;
      await accountant.flushTraffic();
      expect(state.calls).toBe(calls);
      expect(await accountant.sweep()).toMatchObject({
        trafficRowsWritten: 0,
        trafficEntriesHeld: 0,
      });
      expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual(expected);
      await accountant.stop();
    });

    it('a read counted while a flush is being written waits for the next flush, and is written once', async () => {
      const world = await setup();
      const { backend, clock, db } = world;
      const si = storageIndex('w');
      await upload(world.anonymous, si, bytes(100));
      await world.accountant.flushTraffic();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const writing = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const leaseDb = new Proxy(db, {
        get(target, property) {
          if (property === 'addTraffic') {
            return async (...args: Parameters<LeaseDb['addTraffic']>) => {
              entered();
              await gate;
              return await target.addTraffic(...args);
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
        processId: 'gated',
        now: clock.now,
      });
      const reader = accountant.anonymous();
      const hour = hourOf(clock.now());
      await reader.readShare('immutable', si, 0);
      const first = accountant.flushTraffic();
      await writing;
      await reader.readShare('immutable', si, 0, { offset: 0, length: 1 });
      release();
      await first;
      expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual([
        sample(hour, { uploads: 1, bytesIn: 100, reads: 1, bytesOut: 100 }),
      ]);
      await accountant.flushTraffic();
      expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual([
        sample(hour, { uploads: 1, bytesIn: 100, reads: 2, bytesOut: 101 }),
      ]);
      await accountant.stop();
    });

    it('two accountants on one database (two processes) add up', async () => {
      const world = await setup();
      const { alice, clock, db } = world;
      const si = storageIndex('two');
      await upload(alice, si, bytes(200));
      const second = await world.restart({ processId: 'second' });
      await second.account(alice.id).readShare('immutable', si, 0);
      await alice.readShare('immutable', si, 0, { offset: 0, length: 50 });
      await Promise.all([world.accountant.flushTraffic(), second.flushTraffic()]);
      await second.account(alice.id).readShare('immutable', si, 0, { offset: 0, length: 1 });
      await second.flushTraffic();
      expect(await db.getTraffic({ accountId: alice.id, ...ALL })).toEqual([
        sample(hourOf(clock.now()), { uploads: 1, bytesIn: 200, reads: 3, bytesOut: 251 }),
      ]);
    });

    it('stop() flushes what is counted', async () => {
      const world = await setup();
      const { alice, clock, db } = world;
      await upload(alice, storageIndex('stop'), bytes(20));
      await world.accountant.stop();
      expect(await db.getTraffic({ accountId: alice.id, ...ALL })).toEqual([
        sample(hourOf(clock.now()), { uploads: 1, bytesIn: 20 }),
      ]);
    });

    it('the sweep deletes traffic past trafficRetentionSeconds, once an hour at most', async () => {
      const world = await setup({ trafficRetentionSeconds: 3 * HOUR });
      const { accountant, clock, db } = world;
      const now = hourOf(clock.now()) + 10;
      clock.set(now);
      const row = (hoursAgo: number) => ({
        accountId: 0,
        hour: hourOf(now) - hoursAgo * HOUR,
        uploads: 0,
        reads: 1,
        bytesIn: 0,
        bytesOut: 0,
      });
      await db.addTraffic([row(0), row(2), row(3), row(4), row(50)]);
      // Rows of hours that began more than 3 hours ago go: 4 and 50 hours ago (3 hours ago
      // began 3 hours and 10 seconds ago, so it goes too).
      expect(await accountant.sweep()).toMatchObject({ trafficRowsDeleted: 3 });
      expect((await db.getTraffic(ALL)).map((s) => (hourOf(now) - s.hour) / HOUR)).toEqual([2, 0]);
      clock.advance(HOUR - 1);
      expect(await accountant.sweep()).toMatchObject({ trafficRowsDeleted: 0 });
      expect(await db.getTraffic(ALL)).toHaveLength(2);
      clock.advance(1);
      expect(await accountant.sweep()).toMatchObject({ trafficRowsDeleted: 1 });
      expect((await db.getTraffic(ALL)).map((s) => (hourOf(now) - s.hour) / HOUR)).toEqual([0]);
    });

    it('a bounded meter drops counts of new (account, hour) pairs once full, keeps counting those it holds, and makes room when flushed', async () => {
      const world = await setup();
      const { clock, db } = world;
      const meter = new TrafficMeter({
        now: clock.now,
        write: (rows) => db.addTraffic(rows),
        maxEntries: 3,
      });
      const hour = hourOf(clock.now());
      for (const id of [10, 11, 12]) meter.count(id, { reads: 1, bytesOut: 5 });
      meter.count(13, { uploads: 1, bytesIn: 7 });
      clock.advance(HOUR);
      meter.count(10, { reads: 2 });
      meter.count(10, {});
      clock.advance(-HOUR);
      meter.count(10, { reads: 1, bytesOut: 1 });
      expect(meter.entries).toBe(3);
      expect(meter.dropped()).toEqual({ uploads: 1, reads: 2, bytesIn: 7, bytesOut: 0 });
      expect(await meter.flush()).toBe(3);
      expect(meter.entries).toBe(0);
      expect(await db.getTraffic({ accountId: 10, ...ALL })).toEqual([
        sample(hour, { reads: 2, bytesOut: 6 }),
      ]);
      expect(await db.getTraffic(ALL)).toEqual([sample(hour, { reads: 4, bytesOut: 16 })]);
      meter.count(13, { uploads: 1, bytesIn: 7 });
      expect(await meter.flush()).toBe(1);
      expect(await db.getTraffic({ accountId: 13, ...ALL })).toEqual([
        sample(hour, { uploads: 1, bytesIn: 7 }),
      ]);
      // The Accountant's own meter has the documented bound and has dropped nothing.
      expect(MAX_TRAFFIC_ENTRIES).toBe(10_000);
      expect(world.accountant.trafficDropped()).toEqual({
        uploads: 0,
        reads: 0,
        bytesIn: 0,
        bytesOut: 0,
      });
    });

    it('after random uploads and reads by several accounts, the flushed traffic equals a model’s totals', async () => {
      const world = await setup();
      const { accountant, clock, db } = world;
      const bob = accountant.account(
        (await accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' })).id,
      );
      const facets = [world.anonymous, world.alice, bob];
      type Command =
        | { kind: 'upload'; acct: number; size: number; chunks: number }
        | { kind: 'read'; acct: number; pick: number; offset: number; length: number }
        | { kind: 'stream'; acct: number; pick: number; piece: number; pieces: number }
        | { kind: 'mutable'; acct: number; length: number; read: number }
        | { kind: 'advance'; seconds: number }
        | { kind: 'flush' };
      const acct = fc.integer({ min: 0, max: facets.length - 1 });
      const command: fc.Arbitrary<Command> = fc.oneof(
        fc.record({
          kind: fc.constant('upload' as const),
          acct,
          size: fc.integer({ min: 1, max: 300 }),
          chunks: fc.integer({ min: 1, max: 3 }),
        }),
        fc.record({
          kind: fc.constant('read' as const),
          acct,
          pick: fc.nat(),
          offset: fc.integer({ min: 0, max: 320 }),
          length: fc.integer({ min: 0, max: 320 }),
        }),
        fc.record({
          kind: fc.constant('stream' as const),
          acct,
          pick: fc.nat(),
          piece: fc.integer({ min: 1, max: 128 }),
          pieces: fc.integer({ min: 0, max: 4 }),
        }),
        fc.record({
          kind: fc.constant('mutable' as const),
          acct,
          length: fc.integer({ min: 1, max: 64 }),
          read: fc.integer({ min: 0, max: 16 }),
        }),
        fc.record({
          kind: fc.constant('advance' as const),
          seconds: fc.integer({ min: 0, max: 2 * HOUR }),
        }),
        fc.record({ kind: fc.constant('flush' as const) }),
      );
      let run = 0;
      const numRuns = matrix.dialect === 'postgres' ? 10 : 25;
      await fc.assert(
        fc.asyncProperty(fc.array(command, { maxLength: 20 }), async (commands) => {
          run++;
          await accountant.flushTraffic();
          await db.deleteTrafficBefore(Number.MAX_SAFE_INTEGER);
          const model = new Map<string, TrafficSample & { accountId: number }>();
          const count = (accountId: number, counts: Partial<TrafficCounts>) => {
            const hour = hourOf(clock.now());
            const key = `${accountId}/${hour}`;
            const was = model.get(key) ?? { accountId, ...sample(hour, {}) };
            model.set(key, {
              ...was,
              uploads: was.uploads + (counts.uploads ?? 0),
              reads: was.reads + (counts.reads ?? 0),
              bytesIn: was.bytesIn + (counts.bytesIn ?? 0),
              bytesOut: was.bytesOut + (counts.bytesOut ?? 0),
            });
          };
          const stored: { si: string; size: number }[] = [];
          const slot = storageIndex(`slot-${run}`);
          let slotLength = 0;
          for (const [step, cmd] of commands.entries()) {
            const facet = 'acct' in cmd ? facets[cmd.acct]! : world.anonymous;
            const id = facet.id;
            switch (cmd.kind) {
              case 'upload': {
                const si = storageIndex(`p-${run}-${step}`);
                await upload(facet, si, bytes(cmd.size, step), cmd.chunks);
                stored.push({ si, size: cmd.size });
                count(id, { uploads: 1, bytesIn: cmd.size });
                break;
              }
              case 'read': {
                const share = stored[cmd.pick % Math.max(1, stored.length)];
                if (!share) break;
                const range = { offset: cmd.offset, length: cmd.length };
                const { data } = await facet.readShare('immutable', share.si, 0, range);
                const expected = Math.min(cmd.length, Math.max(0, share.size - cmd.offset));
                expect(data.length).toBe(expected);
                count(id, { reads: 1, bytesOut: expected });
                break;
              }
              case 'stream': {
                const share = stored[cmd.pick % Math.max(1, stored.length)];
                if (!share) break;
                const stream = await facet.openShareRead('immutable', share.si, 0);
                let handedOut = 0;
                for (let i = 0; i < cmd.pieces; i++) {
                  const piece = await stream.next(cmd.piece);
                  if (!piece) break;
                  handedOut += piece.length;
                }
                await stream.close();
                count(id, { reads: 1, bytesOut: handedOut });
                break;
              }
              case 'mutable': {
                const data = bytes(cmd.length, step);
                const readVector = cmd.read > 0 ? [{ offset: 0, size: cmd.read }] : [];
                const result = await facet.readTestWrite(
                  slot,
                  rtw({ write: [{ offset: 0, data }] }, readVector),
                );
                expect(result.success).toBe(true);
                const returned = slotLength > 0 ? Math.min(cmd.read, slotLength) : 0;
                slotLength = Math.max(slotLength, cmd.length);
                count(id, {
                  uploads: 1,
                  bytesIn: cmd.length,
                  reads: readVector.length > 0 ? 1 : 0,
                  bytesOut: returned,
                });
                break;
              }
              case 'advance':
                clock.advance(cmd.seconds);
                break;
              case 'flush':
                await accountant.flushTraffic();
                break;
            }
          }
          await accountant.flushTraffic();
          const byHour = (samples: Iterable<TrafficSample>) => {
            const sums = new Map<number, TrafficSample>();
            for (const s of samples) {
              const was = sums.get(s.hour) ?? sample(s.hour, {});
              sums.set(s.hour, {
                hour: s.hour,
                uploads: was.uploads + s.uploads,
                reads: was.reads + s.reads,
                bytesIn: was.bytesIn + s.bytesIn,
                bytesOut: was.bytesOut + s.bytesOut,
              });
            }
            return [...sums.values()].sort((a, b) => a.hour - b.hour);
          };
          const entries = [...model.values()];
          for (const facet of facets) {
            const mine = entries
              .filter((e) => e.accountId === facet.id)
              .map(({ accountId: _, ...s }) => s);
            expect(await db.getTraffic({ accountId: facet.id, ...ALL })).toEqual(byHour(mine));
          }
          expect(await db.getTraffic(ALL)).toEqual(
            byHour(entries.map(({ accountId: _, ...s }) => s)),
          );
        }),
        { numRuns },
      );
    }, 120_000);
  },
  (matrix) => matrix.backend === 'memory',
);

describe('trafficRetentionSeconds', () => {
  it('defaults to 90 days and must be a positive integer', async () => {
    expect(TRAFFIC_RETENTION_DEFAULT_SECONDS).toBe(90 * 86_400);
    const leaseDb = { policy: { maxLeaseDurationSeconds: 5 * 365 * 86_400 } } as LeaseDb;
    for (const trafficRetentionSeconds of [0, -1, 1.5, Number.NaN]) {
      expect(
        () =>
          new Accountant({
            leaseDb,
            backend: {} as never,
            serverSecret: SERVER_SECRET,
            serverId: SERVER_ID,
            trafficRetentionSeconds,
          }),
      ).toThrow(RangeError);
    }
  });
});
