import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import type { ShareBackend } from '@ostrom/backend';
import type { LeaseDb } from '@ostrom/leasedb';
import {
  type AccountRequest,
  createStorageClient,
  deriveLeaseSecrets,
  deriveWriteEnabler,
  encodeAccountRequestBody,
  formatAuthorization,
  formatSecretHeaders,
  generateAccountKey,
  parseNurl,
  type SignedAccountRequest,
  type StorageClient,
  signAccountRequest,
} from '@ostrom/protocol';
import {
  createScratchSchema,
  memoryTempDir,
  postgresUrl,
  s3Endpoint,
  seededRandom,
} from '@ostrom/test-fixtures';
import pino from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ConfigValues } from '../src/config.js';
import { initNode } from '../src/node-dir.js';
import { openNodeBackend, openNodeDatabase, type RunningNode, startNode } from '../src/server.js';
import { bytes, storageIndex } from './http-setup.js';

// The end-to-end suite: a real node directory started with `startNode`, spoken to over HTTPS on
// loopback by the protocol's StorageClient, run once on disk + SQLite and once on S3 (moto) +
// PostgreSQL. What the HTTP layer does with each header is tested in http-*.test.ts; here the
// whole node is under test: identity, persistence, accounting and shutdown.

const pg = postgresUrl('@ostrom/server end-to-end on PostgreSQL + S3');
const s3 = s3Endpoint('@ostrom/server end-to-end on PostgreSQL + S3');

type Flavour = 'disk + SQLite' | 'S3 + PostgreSQL';

const flavours: { name: Flavour; skip: boolean }[] = [
  { name: 'disk + SQLite', skip: false },
  { name: 'S3 + PostgreSQL', skip: !pg || !s3 },
];

interface Logged {
  level: number;
  msg: string;
}

/** A node directory of the flavour, with what a test needs to start it and look inside it. */
interface NodeHarness {
  readonly dir: string;
  readonly logged: Logged[];
  /** Starts (or restarts) the node; closed after the test unless the test closed it. */
  start(options?: { port?: number; drainTimeoutMs?: number }): Promise<RunningNode>;
  /** A second connection to the node's lease database (closed after the test). */
  openDb(): Promise<LeaseDb>;
  /** A second handle on the node's backend (closed after the test). */
  openBackend(): Promise<ShareBackend>;
  /** A pinned client (closed after the test). */
  client(nurl: string): StorageClient;
}

async function createNode(flavour: Flavour, values: ConfigValues = {}): Promise<NodeHarness> {
  const dir = await memoryTempDir('e2e-node-');
  if (flavour === 'disk + SQLite') {
    await initNode(dir, values);
  } else {
    const schema = await createScratchSchema(pg!);
    onTestFinished(() => schema.drop());
    const bucket = `ostrom-e2e-${randomBytes(6).toString('hex')}`;
    // moto creates a bucket for an unsigned path-style PUT.
    expect((await fetch(`${s3}/${bucket}`, { method: 'PUT' })).ok).toBe(true);
    await initNode(dir, {
      ...values,
      backend: 's3',
      s3: { bucket, endpoint: s3! },
      databaseUrl: schema.url,
    });
    await writeFile(
      join(dir, 'private/s3-credentials'),
      'access_key_id = "test"\nsecret_access_key = "test"\n',
      { mode: 0o600 },
    );
  }
  const logged: Logged[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        const entry = JSON.parse(line) as Logged;
        logged.push(entry);
      },
    },
  );
  const closers: (() => unknown)[] = [];
  onTestFinished(async () => {
    for (const close of closers.reverse()) await close();
  });
  let last: RunningNode | undefined;
  return {
    dir,
    logged,
    async start(options = {}) {
      const running = await startNode(dir, {
        port: options.port ?? 0,
        sweepIntervalSeconds: 0,
        logger,
        ...(options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs }),
      });
      last = running;
      closers.push(() => running.close());
      return running;
    },
    async openDb() {
      if (!last) throw new Error('start the node first');
      const db = await openNodeDatabase(last.node);
      closers.push(() => db.close());
      return db;
    },
    async openBackend() {
      if (!last) throw new Error('start the node first');
      const backend = await openNodeBackend(last.node);
      closers.push(() => backend.close());
      return backend;
    },
    client(nurl) {
      const client = createClient(nurl);
      closers.push(() => client.close());
      return client;
    },
  };
}

function createClient(nurl: string): StorageClient {
  return createStorageClient({ nurl });
}

const now = () => Math.floor(Date.now() / 1000);

/** Lease secrets, upload secret and write enabler of one Tahoe client for one server. */
function tahoeClient(running: RunningNode, seed: number) {
  const clientLeaseSecret = new Uint8Array(32).fill(seed);
  return {
    leaseSecrets: (si: string) =>
      deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId: running.node.tubId }),
    uploadSecret: () => new Uint8Array(randomBytes(20)),
    writeEnabler: (writeKey: Uint8Array) =>
      deriveWriteEnabler({ writeKey, tubId: running.node.tubId }),
  };
}

/** A signed account request for this node, as `ostrom account request` builds it. */
function accountRequest(
  running: RunningNode,
  overrides: Partial<AccountRequest> = {},
  key = generateAccountKey(),
): SignedAccountRequest {
  return signAccountRequest(
    {
      serverId: parseNurl(running.nurl).spkiHash,
      publicKey: key.publicKey,
      nickname: 'laptop',
      timestamp: now(),
      nonce: new Uint8Array(randomBytes(16)),
      ...overrides,
    },
    key.privateKey,
  );
}

/** Asks for an account through the anonymous NURL and returns its id and NURL. */
async function requestAccount(
  node: NodeHarness,
  running: RunningNode,
  nickname: string,
): Promise<{ id: number; nurl: string; client: StorageClient }> {
  const answer = await node
    .client(running.nurl)
    .accounting.requestAccount(accountRequest(running, { nickname }));
  if (answer.status !== 'active')
    throw new Error(`expected an active account, got ${answer.status}`);
  return { id: answer.accountId, nurl: answer.nurl, client: node.client(answer.nurl) };
}

/** Allocates and uploads a whole immutable share in one PATCH. */
async function upload(
  client: StorageClient,
  running: RunningNode,
  si: string,
  data: Uint8Array,
  seed = 1,
): Promise<void> {
  const tahoe = tahoeClient(running, seed);
  const uploadSecret = tahoe.uploadSecret();
  const allocated = await client.immutable.allocate(si, {
    ...tahoe.leaseSecrets(si),
    uploadSecret,
    shareNumbers: [0],
    allocatedSize: data.length,
  });
  expect(allocated).toEqual({ alreadyHave: [], allocated: [0] });
  expect(await client.immutable.write(si, 0, { uploadSecret, offset: 0, data })).toEqual({
    complete: true,
    required: [],
  });
}

interface Chunk {
  shnum: number;
  begin: number;
  end: number;
}

/** Chunks covering `[0, size)` of each share, each overlapping its neighbours, shuffled. */
function shuffledOverlappingChunks(size: number, shnums: number[], random: () => number): Chunk[] {
  const chunks: Chunk[] = [];
  for (const shnum of shnums) {
    const cuts = new Set<number>([0, size]);
    while (cuts.size < 24) cuts.add(1 + Math.floor(random() * (size - 1)));
    const sorted = [...cuts].sort((a, b) => a - b);
    for (let i = 0; i + 1 < sorted.length; i++) {
      const overlap = () => Math.floor(random() * 2000);
      chunks.push({
        shnum,
        begin: Math.max(0, sorted[i]! - overlap()),
        end: Math.min(size, sorted[i + 1]! + overlap()),
      });
    }
  }
  // Fisher–Yates with the seeded generator: the same order every run.
  for (let i = chunks.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
  }
  return chunks;
}

/** The ranges of `[0, size)` no interval covers, as the server's `required` lists them. */
function missing(size: number, written: { begin: number; end: number }[]) {
  const sorted = [...written].sort((a, b) => a.begin - b.begin);
  const gaps: { begin: number; end: number }[] = [];
  let at = 0;
  for (const { begin, end } of sorted) {
    if (begin > at) gaps.push({ begin: at, end: begin });
    at = Math.max(at, end);
  }
  if (at < size) gaps.push({ begin: at, end: size });
  return gaps;
}

/** A PATCH sent by hand whose body the test releases: `Expect: 100-continue` proves the server holds it. */
async function heldPatch(
  running: RunningNode,
  si: string,
  shnum: number,
  uploadSecret: Uint8Array,
  offset: number,
  data: Uint8Array,
) {
  const { swissnum } = parseNurl(running.nurl);
  const req = https.request({
    host: '127.0.0.1',
    port: running.port,
    method: 'PATCH',
    path: `/storage/v1/immutable/${si}/${shnum}`,
    rejectUnauthorized: false,
    agent: false,
    headers: {
      Authorization: formatAuthorization(swissnum),
      'X-Tahoe-Authorization': formatSecretHeaders({ 'upload-secret': uploadSecret }),
      'Content-Range': `bytes ${offset}-${offset + data.length - 1}/*`,
      'Content-Length': data.length,
      Accept: 'application/cbor',
      Expect: '100-continue',
    },
  });
  const outcome = new Promise<{ status: number } | { error: Error }>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
  });
  // The server answers 100 Continue when it dispatches the request: from then on it is in flight.
  await new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    req.flushHeaders();
  });
  const half = Math.floor(data.length / 2);
  await new Promise<void>((resolve) => req.write(data.subarray(0, half), () => resolve()));
  return {
    outcome,
    /** Sends the rest of the body. */
    finish: () => req.end(data.subarray(half)),
  };
}

for (const { name: flavour, skip } of flavours) {
  describe.skipIf(skip)(`end to end through startNode on ${flavour}`, () => {
    it('a full immutable upload in shuffled, overlapping chunks reads back byte-identical', async () => {
      const node = await createNode(flavour);
      const running = await node.start();
      const client = node.client(running.nurl);
      const random = seededRandom(flavour === 'disk + SQLite' ? 5 : 6);
      const size = 200_000 + Math.floor(random() * 50_000);
      const shnums = [0, 3];
      const data = new Map(shnums.map((sh) => [sh, new Uint8Array(randomBytes(size))]));
      const si = storageIndex(`e2e-shuffle-${flavour}`);
      const tahoe = tahoeClient(running, 1);
      const uploadSecret = tahoe.uploadSecret();
      expect(
        await client.immutable.allocate(si, {
          ...tahoe.leaseSecrets(si),
          uploadSecret,
          shareNumbers: shnums,
          allocatedSize: size,
        }),
      ).toEqual({ alreadyHave: [], allocated: shnums });

      const chunks = shuffledOverlappingChunks(size, shnums, random);
      const written = new Map<number, Chunk[]>(shnums.map((sh) => [sh, []]));
      let completed = 0;
      for (const chunk of chunks) {
        const done = written.get(chunk.shnum)!;
        // A chunk over an already complete share has nowhere to go: the upload is over.
        if (done.length > 0 && missing(size, done).length === 0) continue;
        const result = await client.immutable.write(si, chunk.shnum, {
          uploadSecret,
          offset: chunk.begin,
          data: data.get(chunk.shnum)!.subarray(chunk.begin, chunk.end),
        });
        done.push(chunk);
        const required = missing(size, done);
        expect(result).toEqual({ complete: required.length === 0, required });
        if (result.complete) completed++;
      }
      expect(completed).toBe(2);
      // Overlaps really happened: more bytes were sent than the shares hold.
      const sent = [...written.values()].flat().reduce((n, c) => n + c.end - c.begin, 0);
      expect(sent).toBeGreaterThan(2 * size);

      expect(await client.immutable.listShares(si)).toEqual(shnums);
      for (const sh of shnums) {
        const share = data.get(sh)!;
        expect(Buffer.from(await client.immutable.read(si, sh)).equals(share)).toBe(true);
        for (let i = 0; i < 20; i++) {
          const offset = Math.floor(random() * (size + 100));
          const length = 1 + Math.floor(random() * 70_000);
          const got = await client.immutable.read(si, sh, { offset, length });
          const want = share.subarray(offset, Math.min(size, offset + length));
          expect(Buffer.from(got).equals(want)).toBe(true);
        }
        // Reading the last byte, and from the end (204, nothing).
        expect(await client.immutable.read(si, sh, { offset: size - 1, length: 1 })).toEqual(
          share.subarray(size - 1),
        );
        expect(await client.immutable.read(si, sh, { offset: size, length: 10 })).toEqual(
          new Uint8Array(0),
        );
      }
      // The database agrees: two stable shares of `size`, charged to the anonymous account.
      const db = await node.openDb();
      const rows = await db.listShares(si);
      expect(rows.map((r) => [r.shnum, r.state, r.usedBytes])).toEqual([
        [0, 'stable', size],
        [3, 'stable', size],
      ]);
      expect(await db.getAccountUsage(0)).toEqual({ shares: 2, bytes: 2 * size });
    });

    it('a mutable file written and rewritten by two writers with test vectors (compare-and-swap)', async () => {
      const node = await createNode(flavour);
      const running = await node.start();
      const si = storageIndex(`e2e-mutable-${flavour}`);
      const writeKey = new Uint8Array(randomBytes(16));
      // Two Tahoe clients holding the same write cap: one write enabler, their own lease secrets.
      const writers = [1, 2].map((seed) => {
        const tahoe = tahoeClient(running, seed);
        return {
          client: node.client(running.nurl),
          secrets: { ...tahoe.leaseSecrets(si), writeEnabler: tahoe.writeEnabler(writeKey) },
        };
      });
      const [alice, bob] = writers as [(typeof writers)[0], (typeof writers)[0]];
      const checkstring = (data: Uint8Array) => data.subarray(0, 32);
      const version = (seqnum: number, length: number) => {
        const out = new Uint8Array(randomBytes(length));
        out[0] = seqnum;
        return out;
      };
      const cas = (
        writer: typeof alice,
        expected: Uint8Array | undefined,
        next: Uint8Array,
        newLength: number | null = null,
      ) =>
        writer.client.mutable.readTestWrite(si, {
          ...writer.secrets,
          testWriteVectors: new Map([
            [
              0,
              {
                test:
                  expected === undefined
                    ? [{ offset: 0, size: 1, specimen: new Uint8Array(0) }]
                    : [{ offset: 0, size: 32, specimen: checkstring(expected) }],
                write: [{ offset: 0, data: next }],
                newLength,
              },
            ],
          ]),
          readVector: [{ offset: 0, size: 32 }],
        });

      const v1 = version(1, 5000);
      expect(await cas(alice, undefined, v1)).toEqual({ success: true, data: new Map() });
      // Bob's create of the same file loses: the share exists now; he is shown what is there.
      expect(await cas(bob, undefined, version(1, 10))).toEqual({
        success: false,
        data: new Map([[0, [checkstring(v1)]]]),
      });

      // Both read v1 and both try to replace it at once: exactly one wins.
      const a2 = version(2, 6000);
      const b2 = version(2, 3000);
      const [ra, rb] = await Promise.all([cas(alice, v1, a2), cas(bob, v1, b2)]);
      expect([ra.success, rb.success].sort()).toEqual([false, true]);
      const [winner, loser, won, lost] = ra.success ? [alice, bob, a2, b2] : [bob, alice, b2, a2];
      // The winner read v1 before writing; the loser sees the winner's data.
      expect((ra.success ? ra : rb).data).toEqual(new Map([[0, [checkstring(v1)]]]));
      expect((ra.success ? rb : ra).data).toEqual(new Map([[0, [checkstring(won)]]]));
      // A write without a new length overwrites in place: if the shorter version won, v1's tail
      // is still there after it.
      const afterRace = new Uint8Array(Math.max(v1.length, won.length));
      afterRace.set(v1);
      afterRace.set(won);
      expect(await loser.client.mutable.read(si, 0)).toEqual(afterRace);
      // The loser's stale retry still fails and changes nothing.
      expect((await cas(loser, v1, lost)).success).toBe(false);

      // The loser merges and retries against what it was shown, truncating to its own length.
      const v3 = version(3, 2500);
      expect(await cas(loser, won, v3, v3.length)).toEqual({
        success: true,
        data: new Map([[0, [checkstring(won)]]]),
      });
      expect(await winner.client.mutable.read(si, 0)).toEqual(v3);
      expect(await winner.client.mutable.read(si, 0, { offset: 100, length: 50 })).toEqual(
        v3.subarray(100, 150),
      );
      expect(await winner.client.mutable.listShares(si)).toEqual([0]);

      // Another write cap (another write enabler) is refused outright.
      const intruder = {
        client: winner.client,
        secrets: {
          ...winner.secrets,
          writeEnabler: deriveWriteEnabler({
            writeKey: new Uint8Array(16),
            tubId: running.node.tubId,
          }),
        },
      };
      await expect(cas(intruder, v3, version(9, 10))).rejects.toMatchObject({ status: 401 });
      const db = await node.openDb();
      const [row] = await db.listShares(si);
      expect(row).toMatchObject({ sharetype: 'mutable', state: 'stable', usedBytes: v3.length });
    });

    it('leases: renewal answers 204 and moves the expiry in the leasedb; Tahoe-derived secrets', async () => {
      const node = await createNode(flavour, { leaseDuration: '1d' });
      const running = await node.start();
      const account = await requestAccount(node, running, 'renewer');
      const si = storageIndex(`e2e-lease-${flavour}`);
      const before = now();
      await upload(account.client, running, si, bytes(4000), 7);
      const db = await node.openDb();
      const [first, ...others] = await db.listLeases(si);
      expect(others).toEqual([]);
      expect(first!.accountId).toBe(account.id);
      expect(first!.expiresAt).toBeGreaterThanOrEqual(before + 86_400);
      expect(first!.expiresAt).toBeLessThanOrEqual(now() + 86_400);

      // A longer duration for the account, then a renewal with the same derived secrets.
      expect(await account.client.accounting.setLeaseDuration(10 * 86_400)).toBe(10 * 86_400);
      const renew = await account.client.raw({
        method: 'PUT',
        path: `/storage/v1/lease/${si}`,
        headers: {
          'X-Tahoe-Authorization': formatSecretHeaders({
            'lease-renew-secret': tahoeClient(running, 7).leaseSecrets(si).renewSecret,
            'lease-cancel-secret': tahoeClient(running, 7).leaseSecrets(si).cancelSecret,
          }),
        },
      });
      expect(renew.status).toBe(204);
      expect(renew.body.length).toBe(0);
      const [renewed, ...more] = await db.listLeases(si);
      expect(more).toEqual([]);
      expect(renewed!.accountId).toBe(account.id);
      expect(renewed!.expiresAt).toBeGreaterThanOrEqual(before + 10 * 86_400);
      expect(renewed!.expiresAt).toBeGreaterThan(first!.expiresAt + 8 * 86_400);
      expect(renewed!.renewSecretHash).toBe(first!.renewSecretHash);
      expect((await db.getShare(si, 0))!.leaseExpiresAt).toBe(renewed!.expiresAt);

      // The anonymous account renews too: a second lease, its own, with the node's duration.
      await node.client(running.nurl).addOrRenewLease(si, tahoeClient(running, 8).leaseSecrets(si));
      const both = await db.listLeases(si);
      expect(both.map((l) => l.accountId).sort()).toEqual([0, account.id]);
      const anonymous = both.find((l) => l.accountId === 0)!;
      expect(anonymous.expiresAt).toBeLessThanOrEqual(now() + 86_400);
      // A renewal never shortens: the account's lease keeps its later expiry.
      expect(both.find((l) => l.accountId === account.id)!.expiresAt).toBe(renewed!.expiresAt);
      // No share, no lease: 404.
      await expect(
        account.client.addOrRenewLease(
          storageIndex('e2e-no-share'),
          tahoeClient(running, 7).leaseSecrets(si),
        ),
      ).rejects.toMatchObject({ status: 404 });
    });

    it('per-account accounting: two NURLs charged separately, frozen and over-quota refused with 403', async () => {
      const node = await createNode(flavour);
      const running = await node.start();
      const alice = await requestAccount(node, running, 'alice');
      const bob = await requestAccount(node, running, 'bob');
      expect(alice.id).not.toBe(bob.id);
      expect(alice.nurl).toBe(running.nurlFor(alice.id));
      expect(parseNurl(alice.nurl).spkiHash).toBe(parseNurl(running.nurl).spkiHash);
      expect(parseNurl(alice.nurl).swissnum).not.toBe(parseNurl(bob.nurl).swissnum);

      const siA = storageIndex(`e2e-alice-${flavour}`);
      const siB = storageIndex(`e2e-bob-${flavour}`);
      await upload(alice.client, running, siA, bytes(1000, 1), 1);
      await upload(bob.client, running, siB, bytes(2500, 2), 2);
      const db = await node.openDb();
      expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 1000 });
      expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 1, bytes: 2500 });
      expect((await db.getAccountUsage(0))?.bytes ?? 0).toBe(0);
      expect(await db.getServerUsage()).toEqual({ shares: 2, bytes: 3500 });
      expect(await alice.client.accounting.getAccount()).toMatchObject({
        accountId: alice.id,
        nickname: 'alice',
        status: 'normal',
        shares: 1,
        bytes: 1000,
      });
      expect(await bob.client.accounting.getAccount()).toMatchObject({
        accountId: bob.id,
        nickname: 'bob',
        shares: 1,
        bytes: 2500,
      });

      // Bob over his hard quota: 403 with a reason, nothing allocated.
      await running.accountant.setAccountQuota(bob.id, {
        hardQuotaBytes: 3000,
        softQuotaBytes: null,
      });
      const tahoe = tahoeClient(running, 2);
      const siB2 = storageIndex(`e2e-bob2-${flavour}`);
      await expect(
        bob.client.immutable.allocate(siB2, {
          ...tahoe.leaseSecrets(siB2),
          uploadSecret: tahoe.uploadSecret(),
          shareNumbers: [0],
          allocatedSize: 501,
        }),
      ).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 403 });
      expect(await db.listShares(siB2)).toEqual([]);
      // Within the quota it still works.
      await upload(bob.client, running, siB2, bytes(500, 3), 2);
      expect(await db.getAccountUsage(bob.id)).toEqual({ shares: 2, bytes: 3000 });

      // Alice frozen: writes (immutable and mutable) 403, reads and listing allowed.
      await running.accountant.setAccountStatus(alice.id, 'frozen');
      const siA2 = storageIndex(`e2e-alice2-${flavour}`);
      const ta = tahoeClient(running, 1);
      await expect(
        alice.client.immutable.allocate(siA2, {
          ...ta.leaseSecrets(siA2),
          uploadSecret: ta.uploadSecret(),
          shareNumbers: [0],
          allocatedSize: 10,
        }),
      ).rejects.toMatchObject({ status: 403 });
      await expect(
        alice.client.mutable.readTestWrite(siA2, {
          ...ta.leaseSecrets(siA2),
          writeEnabler: ta.writeEnabler(new Uint8Array(16).fill(1)),
          testWriteVectors: new Map([
            [0, { test: [], write: [{ offset: 0, data: bytes(10) }], newLength: null }],
          ]),
          readVector: [],
        }),
      ).rejects.toMatchObject({ status: 403 });
      expect(await alice.client.immutable.read(siA, 0)).toEqual(bytes(1000, 1));
      expect(await alice.client.immutable.read(siB, 0, { offset: 10, length: 5 })).toEqual(
        bytes(2500, 2).subarray(10, 15),
      );
      expect(await alice.client.immutable.listShares(siA)).toEqual([0]);
      expect((await alice.client.accounting.getAccount()).status).toBe('frozen');
      // Bob is not affected by alice's status; alice's usage did not move.
      expect((await bob.client.accounting.getAccount()).status).toBe('normal');
      expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 1000 });
      expect(await db.listShares(siA2)).toEqual([]);

      // Thawed, she writes again; an unknown swissnum is 401 whatever it asks.
      await running.accountant.setAccountStatus(alice.id, 'normal');
      await upload(alice.client, running, siA2, bytes(10, 4), 1);
      const { spkiHash, host, port } = parseNurl(running.nurl);
      const stranger = node.client(`pb://${spkiHash}@${host}:${port}/${'a'.repeat(32)}#v=1`);
      await expect(stranger.getVersion()).rejects.toMatchObject({ status: 401 });
    });

    it('the signed account request: bad signature, wrong server id, replayed nonce, stale timestamp refused', async () => {
      const node = await createNode(flavour);
      const running = await node.start();
      const client = node.client(running.nurl);
      const post = (signed: SignedAccountRequest) =>
        client.raw({
          method: 'POST',
          path: '/accounting/v1/account',
          headers: { 'Content-Type': 'application/cbor' },
          body: encodeAccountRequestBody(signed),
        });
      const text = (body: Uint8Array) => Buffer.from(body).toString('utf8');

      const good = accountRequest(running);
      const forged = { ...good, signature: good.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
      const badSignature = await post(forged);
      expect(badSignature.status).toBe(400);
      expect(text(badSignature.body)).toMatch(/signature/);
      // The server id is the SPKI hash: the node's own server id (v0-…) or another key's hash is wrong.
      for (const serverId of [running.node.serverId, 'x'.repeat(43)]) {
        const wrong = await post(accountRequest(running, { serverId }));
        expect(wrong.status).toBe(400);
        expect(text(wrong.body)).toMatch(/another server/);
      }
      for (const timestamp of [now() - 3 * 3600, now() + 3 * 3600]) {
        const stale = await post(accountRequest(running, { timestamp }));
        expect(stale.status).toBe(400);
        expect(text(stale.body)).toMatch(/timestamp/);
      }
      const db = await node.openDb();
      expect((await db.listAccounts()).total).toBe(2); // anonymous and starter only

      const first = await post(good);
      expect(first.status).toBe(200);
      const replay = await post(good);
      expect(replay.status).toBe(409);
      // The same key with a fresh nonce is the same account again.
      expect((await db.listAccounts()).total).toBe(3);
    });

    it('graceful shutdown in the middle of uploads: in-flight PATCHes end cleanly, nothing is left coming', async () => {
      const node = await createNode(flavour);
      const running = await node.start({ drainTimeoutMs: 3000 });
      const client = node.client(running.nurl);
      const tahoe = tahoeClient(running, 1);
      const si1 = storageIndex(`e2e-close-1-${flavour}`);
      const si2 = storageIndex(`e2e-close-2-${flavour}`);
      const secret1 = tahoe.uploadSecret();
      const secret2 = tahoe.uploadSecret();
      const share = new Uint8Array(randomBytes(100_000));
      await client.immutable.allocate(si1, {
        ...tahoe.leaseSecrets(si1),
        uploadSecret: secret1,
        shareNumbers: [0, 1],
        allocatedSize: share.length,
      });
      await client.immutable.allocate(si2, {
        ...tahoe.leaseSecrets(si2),
        uploadSecret: secret2,
        shareNumbers: [0],
        allocatedSize: share.length,
      });
      expect(
        await client.immutable.write(si1, 0, {
          uploadSecret: secret1,
          offset: 0,
          data: share.subarray(0, 30_000),
        }),
      ).toEqual({ complete: false, required: [{ begin: 30_000, end: 100_000 }] });
      // A complete share beside the uploads survives the shutdown.
      const kept = storageIndex(`e2e-close-kept-${flavour}`);
      await upload(client, running, kept, bytes(777), 1);
      const db = await node.openDb();
      expect((await db.listComingShares()).length).toBe(3);

      // Two PATCHes in flight: one whose body arrives after close() began, one that never ends.
      const finishing = await heldPatch(running, si1, 1, secret1, 0, share.subarray(0, 40_000));
      const stalled = await heldPatch(running, si2, 0, secret2, 0, share.subarray(0, 50_000));
      const closing = running.close();
      // No new connections once closing started.
      const late = createClient(running.nurl);
      await expect(late.getVersion()).rejects.toMatchObject({ code: 'NETWORK' });
      late.close();
      finishing.finish();
      expect(await finishing.outcome).toEqual({ status: 200 });
      await closing;
      // The stalled one was cut off at the drain timeout: an error, no answer, no crash.
      const cut = await stalled.outcome;
      expect('error' in cut).toBe(true);
      expect(node.logged.filter((entry) => entry.level >= 50)).toEqual([]);

      // After close: no COMING rows, no uploads in the backend, the complete share intact.
      expect(await db.listComingShares()).toEqual([]);
      expect(await db.listShares(si1)).toEqual([]);
      expect(await db.listShares(si2)).toEqual([]);
      expect(await db.getServerUsage()).toEqual({ shares: 1, bytes: 777 });
      const backend = await node.openBackend();
      for (const [si, sh] of [
        [si1, 0],
        [si1, 1],
        [si2, 0],
      ] as const) {
        expect(await backend.getUpload(si, sh)).toBeUndefined();
        expect(await backend.statShare(si, sh)).toBeUndefined();
      }
      expect(await backend.discardUploads()).toBe(0);
      expect((await backend.listShares(kept)).map((s) => s.shnum)).toEqual([0]);

      // Started again, the node has forgotten the uploads: the same allocation is fresh.
      const again = await node.start({ port: running.port });
      const client2 = node.client(again.nurl);
      expect(
        await client2.immutable.allocate(si1, {
          ...tahoe.leaseSecrets(si1),
          uploadSecret: secret1,
          shareNumbers: [0, 1],
          allocatedSize: share.length,
        }),
      ).toEqual({ alreadyHave: [], allocated: [0, 1] });
      expect(await client2.immutable.read(kept, 0)).toEqual(bytes(777));
    });

    it('restart with the same identity: same NURL, same data, account NURLs still work', async () => {
      const node = await createNode(flavour);
      const running = await node.start();
      const alice = await requestAccount(node, running, 'alice');
      const si = storageIndex(`e2e-restart-${flavour}`);
      const msi = storageIndex(`e2e-restart-m-${flavour}`);
      const data = new Uint8Array(randomBytes(70_000));
      await upload(alice.client, running, si, data, 1);
      const tahoe = tahoeClient(running, 1);
      const writeKey = new Uint8Array(16).fill(5);
      const rtw = (client: StorageClient, payload: Uint8Array) =>
        client.mutable.readTestWrite(msi, {
          ...tahoe.leaseSecrets(msi),
          writeEnabler: tahoe.writeEnabler(writeKey),
          testWriteVectors: new Map([
            [2, { test: [], write: [{ offset: 0, data: payload }], newLength: null }],
          ]),
          readVector: [],
        });
      expect((await rtw(alice.client, bytes(300, 1))).success).toBe(true);
      const usage = await alice.client.accounting.getAccount();
      const before = { nurl: running.nurl, furl: running.furl, port: running.port };
      await running.close();
      alice.client.close();

      const restarted = await node.start({ port: before.port });
      expect(restarted.nurl).toBe(before.nurl);
      expect(restarted.furl).toBe(before.furl);
      expect(restarted.nurlFor(alice.id)).toBe(alice.nurl);
      const anonymous = node.client(restarted.nurl);
      const version = await anonymous.getVersion();
      expect(version.applicationVersion).toMatch(/^ostrom\//);
      // The largest mutable share it takes: one read-test-write body, `request_spool` (1 GiB).
      expect(version.maximumMutableShareSize).toBe(1024 ** 3);
      expect(Buffer.from(await anonymous.immutable.read(si, 0)).equals(data)).toBe(true);
      expect(await anonymous.mutable.read(msi, 2)).toEqual(bytes(300, 1));

      // Alice's NURL from before the restart: her account, her usage, and she still writes.
      const aliceAgain = node.client(alice.nurl);
      expect(await aliceAgain.accounting.getAccount()).toEqual(usage);
      // The Tahoe-derived write enabler still matches (the tub id is part of the identity).
      expect((await rtw(aliceAgain, bytes(300, 2))).success).toBe(true);
      expect(await aliceAgain.mutable.read(msi, 2)).toEqual(bytes(300, 2));
      const si2 = storageIndex(`e2e-restart-2-${flavour}`);
      await upload(aliceAgain, restarted, si2, bytes(100), 1);
      expect((await aliceAgain.accounting.getAccount()).bytes).toBe(usage.bytes + 100);
      // The same key asking again gets the same account.
      const key = generateAccountKey();
      const first = await anonymous.accounting.requestAccount(accountRequest(restarted, {}, key));
      const second = await anonymous.accounting.requestAccount(accountRequest(restarted, {}, key));
      expect(second).toEqual(first);
    });
  });
}
