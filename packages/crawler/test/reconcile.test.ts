import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendError, ownerRecordName, type ShareBackend } from '@ostrom/backend';
import { ANONYMOUS_ACCOUNT_ID, hashLeaseSecret, STARTER_ACCOUNT_ID } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import { PREFIXES } from '../src/prefixes.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  storeOutOfBand,
  upload,
} from './setup.js';

const SI = storageIndex('one');
const DAY = 86_400;

/** Storage indexes in a known crawl order: `FIRST` is settled before `SECOND`. */
const FIRST = `aa${storageIndex('first').slice(2)}`;
const SECOND = `zz${storageIndex('second').slice(2)}`;

describeMatrix('reconciliation', (matrix) => {
  // A full cycle walks all 1,024 prefixes, and on PostgreSQL each prefix costs several round
  // trips: the differences that one world can hold side by side (each on storage indexes of its
  // own, settled in different prefixes) share one cycle, and one more that must find nothing
  // left to do, instead of a world and a cycle or two each. Those needing a database of their
  // own (owner records read into an empty one) or a failing cycle have their own tests below.
  it('one cycle settles each kind of difference side by side, and the next finds nothing to do', async () => {
    /** Storage indexes, one per difference. */
    const si = {
      adopted: storageIndex('adopted'),
      embedded: storageIndex('embedded-leases'),
      vanished: storageIndex('vanished'),
      kept: storageIndex('kept-beside-vanished'),
      live: storageIndex('live-upload'),
      dead: storageIndex('dead-upload'),
      arrived: storageIndex('all-bytes-arrived'),
      unreadable: storageIndex('unreadable'),
      garbage: storageIndex('garbage'),
      badRecord: storageIndex('corrupt-owner-record'),
    };
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        // A share the store cannot parse fails every read of its header.
        Object.assign(Object.create(inner) as ShareBackend, {
          async statShare(storage: string, shnum: number) {
            if (storage === si.unreadable) throw new BackendError('CORRUPT', 'bad container magic');
            return inner.statShare(storage, shnum);
          },
          async getShareMeta(storage: string, shnum: number) {
            if (storage === si.unreadable) throw new BackendError('CORRUPT', 'bad container magic');
            return inner.getShareMeta(storage, shnum);
          },
        }),
    });
    const now = world.clock.now();
    const onDisk = matrix.backend === 'disk';

    // A share added behind our back.
    await storeOutOfBand(world.backend, si.adopted, 3, bytes(500));
    // A found share with leases embedded in it (where the backend keeps them).
    const lease = (seed: string, expiresAt: number) => ({
      ownerNum: 0,
      renewSecret: secrets(seed).renewSecret,
      cancelSecret: secrets(seed).cancelSecret,
      secretsHashed: false,
      expiresAt,
    });
    await storeOutOfBand(world.backend, si.embedded, 0, bytes(100), {
      leases: [lease('a', now + 10 * DAY), lease('b', now + 20 * DAY)],
    });
    // A STABLE share deleted behind our back, beside one that stays.
    const holder = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'vic' });
    await upload(world, holder.id, si.vanished, 0, bytes(400));
    await upload(world, holder.id, si.kept, 0, bytes(100));
    await world.backend.deleteShare(si.vanished, 0);
    // A live process's upload under way, and a dead process's.
    const s = secrets('live');
    const anonymous = world.accountant.anonymous();
    await anonymous.allocate(si.live, { ...s, shareNumbers: [0], allocatedSize: 50 });
    await anonymous.writeUpload(si.live, 0, s.uploadSecret, 0, bytes(20));
    await world.db.addComingShares({
      storageIndex: si.dead,
      sharetype: 'immutable',
      accountId: 0,
      shares: [{ shnum: 2, usedBytes: 70 }],
      uploadProcess: 'gone-1',
    });
    // An upload whose bytes all arrived before its process died.
    await world.db.addComingShares({
      storageIndex: si.arrived,
      sharetype: 'immutable',
      accountId: 0,
      shares: [{ shnum: 1, usedBytes: 80 }],
      uploadProcess: 'gone-1',
    });
    await storeOutOfBand(world.backend, si.arrived, 1, bytes(80));
    // A share the store cannot read (see backendFactory), and on disk a file of garbage.
    await storeOutOfBand(world.backend, si.unreadable, 0, bytes(10));
    if (onDisk) {
      await storeOutOfBand(world.backend, si.garbage, 0, bytes(10));
      await writeFile(
        join(world.root!, 'shares', si.garbage.slice(0, 2), si.garbage, '0'),
        'not a Tahoe container',
      );
    }
    // A share whose owner record is corrupt.
    await storeOutOfBand(world.backend, si.badRecord, 0, bytes(10));
    await world.backend.putBlob(ownerRecordName(si.badRecord, 0), bytes(10), new Uint8Array(32));

    const report = await world.crawler().runOnce();
    // Examined: every share the store lists (adopted, embedded, kept, arrived, unreadable,
    // garbage, badRecord; not the vanished one, nor the uploads under way). Bytes: those the
    // database counts (the unreadable and garbage ones are not adopted).
    expect(report.counters).toMatchObject({
      examined: onDisk ? 7 : 6,
      adopted: 3, // adopted, embedded, badRecord
      bytes: 500 + 100 + 100 + 80 + 10, // adopted, embedded, kept, arrived, badRecord
      vanished: 1,
      deadUploads: 1, // not the one whose bytes all arrived
      corrupt: onDisk ? 2 : 1,
    });

    // A share added behind our back is adopted STABLE with a starter lease, once.
    expect(await world.db.getShare(si.adopted, 3)).toMatchObject({
      state: 'stable',
      usedBytes: 500,
      sharetype: 'immutable',
      ownerAccountId: null,
    });
    const [starter] = await world.db.listLeases(si.adopted, 3);
    expect(starter).toMatchObject({
      accountId: STARTER_ACCOUNT_ID,
      expiresAt: now + world.db.policy.starterLeaseDurationSeconds,
    });
    const adoptions = await world.db.listEvents({ kinds: ['share-adopted'] });
    expect(adoptions.map((e) => e.storageIndex).sort()).toEqual(
      [si.adopted, si.embedded, si.badRecord].sort(),
    );
    expect(adoptions.filter((e) => e.storageIndex === si.adopted)).toEqual([
      expect.objectContaining({ actor: 'crawler', storageIndex: si.adopted, shnum: 3 }),
    ]);

    // Leases embedded in a found share lease it to the anonymous account until the latest.
    const embedded = await world.db.listLeases(si.embedded, 0);
    if (world.backend.capabilities.embedsLeases) {
      expect(embedded).toEqual([
        expect.objectContaining({
          accountId: ANONYMOUS_ACCOUNT_ID,
          expiresAt: now + 20 * DAY,
          renewSecretHash: hashLeaseSecret(secrets('b').renewSecret),
          cancelSecretHash: hashLeaseSecret(secrets('b').cancelSecret),
        }),
      ]);
    } else {
      expect(embedded.map((l) => l.accountId)).toEqual([STARTER_ACCOUNT_ID]);
    }

    // A STABLE share deleted behind our back is removed, reported and uncounted.
    expect(await world.db.getShare(si.vanished, 0)).toBeUndefined();
    expect(await world.db.getAccountUsage(holder.id)).toEqual({ shares: 1, bytes: 100 });
    expect(await world.db.listEvents({ kinds: ['share-vanished'] })).toEqual([
      expect.objectContaining({ storageIndex: si.vanished, shnum: 0, actor: 'crawler' }),
    ]);
    expect(await world.backend.listBlobs(ownerRecordName(si.vanished, 0))).toEqual([]);

    // A dead process's upload is removed; a live process's upload is never touched.
    expect(await world.db.getShare(si.dead, 2)).toBeUndefined();
    expect((await world.db.getShare(si.live, 0))?.state).toBe('coming');

    // An upload whose bytes all arrived before its process died is kept.
    expect(await world.db.getShare(si.arrived, 1)).toMatchObject({
      state: 'stable',
      ownerAccountId: 0,
    });
    expect((await world.db.listLeases(si.arrived, 1)).map((l) => l.accountId)).toEqual([0]);

    // An unreadable share, and a share file overwritten with garbage, are recorded as corrupt
    // and not adopted.
    const corrupt = onDisk ? [si.unreadable, si.garbage] : [si.unreadable];
    for (const storage of corrupt) expect(await world.db.getShare(storage, 0)).toBeUndefined();
    expect(
      (await world.db.listEvents({ kinds: ['share-corrupt'] })).sort((a, b) =>
        a.storageIndex! < b.storageIndex! ? -1 : 1,
      ),
    ).toEqual(
      corrupt
        .sort()
        .map((storage) =>
          expect.objectContaining({ storageIndex: storage, shnum: 0, actor: 'crawler' }),
        ),
    );

    // A corrupt owner record is ignored: the embedded leases or a starter lease still count.
    expect((await world.db.listLeases(si.badRecord, 0)).map((l) => l.accountId)).toEqual([
      STARTER_ACCOUNT_ID,
    ]);

    // A second cycle finds nothing more to do.
    const again = await world.crawler().runOnce();
    expect(again.counters).toMatchObject({
      examined: report.counters.examined,
      adopted: 0,
      bytes: report.counters.bytes,
      vanished: 0,
      deadUploads: 0,
    });
    expect(await world.db.listEvents({ kinds: ['share-adopted'] })).toHaveLength(adoptions.length);
    expect(await world.db.checkUsage()).toEqual([]);

    // The live upload carries on and completes.
    const done = await anonymous.writeUpload(si.live, 0, s.uploadSecret, 20, bytes(30));
    expect(done.complete).toBe(true);
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it('an owner record gives a found share back to its account, recreated from its key if lost', async () => {
    const world = await makeWorld(matrix);
    const key = randomKey();
    const alice = await world.accountant.addAccount({ publicKey: key, nickname: 'alice' });
    await upload(world, alice.id, SI, 1, bytes(300));
    // The database forgets both the share and the account (as a restore of an older backup would).
    await world.db.transaction(async (tx) => {
      await tx.markGoing(SI, 1, { dropLeases: true });
      await tx.removeGoing(SI, 1);
    });
    const fresh = await makeWorld(matrix);
    // A new, empty database over the same store.
    const crawler = fresh.crawler({ leaseDb: fresh.db, backend: world.backend });
    await crawler.runOnce();
    const share = await fresh.db.getShare(SI, 1);
    const owner = await fresh.db.getAccountByPublicKey(key);
    expect(owner).toMatchObject({ nickname: 'alice', status: 'normal' });
    expect(share).toMatchObject({ state: 'stable', ownerAccountId: owner!.id, usedBytes: 300 });
    expect((await fresh.db.listLeases(SI, 1)).map((l) => l.accountId)).toEqual([owner!.id]);
    expect(await fresh.db.getAccountUsage(owner!.id)).toEqual({ shares: 1, bytes: 300 });
    // And in the original database the share comes back to the same account by key.
    await world.crawler().runOnce();
    expect((await world.db.getShare(SI, 1))?.ownerAccountId).toBe(alice.id);
  });

  it("owner records alone (no account records yet): each share goes to its record's id, never a fresh one", async () => {
    const world = await makeWorld(matrix);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const bob = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    // bob's share comes first in the crawl: fresh ids in crawl order would swap the two.
    await upload(world, alice.id, SECOND, 0, bytes(10));
    await upload(world, bob.id, FIRST, 0, bytes(20));
    for (const name of await world.backend.listBlobs('accounts/')) {
      await world.backend.deleteBlob(name);
    }
    const fresh = await makeWorld(matrix);
    await fresh.crawler({ backend: world.backend }).runOnce();
    expect((await fresh.db.getShare(SECOND, 0))?.ownerAccountId).toBe(alice.id);
    expect((await fresh.db.getShare(FIRST, 0))?.ownerAccountId).toBe(bob.id);
    expect(await fresh.db.getAccount(alice.id)).toMatchObject({
      publicKey: alice.publicKey,
      nickname: 'alice',
      status: 'normal',
    });
    expect(await fresh.db.getAccount(bob.id)).toMatchObject({ publicKey: bob.publicKey });
    // The accounts made again have their records now.
    expect(await world.backend.listBlobs('accounts/')).toEqual([
      `accounts/${alice.id}`,
      `accounts/${bob.id}`,
    ]);
  });

  it('an owner record whose id holds another key: the share does not go to that account', async () => {
    const world = await makeWorld(matrix);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    await upload(world, alice.id, FIRST, 0, bytes(10));
    await world.backend.deleteBlob(`accounts/${alice.id}`);
    const fresh = await makeWorld(matrix);
    // Alice's id was given to someone else in this database.
    const mallory = await fresh.accountant.addAccount({ publicKey: randomKey(), nickname: 'mal' });
    expect(mallory.id).toBe(alice.id);
    await fresh.crawler({ backend: world.backend }).runOnce();
    expect(await fresh.db.getShare(FIRST, 0)).toMatchObject({ ownerAccountId: null });
    expect((await fresh.db.listLeases(FIRST, 0)).map((l) => l.accountId)).not.toContain(mallory.id);
    expect(await fresh.db.getAccountUsage(mallory.id)).toEqual({ shares: 0, bytes: 0 });
    const [notice] = await fresh.db.listEvents({ kinds: ['notice'] });
    expect(notice).toMatchObject({
      storageIndex: FIRST,
      data: { reason: 'owner-record-conflict', recordAccountId: alice.id, givenTo: 'no-owner' },
    });
    // With alice's key under another id (a database rebuilt before account records), hers.
    const second = await makeWorld(matrix);
    await second.db.reserveAccountIds(40);
    await second.accountant.addAccount({ publicKey: randomKey(), nickname: 'mal' });
    const moved = await second.accountant.addAccount({
      publicKey: alice.publicKey!,
      nickname: 'alice',
    });
    await second.crawler({ backend: world.backend }).runOnce();
    expect((await second.db.getShare(FIRST, 0))?.ownerAccountId).toBe(moved.id);
  });

  it('a row that appears between the listing and the lock: the share is settled, not adopted again', async () => {
    const world = await makeWorld(matrix);
    await storeOutOfBand(world.backend, FIRST, 0, bytes(40));
    await storeOutOfBand(world.backend, SECOND, 0, bytes(50));
    // Someone else adopts FIRST after the crawler listed its prefix (it saw no row), before the
    // crawler takes the index's lock.
    const crawler = world.crawler({
      exclusive: async (si, fn) => {
        if (si === FIRST && !(await world.db.getShare(FIRST, 0))) {
          await world.db.adoptShare({
            storageIndex: FIRST,
            shnum: 0,
            sharetype: 'immutable',
            usedBytes: 40,
          });
        }
        return world.accountant.exclusive(si, fn);
      },
    });
    const report = await crawler.runOnce();
    expect(report.counters).toMatchObject({ examined: 2, adopted: 1, corrupt: 0, bytes: 90 });
    // The starter lease its adopter gave, and no second adoption's.
    expect((await world.db.listLeases(FIRST)).map((lease) => lease.accountId)).toEqual([
      STARTER_ACCOUNT_ID,
    ]);
    expect(
      (await world.db.listEvents({ kinds: ['share-adopted'] })).map((e) => e.storageIndex),
    ).toEqual([SECOND]);
    expect(await world.db.getServerUsage()).toEqual({ shares: 2, bytes: 90 });
  });

  it("runOnce lists the next prefix's shares before it settles this one's", async () => {
    const log: string[] = [];
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async listShareSets(prefix: string) {
            log.push(`list ${prefix}`);
            return inner.listShareSets(prefix);
          },
          async getShareMeta(si: string, shnum: number) {
            log.push(`read ${si.slice(0, 2)}`);
            return inner.getShareMeta(si, shnum);
          },
        }),
    });
    const [first, second, third] = PREFIXES;
    await storeOutOfBand(world.backend, `${first}${storageIndex('ahead').slice(2)}`, 0, bytes(8));
    const report = await world.crawler().runOnce();
    expect(report.counters.adopted).toBe(1);
    expect(log.slice(0, 4)).toEqual([
      `list ${first}`,
      `list ${second}`,
      `read ${first}`,
      `list ${third}`,
    ]);
    // Every prefix listed once.
    expect(log.filter((entry) => entry.startsWith('list '))).toHaveLength(PREFIXES.length);
  });

  it('a prefix of shares without owner records: one listing of its records, no lookup per share', async () => {
    const calls: string[] = [];
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async getBlob(name: string, key: Uint8Array) {
            calls.push(`get ${name}`);
            return inner.getBlob(name, key);
          },
          async listBlobs(prefix?: string) {
            calls.push(`list ${prefix}`);
            return inner.listBlobs(prefix);
          },
        }),
    });
    const key = randomKey();
    const alice = await world.accountant.addAccount({ publicKey: key, nickname: 'alice' });
    const owned = `aa${storageIndex('owned').slice(2)}`;
    await upload(world, alice.id, owned, 0, bytes(30));
    await world.db.transaction(async (tx) => {
      await tx.markGoing(owned, 0, { dropLeases: true });
      await tx.removeGoing(owned, 0);
    });
    const found = Array.from({ length: 5 }, (_, i) => `aa${storageIndex(`found ${i}`).slice(2)}`);
    for (const si of found) await storeOutOfBand(world.backend, si, 0, bytes(10));
    calls.length = 0;
    const report = await world.crawler().runOnce();
    expect(report.counters.adopted).toBe(6);
    const ownerCalls = calls.filter((call) => call.includes('owners/'));
    expect(ownerCalls).toEqual(['list owners/aa/', `get ${ownerRecordName(owned, 0)}`]);
    expect((await world.db.getShare(owned, 0))?.ownerAccountId).toBe(alice.id);
    for (const si of found) expect((await world.db.getShare(si, 0))?.ownerAccountId).toBeNull();
  });

  it("a dead upload's owner record the store would not remove keeps its row until a later cycle removes both", async () => {
    let storeRefusesDeletes = false;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async deleteBlob(name: string) {
            if (storeRefusesDeletes) throw new BackendError('UNAVAILABLE', 'the store is away');
            return await inner.deleteBlob(name);
          },
        }),
    });
    // In the first prefix crawled ('22'), so that the failing cycle fails at once.
    const dead = `22${storageIndex('dead-owner').slice(2)}`;
    await world.db.addComingShares({
      storageIndex: dead,
      sharetype: 'immutable',
      accountId: 0,
      shares: [{ shnum: 2, usedBytes: 70 }],
      uploadProcess: 'gone-1',
    });
    await world.backend.putBlob(ownerRecordName(dead, 2), bytes(10), new Uint8Array(32));
    storeRefusesDeletes = true;
    await expect(world.crawler().runOnce()).rejects.toThrow('the store is away');
    expect((await world.db.getShare(dead, 2))?.state).toBe('coming');
    storeRefusesDeletes = false;
    const report = await world.crawler().runOnce();
    expect(report.counters.deadUploads).toBe(1);
    expect(await world.db.getShare(dead, 2)).toBeUndefined();
    expect(await world.backend.listBlobs(ownerRecordName(dead, 2))).toEqual([]);
  });
});

describeMatrix('a failure while a prefix is settled', (matrix) => {
  it('stops new work, lets the work in flight finish, then fails the cycle', async () => {
    // Forty unknown shares in one prefix; reading the first one's header fails.
    const indexes = Array.from({ length: 40 }, (_, i) => `aa${storageIndex(i).slice(2)}`).sort();
    let inFlight = 0;
    let calls = 0;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          async getShareMeta(si: string, shnum: number) {
            calls++;
            if (si === indexes[0]) throw new BackendError('IO', 'disk on fire');
            inFlight++;
            try {
              return await inner.getShareMeta(si, shnum);
            } finally {
              inFlight--;
            }
          },
        }),
    });
    for (const si of indexes) await storeOutOfBand(world.backend, si, 0, bytes(10));
    await expect(world.crawler().runOnce()).rejects.toThrow('disk on fire');
    expect(inFlight).toBe(0);
    const seen = calls;
    expect(seen).toBeLessThan(indexes.length); // no index started after the failure
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(seen);
  });
});
