import { expect, it } from 'vitest';
import { type Account, buildDigest } from '../src/index.js';
import { bytes, describeMatrix, makeWorld, randomKey, secrets, storageIndex } from './setup.js';

const HOUR = 3600;

/** Uploads one immutable share in 1000-byte chunks, as a Tahoe client would. */
async function upload(account: Account, si: string, shnum: number, size: number, seed: string) {
  const s = secrets(seed);
  const { allocated } = await account.allocate(si, {
    ...s,
    shareNumbers: [shnum],
    allocatedSize: size,
  });
  expect(allocated).toEqual([shnum]);
  const data = bytes(size, size);
  for (let offset = 0; offset < size; offset += 1000) {
    await account.writeUpload(
      si,
      shnum,
      s.uploadSecret,
      offset,
      data.subarray(offset, offset + 1000),
    );
  }
}

/** Writes a whole mutable share (create or overwrite), returning the reply. */
async function publish(account: Account, si: string, seed: string, data: Uint8Array) {
  const s = secrets(seed);
  return await account.readTestWrite(si, {
    ...s,
    testWriteVectors: new Map([
      [0, { test: [], write: [{ offset: 0, data }], newLength: data.length }],
    ]),
    readVector: [{ offset: 0, size: 8 }],
  });
}

describeMatrix('a day on a storage node', (matrix) => {
  it('three accounts upload, renew, rewrite; quotas, a freeze and a deletion; totals equal a recount', async () => {
    const { accountant, db, clock, backend } = await makeWorld(matrix, {
      deletionGraceSeconds: HOUR,
    });
    const start = clock.now();
    const ids = {
      alice: (
        await accountant.addAccount(
          { publicKey: randomKey(), nickname: 'alice' },
          { actor: 'operator' },
        )
      ).id,
      bob: (
        await accountant.addAccount(
          { publicKey: randomKey(), nickname: 'bob' },
          { actor: 'operator' },
        )
      ).id,
      carol: (
        await accountant.addAccount(
          { publicKey: randomKey(), nickname: 'carol' },
          { actor: 'operator' },
        )
      ).id,
    };
    const alice = accountant.account(ids.alice);
    const bob = accountant.account(ids.bob);
    const carol = accountant.account(ids.carol);
    await accountant.setAccountQuota(
      ids.bob,
      { hardQuotaBytes: 20_000, softQuotaBytes: 10_000 },
      { actor: 'operator' },
    );

    // 08:00 — alice backs up two files; bob uploads one; carol publishes a directory.
    clock.advance(8 * HOUR);
    await upload(alice, storageIndex('a1'), 0, 5000, 'a1');
    await upload(alice, storageIndex('a2'), 0, 3000, 'a2');
    await upload(bob, storageIndex('b1'), 0, 6000, 'b1');
    await publish(carol, storageIndex('c-dir'), 'c-dir', bytes(800, 1));

    // 10:00 — carol rewrites her directory twice (it grows, then shrinks); alice adds a lease to
    // bob's file (the same convergent file), so that share is kept by two accounts.
    clock.advance(2 * HOUR);
    await publish(carol, storageIndex('c-dir'), 'c-dir', bytes(1500, 2));
    const reply = await publish(carol, storageIndex('c-dir'), 'c-dir', bytes(1200, 3));
    expect(reply.success).toBe(true);
    expect(reply.data.get(0)?.[0]).toEqual(bytes(1500, 2).subarray(0, 8));
    await alice.addOrRenewLease(storageIndex('b1'), secrets('alice-renews-b1'));

    // 12:00 — bob goes past 80% and then 100% of his soft quota, then hits the hard quota.
    clock.advance(2 * HOUR);
    await upload(bob, storageIndex('b2'), 0, 3000, 'b2');
    await upload(bob, storageIndex('b3'), 0, 2000, 'b3');
    await expect(
      bob.allocate(storageIndex('b4'), {
        ...secrets('b4'),
        shareNumbers: [0],
        allocatedSize: 10_000,
      }),
    ).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });

    // 14:00 — the operator freezes bob: he can still read, no longer write.
    clock.advance(2 * HOUR);
    await accountant.setAccountStatus(ids.bob, 'frozen', { actor: 'operator' });
    expect((await bob.readShare('immutable', storageIndex('b2'), 0)).data).toEqual(
      bytes(3000, 3000),
    );
    await expect(publish(bob, storageIndex('b-dir'), 'b-dir', bytes(10))).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });

    // 16:00 — carol leaves: her account is deleted; after the grace period the worker removes
    // her directory (nobody else keeps it).
    clock.advance(2 * HOUR);
    await accountant.setAccountStatus(ids.carol, 'deleted', { actor: 'operator' });
    clock.advance(HOUR);
    expect(await accountant.sweep()).toMatchObject({ leasesDropped: 1, sharesDeleted: 1 });
    expect(await backend.listShares(storageIndex('c-dir'))).toEqual([]);

    // Evening: the totals agree with a recount, and with what is stored.
    expect(await db.checkUsage()).toEqual([]);
    expect(await db.getAccountUsage(ids.alice)).toEqual({ shares: 3, bytes: 14_000 });
    expect(await db.getAccountUsage(ids.bob)).toEqual({ shares: 3, bytes: 11_000 });
    expect(await db.getAccountUsage(ids.carol)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 5, bytes: 19_000 });

    // The events tell the story, in order.
    const story = (await db.listEvents({ since: start + 1, limit: 1000 }))
      .filter((e) => e.kind !== 'leases-dropped')
      .map(
        (e) => `${e.kind}:${e.accountId}${e.kind === 'quota-warning' ? `:${e.data.percent}` : ''}`,
      );
    expect(story).toEqual([
      `share-stored:${ids.alice}`,
      `share-stored:${ids.alice}`,
      `share-stored:${ids.bob}`,
      `share-stored:${ids.carol}`,
      // Warnings come with the allocation, which is when the bytes start to count.
      `quota-warning:${ids.bob}:80`,
      `share-stored:${ids.bob}`,
      `quota-warning:${ids.bob}:100`,
      `share-stored:${ids.bob}`,
      // The allocation past bob's hard quota, then his write once frozen: both refused.
      `write-refused:${ids.bob}`,
      `account-status-changed:${ids.bob}`,
      `write-refused:${ids.bob}`,
      `account-status-changed:${ids.carol}`,
      `share-deleted:${ids.carol}`,
    ]);

    const digest = await buildDigest(db, { since: start, until: clock.now() + 1 });
    expect(digest.lines).toEqual([
      'bob uploaded 11 kB',
      'alice uploaded 8 kB',
      'carol uploaded 800 B',
      'alice joined',
      'bob joined',
      'carol joined',
      'bob reached 80% of the soft quota',
      'bob reached 100% of the soft quota',
      'operator froze bob',
      'operator deleted carol',
      'alice is using 14 kB',
      'bob is using 11 kB',
    ]);
  });
});
