import { BackendError, type ShareBackend } from '@ostrom/backend';
import { seededRandom } from '@ostrom/test-fixtures';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { allKeys, createBucket, endpoint, motoBackend, WE } from './helpers.js';

const KEY = new Uint8Array(32).fill(0x42);

function randomData(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Runs an operation; a failure must be UNAVAILABLE. Returns whether it succeeded. */
async function attempt(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe('UNAVAILABLE');
    expect((error as BackendError).cause).toBeDefined();
    return false;
  }
}

interface Tally {
  succeeded: number;
  failed: number;
  /** Failed uploads whose final PUT had landed and whose compensating delete failed too. */
  completeAfterFailure: number;
}

/**
 * Immutable uploads in shuffled, overlapping chunks, mutable write vectors and blobs through
 * `faulty`, each checked against the store directly (`direct`): success means identical bytes
 * both ways; failure means UNAVAILABLE and no partial share, ever.
 */
async function workload(faulty: ShareBackend, direct: ShareBackend, seed: number): Promise<Tally> {
  const random = seededRandom(seed);
  const tally: Tally = { succeeded: 0, failed: 0, completeAfterFailure: 0 };
  const si = 'ffaabbbbccccddddeeeeffffgq';

  for (let shnum = 0; shnum < 12; shnum++) {
    const size = shnum === 0 ? 0 : Math.floor(random() * 20_000);
    const data = randomData(random, size);
    const cuts = [0, size, ...Array.from({ length: 3 }, () => Math.floor(random() * size))].sort(
      (a, b) => a - b,
    );
    const chunks = cuts.slice(1).map((end, i) => ({ begin: cuts[i]!, end }));
    chunks.sort(() => random() - 0.5);
    // An overlapping duplicate, with the same bytes.
    const dup = Math.floor(random() * size);
    chunks.splice(1, 0, { begin: dup, end: Math.min(size, dup + 5000) });
    const ok = await attempt(async () => {
      await faulty.createUpload(si, shnum, size);
      for (const { begin, end } of chunks) {
        const progress = await faulty.writeUpload(si, shnum, begin, data.subarray(begin, end));
        if (progress.complete) break;
      }
    });
    const meta = await direct.getShareMeta(si, shnum);
    if (ok) {
      tally.succeeded++;
      expect(meta?.sizeBytes).toBe(size);
      expect(same(await direct.readShare(si, shnum, 0, size + 10), data)).toBe(true);
      let viaProxy: Uint8Array | undefined;
      if (await attempt(async () => (viaProxy = await faulty.readShare(si, shnum, 0, size))))
        expect(same(viaProxy!, data)).toBe(true);
    } else {
      tally.failed++;
      await faulty.abortUpload(si, shnum).catch(() => undefined);
      // Never a partial share: absent, or (answer lost, clean-up failed too) complete and exact.
      if (meta) {
        tally.completeAfterFailure++;
        expect(same(await direct.readShare(si, shnum, 0, size + 10), data)).toBe(true);
      } else {
        expect((await direct.listShares(si)).map((s) => s.shnum)).not.toContain(shnum);
      }
    }
  }

  // A mutable share over several 64 KiB chunks, rewritten by random vectors.
  let model: Uint8Array = new Uint8Array(0);
  for (let round = 0; round < 8; round++) {
    const writes = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
      offset: Math.floor(random() * 200_000),
      data: randomData(random, Math.floor(random() * 80_000)),
    }));
    const newLength = random() < 0.2 ? Math.floor(random() * 200_000) : undefined;
    const after = (() => {
      let next = model.slice();
      for (const write of writes) {
        const end = write.offset + write.data.length;
        if (end > next.length) {
          const grown = new Uint8Array(end);
          grown.set(next);
          next = grown;
        }
        next.set(write.data, write.offset);
      }
      return newLength !== undefined && newLength < next.length ? next.slice(0, newLength) : next;
    })();
    let length = -1;
    const ok = await attempt(async () => {
      length = await faulty.writeMutable(si, 100, {
        writeEnabler: WE,
        writes,
        ...(newLength === undefined ? {} : { newLength }),
      });
    });
    const stored = (await direct.getShareMeta(si, 100))
      ? await direct.readShare(si, 100, 0, 1_000_000)
      : new Uint8Array(0);
    if (ok) {
      tally.succeeded++;
      expect(length).toBe(after.length);
      expect(same(stored, after)).toBe(true);
    } else {
      tally.failed++;
      // All or nothing: the old content or the new, never a mix.
      expect(same(stored, model) || same(stored, after)).toBe(true);
    }
    model = stored;
    let viaProxy: Uint8Array | undefined;
    if (await attempt(async () => (viaProxy = await faulty.readShare(si, 100, 0, 1_000_000))))
      expect(same(viaProxy!, model)).toBe(true);
  }

  for (let i = 0; i < 6; i++) {
    const blob = randomData(random, 3000);
    if (await attempt(() => faulty.putBlob(`backup/${i}`, blob, KEY))) {
      tally.succeeded++;
      expect(same((await direct.getBlob(`backup/${i}`, KEY))!, blob)).toBe(true);
    } else {
      tally.failed++;
    }
  }
  return tally;
}

describe.skipIf(!endpoint)('fault injection through a proxy in front of the store', () => {
  let bucket: string;
  let proxy: FaultProxy | undefined;
  beforeEach(async () => {
    bucket = await createBucket();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('with 20% of requests failing (500, reset before or after, delay) and 8 attempts, every operation succeeds and reads back identical', async () => {
    proxy = await startFaultProxy({ upstream: endpoint!, failRate: 0.2, seed: 7 });
    const faulty = motoBackend(bucket, {
      endpoint: proxy.endpoint,
      maxAttempts: 8,
      mutableChunkBytes: 64 * 1024,
    });
    const direct = motoBackend(bucket);
    const tally = await workload(faulty, direct, 1);
    expect(tally).toEqual({ succeeded: 26, failed: 0, completeAfterFailure: 0 });
    expect(proxy.stats.error500 + proxy.stats.resetBefore + proxy.stats.resetAfter).toBeGreaterThan(
      20,
    );
    await faulty.close();
    await direct.close();
  });

  it('with 30% failing and 2 attempts, failed operations are UNAVAILABLE and leave no partial share', async () => {
    proxy = await startFaultProxy({ upstream: endpoint!, failRate: 0.3, seed: 11 });
    const faulty = motoBackend(bucket, {
      endpoint: proxy.endpoint,
      maxAttempts: 2,
      mutableChunkBytes: 64 * 1024,
    });
    const direct = motoBackend(bucket);
    const tally = await workload(faulty, direct, 2);
    expect(tally.failed).toBeGreaterThan(3);
    expect(tally.succeeded).toBeGreaterThan(3);
    // Nothing under shares/ but complete shares: every share key is one the direct backend reads.
    for (const key of (await allKeys(bucket)).filter((k) => k.startsWith('shares/'))) {
      const [, , si, shnum] = key.split('/');
      expect(await direct.getShareMeta(si!, Number(shnum))).toBeDefined();
    }
    await faulty.discardUploads().catch(() => undefined);
    await faulty.close();
    await direct.close();
  });

  it('requests that outlast requestTimeoutMs are timed out and retried', async () => {
    proxy = await startFaultProxy({
      upstream: endpoint!,
      failRate: 0.5,
      faults: ['delay'],
      delayMs: 400,
      seed: 3,
    });
    let retries = 0;
    const faulty = motoBackend(bucket, {
      endpoint: proxy.endpoint,
      requestTimeoutMs: 150,
      maxAttempts: 10,
      sleep: async () => {
        retries++;
      },
    });
    const data = randomData(seededRandom(5), 10_000);
    await faulty.createUpload('ttaabbbbccccddddeeeeffffgq', 0, data.length);
    await faulty.writeUpload('ttaabbbbccccddddeeeeffffgq', 0, 5000, data.subarray(5000));
    await faulty.writeUpload('ttaabbbbccccddddeeeeffffgq', 0, 0, data.subarray(0, 5000));
    expect(same(await faulty.readShare('ttaabbbbccccddddeeeeffffgq', 0, 0, 20_000), data)).toBe(
      true,
    );
    expect(proxy.stats.delay).toBeGreaterThan(0);
    // Every delayed request timed out and was tried again (no other fault is injected).
    expect(retries).toBe(proxy.stats.delay);
    await faulty.close();
  });

  it('with every request failing, an operation is UNAVAILABLE after maxAttempts, backing off without real waits', async () => {
    proxy = await startFaultProxy({
      upstream: endpoint!,
      failRate: 1,
      faults: ['error500'],
      seed: 1,
    });
    const sleeps: number[] = [];
    const faulty = motoBackend(bucket, {
      endpoint: proxy.endpoint,
      maxAttempts: 4,
      baseDelayMs: 1000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    const started = Date.now();
    const error = await faulty.getBlob('leasedb/latest', KEY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe('UNAVAILABLE');
    expect((error as BackendError).details.attempts).toBe(4);
    expect((error as BackendError).cause).toBeDefined();
    expect(proxy.stats.requests).toBe(4);
    expect(sleeps).toHaveLength(3);
    sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(1000 * 2 ** i);
    });
    expect(Date.now() - started).toBeLessThan(2000);

    // A whole upload fails the same way and leaves nothing behind.
    proxy.stats.requests = 0;
    const si = 'uuaabbbbccccddddeeeeffffgq';
    expect(await faulty.createUpload(si, 0, 10).catch((e: BackendError) => e.code)).toBe(
      'UNAVAILABLE',
    );
    expect(await faulty.getUpload(si, 0)).toBeUndefined();
    expect(await allKeys(bucket)).toEqual([]);
    await faulty.close();
  });

  it('connections reset every time are UNAVAILABLE too; a 4xx answer is IO at once, not retried', async () => {
    proxy = await startFaultProxy({
      upstream: endpoint!,
      failRate: 1,
      faults: ['resetBefore'],
      seed: 1,
    });
    const faulty = motoBackend(bucket, { endpoint: proxy.endpoint, maxAttempts: 3 });
    expect(await faulty.listBlobs().catch((e: BackendError) => e.code)).toBe('UNAVAILABLE');
    expect(proxy.stats.requests).toBe(3);
    await faulty.close();

    const missingBucket = motoBackend('ostrom-no-such-bucket', { maxAttempts: 5 });
    const error = await missingBucket.putBlob('x', new Uint8Array(1), KEY).catch((e: unknown) => e);
    expect((error as BackendError).code).toBe('IO');
    expect((error as BackendError).details.attempts).toBe(1);
    await missingBucket.close();
  });
});
