import { readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { BackendError } from '@ostrom/backend';
import { describeShareBackend } from '@ostrom/backend/conformance';
import {
  copyTahoeFixture,
  readTahoeManifest,
  seededRandom,
  suiteTempDir,
  type TahoeManifestShare,
  tempDir,
} from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';
import { inDirectory } from '../src/durable-fs.js';
import {
  bufferReader,
  createDiskBackend,
  type DiskFlush,
  immutableContainerLayout,
  mutableContainerLayout,
  readContainer,
  type UploadFile,
} from '../src/index.js';

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof BackendError ? error.code : (error as Error).name;
  }
  return 'resolved';
}

/**
 * Descriptors this process holds open on files under `root`: a test's own, whatever other tests'
 * backends (some never closed) open or close meanwhile.
 */
async function openFilesUnder(root: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target.startsWith(`${root}/`)) count += 1;
  }
  return count;
}

// Twice: with the defaults, which hold the suite's small uploads in memory, and with every
// upload a file in shares/incoming.
for (const heldUploadMaxBytes of [undefined, 0]) {
  describeShareBackend(
    heldUploadMaxBytes === 0 ? 'disk, uploads as files' : 'disk',
    async () => {
      const { dir, remove } = await suiteTempDir('backend-disk-');
      return {
        backend: await createDiskBackend({ root: dir, heldUploadMaxBytes }),
        reopen: () => createDiskBackend({ root: dir, heldUploadMaxBytes }),
        cleanup: remove,
      };
    },
    { numRuns: 15 },
  );
}

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
  const backend = await createDiskBackend({ root, heldUploadMaxBytes: 0 });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 2, 100);
  await backend.writeUpload(si, 2, 0, new Uint8Array(50).fill(1));
  expect(await readdir(join(root, 'shares/incoming/aa', si))).toEqual(['2']);
  expect(await backend.listStorageIndexes('aa')).toEqual([]);
  // A crash now: a new process over the same directory sees no share, and discards the leftover.
  const restarted = await createDiskBackend({ root, heldUploadMaxBytes: 0 });
  expect(await restarted.listShares(si)).toEqual([]);
  expect(await restarted.discardUploads()).toBe(1);
  await expect(stat(join(root, 'shares/incoming'))).rejects.toMatchObject({ code: 'ENOENT' });
  // The interrupted upload can start over.
  await restarted.createUpload(si, 2, 1);
  expect((await restarted.writeUpload(si, 2, 0, new Uint8Array([7]))).complete).toBe(true);
});

it("a small upload is held in memory until complete, then written whole, flushed and published; its chunks are checked as a file upload's", async () => {
  const root = await tempDir();
  const flushed: DiskFlush[] = [];
  const backend = await createDiskBackend({ root, onFlush: (flush) => flushed.push(flush) });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 2, 100);
  await backend.writeUpload(si, 2, 50, new Uint8Array(50).fill(2));
  // Nothing on the disk while it arrives.
  await expect(readdir(join(root, 'shares/incoming/aa'))).rejects.toMatchObject({
    code: 'ENOENT',
  });
  expect(await backend.getUpload(si, 2)).toEqual({
    complete: false,
    missing: [{ begin: 0, end: 50 }],
  });
  expect(await code(backend.writeUpload(si, 2, 40, new Uint8Array(20).fill(9)))).toBe('CONFLICT');
  expect(flushed).toEqual([]);
  const done = await backend.writeUpload(si, 2, 0, new Uint8Array(50).fill(1));
  expect(done).toEqual({ complete: true, missing: [] });
  const sharePath = join(root, 'shares/aa', si, '2');
  expect(flushed).toEqual([
    { path: sharePath, kind: 'file' },
    { path: join(root, 'shares/aa', si), kind: 'directory' },
  ]);
  expect(await backend.readShare(si, 2, 0, 100)).toEqual(
    new Uint8Array([...Array(50).fill(1), ...Array(50).fill(2)]),
  );
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
  expect(await backend.getUpload(si, 2)).toBeUndefined();
});

it('held uploads take at most heldUploadsBudgetBytes; past it uploads are files, and an aborted one gives its part back', async () => {
  const root = await tempDir();
  // Room for one 100-byte share's container (a 12-byte header, no lease), not two.
  const backend = await createDiskBackend({ root, heldUploadsBudgetBytes: 150 });
  const si = 'aaaabbbbccccddddeeeeffffgq';
  await backend.createUpload(si, 0, 100);
  await backend.createUpload(si, 1, 100);
  expect(await readdir(join(root, 'shares/incoming/aa', si))).toEqual(['1']);
  await backend.abortUpload(si, 0);
  await backend.createUpload(si, 3, 100);
  expect(await readdir(join(root, 'shares/incoming/aa', si))).toEqual(['1']);
  // Both kinds complete alike.
  for (const shnum of [1, 3]) {
    await backend.writeUpload(si, shnum, 0, new Uint8Array(100).fill(shnum));
    expect(await backend.readShare(si, shnum, 99, 1)).toEqual(new Uint8Array([shnum]));
  }
  expect((await backend.listShares(si)).map((s) => s.shnum)).toEqual([1, 3]);
  await expect(createDiskBackend({ root, heldUploadMaxBytes: -1 })).rejects.toThrow(RangeError);
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

it("an upload's chunks, sent one after another, open its file once", async () => {
  const root = await tempDir();
  let opened = 0;
  const backend = await createDiskBackend({
    root,
    heldUploadMaxBytes: 0,
    wrapUploadFile: (file) => {
      opened += 1;
      return file;
    },
  });
  const si = 'ac'.padEnd(26, 'a');
  await backend.createUpload(si, 0, 8 * 1024);
  expect(opened).toBe(1); // the header's write
  for (let i = 0; i < 8; i++) {
    await backend.writeUpload(si, 0, i * 1024, new Uint8Array(1024).fill(i));
  }
  expect(opened).toBe(2);
  expect(await openFilesUnder(root)).toBe(0); // the completed share's file is closed
  expect(await backend.readShare(si, 0, 7 * 1024, 1024)).toEqual(new Uint8Array(1024).fill(7));
  await backend.close();
});

it('reads keep a bounded number of share files open, and none after close()', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root });
  const openFiles = () => openFilesUnder(root);
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
  // Uploads close their files when they complete.
  expect(await openFiles()).toBe(before);
  for (const si of sis)
    expect(await backend.readShare(si, 0, 1, 2)).toEqual(new Uint8Array([2, 3]));
  const during = await openFiles();
  expect(during - before).toBeGreaterThanOrEqual(60);
  expect(during - before).toBeLessThanOrEqual(64);
  // A deleted share's cached handle is dropped: the share number reads the new bytes.
  await backend.deleteShare(sis[99]!, 0);
  await backend.createUpload(sis[99]!, 0, 1);
  await backend.writeUpload(sis[99]!, 0, 0, new Uint8Array([9]));
  expect(await backend.readShare(sis[99]!, 0, 0, 4)).toEqual(new Uint8Array([9]));
  await backend.close();
  expect(await openFiles()).toBe(before);
});

it('uploads in progress hold at most 32 descriptors while idle (the latest): 300 started, each half written', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root, heldUploadMaxBytes: 0, flushEveryBytes: 8 });
  const openFiles = () => openFilesUnder(root);
  const before = await openFiles();
  const b32 = 'abcdefghijklmnopqrstuvwxyz234567';
  const sis = Array.from(
    { length: 300 },
    (_, i) => `ab${b32[i % 32]}${b32[Math.floor(i / 32)]}${'a'.repeat(22)}`,
  );
  for (const si of sis) {
    await backend.createUpload(si, 0, 32);
    // A chunk past flushEveryBytes: its write and a background fdatasync run on after the call.
    await backend.writeUpload(si, 0, 0, new Uint8Array(16).fill(1));
  }
  // The writes and syncs running on end by themselves; then only the latest 32 uploads' files
  // stay open, for their next chunks.
  await expect.poll(openFiles, { timeout: 10_000 }).toBe(before + 32);
  for (const si of sis) {
    expect(await backend.getUpload(si, 0)).toEqual({
      complete: false,
      missing: [{ begin: 16, end: 32 }],
    });
  }
  // Each of the others opens its file again for its next chunk, compares and completes as
  // before.
  for (const si of sis.slice(0, 100)) {
    await expect(backend.writeUpload(si, 0, 8, new Uint8Array(24).fill(1))).resolves.toEqual({
      complete: true,
      missing: [],
    });
    expect(await backend.readShare(si, 0, 0, 32)).toEqual(new Uint8Array(32).fill(1));
  }
  expect(await code(backend.writeUpload(sis[100]!, 0, 8, new Uint8Array(24).fill(2)))).toBe(
    'CONFLICT',
  );
  for (const si of sis.slice(100)) await backend.abortUpload(si, 0);
  expect(await backend.getUpload(sis[299]!, 0)).toBeUndefined();
  // What stays open is the reads' cache of complete shares, closed with the backend.
  expect(await openFiles()).toBeLessThanOrEqual(before + 64);
  await backend.close();
  expect(await openFiles()).toBe(before);
});

it('state blobs written together hold a bounded number of descriptors at once (owner records of 256 shares)', async () => {
  const backend = await createDiskBackend({ root: await tempDir() });
  const key = new Uint8Array(32).fill(3);
  const openFiles = () => readdirSync('/proc/self/fd').length;
  const before = openFiles();
  let peak = before;
  let writing = true;
  const sampling = (async () => {
    while (writing) {
      peak = Math.max(peak, openFiles());
      await setImmediatePromise();
    }
  })();
  await Promise.all(
    Array.from({ length: 256 }, (_, i) =>
      backend.putBlob(`owners/aa/set/${i}`, new Uint8Array(40).fill(i), key),
    ),
  );
  writing = false;
  await sampling;
  // Eight writes at once, each with its temporary file and its directory's fsync open.
  expect(peak - before).toBeLessThanOrEqual(2 * 8 + 2);
  expect(await backend.listBlobs('owners/aa/set/')).toHaveLength(256);
  expect(await backend.getBlob('owners/aa/set/255', key)).toEqual(new Uint8Array(40).fill(255));
  await backend.close();
});

// ---------------------------------------------------------------------------------------------
// Write-back during uploads: background fdatasync and write-behind, driven through the file of
// each upload (wrapUploadFile), so each test decides when a write or a sync finishes or fails.

function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function fsError(code: string): Error {
  return Object.assign(new Error(`${code} (injected)`), { code });
}

/** An upload file that logs its writes and syncs and lets a test hook datasync and write. */
function hookedFile(
  file: UploadFile,
  log: string[],
  hooks: {
    datasync?: (real: () => Promise<void>) => Promise<void>;
    write?: (
      position: number,
      real: () => Promise<{ bytesWritten: number }>,
    ) => Promise<{
      bytesWritten: number;
    }>;
  } = {},
): UploadFile {
  return {
    write(buffer, offset, length, position) {
      const real = () => file.write(buffer, offset, length, position);
      return hooks.write ? hooks.write(position, real) : real();
    },
    read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
    truncate: (length) => file.truncate(length),
    datasync() {
      log.push('datasync');
      const real = () => file.datasync();
      return hooks.datasync ? hooks.datasync(real) : real();
    },
    sync() {
      log.push('sync');
      return file.sync();
    },
    close: () => file.close(),
  };
}

function randomBytes(length: number, seed: number): Uint8Array {
  const next = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(next() * 256));
}

const WB_SI = 'aaaabbbbccccddddeeeeffffgq';

it('a failed background fdatasync fails the upload by its completion: the share is never published', async () => {
  const root = await tempDir();
  const log: string[] = [];
  const flush = deferred();
  let datasync = (real: () => Promise<void>) => flush.promise.then(real);
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    flushEveryBytes: 100,
    wrapUploadFile: (file) =>
      hookedFile(file, log, {
        datasync: (real) => datasync(real),
        // The flush fails once the last chunk is being written: only completion can notice.
        write: (position, real) => {
          if (position === 12 + 300) flush.reject(fsError('EIO'));
          return real();
        },
      }),
  });
  const data = randomBytes(400, 1);
  await backend.createUpload(WB_SI, 0, 400);
  await backend.writeUpload(WB_SI, 0, 0, data.subarray(0, 100)); // 100 bytes: a flush is due
  await backend.writeUpload(WB_SI, 0, 100, data.subarray(100, 200));
  await backend.writeUpload(WB_SI, 0, 200, data.subarray(200, 300));
  // The first flush still runs: no second one starts beside it.
  expect(log).toEqual(['datasync']);
  expect(await code(backend.writeUpload(WB_SI, 0, 300, data.subarray(300)))).toBe('IO');
  expect(log).toEqual(['datasync']); // no final sync, hence no rename
  expect(await backend.listStorageIndexes('aa')).toEqual([]);
  expect(await backend.listShares(WB_SI)).toEqual([]);
  expect(await backend.statShare(WB_SI, 0)).toBeUndefined();
  expect(await code(backend.readShare(WB_SI, 0, 0, 10))).toBe('NOT_FOUND');
  expect(await readdir(join(root, 'shares'))).toEqual(['incoming']);
  // The upload stays failed: sending the last chunk again gets the error again, never a share.
  expect(await code(backend.writeUpload(WB_SI, 0, 300, data.subarray(300)))).toBe('IO');
  expect(await backend.listShares(WB_SI)).toEqual([]);
  await backend.abortUpload(WB_SI, 0);
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
  // A new upload of the share works (its flushes now succeed).
  datasync = (real) => real();
  await backend.createUpload(WB_SI, 0, 400);
  for (let offset = 0; offset < 400; offset += 100)
    await backend.writeUpload(WB_SI, 0, offset, data.subarray(offset, offset + 100));
  expect(await backend.readShare(WB_SI, 0, 0, 400)).toEqual(data);
  await backend.close();
});

it('a background fdatasync that fails early fails the next chunk too', async () => {
  const root = await tempDir();
  const log: string[] = [];
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    flushEveryBytes: 10,
    writeBehind: false,
    wrapUploadFile: (file) =>
      hookedFile(file, log, { datasync: () => Promise.reject(fsError('EIO')) }),
  });
  await backend.createUpload(WB_SI, 0, 30);
  await backend.writeUpload(WB_SI, 0, 0, new Uint8Array(10).fill(1)); // starts the flush
  expect(await code(backend.writeUpload(WB_SI, 0, 10, new Uint8Array(10).fill(2)))).toBe('IO');
  expect(await code(backend.writeUpload(WB_SI, 0, 10, new Uint8Array(20).fill(2)))).toBe('IO');
  expect(log).toEqual(['datasync']);
  expect(await backend.listShares(WB_SI)).toEqual([]);
  await backend.close();
});

it('chunks out of order with background flushes between them make a byte-identical share', async () => {
  const root = await tempDir();
  const log: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let held: (() => void)[] = [];
  let holding = true;
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    flushEveryBytes: 1000,
    wrapUploadFile: (file) =>
      hookedFile(file, log, {
        // Each flush lasts until after the next chunk: chunks arrive while flushes run. (A
        // held flush skips the real fdatasync, whose duration would decide how many there are.)
        datasync: async (real) => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            if (holding) await new Promise<void>((resolve) => held.push(resolve));
            else await real();
          } finally {
            inFlight -= 1;
          }
        },
      }),
  });
  const release = () => {
    const waiting = held;
    held = [];
    for (const resolve of waiting) resolve();
  };
  const size = 20_000;
  const data = randomBytes(size, 2);
  const chunks: [number, number][] = [];
  for (let begin = 0; begin < size; begin += 1500)
    chunks.push([begin, Math.min(begin + 1500, size)]);
  const next = seededRandom(3);
  for (let i = chunks.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
  }
  // Overlapping resends of bytes already sent (equal, so accepted), before the last chunk.
  const last = chunks.pop()!;
  chunks.push([100, 2900], [size - 2000, size - 700], [5000, 5000 + 1500]);
  await backend.createUpload(WB_SI, 0, size);
  for (const [begin, end] of chunks) {
    const state = await backend.writeUpload(WB_SI, 0, begin, data.subarray(begin, end));
    expect(state.complete).toBe(false);
    release();
  }
  holding = false;
  const finishing = backend.writeUpload(WB_SI, 0, last[0], data.subarray(last[0], last[1]));
  release();
  expect(await finishing).toEqual({ complete: true, missing: [] });
  expect(log.filter((call) => call === 'datasync').length).toBeGreaterThanOrEqual(5);
  expect(maxInFlight).toBe(1);
  expect(log.at(-1)).toBe('sync'); // the final fsync comes after every flush
  expect(await backend.readShare(WB_SI, 0, 0, size)).toEqual(data);
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
  expect(await readdir(join(root, 'shares/aa', WB_SI))).toEqual(['0']);
  await backend.close();
});

it('write-behind: the next chunk waits for the previous write, so overlapping bytes compare right', async () => {
  const root = await tempDir();
  const gate = deferred();
  let gated = 0;
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    wrapUploadFile: (file) =>
      hookedFile(file, [], {
        // Chunk writes (data starts at 12) wait for the gate; the container header does not.
        write: (position, real) => {
          if (position < 12) return real();
          gated += 1;
          return gate.promise.then(real);
        },
      }),
  });
  const data = randomBytes(300, 4);
  await backend.createUpload(WB_SI, 0, 300);
  // Returns while its write waits for the gate.
  expect(await backend.writeUpload(WB_SI, 0, 0, data.subarray(0, 200))).toEqual({
    complete: false,
    missing: [{ begin: 200, end: 300 }],
  });
  expect(gated).toBe(1);
  // Equal bytes over the pending ones: compared against the file once the write is done.
  const overlapping = backend.writeUpload(WB_SI, 0, 100, data.subarray(100, 250));
  gate.resolve();
  expect((await overlapping).missing).toEqual([{ begin: 250, end: 300 }]);
  const wrong = data.slice(240, 300);
  wrong[0]! ^= 1;
  expect(await code(backend.writeUpload(WB_SI, 0, 240, wrong))).toBe('CONFLICT');
  expect((await backend.writeUpload(WB_SI, 0, 250, data.subarray(250))).complete).toBe(true);
  expect(await backend.readShare(WB_SI, 0, 0, 300)).toEqual(data);
  await backend.close();
});

it('write-behind: a failed chunk write fails the upload (NO_SPACE), which is never published', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    wrapUploadFile: (file) =>
      hookedFile(file, [], {
        write: (position, real) =>
          position === 12 + 100 ? Promise.reject(fsError('ENOSPC')) : real(),
      }),
  });
  await backend.createUpload(WB_SI, 0, 300);
  await backend.writeUpload(WB_SI, 0, 0, new Uint8Array(100).fill(1));
  await backend.writeUpload(WB_SI, 0, 100, new Uint8Array(100).fill(2)); // fails behind
  expect(await code(backend.writeUpload(WB_SI, 0, 200, new Uint8Array(100).fill(3)))).toBe(
    'NO_SPACE',
  );
  expect(await code(backend.writeUpload(WB_SI, 0, 200, new Uint8Array(100).fill(3)))).toBe(
    'NO_SPACE',
  );
  expect(await backend.listShares(WB_SI)).toEqual([]);
  await backend.abortUpload(WB_SI, 0);
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
  await backend.close();
});

it('without write-behind a failed chunk write fails that call only; with fsync: false nothing syncs', async () => {
  const root = await tempDir();
  let fail = true;
  const log: string[] = [];
  const backend = await createDiskBackend({
    root,
    // A file upload: these tests watch its file.
    heldUploadMaxBytes: 0,
    writeBehind: false,
    flushEveryBytes: 0,
    wrapUploadFile: (file) =>
      hookedFile(file, log, {
        write: (position, real) => {
          if (position !== 12 + 100 || !fail) return real();
          fail = false;
          return Promise.reject(fsError('ENOSPC'));
        },
      }),
  });
  await backend.createUpload(WB_SI, 0, 200);
  await backend.writeUpload(WB_SI, 0, 0, new Uint8Array(100).fill(1));
  expect(await code(backend.writeUpload(WB_SI, 0, 100, new Uint8Array(100).fill(2)))).toBe(
    'NO_SPACE',
  );
  expect((await backend.getUpload(WB_SI, 0))?.missing).toEqual([{ begin: 100, end: 200 }]);
  expect((await backend.writeUpload(WB_SI, 0, 100, new Uint8Array(100).fill(2))).complete).toBe(
    true,
  );
  expect(log).toEqual(['sync']); // flushEveryBytes: 0 leaves only the final sync
  await backend.close();

  const unsynced: string[] = [];
  const fast = await createDiskBackend({
    root: await tempDir(),
    fsync: false,
    flushEveryBytes: 1,
    wrapUploadFile: (file) => hookedFile(file, unsynced),
  });
  await fast.createUpload(WB_SI, 0, 20);
  await fast.writeUpload(WB_SI, 0, 0, new Uint8Array(10));
  await fast.writeUpload(WB_SI, 0, 10, new Uint8Array(10));
  expect(unsynced).toEqual([]);
  await fast.close();
});

it('createDiskBackend() refuses a negative or fractional flushEveryBytes', async () => {
  const root = await tempDir();
  await expect(
    createDiskBackend({ root, heldUploadMaxBytes: 0, flushEveryBytes: -1 }),
  ).rejects.toThrow(RangeError);
  await expect(
    createDiskBackend({ root, heldUploadMaxBytes: 0, flushEveryBytes: 0.5 }),
  ).rejects.toThrow(RangeError);
});

it('inDirectory makes its directory again when a prune removes it before the entry is made', async () => {
  const dir = join(await tempDir(), 'aa', 'set');
  let attempts = 0;
  await inDirectory(dir, async () => {
    attempts++;
    if (attempts === 1) await rm(join(dir, '..'), { recursive: true }); // the neighbour's prune
    await writeFile(join(dir, '0'), 'share');
  });
  expect(attempts).toBe(2);
  expect(await readdir(dir)).toEqual(['0']);
});

// Completing, aborting or deleting one share prunes its emptied directory; another share of the
// same index may be creating or publishing into that directory at that very moment.
it('shares of one index started, finished, aborted and deleted side by side never fail', async () => {
  const root = await tempDir();
  const backend = await createDiskBackend({ root, fsync: false });
  const base32 = (n: number) =>
    [...n.toString(32)]
      .map((d) => 'abcdefghijklmnopqrstuvwxyz234567'[Number.parseInt(d, 32)])
      .join('');
  const indexes = Array.from({ length: 300 }, (_, i) => `aa${base32(i).padStart(23, 'a')}a`);
  await Promise.all(
    indexes.map(async (si) => {
      await Promise.all(
        [0, 1, 2, 3].map(async (shnum) => {
          // Staggered by a few turns of the event loop, so starts overlap other shares' ends.
          for (let turn = 0; turn < shnum * 2; turn++) await setImmediatePromise();
          await backend.createUpload(si, shnum, 1);
          if (shnum === 3) return backend.abortUpload(si, shnum);
          await backend.writeUpload(si, shnum, 0, new Uint8Array([shnum]));
          if (shnum === 2) await backend.deleteShare(si, shnum);
        }),
      );
    }),
  );
  for (const si of indexes) {
    expect((await backend.listShares(si)).map((s) => s.shnum)).toEqual([0, 1]);
  }
  expect(await readdir(join(root, 'shares/incoming'))).toEqual([]);
});
