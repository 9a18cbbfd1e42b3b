import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendError } from '@ostrom/backend';
import { describeShareBackend } from '@ostrom/backend/conformance';
import {
  copyTahoeFixture,
  readTahoeManifest,
  suiteTempDir,
  type TahoeManifestShare,
  tempDir,
} from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';
import {
  bufferReader,
  createDiskBackend,
  immutableContainerLayout,
  mutableContainerLayout,
  readContainer,
} from '../src/index.js';

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof BackendError ? error.code : (error as Error).name;
  }
  return 'resolved';
}

describeShareBackend(
  'disk',
  async () => {
    const { dir, remove } = await suiteTempDir('backend-disk-');
    return {
      backend: await createDiskBackend({ root: dir }),
      reopen: () => createDiskBackend({ root: dir }),
      cleanup: remove,
    };
  },
  { numRuns: 15 },
);

it('serves a storage directory written by Tahoe-LAFS 1.20 exactly as its manifest says', async () => {
  const root = await copyTahoeFixture();
  const manifest = { shares: await readTahoeManifest(root) };
  const backend = await createDiskBackend({ root });
  const found: TahoeManifestShare[] = [];
  const prefixes = [...new Set(manifest.shares.map((s) => s.storage_index.slice(0, 2)))];
  for (const prefix of prefixes) {
    for (const storageIndex of await backend.listStorageIndexes(prefix)) {
      for (const share of await backend.listShares(storageIndex)) {
        const meta = (await backend.getShareMeta(storageIndex, share.shnum))!;
        found.push({
          storage_index: storageIndex,
          shnum: share.shnum,
          sharetype: share.sharetype,
          container_version: Number(meta.container!.slice(-1)),
          file_size: share.usedBytes,
          data_length: share.sizeBytes,
          leases: meta.leases.map((l) => ({ owner_num: l.ownerNum, expiration_time: l.expiresAt })),
        });
        expect(meta.leases.every((l) => l.secretsHashed)).toBe(true);
        // Reads return the data region, byte for byte.
        const raw = await readFile(join(root, 'shares', prefix, storageIndex, String(share.shnum)));
        const dataOffset = share.sharetype === 'mutable' ? 468 : 12;
        const read = await backend.readShare(storageIndex, share.shnum, 0, share.sizeBytes + 100);
        expect(
          Buffer.from(read).equals(raw.subarray(dataOffset, dataOffset + share.sizeBytes)),
        ).toBe(true);
      }
    }
  }
  const key = (s: TahoeManifestShare) => `${s.storage_index}/${s.shnum}`;
  expect(found.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
    [...manifest.shares].sort((a, b) => key(a).localeCompare(key(b))),
  );
  await backend.close();
});

it('shares it writes are Tahoe v2 containers with the leases given', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'wjcilt4y6hqjsoerdpus3i3uuu';
  const lease = {
    ownerNum: 0,
    renewSecret: new Uint8Array(32).fill(3),
    cancelSecret: new Uint8Array(32).fill(4),
    secretsHashed: false,
    expiresAt: 1_800_000_000,
  };
  await backend.createUpload(si, 0, 5, { leases: [lease] });
  await backend.writeUpload(si, 0, 0, new Uint8Array([1, 2, 3, 4, 5]));
  await backend.writeMutable(si, 1, {
    writeEnabler: new Uint8Array(32).fill(7),
    writeEnablerNodeId: new Uint8Array(20).fill(8),
    writes: [{ offset: 0, data: new Uint8Array([9, 9]) }],
    leases: [{ ...lease, ownerNum: 1 }],
  });
  const immutable = await readContainer(
    bufferReader(await readFile(join(root, 'shares/wj', si, '0'))),
  );
  expect([
    immutable.kind,
    immutable.version,
    immutable.dataLength,
    immutable.leases.length,
  ]).toEqual(['immutable', 2, 5, 1]);
  const mutable = await readContainer(
    bufferReader(await readFile(join(root, 'shares/wj', si, '1'))),
  );
  expect([mutable.kind, mutable.version, mutable.dataLength, mutable.leases.length]).toEqual([
    'mutable',
    2,
    2,
    1,
  ]);
  // v2 stores the secrets hashed, never as given.
  const stored = immutable.leases[0]!;
  expect(Buffer.from(stored.renewSecret).equals(Buffer.from(lease.renewSecret))).toBe(false);
  expect(stored.expiresAt).toBe(1_800_000_000);
  const meta = await backend.getShareMeta(si, 0);
  expect(meta?.leases[0]?.secretsHashed).toBe(true);
  // Rewriting a mutable share keeps its leases and write enabler.
  await backend.writeMutable(si, 1, {
    writeEnabler: new Uint8Array(32).fill(7),
    writes: [{ offset: 5, data: new Uint8Array([1]) }],
  });
  const again = await backend.getShareMeta(si, 1);
  expect([again?.sizeBytes, again?.leases.length]).toEqual([6, 1]);
  expect(again?.writeEnablerNodeId).toEqual(new Uint8Array(20).fill(8));
});

it('uploads in progress live under shares/incoming and are never listed; a restart discards them', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 2, 100);
  await backend.writeUpload(si, 2, 0, new Uint8Array(50).fill(1));
  expect(await readdir(join(root, 'shares/incoming/aa', si))).toEqual(['2']);
  expect(await backend.listStorageIndexes('aa')).toEqual([]);
  // A crash now: a new process over the same directory sees no share, and discards the leftover.
  const restarted = await createDiskBackend({ root });
  expect(await restarted.listShares(si)).toEqual([]);
  expect(await restarted.discardUploads()).toBe(1);
  await expect(stat(join(root, 'shares/incoming'))).rejects.toMatchObject({ code: 'ENOENT' });
  // The interrupted upload can start over.
  await restarted.createUpload(si, 2, 1);
  expect((await restarted.writeUpload(si, 2, 0, new Uint8Array([7]))).complete).toBe(true);
});

it('a complete upload leaves no incoming directories behind', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 0, 3);
  await backend.writeUpload(si, 0, 0, new Uint8Array([1, 2, 3]));
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
  expect(await readdir(join(root, 'shares'))).toEqual(['aa', 'incoming']);
});

it('a damaged share file is CORRUPT to read and left out of listings', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 0, 3);
  await backend.writeUpload(si, 0, 0, new Uint8Array([1, 2, 3]));
  await mkdir(join(root, 'shares/aa', si), { recursive: true });
  await writeFile(join(root, 'shares/aa', si, '1'), Buffer.from('not a share container'));
  expect((await backend.listShares(si)).map((s) => s.shnum)).toEqual([0]);
  expect(await code(backend.readShare(si, 1, 0, 1))).toBe('CORRUPT');
  expect(await code(backend.getShareMeta(si, 1))).toBe('CORRUPT');
});

it('files in a share directory that are not share numbers are ignored', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 0, 1);
  await backend.writeUpload(si, 0, 0, new Uint8Array([1]));
  for (const name of ['256', '007', 'notes.txt', '-1'])
    await writeFile(join(root, 'shares/aa', si, name), 'x');
  expect((await backend.listShares(si)).map((s) => s.shnum)).toEqual([0]);
});

it('createDiskBackend() refuses a missing root option', async () => {
  await expect(createDiskBackend({ root: '' })).rejects.toThrow(TypeError);
});

it('reads v1 containers (plain lease secrets) and keeps a v1 mutable share v1 when rewriting it', async () => {
  const root = await tempDir();
  const si = 'aaaabbbbccccddddeeeeffffgq';
  const dir = join(root, 'shares/aa', si);
  await mkdir(dir, { recursive: true });
  const lease = {
    ownerNum: 1,
    renewSecret: new Uint8Array(32).fill(0xaa),
    cancelSecret: new Uint8Array(32).fill(0xbb),
    expiresAt: 1_700_000_000,
    nodeId: new Uint8Array(20).fill(5),
  };
  const data = new Uint8Array([10, 20, 30, 40]);
  const immutable = immutableContainerLayout({
    version: 1,
    dataLength: data.length,
    leases: [lease],
  });
  const immutableFile = new Uint8Array(immutable.fileSize);
  immutableFile.set(immutable.header, 0);
  immutableFile.set(data, immutable.dataOffset);
  immutableFile.set(immutable.leaseRecords, immutable.leaseOffset);
  await writeFile(join(dir, '0'), immutableFile);
  const mutable = mutableContainerLayout({
    version: 1,
    writeEnablerNodeId: new Uint8Array(20).fill(5),
    writeEnabler: new Uint8Array(32).fill(6),
    dataLength: data.length,
    leases: [lease],
  });
  const mutableFile = new Uint8Array(mutable.fileSize);
  mutableFile.set(mutable.header, 0);
  mutableFile.set(data, mutable.dataOffset);
  mutableFile.set(mutable.extraLeaseBlock, mutable.extraLeaseOffset);
  await writeFile(join(dir, '1'), mutableFile);

  const backend = await createDiskBackend({ root });
  expect((await backend.listShares(si)).map((s) => [s.shnum, s.sharetype, s.sizeBytes])).toEqual([
    [0, 'immutable', 4],
    [1, 'mutable', 4],
  ]);
  const meta = await backend.getShareMeta(si, 0);
  expect(meta?.container).toBe('immutable-v1');
  expect(meta?.leases).toEqual([
    {
      ownerNum: 1,
      renewSecret: lease.renewSecret,
      cancelSecret: lease.cancelSecret,
      secretsHashed: false,
      expiresAt: 1_700_000_000,
    },
  ]);
  expect(await backend.readShare(si, 0, 1, 2)).toEqual(new Uint8Array([20, 30]));
  await backend.writeMutable(si, 1, {
    writeEnabler: new Uint8Array(32).fill(6),
    writes: [{ offset: 4, data: new Uint8Array([50]) }],
  });
  const rewritten = await backend.getShareMeta(si, 1);
  expect([rewritten?.container, rewritten?.sizeBytes, rewritten?.leases[0]?.secretsHashed]).toEqual(
    ['mutable-v1', 5, false],
  );
  expect(rewritten?.leases[0]?.renewSecret).toEqual(lease.renewSecret);
  expect(await backend.readShare(si, 1, 0, 10)).toEqual(new Uint8Array([10, 20, 30, 40, 50]));
});

it('a mutable share cannot be created with an owner-0 lease (Tahoe reads owner 0 as an empty slot)', async () => {
  const backend = await createDiskBackend({ root: await tempDir() });
  const lease = {
    ownerNum: 0,
    renewSecret: new Uint8Array(32),
    cancelSecret: new Uint8Array(32),
    secretsHashed: true,
    expiresAt: 1,
  };
  expect(
    await code(
      backend.writeMutable('aaaabbbbccccddddeeeeffffgq', 0, {
        writeEnabler: new Uint8Array(32),
        writes: [],
        leases: [lease],
      }),
    ),
  ).toBe('RangeError');
  expect(await backend.listShares('aaaabbbbccccddddeeeeffffgq')).toEqual([]);
});

it('listings follow a share file changed behind the backend (the header cache checks a stat)', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  const we = new Uint8Array(32).fill(1);
  await backend.writeMutable(si, 0, {
    writeEnabler: we,
    writes: [{ offset: 0, data: new Uint8Array(10) }],
  });
  expect((await backend.listShares(si))[0]?.sizeBytes).toBe(10);
  await backend.writeMutable(si, 0, {
    writeEnabler: we,
    writes: [{ offset: 0, data: new Uint8Array(30) }],
  });
  expect((await backend.listShares(si))[0]?.sizeBytes).toBe(30);
  // Another program (a Tahoe server, an operator) replaces the file with a different container.
  const other = immutableContainerLayout({ dataLength: 7, leases: [] });
  const file = new Uint8Array(other.fileSize);
  file.set(other.header, 0);
  await writeFile(join(root, 'shares/aa', si, '0'), file);
  expect((await backend.listShares(si)).map((s) => [s.sharetype, s.sizeBytes])).toEqual([
    ['immutable', 7],
  ]);
});

it('reads keep a bounded number of share files open, and none after close()', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const openFiles = async () => (await readdir('/proc/self/fd')).length;
  const before = await openFiles();
  const sis = Array.from(
    { length: 100 },
    (_, i) =>
      `a${'abcdefghijklmnopqrstuvwxyz234567'[i % 32]}${'bcdefghijklmnopqrstuvwxyz234567a'[Math.floor(i / 32)]}aaaaaaaaaaaaaaaaaaaaaaa`,
  );
  for (const si of sis) {
    await backend.createUpload(si, 0, 4);
    await backend.writeUpload(si, 0, 0, new Uint8Array([1, 2, 3, 4]));
  }
  // Uploads close their files when they complete (a little slack: the runner opens files too).
  expect(await openFiles()).toBeLessThanOrEqual(before + 2);
  for (const si of sis)
    expect(await backend.readShare(si, 0, 1, 2)).toEqual(new Uint8Array([2, 3]));
  const during = await openFiles();
  expect(during - before).toBeGreaterThanOrEqual(60);
  expect(during - before).toBeLessThanOrEqual(64 + 2);
  // A deleted share's cached handle is dropped: the share number reads the new bytes.
  await backend.deleteShare(sis[99]!, 0);
  await backend.createUpload(sis[99]!, 0, 1);
  await backend.writeUpload(sis[99]!, 0, 0, new Uint8Array([9]));
  expect(await backend.readShare(sis[99]!, 0, 0, 4)).toEqual(new Uint8Array([9]));
  await backend.close();
  expect(await openFiles()).toBeLessThanOrEqual(before + 2);
});
