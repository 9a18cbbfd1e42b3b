import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { createStorageClient, type StorageClient, storageIndexFromBytes } from '@ostrom/protocol';
import { createScratchSchema, postgresUrl, s3Endpoint, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { initNode } from '../src/node-dir.js';
import { type RunningNode, startNode } from '../src/server.js';
import { outcome } from './helpers.js';
import { steppedPacing } from './node-harness.js';

// Outgrowing one machine (docs/ARCHITECTURE.md, "Multi-process operation"): one node directory, so
// one identity (TLS key, server secret, swissnums), started twice on two ports as two load-balanced
// processes would be, both on one PostgreSQL schema and one S3 bucket. Clients spread their
// requests over both. Each process has its own pools and its own in-process locks, so all agreement
// between them comes from PostgreSQL (advisory locks, row locks) and the shared bucket.

const pg = postgresUrl('@ostrom/server two nodes');
const s3 = s3Endpoint('@ostrom/server two nodes');

function storageIndex(seed: string): string {
  return storageIndexFromBytes(
    new Uint8Array(createHash('sha256').update(`si:${seed}`).digest().subarray(0, 16)),
  );
}

function secrets(seed: string) {
  const hash = (tag: string) =>
    new Uint8Array(createHash('sha256').update(`${tag}:${seed}`).digest());
  return {
    renewSecret: hash('renew'),
    cancelSecret: hash('cancel'),
    uploadSecret: hash('upload').subarray(0, 20),
    writeEnabler: hash('we'),
  };
}

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17) & 0xff);
}

interface Cluster {
  readonly nodes: readonly [RunningNode, RunningNode];
  /** Starts one more process of the same node (same directory, another port). */
  startAnother(): Promise<RunningNode>;
  /** An inspection connection to the shared lease database. */
  readonly db: LeaseDb;
  /** An account, with a client on each node (its NURL on node 0 and on node 1). */
  account(nickname: string, hardQuotaBytes?: number): Promise<{ id: number; via: StorageClient[] }>;
}

async function twoNodes(): Promise<Cluster> {
  const schema = await createScratchSchema(pg!);
  const bucket = `ostrom-${randomBytes(6).toString('hex')}`;
  // moto creates a bucket for an unsigned path-style PUT.
  expect((await fetch(`${s3}/${bucket}`, { method: 'PUT' })).ok).toBe(true);
  const dir = await tempDir();
  await initNode(dir, { backend: 's3', s3: { bucket, endpoint: s3! }, databaseUrl: schema.url });
  await writeFile(
    join(dir, 'private/s3-credentials'),
    'access_key_id = "test"\nsecret_access_key = "test"\n',
    { mode: 0o600 },
  );
  const first = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
  const second = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
  const db = await openLeaseDb({ dialect: 'postgres', connectionString: schema.url });
  const clients: StorageClient[] = [];
  onTestFinished(async () => {
    for (const client of clients) client.close();
    await first.close();
    await second.close();
    await db.close();
    await schema.drop();
  });
  return {
    nodes: [first, second],
    async startAnother() {
      const node = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
      onTestFinished(() => node.close());
      return node;
    },
    db,
    async account(nickname, hardQuotaBytes) {
      const row = await first.accountant.addAccount({
        publicKey: randomBytes(32),
        nickname,
        ...(hardQuotaBytes === undefined ? {} : { hardQuotaBytes }),
      });
      const via = [first, second].map((node) => {
        const client = createStorageClient({ nurl: node.nurlFor(row.id) });
        clients.push(client);
        return client;
      });
      // Same identity: the two nodes give the account the same swissnum and certificate pin.
      expect(new URL(first.nurlFor(row.id)).pathname).toBe(
        new URL(second.nurlFor(row.id)).pathname,
      );
      return { id: row.id, via };
    },
  };
}

describe.skipIf(!pg || !s3)('two nodes with one identity, database and bucket', () => {
  it('concurrent allocations through both nodes never take an account past its hard quota', async () => {
    const cluster = await twoNodes();
    const size = 1000;
    const alice = await cluster.account('alice', 10 * size);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        outcome(
          alice.via[i % 2]!.immutable.allocate(storageIndex(`quota-${i}`), {
            ...secrets(`quota-${i}`),
            shareNumbers: [0],
            allocatedSize: size,
          }),
        ),
      ),
    );
    // Allocations count at once (COMING rows): exactly ten fit, the rest are refused (403).
    expect(results.filter((r) => r === 'ok')).toHaveLength(10);
    expect(results.filter((r) => r === 403)).toHaveLength(20);
    expect(await cluster.db.getAccountUsage(alice.id)).toEqual({ shares: 10, bytes: 10 * size });
    expect(await cluster.db.checkUsage()).toEqual([]);
  });

  it('lease renewals racing uploads on the same indexes through both nodes lose no lease', async () => {
    const cluster = await twoNodes();
    const owner = await cluster.account('owner');
    const renewers = await Promise.all(['r1', 'r2', 'r3'].map((n) => cluster.account(n)));
    const indexes = Array.from({ length: 6 }, (_, i) => storageIndex(`lease-${i}`));
    // Allocated through one node, written through the other: the chunk is forwarded.
    const upload = async (via: StorageClient, other: StorageClient, si: string, shnum: number) => {
      const s = secrets(`${si}/${shnum}`);
      const { allocated } = await via.immutable.allocate(si, {
        ...s,
        shareNumbers: [shnum],
        allocatedSize: 64,
      });
      expect(allocated).toEqual([shnum]);
      await other.immutable.write(si, shnum, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: bytes(64, shnum),
      });
    };
    // Share 0 of each index exists first, so every renewal has something to lease.
    await Promise.all(
      indexes.map((si, i) => upload(owner.via[i % 2]!, owner.via[(i + 1) % 2]!, si, 0)),
    );

    // Then, all at once: shares 1 and 2 of every index uploaded through alternate nodes, and
    // every renewer renewing every index twice, once through each node.
    await Promise.all([
      ...indexes.flatMap((si, i) => [
        upload(owner.via[i % 2]!, owner.via[(i + 1) % 2]!, si, 1),
        upload(owner.via[(i + 1) % 2]!, owner.via[i % 2]!, si, 2),
      ]),
      ...renewers.flatMap((renewer) =>
        indexes.flatMap((si) =>
          renewer.via.map((via) => via.addOrRenewLease(si, secrets(`lease:${renewer.id}`))),
        ),
      ),
    ]);
    // A renewal that landed before share 1 or 2 was complete did not lease it (as in Tahoe), so
    // one more renewal each; then every renewer must hold a lease on every share.
    await Promise.all(
      renewers.flatMap((renewer, r) =>
        indexes.map((si) =>
          renewer.via[r % 2]!.addOrRenewLease(si, secrets(`lease:${renewer.id}`)),
        ),
      ),
    );
    for (const si of indexes) {
      const leases = await cluster.db.listLeases(si);
      for (const shnum of [0, 1, 2]) {
        const holders = leases
          .filter((lease) => lease.shnum === shnum)
          .map((l) => l.accountId)
          .sort((a, b) => a - b);
        expect(holders).toEqual([owner.id, ...renewers.map((r) => r.id)].sort((a, b) => a - b));
      }
    }
    expect(await cluster.db.checkUsage()).toEqual([]);
  });

  it('compare-and-swap writes on one mutable index through both nodes: one wins each round', async () => {
    const cluster = await twoNodes();
    const alice = await cluster.account('alice');
    const si = storageIndex('cas');
    const s = secrets('cas');
    const request = (data: Uint8Array, expected?: Uint8Array) => ({
      ...s,
      testWriteVectors: new Map([
        [
          0,
          {
            test: expected ? [{ offset: 0, size: expected.length, specimen: expected }] : [],
            write: [{ offset: 0, data }],
            newLength: null,
          },
        ],
      ]),
      readVector: [],
    });
    let current = bytes(32, 0);
    expect((await alice.via[0]!.mutable.readTestWrite(si, request(current))).success).toBe(true);
    for (let round = 1; round <= 8; round++) {
      const candidates = [0, 1, 2, 3].map((k) => bytes(32, round * 10 + k));
      const results = await Promise.all(
        candidates.map((data, k) =>
          alice.via[k % 2]!.mutable.readTestWrite(si, request(data, current)),
        ),
      );
      const winners = results.flatMap((r, k) => (r.success ? [k] : []));
      expect(winners).toHaveLength(1);
      current = candidates[winners[0]!]!;
      // Both nodes read the winner's bytes from the shared bucket.
      for (const via of alice.via) expect(await via.mutable.read(si, 0)).toEqual(current);
    }
    expect(await cluster.db.checkUsage()).toEqual([]);
  });

  it('an upload allocated through one node takes its chunks through either, in any order', async () => {
    const cluster = await twoNodes();
    const alice = await cluster.account('alice');
    const si = storageIndex('spread');
    const s = secrets('spread');
    const data = bytes(10_000, 7);
    await alice.via[0]!.immutable.allocate(si, {
      ...s,
      shareNumbers: [0, 1],
      allocatedSize: 10_000,
    });
    // Overlapping chunks, out of order, alternating between the nodes; node 1 holds nothing.
    const chunks = [
      [6000, 10_000],
      [0, 2500],
      [2000, 6500],
    ] as const;
    const results = [];
    for (const [k, [begin, end]] of chunks.entries()) {
      results.push(
        await alice.via[(k + 1) % 2]!.immutable.write(si, 0, {
          uploadSecret: s.uploadSecret,
          offset: begin,
          data: data.subarray(begin, end),
        }),
      );
    }
    expect(results.map((r) => r.complete)).toEqual([false, false, true]);
    expect(results[0]!.required).toEqual([{ begin: 0, end: 6000 }]);
    // The holder's refusals come back as they are: another's upload secret is a 401.
    expect(
      await outcome(
        alice.via[1]!.immutable.write(si, 1, {
          uploadSecret: secrets('other').uploadSecret,
          offset: 0,
          data: bytes(10, 1),
        }),
      ),
    ).toBe(401);
    await alice.via[1]!.immutable.abort(si, 1, s.uploadSecret);
    expect(await outcome(alice.via[1]!.immutable.abort(si, 1, s.uploadSecret))).toBe(404);
    for (const via of alice.via) {
      expect(await via.immutable.listShares(si)).toEqual([0]);
      expect(await via.immutable.read(si, 0)).toEqual(data);
    }
    expect(await cluster.db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 10_000 });
    expect(await cluster.db.checkUsage()).toEqual([]);
  });

  it('a process starting beside a live one leaves its uploads alone; a stopped one takes its uploads along', async () => {
    const cluster = await twoNodes();
    const alice = await cluster.account('alice');
    const si = storageIndex('restart');
    const s = secrets('restart');
    await alice.via[0]!.immutable.allocate(si, { ...s, shareNumbers: [0, 1], allocatedSize: 100 });
    await alice.via[0]!.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: bytes(50, 1),
    });
    const third = await cluster.startAnother();
    const viaThird = createStorageClient({ nurl: third.nurlFor(alice.id) });
    onTestFinished(() => viaThird.close());
    const done = await viaThird.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 50,
      data: bytes(50, 1).subarray(0, 50),
    });
    expect(done.complete).toBe(true);
    // Node 0 stops cleanly: its other upload is aborted, so elsewhere it is simply gone.
    await cluster.nodes[0].close();
    expect(
      await outcome(
        alice.via[1]!.immutable.write(si, 1, {
          uploadSecret: s.uploadSecret,
          offset: 0,
          data: bytes(10, 1),
        }),
      ),
    ).toBe(404);
    expect(await cluster.db.listComingShares()).toEqual([]);
    expect(await cluster.db.checkUsage()).toEqual([]);
  });

  it('a chunk of several pieces reaching the process without its upload is passed on piece by piece', async () => {
    const cluster = await twoNodes();
    const alice = await cluster.account('alice');
    const si = storageIndex('forwarded-pieces');
    const s = secrets('forwarded-pieces');
    // Over two of the 1 MiB pieces a process writes or passes on at a time.
    const data = bytes(2_500_000, 3);
    await alice.via[0]!.immutable.allocate(si, {
      ...s,
      shareNumbers: [0],
      allocatedSize: data.length + 10,
    });
    const first = await alice.via[1]!.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 10,
      data,
    });
    expect(first).toEqual({ complete: false, required: [{ begin: 0, end: 10 }] });
    const done = await alice.via[1]!.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: data.subarray(0, 10),
    });
    expect(done).toEqual({ complete: true, required: [] });
    const read = await alice.via[1]!.immutable.read(si, 0);
    expect(Buffer.from(read.subarray(10)).equals(Buffer.from(data))).toBe(true);
  });

  it('of the processes sharing the database one crawls; when it stops, another takes over', async () => {
    const cluster = await twoNodes();
    // Two processes of their own, their crawls paced by the test.
    const [pace0, pace1] = [steppedPacing(), steppedPacing()];
    const dir = cluster.nodes[0].node.dir;
    for (const node of cluster.nodes) await node.close();
    const first = await startNode(dir, { port: 0, sweepIntervalSeconds: 0, crawlerClock: pace0 });
    onTestFinished(() => first.close());
    await pace0.asleep(); // it took the claim, and waits out the minimum cycle since the last one
    const second = await startNode(dir, { port: 0, sweepIntervalSeconds: 0, crawlerClock: pace1 });
    onTestFinished(() => second.close());
    await pace1.asleep(); // it found the claim taken, and waits to ask again

    const [s0, s1] = [await first.crawler.status(), await second.crawler.status()];
    expect(s0.background).toMatchObject({ running: true, holding: true });
    expect(s1.background).toMatchObject({ running: true, holding: false });
    expect(s1.claim).toMatchObject({ holder: s0.background.processId, live: true });
    expect(pace1.sleeps).toEqual([100_000]); // a third of the claim's time-to-live
    expect(s1.history.map((c) => c.cycle)).toEqual([1]);

    await first.close(); // gives the claim up
    pace1.wake();
    // It took over, and holds the claim while it waits out the minimum cycle since the last one
    // began (no second cycle at once), renewing the claim every third of its time-to-live.
    await pace1.asleep();
    const taken = await second.crawler.status();
    expect(taken.background.holding).toBe(true);
    expect(taken.claim?.holder).toBe(taken.background.processId);
    expect(taken.history.map((c) => c.cycle)).toEqual([1]);
    expect(pace1.sleeps).toEqual([100_000, 100_000]);
  });
});
