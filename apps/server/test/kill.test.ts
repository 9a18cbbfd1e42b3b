import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openLeaseDb } from '@ostrom/leasedb';
import {
  createStorageClient,
  type LeaseSecrets,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import { freePort, tempDir } from '@ostrom/test-fixtures';
import { expect, it, onTestFinished } from 'vitest';
import { initNode } from '../src/node-dir.js';
import { runNodeProcess } from './node-process.js';

// kill -9 in the middle of concurrent small uploads and lease additions, then a restart: every
// upload and lease the node acknowledged is there, and no share that was being uploaded is
// visible half-written. (The page cache outlives a killed process, so this cannot show a
// missing flush; packages/http's durability test checks the flushes themselves.)

/** A share's bytes, from its storage index, so any copy of it can be checked. */
function contentOf(si: string): Uint8Array {
  const bytes = Buffer.alloc(1000);
  const digest = createHash('sha256').update(si).digest();
  for (let i = 0; i < bytes.length; i += digest.length) digest.copy(bytes, i);
  return new Uint8Array(bytes);
}

const newSecrets = (): LeaseSecrets => ({
  renewSecret: new Uint8Array(randomBytes(32)),
  cancelSecret: new Uint8Array(randomBytes(32)),
});

it('after kill -9 during concurrent small uploads and lease additions, every acknowledged one is there after the restart, and nothing half-written is visible', async () => {
  const dir = await tempDir();
  const port = await freePort();
  let adminPort = await freePort();
  while (adminPort === port) adminPort = await freePort();
  await initNode(dir, { port, adminPort });
  const first = await runNodeProcess(dir);
  onTestFinished(() => first.stop());
  const client = createStorageClient({ nurl: first.nurl, maxSockets: 16 });
  onTestFinished(() => client.close());

  const started = new Set<string>();
  const uploaded: string[] = [];
  /** By storage index, when the last acknowledged lease addition was asked for (Unix seconds). */
  const leased = new Map<string, number>();
  let stopping = false;
  let killed: Promise<void> | undefined;
  const upload = async (c: StorageClient) => {
    const si = storageIndexFromBytes(new Uint8Array(randomBytes(16)));
    started.add(si);
    const uploadSecret = new Uint8Array(randomBytes(32));
    await c.immutable.allocate(si, {
      ...newSecrets(),
      uploadSecret,
      shareNumbers: [0],
      allocatedSize: 1000,
    });
    await c.immutable.write(si, 0, { uploadSecret, offset: 0, data: contentOf(si) });
    uploaded.push(si);
  };
  const addLease = async (c: StorageClient) => {
    const si = uploaded[Math.floor(Math.random() * uploaded.length)]!;
    const askedAt = Math.floor(Date.now() / 1000);
    await c.addOrRenewLease(si, newSecrets());
    leased.set(si, Math.max(leased.get(si) ?? 0, askedAt));
  };
  const worker = async (n: number) => {
    while (!stopping) {
      try {
        if (n % 2 === 1 && uploaded.length > 0) await addLease(client);
        else await upload(client);
      } catch {
        // The node is gone: requests in flight fail, and nothing more is sent.
        stopping = true;
      }
      // Killed once enough has been acknowledged, with the other workers' requests in flight.
      if (!killed && uploaded.length >= 120) killed = first.kill();
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, n) => worker(n)));
  await killed;
  expect(uploaded.length).toBeGreaterThanOrEqual(120);
  expect(leased.size).toBeGreaterThan(0);

  const second = await runNodeProcess(dir);
  const after = createStorageClient({ nurl: second.nurl, maxSockets: 16 });
  try {
    for (const si of uploaded) {
      expect(await after.immutable.listShares(si)).toEqual([0]);
      expect(Buffer.from(await after.immutable.read(si, 0))).toEqual(Buffer.from(contentOf(si)));
    }
    // An upload cut off by the kill is absent or whole, never partly there.
    for (const si of started) {
      if (uploaded.includes(si)) continue;
      const held = await after.immutable.listShares(si);
      if (held.length > 0) {
        expect(Buffer.from(await after.immutable.read(si, 0))).toEqual(Buffer.from(contentOf(si)));
      }
    }
  } finally {
    after.close();
    await second.stop();
  }
  // The account's lease on each share was renewed by the last acknowledged addition (one lease
  // per account and share: the anonymous account's, which every request here goes through).
  const db = await openLeaseDb({ dialect: 'sqlite', path: join(dir, 'leasedb.sqlite') });
  try {
    for (const [si, askedAt] of leased) {
      const [lease] = await db.listLeases(si);
      expect(lease!.renewedAt).toBeGreaterThanOrEqual(askedAt);
    }
  } finally {
    await db.close();
  }
});
