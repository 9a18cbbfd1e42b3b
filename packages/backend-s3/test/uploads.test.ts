import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { EmbeddedLease } from '@ostrom/backend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createS3Backend } from '../src/index.js';
import {
  allKeys,
  bytes,
  code,
  createBucket,
  endpoint,
  motoBackend,
  motoClient,
} from './helpers.js';

const SI = 'uuaabbbbccccddddeeeeffffgq';
const MIB = 1024 * 1024;

function lease(n: number): EmbeddedLease {
  return {
    ownerNum: n,
    renewSecret: new Uint8Array(32).fill(n + 1),
    cancelSecret: new Uint8Array(32).fill(n + 2),
    secretsHashed: n % 2 === 0,
    expiresAt: 1_800_000_000 + n,
  };
}

describe.skipIf(!endpoint)('immutable uploads staged under incoming/', () => {
  let bucket: string;
  beforeEach(async () => {
    bucket = await createBucket();
  });

  it('stages chunks under incoming/ and publishes one object under shares/ at the last byte', async () => {
    const backend = motoBackend(bucket, { prefix: 'node-1/' });
    const data = bytes(3000);
    await backend.createUpload(SI, 5, 3000, { leases: [lease(0), lease(1)] });
    await backend.writeUpload(SI, 5, 2000, data.subarray(2000));
    await backend.writeUpload(SI, 5, 1500, data.subarray(1500, 2500)); // half new, half overlap
    const keys = await allKeys(bucket);
    expect(keys.every((k) => k.startsWith(`node-1/incoming/uu/${SI}/5/`))).toBe(true);
    expect(keys.map((k) => k.split('/').at(-1)).sort()).toEqual(['1500-2000', '2000-3000']);
    expect(await backend.listStorageIndexes('uu')).toEqual([]);

    expect((await backend.writeUpload(SI, 5, 0, data.subarray(0, 1600))).complete).toBe(true);
    expect(await allKeys(bucket)).toEqual([`node-1/shares/uu/${SI}/5`]);
    expect(await backend.readShare(SI, 5, 1000, 10_000)).toEqual(data.subarray(1000));
    expect((await backend.getShareMeta(SI, 5))?.leases).toEqual([lease(0), lease(1)]);
    // Another prefix is another store.
    expect(await motoBackend(bucket).listStorageIndexes('uu')).toEqual([]);
  });

  it('a zero-byte share has metadata and reads as empty', async () => {
    const backend = motoBackend(bucket);
    await backend.createUpload(SI, 9, 0, { leases: [lease(2)] });
    expect((await backend.writeUpload(SI, 9, 0, new Uint8Array(0))).complete).toBe(true);
    expect(await backend.getShareMeta(SI, 9)).toMatchObject({
      shnum: 9,
      sharetype: 'immutable',
      sizeBytes: 0,
      leases: [lease(2)],
    });
    expect(await backend.readShare(SI, 9, 0, 100)).toEqual(new Uint8Array(0));
    expect(await backend.readShare(SI, 9, 7, 0)).toEqual(new Uint8Array(0));
  });

  it('an upload larger than one part is composed by multipart upload, in order, from out-of-order chunks', async () => {
    const backend = motoBackend(bucket, { multipartPartBytes: 5 * MIB });
    const data = randomBytes(11 * MIB + 123);
    await backend.createUpload(SI, 0, data.length);
    const chunk = 2 * MIB;
    const offsets = Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => i * chunk);
    for (const offset of offsets.reverse())
      await backend.writeUpload(SI, 0, offset, data.subarray(offset, offset + chunk));
    expect(await allKeys(bucket)).toEqual([`shares/uu/${SI}/0`]);
    const read = await backend.readShare(SI, 0, 0, data.length);
    expect(Buffer.from(read).equals(data)).toBe(true);
    const middle = await backend.readShare(SI, 0, 5 * MIB - 10, 20);
    expect(Buffer.from(middle).equals(data.subarray(5 * MIB - 10, 5 * MIB + 10))).toBe(true);
  });

  it('after a restart, discardUploads() removes what an earlier process staged and counts it', async () => {
    const first = motoBackend(bucket);
    await first.createUpload(SI, 1, 100);
    await first.writeUpload(SI, 1, 0, bytes(10));
    await first.createUpload(SI, 2, 100);
    await first.writeUpload(SI, 2, 50, bytes(10));
    await first.close();
    const second = motoBackend(bucket);
    expect(await second.getUpload(SI, 1)).toBeUndefined();
    // Upload 1 arrived in order and was only in the first process's memory: nothing of it is in
    // the store to find. Upload 2 (out of order) was staged under incoming/.
    expect(await second.discardUploads()).toBe(1);
    expect(await allKeys(bucket)).toEqual([]);
    await second.close();
  });

  it('createUpload() refuses more leases than object metadata holds, before writing anything', async () => {
    const backend = motoBackend(bucket);
    const many = Array.from({ length: 20 }, (_, i) => lease(i));
    expect(await code(backend.createUpload(SI, 0, 10, { leases: many }))).toBe('RangeError');
    expect(await backend.getUpload(SI, 0)).toBeUndefined();
  });

  it("a share object without the backend's metadata is CORRUPT to read and left out of listings", async () => {
    const client = motoClient();
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `shares/uu/${SI}/3`, Body: bytes(5) }),
    );
    const backend = createS3Backend({ client, bucket });
    expect(await backend.listShares(SI)).toEqual([]);
    expect(await code(backend.readShare(SI, 3, 0, 5))).toBe('CORRUPT');
    expect(await code(backend.getShareMeta(SI, 3))).toBe('CORRUPT');
    client.destroy();
  });
});
