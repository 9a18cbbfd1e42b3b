import { expect, it } from 'vitest';
import {
  type Account,
  AccountantError,
  type AccountReadTestWriteOptions,
  type ReadVector,
  type TestWriteVectors,
} from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  type WorldOptions,
} from './setup.js';

// Tahoe's `slot_testv_and_readv_and_writev` (docs/TAHOE-COMPATIBILITY.md facts 39–43,
// `storage/server.py`, `storage/mutable.py`), rule by rule, through the Accountant.

const SI = storageIndex('mutable');
const WE = secrets('slot').writeEnabler;
const OTHER_WE = secrets('other slot').writeEnabler;
const empty = new Uint8Array(0);

/** Tahoe's create-if-absent test: the first byte of a missing share reads as empty. */
const ABSENT = { offset: 0, size: 1, specimen: empty } as const;

type Vectors = Record<number, Partial<TestWriteVectors>>;

/** A read-test-write request from one client (lease secrets of `who`) with the slot's enabler. */
function request(
  vectors: Vectors,
  options: { readVector?: ReadVector[]; writeEnabler?: Uint8Array; who?: string } = {},
): AccountReadTestWriteOptions {
  const s = secrets(options.who ?? 'writer');
  return {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: options.writeEnabler ?? WE,
    testWriteVectors: new Map(
      Object.entries(vectors).map(([shnum, v]) => [
        Number(shnum),
        { test: v.test ?? [], write: v.write ?? [], newLength: v.newLength ?? null },
      ]),
    ),
    readVector: options.readVector ?? [],
  };
}

/** Writes `data` at 0 of each listed share, creating them. */
function create(shnums: Record<number, Uint8Array>, who?: string): AccountReadTestWriteOptions {
  const vectors: Vectors = {};
  for (const [shnum, data] of Object.entries(shnums)) {
    vectors[Number(shnum)] = { test: [ABSENT], write: [{ offset: 0, data }] };
  }
  return request(vectors, who === undefined ? {} : { who });
}

describeMatrix('mutable read-test-write', (matrix) => {
  async function setup(
    options: WorldOptions = {},
    quota: { hardQuotaBytes?: number | null; softQuotaBytes?: number | null } = {},
  ) {
    const world = await makeWorld(matrix, options);
    const alice = await world.accountant.addAccount({
      publicKey: randomKey(),
      nickname: 'alice',
      ...quota,
    });
    const bob = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    return {
      ...world,
      alice: world.accountant.account(alice.id),
      bob: world.accountant.account(bob.id),
    };
  }

  async function contents(account: Account, shnum: number): Promise<Uint8Array> {
    return (await account.readShare('mutable', SI, shnum)).data;
  }

  /** Everything a refused request must leave as it was. */
  async function snapshot(world: Awaited<ReturnType<typeof setup>>) {
    const shares: Record<number, Uint8Array> = {};
    for (const info of await world.backend.listShares(SI)) {
      shares[info.shnum] = await world.backend.readShare(SI, info.shnum, 0, info.sizeBytes);
    }
    return {
      shares,
      rows: await world.db.listShares(SI),
      leases: await world.db.listLeases(SI),
      alice: await world.db.getAccountUsage(world.alice.id),
      bob: await world.db.getAccountUsage(world.bob.id),
      server: await world.db.getServerUsage(),
      // A refused write's own record (`write-refused`) is not a change of the slot.
      events: (await world.db.listEvents({ limit: 10_000 })).filter(
        (e) => e.kind !== 'write-refused',
      ),
    };
  }

  it('readTestWrite(si, {0: create-if-absent}) passes and creates the share when it is absent', async () => {
    const { alice, db } = await setup();
    const result = await alice.readTestWrite(SI, create({ 0: bytes(10) }));
    expect(result).toEqual({ success: true, data: new Map() });
    expect(await alice.listShares('mutable', SI)).toEqual([0]);
    expect(await alice.listShares('immutable', SI)).toEqual([]);
    expect(await contents(alice, 0)).toEqual(bytes(10));
    expect(await db.getShare(SI, 0)).toMatchObject({
      state: 'stable',
      sharetype: 'mutable',
      usedBytes: 10,
      ownerAccountId: alice.id,
    });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, {0: create-if-absent}) fails and writes nothing when the share exists', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1) }));
    const result = await alice.readTestWrite(SI, {
      ...create({ 0: bytes(20, 2) }),
      readVector: [{ offset: 0, size: 3 }],
    });
    expect(result).toEqual({ success: false, data: new Map([[0, [bytes(10, 1).subarray(0, 3)]]]) });
    expect(await contents(alice, 0)).toEqual(bytes(10, 1));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 10 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, test of a missing share) compares the specimen with empty bytes', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10) }));
    // Share 1 does not exist: any range of it reads as empty (Tahoe's EmptyShare).
    const nonEmpty = await alice.readTestWrite(
      SI,
      request({ 1: { test: [{ offset: 0, size: 5, specimen: bytes(5) }] } }),
    );
    expect(nonEmpty.success).toBe(false);
    expect(await alice.listShares('mutable', SI)).toEqual([0]);
    const emptyFar = await alice.readTestWrite(
      SI,
      request({
        1: {
          test: [{ offset: 3, size: 10, specimen: empty }],
          write: [{ offset: 0, data: bytes(4) }],
        },
      }),
    );
    expect(emptyFar.success).toBe(true);
    expect(await contents(alice, 1)).toEqual(bytes(4));
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, test past the end) compares the specimen with the truncated bytes', async () => {
    const { alice, db } = await setup();
    const data = bytes(10, 3);
    await alice.readTestWrite(SI, create({ 0: data }));
    const test = (offset: number, size: number, specimen: Uint8Array) =>
      request({ 0: { test: [{ offset, size, specimen }] } });
    expect((await alice.readTestWrite(SI, test(6, 10, data.subarray(6)))).success).toBe(true);
    expect((await alice.readTestWrite(SI, test(6, 10, bytes(10, 3)))).success).toBe(false);
    expect((await alice.readTestWrite(SI, test(20, 5, empty))).success).toBe(true);
    expect((await alice.readTestWrite(SI, test(10, 1, empty))).success).toBe(true);
    expect((await alice.readTestWrite(SI, test(0, 10, data))).success).toBe(true);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, read past the end) returns the truncated bytes', async () => {
    const { alice, db } = await setup();
    const data = bytes(10, 4);
    await alice.readTestWrite(SI, create({ 0: data }));
    const result = await alice.readTestWrite(
      SI,
      request(
        {},
        {
          readVector: [
            { offset: 6, size: 100 },
            { offset: 10, size: 5 },
            { offset: 50, size: 5 },
            { offset: 0, size: 0 },
          ],
        },
      ),
    );
    expect(result).toEqual({
      success: true,
      data: new Map([[0, [data.subarray(6), empty, empty, empty]]]),
    });
    expect(await alice.readShare('mutable', SI, 0, { offset: 6, length: 100 })).toEqual({
      data: data.subarray(6),
      sizeBytes: 10,
    });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readShare("mutable", si, missing) throws NOT_FOUND and listShares("mutable", unknown) is []', async () => {
    const { alice, db } = await setup();
    expect(await alice.listShares('mutable', storageIndex('nothing here'))).toEqual([]);
    await expect(alice.readShare('mutable', SI, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await alice.readTestWrite(SI, create({ 0: bytes(3) }));
    await expect(alice.readShare('immutable', SI, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, wrong write enabler) throws BAD_WRITE_ENABLER before testing, reading or writing', async () => {
    const world = await setup();
    const { alice, bob, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1), 1: bytes(12, 2) }));
    const before = await snapshot(world);
    // A request that would pass its tests, and touches only a share that does not exist yet:
    // the enabler is still checked against every existing share.
    const attempt = request(
      { 2: { test: [ABSENT], write: [{ offset: 0, data: bytes(5) }] } },
      { writeEnabler: OTHER_WE, who: 'bob', readVector: [{ offset: 0, size: 4 }] },
    );
    const error = await bob.readTestWrite(SI, attempt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccountantError);
    expect(error).toMatchObject({ code: 'BAD_WRITE_ENABLER' });
    // Read-only requests need the enabler as well (Tahoe checks it first, whatever follows).
    await expect(
      bob.readTestWrite(
        SI,
        request({}, { writeEnabler: OTHER_WE, readVector: [{ offset: 0, size: 4 }] }),
      ),
    ).rejects.toMatchObject({ code: 'BAD_WRITE_ENABLER' });
    expect(await snapshot(world)).toEqual(before);
    expect(await db.listLeases(SI)).not.toContainEqual(
      expect.objectContaining({ accountId: bob.id }),
    );
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, …) checks the write enabler against every existing share, not only the first', async () => {
    const world = await setup();
    const { alice, backend, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1) }));
    // Share 1 carries another enabler (written straight to the backend, as a foreign server would).
    await backend.writeMutable(SI, 1, {
      writeEnabler: OTHER_WE,
      writes: [{ offset: 0, data: bytes(6, 9) }],
    });
    const before = await snapshot(world);
    await expect(
      alice.readTestWrite(SI, request({ 0: { write: [{ offset: 0, data: bytes(10, 5) }] } })),
    ).rejects.toMatchObject({ code: 'BAD_WRITE_ENABLER' });
    await expect(
      alice.readTestWrite(
        SI,
        request({ 0: { write: [{ offset: 0, data: bytes(10, 5) }] } }, { writeEnabler: OTHER_WE }),
      ),
    ).rejects.toMatchObject({ code: 'BAD_WRITE_ENABLER' });
    expect(await snapshot(world)).toEqual(before);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, failing test) returns success false, writes nothing and reads every existing share', async () => {
    const world = await setup();
    const { alice, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(8, 1), 1: bytes(8, 2), 2: bytes(8, 3) }));
    const before = await snapshot(world);
    const result = await alice.readTestWrite(
      SI,
      request(
        {
          // One test passes, one fails: nothing is written, not even to the share whose test passed.
          0: {
            test: [{ offset: 0, size: 8, specimen: bytes(8, 1) }],
            write: [{ offset: 0, data: bytes(8, 7) }],
          },
          1: {
            test: [{ offset: 0, size: 8, specimen: bytes(8, 9) }],
            write: [{ offset: 0, data: bytes(8, 7) }],
          },
          3: { test: [ABSENT], write: [{ offset: 0, data: bytes(8, 7) }] },
        },
        { readVector: [{ offset: 0, size: 2 }] },
      ),
    );
    expect(result.success).toBe(false);
    expect([...result.data.keys()].sort()).toEqual([0, 1, 2]);
    expect(result.data.get(2)).toEqual([bytes(8, 3).subarray(0, 2)]);
    expect(await alice.listShares('mutable', SI)).toEqual([0, 1, 2]);
    expect(await contents(alice, 0)).toEqual(bytes(8, 1));
    expect(await snapshot(world)).toEqual(before);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, read vector) returns the bytes from before the writes, for every existing share', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(6, 1), 1: bytes(6, 2) }));
    const result = await alice.readTestWrite(
      SI,
      request(
        {
          0: { write: [{ offset: 0, data: bytes(6, 5) }] },
          2: { test: [ABSENT], write: [{ offset: 0, data: bytes(6, 6) }] },
        },
        {
          readVector: [
            { offset: 0, size: 6 },
            { offset: 4, size: 10 },
          ],
        },
      ),
    );
    expect(result.success).toBe(true);
    // Share 1 is not in the request and share 2 did not exist before: Tahoe keys `data` by
    // the shares that existed, all of them.
    expect(result.data).toEqual(
      new Map([
        [0, [bytes(6, 1), bytes(6, 1).subarray(4)]],
        [1, [bytes(6, 2), bytes(6, 2).subarray(4)]],
      ]),
    );
    expect(await contents(alice, 0)).toEqual(bytes(6, 5));
    expect(await contents(alice, 2)).toEqual(bytes(6, 6));
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, write past the end) zero-fills the gap', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(4, 1) }));
    await alice.readTestWrite(
      SI,
      request({
        0: {
          write: [
            { offset: 10, data: bytes(3, 2) },
            { offset: 1, data: bytes(1, 3) },
          ],
        },
      }),
    );
    const expected = new Uint8Array(13);
    expected.set(bytes(4, 1));
    expected.set(bytes(3, 2), 10);
    expected.set(bytes(1, 3), 1);
    expect(await contents(alice, 0)).toEqual(expected);
    // A new share written at an offset starts with zeros too.
    await alice.readTestWrite(
      SI,
      request({ 1: { test: [ABSENT], write: [{ offset: 5, data: bytes(2, 4) }] } }),
    );
    expect(await contents(alice, 1)).toEqual(Uint8Array.from([0, 0, 0, 0, 0, ...bytes(2, 4)]));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 13 + 7 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, smaller newLength) truncates the share', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1) }));
    expect((await alice.readTestWrite(SI, request({ 0: { newLength: 6 } }))).success).toBe(true);
    expect(await alice.readShare('mutable', SI, 0)).toEqual({
      data: bytes(10, 1).subarray(0, 6),
      sizeBytes: 6,
    });
    // The new length applies after the writes of the same request.
    await alice.readTestWrite(
      SI,
      request({ 0: { write: [{ offset: 4, data: bytes(6, 2) }], newLength: 8 } }),
    );
    expect(await contents(alice, 0)).toEqual(
      Uint8Array.from([...bytes(10, 1).subarray(0, 4), ...bytes(6, 2).subarray(0, 4)]),
    );
    // Bytes beyond a truncation are gone: growing again reads zeros there.
    await alice.readTestWrite(SI, request({ 0: { newLength: 2 } }));
    await alice.readTestWrite(SI, request({ 0: { write: [{ offset: 4, data: bytes(1, 3) }] } }));
    expect(await contents(alice, 0)).toEqual(
      Uint8Array.from([...bytes(10, 1).subarray(0, 2), 0, 0, ...bytes(1, 3)]),
    );
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 5 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, larger newLength) ignores it', async () => {
    const { alice, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1) }));
    await alice.readTestWrite(SI, request({ 0: { newLength: 100 } }));
    expect(await alice.readShare('mutable', SI, 0)).toEqual({ data: bytes(10, 1), sizeBytes: 10 });
    await alice.readTestWrite(
      SI,
      request({ 1: { test: [ABSENT], write: [{ offset: 0, data: bytes(3) }], newLength: 50 } }),
    );
    expect(await alice.readShare('mutable', SI, 1)).toEqual({ data: bytes(3), sizeBytes: 3 });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 13 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, newLength 0) deletes the share with its row, leases and usage', async () => {
    const { alice, bob, db } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1), 1: bytes(7, 2) }));
    // Bob leases both shares too; the deletion takes his lease with the share.
    await bob.addOrRenewLease(SI, secrets('bob'));
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 2, bytes: 17 });
    const result = await alice.readTestWrite(
      SI,
      request({ 0: { newLength: 0 } }, { readVector: [{ offset: 0, size: 2 }] }),
    );
    expect(result).toEqual({
      success: true,
      data: new Map([
        [0, [bytes(10, 1).subarray(0, 2)]],
        [1, [bytes(7, 2).subarray(0, 2)]],
      ]),
    });
    expect(await alice.listShares('mutable', SI)).toEqual([1]);
    await expect(alice.readShare('mutable', SI, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await db.getShare(SI, 0)).toBeUndefined();
    expect(await db.listLeases(SI, 0)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 7 });
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 7 });
    const deleted = await db.listEvents({ kinds: ['share-deleted'] });
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({ storageIndex: SI, shnum: 0, data: { bytes: 10 } });
    // Deleting a missing share is no error and changes nothing.
    expect((await alice.readTestWrite(SI, request({ 5: { newLength: 0 } }))).success).toBe(true);
    expect(await alice.listShares('mutable', SI)).toEqual([1]);
    // Deleting the last share leaves nothing of the storage index.
    await alice.readTestWrite(SI, request({ 1: { newLength: 0 } }));
    expect(await alice.listShares('mutable', SI)).toEqual([]);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
    expect(await db.listEvents({ kinds: ['share-deleted'] })).toHaveLength(2);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, …) keeps usage equal to the data length through create, grow, shrink and delete', async () => {
    const { alice, db } = await setup();
    const usage = async () => await db.getAccountUsage(alice.id);
    const rowBytes = async () => (await db.getShare(SI, 0))?.usedBytes;
    await alice.readTestWrite(SI, create({ 0: bytes(100) }));
    expect(await usage()).toEqual({ shares: 1, bytes: 100 });
    await alice.readTestWrite(SI, request({ 0: { write: [{ offset: 150, data: bytes(50) }] } }));
    expect(await usage()).toEqual({ shares: 1, bytes: 200 });
    expect(await rowBytes()).toBe(200);
    // A write inside the share changes nothing.
    await alice.readTestWrite(SI, request({ 0: { write: [{ offset: 10, data: bytes(50, 2) }] } }));
    expect(await usage()).toEqual({ shares: 1, bytes: 200 });
    await alice.readTestWrite(SI, request({ 0: { newLength: 30 } }));
    expect(await usage()).toEqual({ shares: 1, bytes: 30 });
    expect(await rowBytes()).toBe(30);
    expect((await alice.readShare('mutable', SI, 0)).sizeBytes).toBe(30);
    await alice.readTestWrite(SI, request({ 0: { newLength: 0 } }));
    expect(await usage()).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it("readTestWrite(si, …) adds the writer's lease to the shares it wrote, and renews it", async () => {
    const { alice, bob, db, clock } = await setup();
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1), 1: bytes(20, 2) }));
    const aliceLeases = await db.listLeases(SI);
    expect(aliceLeases.map((l) => [l.shnum, l.accountId])).toEqual([
      [0, alice.id],
      [1, alice.id],
    ]);
    const firstExpiry = aliceLeases[0]!.expiresAt;
    expect(firstExpiry).toBeGreaterThan(clock.now());

    clock.advance(3600);
    // Bob writes share 0 only: he gets a lease on share 0, not on the slot's other shares
    // (Tahoe's `_evaluate_write_vectors` returns only the shares written).
    await bob.readTestWrite(
      SI,
      request({ 0: { write: [{ offset: 0, data: bytes(10, 3) }] } }, { who: 'bob' }),
    );
    const leases = await db.listLeases(SI);
    expect(leases.map((l) => [l.shnum, l.accountId])).toEqual([
      [0, alice.id],
      [0, bob.id],
      [1, alice.id],
    ]);
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 10 });
    // Alice's lease was not touched by Bob's write.
    expect(leases.find((l) => l.accountId === alice.id)?.expiresAt).toBe(firstExpiry);

    clock.advance(3600);
    await alice.readTestWrite(SI, request({ 0: {}, 1: { newLength: 15 } }));
    const renewed = await db.listLeases(SI);
    for (const lease of renewed.filter((l) => l.accountId === alice.id)) {
      expect(lease.renewedAt).toBe(clock.now());
      expect(lease.expiresAt).toBe(firstExpiry + 7200);
    }
    // A failed test writes nothing and so renews nothing.
    clock.advance(3600);
    const failed = await alice.readTestWrite(SI, create({ 0: bytes(1) }));
    expect(failed.success).toBe(false);
    expect(await db.listLeases(SI)).toEqual(renewed);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 25 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, growth past the hard quota) throws QUOTA_EXCEEDED and changes nothing', async () => {
    const world = await setup({}, { hardQuotaBytes: 100 });
    const { alice, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(60) }));
    const before = await snapshot(world);
    await expect(
      alice.readTestWrite(SI, request({ 0: { write: [{ offset: 60, data: bytes(41) }] } })),
    ).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    // A new share past the quota is not created, and nothing else of the request is written.
    await expect(
      alice.readTestWrite(
        SI,
        request({
          0: { write: [{ offset: 0, data: bytes(10, 9) }] },
          1: { test: [ABSENT], write: [{ offset: 0, data: bytes(41) }] },
        }),
      ),
    ).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(await snapshot(world)).toEqual(before);
    expect(await db.getShare(SI, 1)).toBeUndefined();
    // Up to the quota exactly is fine.
    await alice.readTestWrite(SI, request({ 0: { write: [{ offset: 60, data: bytes(40) }] } }));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 100 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, shrink) is allowed over the hard quota, growth is not', async () => {
    const world = await setup();
    const { accountant, alice, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(80), 1: bytes(40) }));
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 50, softQuotaBytes: null });
    await alice.readTestWrite(SI, request({ 0: { newLength: 60 } }));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 100 });
    // Shrinking one share while growing another is fine when the total shrinks.
    await alice.readTestWrite(
      SI,
      request({ 0: { newLength: 20 }, 1: { write: [{ offset: 40, data: bytes(10) }] } }),
    );
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 70 });
    const before = await snapshot(world);
    await expect(
      alice.readTestWrite(SI, request({ 0: { write: [{ offset: 20, data: bytes(1) }] } })),
    ).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(await snapshot(world)).toEqual(before);
    await alice.readTestWrite(SI, request({ 1: { newLength: 0 } }));
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 20 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, …) by a frozen account reads but throws FORBIDDEN for any write', async () => {
    const world = await setup();
    const { accountant, alice, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(10, 1) }));
    await accountant.setAccountStatus(alice.id, 'frozen');
    const read = await alice.readTestWrite(
      SI,
      request({}, { readVector: [{ offset: 0, size: 4 }] }),
    );
    expect(read).toEqual({ success: true, data: new Map([[0, [bytes(10, 1).subarray(0, 4)]]]) });
    expect(await alice.listShares('mutable', SI)).toEqual([0]);
    expect(await contents(alice, 0)).toEqual(bytes(10, 1));
    const before = await snapshot(world);
    await expect(
      alice.readTestWrite(SI, request({ 0: { write: [{ offset: 0, data: bytes(10, 2) }] } })),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(alice.readTestWrite(SI, request({ 0: { newLength: 0 } }))).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    // A test-only vector is still a write request (it may create an empty share).
    await expect(
      alice.readTestWrite(
        SI,
        request({ 0: { test: [{ offset: 0, size: 1, specimen: bytes(1, 1) }] } }),
      ),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await snapshot(world)).toEqual(before);
    await accountant.setAccountStatus(alice.id, 'normal');
    await alice.readTestWrite(SI, request({ 0: { write: [{ offset: 0, data: bytes(10, 2) }] } }));
    expect(await contents(alice, 0)).toEqual(bytes(10, 2));
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, …) appends exactly two quota-warning events, crossing 80% then 100% of the soft quota', async () => {
    const { alice, db } = await setup({}, { softQuotaBytes: 100 });
    const grow = (to: number) =>
      alice.readTestWrite(SI, request({ 0: { write: [{ offset: to - 1, data: bytes(1) }] } }));
    await alice.readTestWrite(SI, create({ 0: bytes(50) }));
    await grow(79);
    expect(await db.listEvents({ kinds: ['quota-warning'] })).toEqual([]);
    await grow(85);
    await grow(90);
    await grow(110);
    await grow(120);
    // Past the soft quota is allowed: it only warns.
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 120 });
    const warnings = await db.listEvents({ kinds: ['quota-warning'] });
    expect(warnings.map((e) => [e.accountId, e.data.percent])).toEqual([
      [alice.id, 80],
      [alice.id, 100],
    ]);
    expect(warnings[0]?.data).toMatchObject({ bytes: 85, softQuotaBytes: 100 });
    expect(warnings[1]?.data).toMatchObject({ bytes: 110, softQuotaBytes: 100 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, create an empty share) over the hard quota is allowed: it adds no byte', async () => {
    const world = await setup();
    const { accountant, alice, db } = world;
    await alice.readTestWrite(SI, create({ 0: bytes(80) }));
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 50, softQuotaBytes: null });
    const result = await alice.readTestWrite(SI, request({ 1: { test: [ABSENT] } }));
    expect(result.success).toBe(true);
    expect(await alice.readShare('mutable', SI, 1)).toEqual({ data: empty, sizeBytes: 0 });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 80 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, newLength 0) of a share the database did not know removes it entirely', async () => {
    const { alice, backend, db } = await setup();
    // Stored before the database knew it (a crash between the two, or a pre-Ostrom share).
    await backend.writeMutable(SI, 0, {
      writeEnabler: WE,
      writes: [{ offset: 0, data: bytes(9) }],
    });
    expect((await alice.readTestWrite(SI, request({ 0: { newLength: 0 } }))).success).toBe(true);
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite(si, create) over an immutable share keeps the immutable share, its row and leases', async () => {
    const { alice, bob, backend, db } = await setup();
    const s = secrets('upload');
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 16 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(16));
    const rows = await db.listShares(SI);
    const leases = await db.listLeases(SI);
    await expect(bob.readTestWrite(SI, create({ 0: bytes(4) }, 'bob'))).rejects.toBeInstanceOf(
      AccountantError,
    );
    expect(await backend.listShares(SI)).toMatchObject([{ shnum: 0, sharetype: 'immutable' }]);
    expect(await db.listShares(SI)).toEqual(rows);
    expect(await db.listLeases(SI)).toEqual(leases);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 16 });
    expect(await db.checkUsage()).toEqual([]);
  });
});
