import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import {
  type Account,
  AccountantError,
  ANONYMOUS_DEFAULTS,
  MAX_SHARES_PER_ALLOCATION,
  UPLOAD_LIMIT_DEFAULTS,
  UPLOAD_LIMIT_RETRY_SECONDS,
} from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  type World,
  type WorldOptions,
} from './setup.js';

// Bounds on uploads in progress (per process, per account, per connection) and the anonymous
// account's default quota and per-connection reservation: a client allocating without end must
// be refused before it exhausts the node, and a refusal must leave nothing behind.

const EVERY_SHARE = Array.from({ length: MAX_SHARES_PER_ALLOCATION }, (_, shnum) => shnum);
const S = secrets('bounds');

/** The code and details an operation was refused with ('ok' when it was not). */
async function refusal(operation: Promise<unknown>): Promise<'ok' | Record<string, unknown>> {
  try {
    await operation;
    return 'ok';
  } catch (error) {
    if (!(error instanceof AccountantError)) throw error;
    return { code: error.code, ...error.details };
  }
}

function allocate(
  account: Account,
  si: string,
  shareNumbers: readonly number[],
  allocatedSize: number,
  connection?: object | string,
) {
  return account.allocate(
    si,
    { ...S, shareNumbers, allocatedSize },
    connection === undefined ? {} : { connection },
  );
}

describeMatrix('bounds on uploads in progress', (matrix) => {
  async function setup(options: WorldOptions = {}) {
    const world = await makeWorld(matrix, { availableBytes: 10 ** 13, ...options });
    const add = async (nickname: string, hardQuotaBytes: number | null = null) =>
      world.accountant.account(
        (await world.accountant.addAccount({ publicKey: randomKey(), nickname, hardQuotaBytes }))
          .id,
      );
    return { ...world, add };
  }

  /** Nothing of a refused allocation: no row, no upload, no owner record, usage unchanged. */
  async function expectNothingOf(world: World, si: string, accountId: number, usage: unknown) {
    expect(await world.db.listShares(si)).toEqual([]);
    expect(await world.backend.getUpload(si, 0)).toBeUndefined();
    expect(await world.backend.listBlobs(`owners/${si.slice(0, 2)}/${si}/`)).toEqual([]);
    expect(await world.db.getAccountUsage(accountId)).toEqual(usage);
    expect(await world.db.checkUsage()).toEqual([]);
  }

  it('one client with a 1 MB quota allocating 256 one-byte shares a time is stopped at the account bound (defaults)', async () => {
    const world = await setup();
    const mallory = await world.add('mallory', 1_000_000);
    const perAccount = UPLOAD_LIMIT_DEFAULTS.maxUploadsPerAccount;
    const admitted = perAccount / MAX_SHARES_PER_ALLOCATION;
    for (let round = 0; round < admitted; round++) {
      expect(
        (await allocate(mallory, storageIndex(`m${round}`), EVERY_SHARE, 1)).allocated,
      ).toEqual(EVERY_SHARE);
    }
    const usage = await world.db.getAccountUsage(mallory.id);
    expect(usage).toEqual({ shares: perAccount, bytes: perAccount });
    for (let round = admitted; round < admitted + 3; round++) {
      const si = storageIndex(`m${round}`);
      expect(await refusal(allocate(mallory, si, EVERY_SHARE, 1))).toEqual({
        code: 'UPLOAD_LIMIT',
        scope: 'account',
        unit: 'uploads',
        limit: perAccount,
        inProgress: perAccount,
        requested: MAX_SHARES_PER_ALLOCATION,
        retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
      });
      await expectNothingOf(world, si, mallory.id, usage);
    }
    // Another client is not blocked by mallory: the node's bound is higher.
    const alice = await world.add('alice');
    expect((await allocate(alice, storageIndex('alice'), EVERY_SHARE, 1)).allocated).toEqual(
      EVERY_SHARE,
    );
  });

  it('a place is freed when an upload completes, is aborted or times out', async () => {
    const world = await setup({ maxUploadsPerAccount: 256 });
    const alice = await world.add('alice');
    const si = storageIndex('full');
    await allocate(alice, si, EVERY_SHARE, 10);
    const next = storageIndex('next');
    expect(await refusal(allocate(alice, next, [0], 10))).toMatchObject({
      code: 'UPLOAD_LIMIT',
      scope: 'account',
    });
    // Completed.
    await alice.writeUpload(si, 0, S.uploadSecret, 0, bytes(10));
    expect((await allocate(alice, next, [0], 10)).allocated).toEqual([0]);
    expect(await refusal(allocate(alice, next, [1], 10))).toMatchObject({ code: 'UPLOAD_LIMIT' });
    // Aborted.
    await alice.abortUpload(si, 1, S.uploadSecret);
    expect((await allocate(alice, next, [1], 10)).allocated).toEqual([1]);
    expect(await refusal(allocate(alice, next, [2], 10))).toMatchObject({ code: 'UPLOAD_LIMIT' });
    // Timed out: every upload of the account is idle past the timeout.
    world.clock.advance(31 * 60);
    expect((await world.accountant.sweep()).uploadsTimedOut).toBe(256);
    expect((await allocate(alice, next, EVERY_SHARE, 10)).allocated).toEqual(EVERY_SHARE);
  });

  it('the node bound holds across accounts; one account at its bound leaves the others room', async () => {
    const world = await setup({ maxUploads: 512, maxUploadsPerAccount: 256 });
    const [alice, bob, carol] = [
      await world.add('alice'),
      await world.add('bob'),
      await world.add('carol'),
    ];
    await allocate(alice, storageIndex('a'), EVERY_SHARE, 1);
    expect(await refusal(allocate(alice, storageIndex('a2'), [0], 1))).toMatchObject({
      scope: 'account',
    });
    await allocate(bob, storageIndex('b'), EVERY_SHARE, 1);
    const si = storageIndex('c');
    expect(await refusal(allocate(carol, si, [0], 1))).toEqual({
      code: 'UPLOAD_LIMIT',
      scope: 'node',
      unit: 'uploads',
      limit: 512,
      inProgress: 512,
      requested: 1,
      retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
    });
    await expectNothingOf(world, si, carol.id, { shares: 0, bytes: 0 });
    await world.accountant.stop();
    // A new process holds no uploads: every place is free again.
    const restarted = await world.restart({ maxUploads: 512, maxUploadsPerAccount: 256 });
    expect((await allocate(restarted.account(carol.id), si, EVERY_SHARE, 1)).allocated).toEqual(
      EVERY_SHARE,
    );
  });

  it('with every bound at its least (256) one allocation of all 256 shares is admitted; less is refused', async () => {
    const world = await setup({
      maxUploads: 256,
      maxUploadsPerAccount: 256,
      maxUploadsPerConnection: 256,
    });
    const alice = await world.add('alice');
    expect(
      (await allocate(alice, storageIndex('all'), EVERY_SHARE, 1, 'connection-1')).allocated,
    ).toEqual(EVERY_SHARE);
    for (const name of ['maxUploads', 'maxUploadsPerAccount', 'maxUploadsPerConnection']) {
      await expect(world.restart({ [name]: 255 })).rejects.toThrow(RangeError);
    }
  });

  it('allocations of one account racing on different indexes never pass its bound together', async () => {
    const world = await setup({ maxUploadsPerAccount: 256 });
    const alice = await world.add('alice');
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map((n) => refusal(allocate(alice, storageIndex(`race${n}`), EVERY_SHARE, 1))),
    );
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== 'ok')).toHaveLength(3);
    expect(await world.db.getAccountUsage(alice.id)).toEqual({ shares: 256, bytes: 256 });
    expect(await world.db.listComingShares()).toHaveLength(256);
  });

  it('a refusal by the bound happens before the held shares are leased', async () => {
    const world = await setup({ maxUploadsPerAccount: 256 });
    const alice = await world.add('alice');
    const bob = await world.add('bob');
    const si = storageIndex('held');
    await allocate(alice, si, [0], 10);
    await alice.writeUpload(si, 0, S.uploadSecret, 0, bytes(10));
    await allocate(bob, storageIndex('bob-full'), EVERY_SHARE, 1);
    // Bob asks for the held share 0 and a new share 1: the new one passes his bound, so the
    // request is refused whole, and share 0 does not get his lease either.
    expect(await refusal(allocate(bob, si, [0, 1], 10))).toMatchObject({ code: 'UPLOAD_LIMIT' });
    expect((await world.db.listLeases(si, 0)).map((lease) => lease.accountId)).toEqual([alice.id]);
    // Asking only for held shares allocates nothing and is never refused by the bound.
    expect(await allocate(bob, si, [0], 10)).toEqual({ alreadyHave: [0], allocated: [] });
  });
});

describeMatrix('bounds per connection', (matrix) => {
  async function setup(options: WorldOptions = {}) {
    return await makeWorld(matrix, {
      availableBytes: 10 ** 13,
      maxUploadsPerConnection: 256,
      ...options,
    });
  }

  it("one connection's uploads are bounded, not the other clients of a shared account", async () => {
    const world = await setup();
    const anonymous = world.accountant.anonymous();
    const [first, second] = [{}, {}];
    await allocate(anonymous, storageIndex('c1'), EVERY_SHARE, 1, first);
    const si = storageIndex('c1-more');
    expect(await refusal(allocate(anonymous, si, [0], 1, first))).toEqual({
      code: 'UPLOAD_LIMIT',
      scope: 'connection',
      unit: 'uploads',
      limit: 256,
      inProgress: 256,
      requested: 1,
      retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
    });
    expect(await world.db.listShares(si)).toEqual([]);
    // Another anonymous client, on its own connection, is not blocked.
    expect(
      (await allocate(anonymous, storageIndex('c2'), EVERY_SHARE, 1, second)).allocated,
    ).toHaveLength(256);
    // Nor one that names no connection (only the account's and the node's bounds apply).
    expect((await allocate(anonymous, storageIndex('c3'), [0, 1], 1)).allocated).toEqual([0, 1]);
    // Connections named by a string count the same way.
    await allocate(anonymous, storageIndex('s1'), EVERY_SHARE, 1, 'peer-a');
    expect(await refusal(allocate(anonymous, si, [0], 1, 'peer-a'))).toMatchObject({
      scope: 'connection',
    });
    expect((await allocate(anonymous, si, [0], 1, 'peer-b')).allocated).toEqual([0]);
  });

  it("a connection's place is freed when its upload completes, whichever connection sends the chunks", async () => {
    const world = await setup();
    const alice = world.accountant.account(
      (await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' })).id,
    );
    const connection = {};
    const si = storageIndex('conn-free');
    await allocate(alice, si, EVERY_SHARE, 4, connection);
    expect(await refusal(allocate(alice, storageIndex('x'), [0], 4, connection))).toMatchObject({
      scope: 'connection',
    });
    // The chunk needs no connection (a Tahoe client sends chunks on any of its connections).
    await alice.writeUpload(si, 7, S.uploadSecret, 0, bytes(4));
    expect((await allocate(alice, storageIndex('x'), [0], 4, connection)).allocated).toEqual([0]);
  });

  it('the anonymous account reserves at most its bound of bytes through one connection', async () => {
    const world = await setup({ anonymousReservedBytesPerConnection: 10_000 });
    const anonymous = world.accountant.anonymous();
    const connection = {};
    await allocate(anonymous, storageIndex('r1'), [0, 1], 4000, connection);
    const si = storageIndex('r2');
    expect(await refusal(allocate(anonymous, si, [0], 4000, connection))).toEqual({
      code: 'UPLOAD_LIMIT',
      scope: 'connection',
      unit: 'bytes',
      limit: 10_000,
      inProgress: 8000,
      requested: 4000,
      retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
    });
    expect(await world.db.listShares(si)).toEqual([]);
    expect((await allocate(anonymous, si, [0], 2000, connection)).allocated).toEqual([0]);
    // Another connection has its own; an account of its own is not held to it.
    expect((await allocate(anonymous, storageIndex('r3'), [0, 1], 4000, {})).allocated).toEqual([
      0, 1,
    ]);
    const alice = world.accountant.account(
      (await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' })).id,
    );
    expect(
      (await allocate(alice, storageIndex('r4'), [0, 1, 2], 4000, connection)).allocated,
    ).toEqual([0, 1, 2]);
  });

  it('by default the anonymous account may reserve 2 GB through one connection in mode enabled', async () => {
    const world = await setup();
    const si = storageIndex('big');
    const tooMuch = ANONYMOUS_DEFAULTS.reservedBytesPerConnection + 1;
    expect(await refusal(allocate(world.accountant.anonymous(), si, [0], tooMuch, {}))).toEqual({
      code: 'UPLOAD_LIMIT',
      scope: 'connection',
      unit: 'bytes',
      limit: ANONYMOUS_DEFAULTS.reservedBytesPerConnection,
      inProgress: 0,
      requested: tooMuch,
      retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
    });
    expect(await world.db.listShares(si)).toEqual([]);
  });
});

// Sparse files: a disk upload of gigabytes costs nothing until written (the memory backend would
// hold them in memory).
describeMatrix(
  'bounds per connection, with large uploads',
  (matrix) => {
    it('mode disabled (everyone is anonymous) and an adopted node set to none have no bound on bytes', async () => {
      const big = ANONYMOUS_DEFAULTS.reservedBytesPerConnection;
      for (const options of [
        { mode: 'disabled' as const },
        { anonymousReservedBytesPerConnection: null, anonymousHardQuotaBytes: null },
      ]) {
        const world = await makeWorld(matrix, { availableBytes: 10 ** 13, ...options });
        const connection = {};
        const anonymous = world.accountant.anonymous();
        expect(
          (await allocate(anonymous, storageIndex('b1'), [0, 1], big, connection)).allocated,
        ).toEqual([0, 1]);
        expect(await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({
          shares: 2,
          bytes: 2 * big,
        });
        await world.accountant.stop();
      }
    });
  },
  (matrix) => matrix.backend === 'disk',
);

describeMatrix("the anonymous account's default quota", (matrix) => {
  const ADOPTED = storageIndex('adopted');

  /**
   * A node whose anonymous account holds its default quota's worth already: shares adopted from
   * a Tahoe-LAFS directory are leased to it (the rows only; nobody reads them here).
   */
  async function nodeHoldingQuota(options: WorldOptions) {
    const world = await makeWorld(matrix, { availableBytes: 10 ** 13, ...options });
    await world.db.adoptShare({
      storageIndex: ADOPTED,
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: ANONYMOUS_DEFAULTS.hardQuotaBytes,
      leases: [{ accountId: ANONYMOUS_ACCOUNT_ID, expiresAt: world.clock.now() + 86_400 }],
    });
    return world;
  }

  it('modes enabled and required: 10 GB in force while the account sets none; its clients are refused past it', async () => {
    for (const mode of ['enabled', 'required'] as const) {
      const world = await makeWorld(matrix, { mode });
      expect((await world.accountant.anonymous().info()).hardQuotaBytes).toBe(
        ANONYMOUS_DEFAULTS.hardQuotaBytes,
      );
    }
    const world = await nodeHoldingQuota({ mode: 'enabled' });
    const anonymous = world.accountant.anonymous();
    const usage = await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID);
    const si = storageIndex('over');
    expect(await refusal(allocate(anonymous, si, [0], 1))).toEqual({
      code: 'QUOTA_EXCEEDED',
      accountId: ANONYMOUS_ACCOUNT_ID,
      usedBytes: ANONYMOUS_DEFAULTS.hardQuotaBytes,
      requestedBytes: 1,
      hardQuotaBytes: ANONYMOUS_DEFAULTS.hardQuotaBytes,
    });
    expect(await world.db.listShares(si)).toEqual([]);
    expect(await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual(usage);
    // A mutable share is growth too.
    expect(
      await refusal(
        anonymous.readTestWrite(si, {
          ...S,
          testWriteVectors: new Map([
            [0, { test: [], write: [{ offset: 0, data: bytes(10) }], newLength: null }],
          ]),
          readVector: [],
        }),
      ),
    ).toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(await world.db.listShares(si)).toEqual([]);
    // An account of its own is not held to the anonymous quota.
    const alice = world.accountant.account(
      (await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' })).id,
    );
    expect((await allocate(alice, si, [0], 1)).allocated).toEqual([0]);
  });

  it("the operator's quota on the account wins over the default", async () => {
    const world = await makeWorld(matrix, { availableBytes: 10 ** 13 });
    await world.accountant.setAccountQuota(ANONYMOUS_ACCOUNT_ID, {
      hardQuotaBytes: 100,
      softQuotaBytes: null,
    });
    const anonymous = world.accountant.anonymous();
    expect((await anonymous.info()).hardQuotaBytes).toBe(100);
    expect((await allocate(anonymous, storageIndex('q1'), [0], 60)).allocated).toEqual([0]);
    expect(await refusal(allocate(anonymous, storageIndex('q2'), [0], 60))).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      hardQuotaBytes: 100,
    });
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it('mode disabled, and a node that adopted a Tahoe directory (set to none), have none', async () => {
    for (const options of [
      { mode: 'disabled' as const },
      { mode: 'enabled' as const, anonymousHardQuotaBytes: null },
    ]) {
      const world = await nodeHoldingQuota(options);
      const anonymous = world.accountant.anonymous();
      expect((await anonymous.info()).hardQuotaBytes).toBeNull();
      expect((await allocate(anonymous, storageIndex('more'), [0, 1], 1000)).allocated).toEqual([
        0, 1,
      ]);
      expect(await world.db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({
        shares: 3,
        bytes: ANONYMOUS_DEFAULTS.hardQuotaBytes + 2000,
      });
    }
  });

  it('refuses a malformed anonymous limit', async () => {
    const world = await makeWorld(matrix);
    for (const value of [-1, 1.5]) {
      for (const name of ['anonymousHardQuotaBytes', 'anonymousReservedBytesPerConnection']) {
        await expect(world.restart({ [name]: value })).rejects.toThrow(RangeError);
      }
    }
  });
});
