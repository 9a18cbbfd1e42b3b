import { BackendError, type ShareBackend } from '@ostrom/backend';
import { LeaseDbError } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import type { AccountReadTestWriteOptions } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  type World,
} from './setup.js';

// Failure injection: the backend fails (UNAVAILABLE) on chosen calls, or the process "crashes"
// between the database write and the backend write (the call never returns and the Accountant
// is abandoned, then a new one starts over the same database and backend).

const SI = storageIndex('failures');
const WE = secrets('slot').writeEnabler;

type Method = {
  [K in keyof ShareBackend]: ShareBackend[K] extends (...args: never[]) => unknown ? K : never;
}[keyof ShareBackend];

/**
 * What to do on a call: `fail` throws UNAVAILABLE without calling the store; `hang` never returns
 * (a crash before the store is reached); `hang-after` calls the store, then never returns (a
 * crash after the bytes made it).
 */
type Fault = 'fail' | 'hang' | 'hang-after';

interface FaultPlan {
  /** Decides per call (`call` counts calls of that method from 1, since the rule was set). */
  set(method: Method, rule: (call: number, args: unknown[]) => Fault | undefined): void;
  clear(): void;
  /** Resolves when a hanging call has been reached. */
  readonly hung: Promise<void>;
  /** How many faults were injected. */
  injected(): number;
}

function faultyBackend(): { plan: FaultPlan; factory: (inner: ShareBackend) => ShareBackend } {
  const rules = new Map<
    string,
    { rule: (call: number, args: unknown[]) => Fault | undefined; calls: number }
  >();
  let injected = 0;
  let reached!: () => void;
  const hung = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const plan: FaultPlan = {
    set(method, rule) {
      rules.set(method, { rule, calls: 0 });
    },
    clear() {
      rules.clear();
    },
    hung,
    injected: () => injected,
  };
  const factory = (inner: ShareBackend): ShareBackend =>
    new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const entry = rules.get(String(property));
          const fault = entry?.rule(++entry.calls, args);
          if (fault === undefined) return await value.apply(target, args);
          injected++;
          if (fault === 'fail') {
            throw new BackendError('UNAVAILABLE', `injected failure of ${String(property)}`);
          }
          if (fault === 'hang-after') await value.apply(target, args);
          reached();
          return await new Promise(() => undefined);
        };
      },
    });
  return { plan, factory };
}

function rtw(
  shnum: number,
  vector: {
    write?: { offset: number; data: Uint8Array }[];
    newLength?: number | null;
    create?: boolean;
  },
): AccountReadTestWriteOptions {
  const s = secrets('writer');
  return {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: WE,
    testWriteVectors: new Map([
      [
        shnum,
        {
          test: vector.create ? [{ offset: 0, size: 1, specimen: new Uint8Array(0) }] : [],
          write: vector.write ?? [],
          newLength: vector.newLength ?? null,
        },
      ],
    ]),
    readVector: [],
  };
}

/**
 * Usage counts only what is stored: each account's bytes equal the sizes of the complete
 * shares it leases plus the allocated sizes of the uploads in progress it leases, and no
 * lease is on anything else.
 */
async function expectUsageMatchesStore(world: World, accountIds: readonly number[]) {
  const expected = new Map(accountIds.map((id) => [id, { shares: 0, bytes: 0 }]));
  for (const lease of await world.db.listLeases(SI)) {
    const total = expected.get(lease.accountId);
    if (!total) continue;
    const stored = await world.backend.getShareMeta(SI, lease.shnum);
    const upload = stored ? undefined : await world.backend.getUpload(SI, lease.shnum);
    const row = await world.db.getShare(SI, lease.shnum);
    expect(stored !== undefined || upload !== undefined, `lease on ${lease.shnum}`).toBe(true);
    total.shares++;
    total.bytes += stored ? stored.sizeBytes : (row?.usedBytes ?? Number.NaN);
  }
  for (const [id, usage] of expected) expect(await world.db.getAccountUsage(id)).toEqual(usage);
  expect(await world.db.checkUsage()).toEqual([]);
}

describeMatrix('failure injection', (matrix) => {
  async function setup() {
    const { plan, factory } = faultyBackend();
    const world = await makeWorld(matrix, { backendFactory: factory });
    const row = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    return { ...world, plan, alice: world.accountant.account(row.id), aliceId: row.id };
  }

  it('allocate() whose createUpload fails on the 2nd share rejects UNAVAILABLE, keeps nothing, and a retry succeeds', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    const s = secrets('upload');
    plan.set('createUpload', (call) => (call === 2 ? 'fail' : undefined));
    await expect(
      alice.allocate(SI, { ...s, shareNumbers: [0, 1, 2], allocatedSize: 100 }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(plan.injected()).toBe(1);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.listLeases(SI)).toEqual([]);
    for (const shnum of [0, 1, 2]) expect(await backend.getUpload(SI, shnum)).toBeUndefined();
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 0, bytes: 0 });
    await expectUsageMatchesStore(world, [aliceId]);

    plan.clear();
    expect(await alice.allocate(SI, { ...s, shareNumbers: [0, 1, 2], allocatedSize: 100 })).toEqual(
      {
        alreadyHave: [],
        allocated: [0, 1, 2],
      },
    );
    for (const shnum of [0, 1, 2]) {
      expect(
        await alice.writeUpload(SI, shnum, s.uploadSecret, 0, bytes(100, shnum)),
      ).toMatchObject({
        complete: true,
      });
    }
    expect(await alice.listShares('immutable', SI)).toEqual([0, 1, 2]);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 3, bytes: 300 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('writeUpload() whose completing chunk fails rejects UNAVAILABLE; the upload stays and a retry completes it', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    const s = secrets('upload');
    const data = bytes(200, 3);
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 200 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 100, data.subarray(100));
    plan.set('writeUpload', () => 'fail');
    await expect(
      alice.writeUpload(SI, 0, s.uploadSecret, 0, data.subarray(0, 100)),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await backend.getUpload(SI, 0)).toEqual({
      complete: false,
      missing: [{ begin: 0, end: 100 }],
    });
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'coming', usedBytes: 200 });
    // The allocation is still held for the upload in progress.
    await expectUsageMatchesStore(world, [aliceId]);

    plan.clear();
    expect(await alice.writeUpload(SI, 0, s.uploadSecret, 0, data.subarray(0, 100))).toEqual({
      complete: true,
      required: [],
    });
    expect((await alice.readShare('immutable', SI, 0)).data).toEqual(data);
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'stable', usedBytes: 200 });
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 200 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('a completing chunk stored but not recorded (the database away): 503, then the chunk sent again is answered complete', async () => {
    const world = await setup();
    const { alice, aliceId, db } = world;
    const s = secrets('upload');
    const data = bytes(200, 4);
    await alice.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 200 });
    const markStable = db.markStable;
    db.markStable = async () => {
      throw new LeaseDbError('UNAVAILABLE', 'the lease database is unavailable: 57P01');
    };
    for (const shnum of [0, 1]) {
      await expect(alice.writeUpload(SI, shnum, s.uploadSecret, 0, data)).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
    }
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'coming' });
    db.markStable = markStable;
    // Other bytes than those stored are refused, and record nothing.
    await expect(alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(200, 5))).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'coming' });
    // The same chunk again (any part of it): complete, recorded, and the upload is over.
    expect(await alice.writeUpload(SI, 0, s.uploadSecret, 100, data.subarray(100))).toEqual({
      complete: true,
      required: [],
    });
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'stable', usedBytes: 200 });
    await expect(alice.writeUpload(SI, 0, s.uploadSecret, 0, data)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // Share 1's client never came back: the sweep records it instead of discarding its bytes.
    world.clock.advance(3600);
    await world.accountant.sweep();
    expect(await db.getShare(SI, 1)).toMatchObject({ state: 'stable', usedBytes: 200 });
    expect((await alice.readShare('immutable', SI, 1)).data).toEqual(data);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 2, bytes: 400 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('readTestWrite() whose writeMutable fails on create rejects UNAVAILABLE, keeps nothing, and a retry succeeds', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    plan.set('writeMutable', () => 'fail');
    const create = rtw(0, { create: true, write: [{ offset: 0, data: bytes(50) }] });
    await expect(alice.readTestWrite(SI, create)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.listLeases(SI)).toEqual([]);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 0, bytes: 0 });
    await expectUsageMatchesStore(world, [aliceId]);

    plan.clear();
    expect((await alice.readTestWrite(SI, create)).success).toBe(true);
    expect((await alice.readShare('mutable', SI, 0)).data).toEqual(bytes(50));
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 50 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('readTestWrite() whose writeMutable fails on a rewrite rejects UNAVAILABLE, changes nothing, and a retry succeeds', async () => {
    const world = await setup();
    const { alice, aliceId, db, plan, clock } = world;
    await alice.readTestWrite(
      SI,
      rtw(0, { create: true, write: [{ offset: 0, data: bytes(50) }] }),
    );
    const rows = await db.listShares(SI);
    const leases = await db.listLeases(SI);
    clock.advance(60);
    plan.set('writeMutable', () => 'fail');
    const grow = rtw(0, { write: [{ offset: 40, data: bytes(30, 2) }] });
    await expect(alice.readTestWrite(SI, grow)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await alice.readShare('mutable', SI, 0)).toEqual({ data: bytes(50), sizeBytes: 50 });
    expect(await db.listShares(SI)).toEqual(rows);
    expect(await db.listLeases(SI)).toEqual(leases);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 50 });
    await expectUsageMatchesStore(world, [aliceId]);

    plan.clear();
    expect((await alice.readTestWrite(SI, grow)).success).toBe(true);
    expect((await alice.readShare('mutable', SI, 0)).sizeBytes).toBe(70);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 70 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('readTestWrite(newLength 0) whose deleteShare fails rejects UNAVAILABLE, keeps the share, and a retry deletes it', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    await alice.readTestWrite(
      SI,
      rtw(0, { create: true, write: [{ offset: 0, data: bytes(50) }] }),
    );
    plan.set('deleteShare', () => 'fail');
    const remove = rtw(0, { newLength: 0 });
    await expect(alice.readTestWrite(SI, remove)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect((await alice.readShare('mutable', SI, 0)).data).toEqual(bytes(50));
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'stable', usedBytes: 50 });
    expect(await db.listEvents({ kinds: ['share-deleted'] })).toEqual([]);
    await expectUsageMatchesStore(world, [aliceId]);

    plan.clear();
    expect((await alice.readTestWrite(SI, remove)).success).toBe(true);
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 0, bytes: 0 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('readTestWrite(newLength 0) whose deleteShare fails keeps every lease on the share', async () => {
    const world = await setup();
    const { alice, aliceId, db, plan } = world;
    await alice.readTestWrite(
      SI,
      rtw(0, { create: true, write: [{ offset: 0, data: bytes(50) }] }),
    );
    const leases = await db.listLeases(SI);
    plan.set('deleteShare', () => 'fail');
    await expect(alice.readTestWrite(SI, rtw(0, { newLength: 0 }))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(await db.listLeases(SI)).toEqual(leases);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 50 });
    expect(await db.listUnleasedShares()).toEqual([]);
  });

  it('start() after a crash between the COMING rows and createUpload removes the rows', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    const s = secrets('upload');
    plan.set('createUpload', () => 'hang');
    // Never settles: the process "dies" inside the backend call. The first Accountant is
    // abandoned, not stopped.
    void alice.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 100 });
    await plan.hung;
    expect((await db.listShares(SI)).map((row) => row.state)).toEqual(['coming', 'coming']);
    plan.clear();

    const accountant = await world.restart();
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.listComingShares()).toEqual([]);
    expect(await backend.getUpload(SI, 0)).toBeUndefined();
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 0, bytes: 0 });
    await expectUsageMatchesStore(world, [aliceId]);

    const again = accountant.account(aliceId);
    expect(await again.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 100 })).toEqual({
      alreadyHave: [],
      allocated: [0, 1],
    });
    await again.writeUpload(SI, 0, s.uploadSecret, 0, bytes(100));
    expect(await again.listShares('immutable', SI)).toEqual([0]);
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('start() after a crash discards the uploads in progress and their COMING rows, keeping complete shares', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend } = world;
    const s = secrets('upload');
    await alice.allocate(SI, { ...s, shareNumbers: [0, 1, 2], allocatedSize: 100 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(100, 1));
    await alice.writeUpload(SI, 1, s.uploadSecret, 0, bytes(60, 2));

    const accountant = await world.restart();
    expect((await db.listShares(SI)).map((row) => [row.shnum, row.state])).toEqual([[0, 'stable']]);
    expect(await backend.getUpload(SI, 1)).toBeUndefined();
    expect(await backend.getUpload(SI, 2)).toBeUndefined();
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 100 });
    await expectUsageMatchesStore(world, [aliceId]);

    // Tahoe clients resume by allocating again: the lost shares are allocatable at once.
    const again = accountant.account(aliceId);
    expect(await again.allocate(SI, { ...s, shareNumbers: [0, 1, 2], allocatedSize: 100 })).toEqual(
      {
        alreadyHave: [0],
        allocated: [1, 2],
      },
    );
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('start() keeps a mutable share whose bytes were stored before the crash', async () => {
    const world = await setup();
    const { alice, aliceId, db, plan } = world;
    plan.set('writeMutable', () => 'hang-after');
    void alice.readTestWrite(SI, rtw(0, { create: true, write: [{ offset: 0, data: bytes(40) }] }));
    await plan.hung;
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'coming', usedBytes: 40 });
    plan.clear();

    const accountant = await world.restart();
    expect(await db.getShare(SI, 0)).toMatchObject({
      state: 'stable',
      sharetype: 'mutable',
      usedBytes: 40,
    });
    const again = accountant.account(aliceId);
    expect((await again.readShare('mutable', SI, 0)).data).toEqual(bytes(40));
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 40 });
    await expectUsageMatchesStore(world, [aliceId]);
    // And it is an ordinary share afterwards.
    await again.readTestWrite(SI, rtw(0, { write: [{ offset: 40, data: bytes(10) }] }));
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 1, bytes: 50 });
    await expectUsageMatchesStore(world, [aliceId]);
  });

  it('start() removes the COMING row of a mutable share whose bytes never arrived', async () => {
    const world = await setup();
    const { alice, aliceId, db, backend, plan } = world;
    plan.set('writeMutable', () => 'hang');
    void alice.readTestWrite(SI, rtw(0, { create: true, write: [{ offset: 0, data: bytes(40) }] }));
    await plan.hung;
    expect(await db.getShare(SI, 0)).toMatchObject({ state: 'coming' });
    plan.clear();

    const accountant = await world.restart();
    expect(await db.listShares(SI)).toEqual([]);
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await db.getAccountUsage(aliceId)).toEqual({ shares: 0, bytes: 0 });
    await expectUsageMatchesStore(world, [aliceId]);
    const again = accountant.account(aliceId);
    const create = rtw(0, { create: true, write: [{ offset: 0, data: bytes(40) }] });
    expect((await again.readTestWrite(SI, create)).success).toBe(true);
    await expectUsageMatchesStore(world, [aliceId]);
  });
});
