import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { createS3Backend } from '../src/index.js';
import { bytes, createBucket, endpoint, motoBackend, motoClient } from './helpers.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const SET_COUNT = 1_005;

/** The i-th storage index under prefix `aa` (valid: 26 base32 characters, canonical last). */
function storageIndex(i: number): string {
  let digits = '';
  for (let n = i, k = 0; k < 6; k++, n = Math.floor(n / 32)) digits = BASE32[n % 32] + digits;
  return `aa${'q'.repeat(17)}${digits}a`;
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** Counts ListObjectsV2 requests a client sends. */
function countingLists() {
  const client = motoClient();
  const counter = { lists: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ListObjectsV2Command') counter.lists++;
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, counter };
}

describe.skipIf(!endpoint)('paged listings', () => {
  let bucket: string;
  const expected = Array.from({ length: SET_COUNT }, (_, i) => storageIndex(i)).sort();

  beforeAll(async () => {
    bucket = await createBucket();
    // Share sets created cheaply: zero-byte share objects PUT directly under their keys.
    const client = motoClient();
    await mapLimit(expected, 16, async (si) => {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `shares/aa/${si}/0`,
          Body: new Uint8Array(0),
          Metadata: { 'ostrom-sharetype': 'immutable' },
        }),
      );
    });
    client.destroy();
  }, 60_000);

  it(`listStorageIndexes(prefix) follows continuation tokens past 1,000 keys (${SET_COUNT} share sets)`, async () => {
    const { client, counter } = countingLists();
    const backend = motoBackend(bucket);
    const viaClient = createS3Backend({ client, bucket });
    expect(await backend.listStorageIndexes('aa')).toEqual(expected);
    expect(await viaClient.listStorageIndexes('aa')).toEqual(expected);
    expect(counter.lists).toBe(2);
    expect(await backend.listStorageIndexes('ab')).toEqual([]);
    await backend.close();
    client.destroy();
  });

  it('listStorageIndexes(prefix) with pageSize 100 reads 11 pages and still lists every set', async () => {
    const { client, counter } = countingLists();
    const backend = createS3Backend({ client, bucket, pageSize: 100 });
    expect(await backend.listStorageIndexes('aa')).toEqual(expected);
    expect(counter.lists).toBe(11);
    client.destroy();
  });

  it('listShareSets() over all 1,024 prefixes in crawl order reads ahead: a few LISTs, every set', async () => {
    const { client, counter } = countingLists();
    const backend = createS3Backend({ client, bucket });
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    const prefixes = [...alphabet].flatMap((a) => [...alphabet].map((b) => a + b));
    const answers = new Map<string, unknown>();
    for (const prefix of prefixes) answers.set(prefix, await backend.listShareSets(prefix));
    expect(answers.get('aa')).toEqual(
      expected.map((storageIndex) => ({ storageIndex, shnums: [0] })),
    );
    for (const prefix of prefixes.slice(1)) expect(answers.get(prefix), prefix).toEqual([]);
    // 1,005 keys under `aa` take two pages; the base32 order goes back in byte order a few times.
    // (Without the read-ahead: 1,025.)
    expect(counter.lists).toBeLessThanOrEqual(16);
    client.destroy();
  });

  it('listShares() and listBlobs() page too (pageSize 2)', async () => {
    const backend = motoBackend(bucket, { pageSize: 2 });
    const si = expected[0]!;
    for (const shnum of [7, 3, 250, 1, 12]) {
      await backend.createUpload(si, shnum, 4);
      await backend.writeUpload(si, shnum, 0, bytes(4));
    }
    expect((await backend.listShares(si)).map((s) => s.shnum)).toEqual([0, 1, 3, 7, 12, 250]);
    const key = new Uint8Array(32).fill(9);
    for (const name of ['b/2', 'a', 'b/1', 'c', 'b/3']) await backend.putBlob(name, bytes(3), key);
    expect(await backend.listBlobs()).toEqual(['a', 'b/1', 'b/2', 'b/3', 'c']);
    expect(await backend.listBlobs('b/')).toEqual(['b/1', 'b/2', 'b/3']);
    await backend.close();
  });
});
