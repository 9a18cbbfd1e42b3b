import type { ShareBackend } from '@ostrom/backend';
import { expect, it } from 'vitest';
import { AccountantError } from '../src/index.js';
import { bytes, describeMatrix, makeWorld, randomKey, secrets, storageIndex } from './setup.js';

const SI = storageIndex(1);

describeMatrix('immutable uploads', (matrix) => {
  async function setup(options = {}) {
    const world = await makeWorld(matrix, options);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const bob = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    return {
      ...world,
      alice: world.accountant.account(alice.id),
      bob: world.accountant.account(bob.id),
    };
  }

  it('allocate() then chunks in any order complete the share; the last answers complete', async () => {
    const { alice, db } = await setup();
    const s = secrets('a');
    const data = bytes(3000);
    expect(await alice.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 3000 })).toEqual({
      alreadyHave: [],
      allocated: [0, 1],
    });
    expect(await alice.writeUpload(SI, 0, s.uploadSecret, 2000, data.subarray(2000))).toEqual({
      complete: false,
      required: [{ begin: 0, end: 2000 }],
    });
    // Overlapping bytes that agree are fine (Tahoe's RangeMap check).
    await alice.writeUpload(SI, 0, s.uploadSecret, 1500, data.subarray(1500, 2500));
    expect(await alice.writeUpload(SI, 0, s.uploadSecret, 0, data.subarray(0, 1500))).toEqual({
      complete: true,
      required: [],
    });
    expect(await alice.listShares('immutable', SI)).toEqual([0]);
    expect((await alice.readShare('immutable', SI, 0)).data).toEqual(data);
    expect(await alice.readShare('immutable', SI, 0, { offset: 2990, length: 100 })).toEqual({
      data: data.subarray(2990),
      sizeBytes: 3000,
    });
    expect((await alice.readShare('immutable', SI, 0, { offset: 3000, length: 5 })).data).toEqual(
      new Uint8Array(0),
    );
    expect((await db.getShare(SI, 0))?.state).toBe('stable');
    expect((await db.getShare(SI, 1))?.state).toBe('coming');
    // Usage counts the allocation from the start: a quota is never passed after the fact.
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 6000 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('writeUpload() with different bytes over written ones is CONFLICT and writes nothing', async () => {
    const { alice } = await setup();
    const s = secrets('a');
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 100 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(50, 1));
    await expect(alice.writeUpload(SI, 0, s.uploadSecret, 40, bytes(20, 2))).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const progress = await alice.writeUpload(
      SI,
      0,
      s.uploadSecret,
      50,
      bytes(50, 1).subarray(0, 50),
    );
    expect(progress.complete).toBe(true);
  });

  it('writeUpload() past the allocated size is OUT_OF_RANGE; unknown upload NOT_FOUND; wrong secret BAD_UPLOAD_SECRET', async () => {
    const { alice, bob } = await setup();
    const s = secrets('a');
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 100 });
    await expect(alice.writeUpload(SI, 0, s.uploadSecret, 90, bytes(11))).rejects.toMatchObject({
      code: 'OUT_OF_RANGE',
    });
    await expect(alice.writeUpload(SI, 1, s.uploadSecret, 0, bytes(1))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      alice.writeUpload(SI, 0, secrets('other').uploadSecret, 0, bytes(1)),
    ).rejects.toMatchObject({ code: 'BAD_UPLOAD_SECRET' });
    // Another account's upload is not there for bob, even with the right secret.
    await expect(bob.writeUpload(SI, 0, s.uploadSecret, 0, bytes(100))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(100));
    expect(await alice.listShares('immutable', SI)).toEqual([0]);
  });

  it('an upload takes chunks, abort and completion only from the account that allocated it', async () => {
    const { accountant, alice, bob, db, backend } = await setup();
    const anonymous = accountant.anonymous();
    const s = secrets('a');
    const data = bytes(100);
    await alice.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 100 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, data.subarray(0, 50));
    for (const other of [bob, anonymous]) {
      // The completing chunk, with the right secret, through another account.
      await expect(
        other.writeUpload(SI, 0, s.uploadSecret, 50, data.subarray(50)),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(other.abortUpload(SI, 1, s.uploadSecret)).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      // A wrong secret too: another account learns nothing about the upload.
      await expect(
        other.writeUpload(SI, 0, secrets('x').uploadSecret, 50, data.subarray(50)),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    expect((await db.getShare(SI, 0))?.state).toBe('coming');
    expect(await backend.getUpload(SI, 1)).toBeDefined();
    expect(await alice.listShares('immutable', SI)).toEqual([]);
    expect(await alice.writeUpload(SI, 0, s.uploadSecret, 50, data.subarray(50))).toEqual({
      complete: true,
      required: [],
    });
    await alice.abortUpload(SI, 1, s.uploadSecret);
    expect((await alice.readShare('immutable', SI, 0)).data).toEqual(data);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 100 });
    expect((await db.getAccountUsage(bob.id))?.bytes ?? 0).toBe(0);
    expect((await db.getAccountUsage(0))?.bytes ?? 0).toBe(0);
    expect(await db.checkUsage()).toEqual([]);
  });

  it('a frozen, disabled or deleted account finishes no upload through any account, and may still abort its own', async () => {
    const { accountant, bob, db, backend } = await setup();
    const anonymous = accountant.anonymous();
    for (const status of ['frozen', 'disabled', 'deleted'] as const) {
      const row = await accountant.addAccount({ publicKey: randomKey(), nickname: status });
      const owner = accountant.account(row.id);
      const si = storageIndex(status);
      const s = secrets(status);
      const data = bytes(100);
      await owner.allocate(si, { ...s, shareNumbers: [0, 1], allocatedSize: 100 });
      await owner.writeUpload(si, 0, s.uploadSecret, 0, data.subarray(0, 50));
      await accountant.setAccountStatus(row.id, status, { actor: 'operator' });
      await expect(
        owner.writeUpload(si, 0, s.uploadSecret, 50, data.subarray(50)),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', details: { status } });
      for (const other of [anonymous, bob]) {
        await expect(
          other.writeUpload(si, 0, s.uploadSecret, 50, data.subarray(50)),
        ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      expect(await anonymous.listShares('immutable', si)).toEqual([]);
      expect(await db.getAccountUsage(row.id)).toEqual({ shares: 2, bytes: 200 });
      // Giving back its own reservation is still allowed.
      await owner.abortUpload(si, 0, s.uploadSecret);
      await owner.abortUpload(si, 1, s.uploadSecret);
      expect(await db.listShares(si)).toEqual([]);
      expect(await backend.getUpload(si, 0)).toBeUndefined();
      expect(await db.getAccountUsage(row.id)).toEqual({ shares: 0, bytes: 0 });
    }
    // An account that may not read learns nothing from an abort: a stored share is NOT_FOUND.
    const s = secrets('stored');
    await bob.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 4 });
    await bob.writeUpload(SI, 0, s.uploadSecret, 0, bytes(4));
    await accountant.setAccountStatus(bob.id, 'disabled');
    await expect(bob.abortUpload(SI, 0, s.uploadSecret)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('allocate() lists every held share in alreadyHave and leaves uploads in progress out of both lists', async () => {
    const { alice, bob, db } = await setup();
    const a = secrets('a');
    const b = secrets('b');
    await alice.allocate(SI, { ...a, shareNumbers: [0, 1, 2], allocatedSize: 10 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(10));
    await alice.writeUpload(SI, 2, a.uploadSecret, 0, bytes(10));
    // Share 1 is still being uploaded by alice: bob gets neither it nor a second upload of it.
    expect(await bob.allocate(SI, { ...b, shareNumbers: [1, 3], allocatedSize: 10 })).toEqual({
      alreadyHave: [0, 2],
      allocated: [3],
    });
    // Bob now leases every held share, not only those he asked for.
    const leases = await db.listLeases(SI);
    expect(leases.filter((l) => l.accountId === bob.id).map((l) => l.shnum)).toEqual([0, 2, 3]);
    // The same secret asking again gets nothing new for shares in progress (Tahoe's behaviour).
    expect(await alice.allocate(SI, { ...a, shareNumbers: [1], allocatedSize: 10 })).toEqual({
      alreadyHave: [0, 2],
      allocated: [],
    });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('allocate() of a stored share renews the allocator lease without shortening it', async () => {
    const { alice, db, clock } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 10 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(10));
    const first = (await db.listLeases(SI, 0))[0];
    clock.advance(86_400);
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 10 });
    const second = (await db.listLeases(SI, 0))[0];
    expect(second?.expiresAt).toBe((first?.expiresAt ?? 0) + 86_400);
    expect(second?.renewSecretHash).toBe(first?.renewSecretHash);
  });

  it('allocate() gives shares while they fit the room: free space minus reserved minus uploads in progress', async () => {
    const { alice, bob } = await setup({ availableBytes: 1000, reservedBytes: 300 });
    // 700 bytes of room: two 300-byte shares fit, the third does not.
    expect(
      await alice.allocate(SI, { ...secrets('a'), shareNumbers: [0, 1, 2], allocatedSize: 300 }),
    ).toEqual({ alreadyHave: [], allocated: [0, 1] });
    // Those two count against the room until they are written: 100 bytes are left.
    const other = storageIndex(2);
    expect(
      await bob.allocate(other, { ...secrets('b'), shareNumbers: [0], allocatedSize: 101 }),
    ).toEqual({ alreadyHave: [], allocated: [] });
    expect(
      await bob.allocate(other, { ...secrets('b'), shareNumbers: [0], allocatedSize: 100 }),
    ).toEqual({ alreadyHave: [], allocated: [0] });
  });

  it('allocate() passing the hard quota is QUOTA_EXCEEDED and allocates nothing', async () => {
    const { accountant, alice, db, backend } = await setup();
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 1000, softQuotaBytes: null });
    await alice.allocate(SI, { ...secrets('a'), shareNumbers: [0], allocatedSize: 600 });
    const other = storageIndex(2);
    const error = await alice
      .allocate(other, { ...secrets('a2'), shareNumbers: [0], allocatedSize: 401 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccountantError);
    expect(error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { usedBytes: 600, requestedBytes: 401, hardQuotaBytes: 1000 },
    });
    expect(await db.listShares(other)).toEqual([]);
    expect(await backend.getUpload(other, 0)).toBeUndefined();
    await alice.allocate(other, { ...secrets('a2'), shareNumbers: [0], allocatedSize: 400 });
  });

  it('allocate() crossing 80% and 100% of the soft quota appends one warning each', async () => {
    const { accountant, alice, db } = await setup();
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: null, softQuotaBytes: 1000 });
    for (const [i, size] of [700, 200, 50, 100].entries()) {
      await alice.allocate(storageIndex(i), {
        ...secrets(i),
        shareNumbers: [0],
        allocatedSize: size,
      });
    }
    const warnings = await db.listEvents({ kinds: ['quota-warning'] });
    expect(warnings.map((w) => [w.accountId, w.data.percent, w.data.bytes])).toEqual([
      [alice.id, 80, 900],
      [alice.id, 100, 1050],
    ]);
  });

  it('abortUpload() frees the share; a complete share is ALREADY_COMPLETE; nothing is NOT_FOUND', async () => {
    const { alice, db, backend } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0, 1], allocatedSize: 10 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(10));
    await alice.writeUpload(SI, 1, a.uploadSecret, 0, bytes(5));
    await expect(alice.abortUpload(SI, 1, secrets('x').uploadSecret)).rejects.toMatchObject({
      code: 'BAD_UPLOAD_SECRET',
    });
    await alice.abortUpload(SI, 1, a.uploadSecret);
    expect(await backend.getUpload(SI, 1)).toBeUndefined();
    expect(await db.getShare(SI, 1)).toBeUndefined();
    await expect(alice.abortUpload(SI, 0, a.uploadSecret)).rejects.toMatchObject({
      code: 'ALREADY_COMPLETE',
    });
    await expect(alice.abortUpload(SI, 1, a.uploadSecret)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 10 });
    // The aborted share can be allocated again.
    expect(
      (await alice.allocate(SI, { ...a, shareNumbers: [1], allocatedSize: 10 })).allocated,
    ).toEqual([1]);
  });

  it('sweep() aborts uploads idle for 30 minutes, and a chunk resets the timer', async () => {
    const { accountant, alice, clock, db } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0, 1], allocatedSize: 10 });
    clock.advance(29 * 60);
    await alice.writeUpload(SI, 1, a.uploadSecret, 0, bytes(5));
    clock.advance(60);
    expect((await accountant.sweep()).uploadsTimedOut).toBe(1);
    await expect(alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(10))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await db.getShare(SI, 0)).toBeUndefined();
    clock.advance(29 * 60);
    expect((await accountant.sweep()).uploadsTimedOut).toBe(1);
    expect(await db.listShares(SI)).toEqual([]);
    expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
  });

  it('a restart discards uploads in progress and their rows; complete shares stay', async () => {
    const world = await setup();
    const a = secrets('a');
    await world.alice.allocate(SI, { ...a, shareNumbers: [0, 1], allocatedSize: 10 });
    await world.alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(10));
    await world.alice.writeUpload(SI, 1, a.uploadSecret, 0, bytes(3));
    const restarted = await world.restart();
    const alice = restarted.account(world.alice.id);
    expect((await world.db.listShares(SI)).map((s) => [s.shnum, s.state])).toEqual([[0, 'stable']]);
    expect(await alice.listShares('immutable', SI)).toEqual([0]);
    expect(
      (await alice.allocate(SI, { ...a, shareNumbers: [1], allocatedSize: 10 })).allocated,
    ).toEqual([1]);
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it('a restart after the last chunk was stored but before it was recorded keeps the share, owned', async () => {
    const world = await setup();
    const a = secrets('a');
    await world.alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 10 });
    // The backend completes the share; the process dies before the row becomes STABLE.
    await world.backend.writeUpload(SI, 0, 0, bytes(10));
    await world.restart();
    expect(await world.db.getShare(SI, 0)).toMatchObject({
      state: 'stable',
      ownerAccountId: world.alice.id,
      usedBytes: 10,
    });
    expect(await world.db.getAccountUsage(world.alice.id)).toEqual({ shares: 1, bytes: 10 });
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it('stop() aborts every upload in progress', async () => {
    const { accountant, alice, db, backend } = await setup();
    await alice.allocate(SI, { ...secrets('a'), shareNumbers: [0, 1], allocatedSize: 10 });
    await accountant.stop();
    expect(await db.listShares(SI)).toEqual([]);
    expect(await backend.getUpload(SI, 0)).toBeUndefined();
  });

  it('readShare() of a share of the other type, or of none, is NOT_FOUND', async () => {
    const { alice } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 4 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(4));
    await expect(alice.readShare('mutable', SI, 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(alice.readShare('immutable', SI, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await alice.listShares('mutable', SI)).toEqual([]);
    expect(await alice.listShares('immutable', storageIndex(99))).toEqual([]);
  });

  it('adviseCorrupt() records an event for a held share and is NOT_FOUND otherwise', async () => {
    const { alice, db } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 4 });
    await expect(alice.adviseCorrupt('immutable', SI, 0, 'bad hash')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(4));
    await alice.adviseCorrupt('immutable', SI, 0, 'bad hash');
    const [event] = await db.listEvents({ kinds: ['share-corrupt'] });
    expect(event).toMatchObject({
      accountId: alice.id,
      storageIndex: SI,
      shnum: 0,
      data: { reason: 'bad hash', sharetype: 'immutable' },
    });
  });

  it('addOrRenewLease() leases every stored share, and is NOT_FOUND for an index with none', async () => {
    const { alice, bob, db, clock } = await setup();
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0, 1], allocatedSize: 4 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(4));
    await expect(bob.addOrRenewLease(storageIndex(5), secrets('b'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await bob.addOrRenewLease(SI, secrets('b'));
    // Share 1 is still coming: it is not stored, and renewals see stored shares.
    const bobs = (await db.listLeases(SI)).filter((l) => l.accountId === bob.id);
    expect(bobs.map((l) => l.shnum)).toEqual([0]);
    expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 4 });
    // Alice's renewal extends her lease on the stored share, not the one on her upload.
    const uploading = (await db.listLeases(SI, 1)).find((l) => l.accountId === alice.id);
    clock.advance(86_400);
    await alice.addOrRenewLease(SI, a);
    const leaseOf = async (shnum: number) =>
      (await db.listLeases(SI, shnum)).find((l) => l.accountId === alice.id);
    expect((await leaseOf(0))?.renewedAt).toBe(clock.now());
    expect(await leaseOf(1)).toEqual(uploading);
  });

  it('addOrRenewLease() renews the shares the database holds without listing the store, and looks in the store (adopting what it finds) only for an index the database does not know', async () => {
    let listings = 0;
    const { alice, bob, db, backend } = await setup({
      backendFactory: (inner: ShareBackend) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          listShares: (si: string) => {
            listings++;
            return inner.listShares(si);
          },
        }),
    });
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 4 });
    await alice.writeUpload(SI, 0, a.uploadSecret, 0, bytes(4));
    listings = 0;
    await bob.addOrRenewLease(SI, secrets('b'));
    expect(listings).toBe(0);
    expect((await db.listLeases(SI, 0)).map((l) => l.accountId)).toContain(bob.id);
    // A share stored outside this server, for an index the database has never seen.
    const other = storageIndex('stored-elsewhere');
    await backend.createUpload(other, 3, 4);
    await backend.writeUpload(other, 3, 0, bytes(4));
    await bob.addOrRenewLease(other, secrets('b'));
    expect(listings).toBeGreaterThan(0);
    expect((await db.getShare(other, 3))?.state).toBe('stable');
    expect((await db.listLeases(other, 3)).map((l) => l.accountId)).toEqual([bob.id]);
  });

  it('setLeaseDuration() is clamped to the policy and used by later leases', async () => {
    const { alice, db, clock } = await setup();
    expect(await alice.setLeaseDuration(10)).toBe(86_400);
    expect(await alice.setLeaseDuration(10 * 365 * 86_400)).toBe(db.policy.maxLeaseDurationSeconds);
    expect(await alice.setLeaseDuration(90 * 86_400)).toBe(90 * 86_400);
    const a = secrets('a');
    await alice.allocate(SI, { ...a, shareNumbers: [0], allocatedSize: 4 });
    expect((await db.listLeases(SI, 0))[0]?.expiresAt).toBe(clock.now() + 90 * 86_400);
    expect((await alice.info()).leaseDurationSeconds).toBe(90 * 86_400);
  });
});
