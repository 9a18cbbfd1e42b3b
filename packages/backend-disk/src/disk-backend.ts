import { mkdir, open, readdir, readFile, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import {
  addRange,
  type BackendCapabilities,
  BackendError,
  type ByteRange,
  checkBlobName,
  checkMutableRequest,
  checkOffset,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
  checkUploadChunk,
  checkUploadSize,
  coveredParts,
  createKeyedLock,
  type EmbeddedLease,
  missingRanges,
  openBlob,
  type ShareBackend,
  type ShareInfo,
  type ShareMeta,
  sealBlob,
  type UploadProgress,
} from '@ostrom/backend';
import {
  ContainerFormatError,
  type ContainerLease,
  fileReader,
  immutableContainerLayout,
  leaseSecretDigest,
  MUTABLE_DATA_OFFSET,
  mutableContainerLayout,
  readContainer,
  type ShareContainer,
} from './container/index.js';
import { pruneEmptyDirs, publish, syncPath, writeAll, writeFileAtomically } from './durable-fs.js';
import { errnoOf, fsStep } from './fs-errors.js';
import {
  blobPath,
  diskLayout,
  incomingPath,
  incomingSetDir,
  parseShareFileName,
  sharePath,
  shareSetDir,
} from './layout.js';

export interface DiskBackendOptions {
  /** A Tahoe-LAFS storage directory (the one holding `shares/`); created if missing. */
  readonly root: string;
  /** Largest share accepted (default 2^40 bytes). */
  readonly maxShareBytes?: number;
  /**
   * fsync data and directories before a write is acknowledged (default true). Turning it off
   * gives up crash safety; it exists for benchmarks that measure the rest.
   */
  readonly fsync?: boolean;
}

interface Upload {
  readonly sizeBytes: number;
  received: readonly ByteRange[];
}

const NO_NODE_ID = new Uint8Array(20);

/** A contract lease as a v2 container stores it: secrets hashed, node id for mutable records. */
function toContainerLease(lease: EmbeddedLease, nodeId: Uint8Array): ContainerLease {
  return {
    ownerNum: lease.ownerNum,
    renewSecret: lease.secretsHashed ? lease.renewSecret : leaseSecretDigest(lease.renewSecret),
    cancelSecret: lease.secretsHashed ? lease.cancelSecret : leaseSecretDigest(lease.cancelSecret),
    expiresAt: lease.expiresAt,
    nodeId,
  };
}

function toEmbeddedLease(lease: ContainerLease, version: 1 | 2): EmbeddedLease {
  return {
    ownerNum: lease.ownerNum,
    renewSecret: lease.renewSecret,
    cancelSecret: lease.cancelSecret,
    secretsHashed: version === 2,
    expiresAt: lease.expiresAt,
  };
}

function dataRegion(container: ShareContainer): { offset: number; length: number } {
  return { offset: container.dataOffset, length: container.dataLength };
}

/**
 * A share backend on a local file system in Tahoe-LAFS's own layout and share containers, so a
 * Tahoe storage directory can be served as it is and shares written here stay readable by Tahoe.
 * Complete shares appear by rename after fsync; uploads live in `shares/incoming` until then.
 */
export async function createDiskBackend(options: DiskBackendOptions): Promise<ShareBackend> {
  if (typeof options?.root !== 'string' || options.root === '')
    throw new TypeError('root must be a directory path');
  const maxShareBytes = options.maxShareBytes ?? 2 ** 40;
  checkOffset('maxShareBytes', maxShareBytes);
  const sync = options.fsync ?? true;
  const layout = diskLayout(resolve(options.root));
  await fsStep('create the storage directory', () => mkdir(layout.shares, { recursive: true }));

  const capabilities: BackendCapabilities = Object.freeze({
    kind: 'disk',
    durable: true,
    embedsLeases: true,
    uploadsSurviveRestart: false,
    maxShareBytes,
  });
  const uploads = new Map<string, Upload>();
  // Writers of one share (chunks of an upload, a mutable rewrite) take turns; reads do not wait.
  const lock = createKeyedLock();
  const keyOf = (storageIndex: string, shnum: number) => `${storageIndex}/${shnum}`;

  /** Opens and parses a complete share; undefined if absent; CORRUPT if unreadable. */
  async function withShare<T>(
    storageIndex: string,
    shnum: number,
    fn: (
      container: ShareContainer,
      handle: import('node:fs/promises').FileHandle,
      size: number,
    ) => Promise<T>,
  ): Promise<T | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    let handle: import('node:fs/promises').FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      let container: ShareContainer;
      try {
        container = await readContainer(fileReader(handle, size));
      } catch (error) {
        if (error instanceof ContainerFormatError) {
          throw new BackendError(
            'CORRUPT',
            `share ${storageIndex}/${shnum} is not a readable container`,
            {
              cause: error,
              details: { storageIndex, shnum, problem: error.code },
            },
          );
        }
        throw error;
      }
      return await fn(container, handle, size);
    } finally {
      await handle.close();
    }
  }

  async function readRegion(
    handle: import('node:fs/promises').FileHandle,
    position: number,
    length: number,
  ) {
    const buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }

  async function shareExists(storageIndex: string, shnum: number): Promise<boolean> {
    try {
      await stat(sharePath(layout, storageIndex, shnum));
      return true;
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async function listShareNumbers(storageIndex: string): Promise<number[]> {
    try {
      const names = await readdir(shareSetDir(layout, storageIndex));
      return names
        .map(parseShareFileName)
        .filter((n): n is number => n !== undefined)
        .sort((a, b) => a - b);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw error;
    }
  }

  function progress(upload: Upload): UploadProgress {
    const missing = missingRanges(upload.received, upload.sizeBytes);
    return { complete: missing.length === 0, missing };
  }

  /** Moves a complete upload into place: data synced, then renamed, then the directory synced. */
  async function completeUpload(storageIndex: string, shnum: number): Promise<void> {
    const from = incomingPath(layout, storageIndex, shnum);
    if (await shareExists(storageIndex, shnum)) {
      throw new BackendError(
        'CONFLICT',
        `share ${storageIndex}/${shnum} appeared during its upload`,
      );
    }
    await syncPath(from, sync);
    await publish(from, sharePath(layout, storageIndex, shnum), sync);
    uploads.delete(keyOf(storageIndex, shnum));
    await pruneEmptyDirs(incomingSetDir(layout, storageIndex), layout.incoming);
  }

  async function walkBlobs(dir: string): Promise<string[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return [];
      throw error;
    }
    const names: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue; // temporary files of writes in progress
      const path = join(dir, entry.name);
      if (entry.isDirectory()) names.push(...(await walkBlobs(path)));
      else if (entry.isFile()) names.push(relative(layout.state, path).split(sep).join('/'));
    }
    return names;
  }

  const backend: ShareBackend = {
    capabilities,

    async listStorageIndexes(prefix) {
      checkPrefix(prefix);
      return fsStep('list a prefix directory', async () => {
        let names: string[];
        try {
          names = await readdir(join(layout.shares, prefix));
        } catch (error) {
          if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return [];
          throw error;
        }
        const indexes: string[] = [];
        for (const name of names.sort()) {
          try {
            checkStorageIndex(name);
          } catch {
            continue; // not a share set (Tahoe keeps nothing else here, but be strict)
          }
          if ((await listShareNumbers(name)).length > 0) indexes.push(name);
        }
        return indexes;
      });
    },

    async listShares(storageIndex) {
      checkStorageIndex(storageIndex);
      return fsStep('list shares', async () => {
        const infos: ShareInfo[] = [];
        for (const shnum of await listShareNumbers(storageIndex)) {
          try {
            const info = await withShare(storageIndex, shnum, async (container, _handle, size) => ({
              shnum,
              sharetype: container.kind,
              sizeBytes: container.dataLength,
              usedBytes: size,
            }));
            if (info) infos.push(info);
          } catch (error) {
            // A damaged container is not a share a client can use; the crawler reports it.
            if (error instanceof BackendError && error.code === 'CORRUPT') continue;
            throw error;
          }
        }
        return infos;
      });
    },

    async getShareMeta(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return fsStep('read a share header', () =>
        withShare(storageIndex, shnum, async (container, _handle, size): Promise<ShareMeta> => {
          const base = {
            shnum,
            sharetype: container.kind,
            sizeBytes: container.dataLength,
            usedBytes: size,
            leases: container.leases.map((lease) => toEmbeddedLease(lease, container.version)),
            container: `${container.kind}-v${container.version}`,
          };
          return container.kind === 'mutable'
            ? {
                ...base,
                writeEnabler: container.writeEnabler,
                writeEnablerNodeId: container.writeEnablerNodeId,
              }
            : base;
        }),
      );
    },

    async readShare(storageIndex, shnum, offset, length) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkOffset('offset', offset);
      checkOffset('length', length);
      const bytes = await fsStep('read a share', () =>
        withShare(storageIndex, shnum, async (container, handle) => {
          const data = dataRegion(container);
          const begin = Math.min(offset, data.length);
          const end = Math.min(offset + length, data.length);
          return await readRegion(handle, data.offset + begin, end - begin);
        }),
      );
      if (!bytes) throw new BackendError('NOT_FOUND', `no share ${storageIndex}/${shnum}`);
      return bytes;
    },

    async createUpload(storageIndex, shnum, sizeBytes, uploadOptions = {}) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkUploadSize(sizeBytes, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      await lock.run(key, () =>
        fsStep('start an upload', async () => {
          if (uploads.has(key) || (await shareExists(storageIndex, shnum))) {
            throw new BackendError('CONFLICT', `share ${key} exists or is being uploaded`);
          }
          // Tahoe writes the header and the first lease at once; the data region stays sparse
          // until chunks fill it.
          const container = immutableContainerLayout({
            dataLength: sizeBytes,
            leases: (uploadOptions.leases ?? []).map((lease) =>
              toContainerLease(lease, NO_NODE_ID),
            ),
          });
          const path = incomingPath(layout, storageIndex, shnum);
          await mkdir(incomingSetDir(layout, storageIndex), { recursive: true });
          // 'w' truncates a leftover of an upload that a crash interrupted: uploads never survive.
          const handle = await open(path, 'w');
          try {
            await handle.truncate(container.fileSize);
            await writeAll(handle, container.header, 0);
            await writeAll(handle, container.leaseRecords, container.leaseOffset);
          } finally {
            await handle.close();
          }
          uploads.set(key, { sizeBytes, received: [] });
        }),
      );
    },

    async writeUpload(storageIndex, shnum, offset, data) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const key = keyOf(storageIndex, shnum);
      return await lock.run(key, () =>
        fsStep('write an upload chunk', async () => {
          const upload = uploads.get(key);
          if (!upload) {
            if (await shareExists(storageIndex, shnum)) {
              // A repeated final chunk after completion: nothing is missing any more.
              throw new BackendError(
                'NOT_FOUND',
                `no upload of ${key} in progress (the share is complete)`,
              );
            }
            throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
          }
          const chunk = checkUploadChunk(offset, data, upload.sizeBytes);
          const handle = await open(incomingPath(layout, storageIndex, shnum), 'r+');
          try {
            for (const part of coveredParts(upload.received, chunk)) {
              const before = await readRegion(handle, 12 + part.begin, part.end - part.begin);
              const after = data.subarray(part.begin - offset, part.end - offset);
              if (!Buffer.from(before).equals(Buffer.from(after))) {
                throw new BackendError(
                  'CONFLICT',
                  `chunk of ${key} differs from bytes already written`,
                  {
                    details: { begin: part.begin, end: part.end },
                  },
                );
              }
            }
            await writeAll(handle, data, 12 + offset);
          } finally {
            await handle.close();
          }
          upload.received = addRange(upload.received, chunk);
          const state = progress(upload);
          if (state.complete) await completeUpload(storageIndex, shnum);
          return state;
        }),
      );
    },

    async getUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const upload = uploads.get(keyOf(storageIndex, shnum));
      return upload && progress(upload);
    },

    async abortUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const key = keyOf(storageIndex, shnum);
      await lock.run(key, () =>
        fsStep('abort an upload', async () => {
          if (!uploads.delete(key))
            throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
          await rm(incomingPath(layout, storageIndex, shnum), { force: true });
          await pruneEmptyDirs(incomingSetDir(layout, storageIndex), layout.incoming);
        }),
      );
    },

    async discardUploads() {
      return fsStep('discard uploads', async () => {
        // Everything under incoming/ goes: this process's uploads and any a crash left behind.
        let leftovers = 0;
        for (const prefix of await readdir(layout.incoming).catch(() => [] as string[])) {
          for (const storageIndex of await readdir(join(layout.incoming, prefix)).catch(
            () => [] as string[],
          )) {
            const files = await readdir(join(layout.incoming, prefix, storageIndex)).catch(
              () => [] as string[],
            );
            leftovers += files.filter((name) => parseShareFileName(name) !== undefined).length;
          }
        }
        const count = Math.max(leftovers, uploads.size);
        uploads.clear();
        await rm(layout.incoming, { recursive: true, force: true });
        return count;
      });
    },

    async writeMutable(storageIndex, shnum, request) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkMutableRequest(request, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      return await lock.run(key, () =>
        fsStep('write a mutable share', async () => {
          if (uploads.has(key))
            throw new BackendError('CONFLICT', `share ${key} is being uploaded`);
          const existing = await withShare(storageIndex, shnum, async (container, handle) => {
            if (container.kind !== 'mutable') {
              throw new BackendError('CONFLICT', `share ${key} is immutable`);
            }
            return {
              container,
              data: await readRegion(handle, container.dataOffset, container.dataLength),
            };
          });
          let data = existing?.data ?? new Uint8Array(0);
          for (const write of request.writes) {
            const end = write.offset + write.data.length;
            if (end > data.length) {
              const grown = new Uint8Array(end); // gaps read as zeros, as Tahoe fills them
              grown.set(data);
              data = grown;
            }
            data.set(write.data, write.offset);
          }
          if (request.newLength != null && request.newLength < data.length)
            data = data.subarray(0, request.newLength);

          // The whole container is rewritten beside the old one and renamed over it, so a crash
          // leaves the previous version or this one, never a mix. An existing share keeps its
          // version, write enabler and leases (the accountant checked the write enabler).
          if (!existing && request.leases?.some((lease) => lease.ownerNum === 0)) {
            // Tahoe marks an empty mutable lease slot with owner 0; such a lease would vanish.
            throw new RangeError('a mutable share lease needs an owner number other than 0');
          }
          const nodeId =
            existing?.container.kind === 'mutable'
              ? existing.container.writeEnablerNodeId
              : (request.writeEnablerNodeId ?? NO_NODE_ID);
          const container = mutableContainerLayout({
            ...(existing ? { version: existing.container.version } : {}),
            writeEnablerNodeId: nodeId,
            writeEnabler:
              existing?.container.kind === 'mutable'
                ? existing.container.writeEnabler
                : request.writeEnabler,
            dataLength: data.length,
            leases: existing
              ? existing.container.leases
              : (request.leases ?? []).map((lease) => toContainerLease(lease, nodeId)),
          });
          await writeFileAtomically(
            sharePath(layout, storageIndex, shnum),
            [
              { offset: 0, bytes: container.header },
              { offset: MUTABLE_DATA_OFFSET, bytes: data },
              { offset: container.extraLeaseOffset, bytes: container.extraLeaseBlock },
            ],
            container.fileSize,
            layout.incoming,
            sync,
          );
          return data.length;
        }),
      );
    },

    async deleteShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return await lock.run(keyOf(storageIndex, shnum), () =>
        fsStep('delete a share', async () => {
          try {
            await unlink(sharePath(layout, storageIndex, shnum));
          } catch (error) {
            if (errnoOf(error) === 'ENOENT') return false;
            throw error;
          }
          await syncPath(shareSetDir(layout, storageIndex), sync).catch(() => undefined);
          // Tahoe removes the storage-index and prefix directories once empty; so do we.
          await pruneEmptyDirs(shareSetDir(layout, storageIndex), layout.shares);
          return true;
        }),
      );
    },

    async putBlob(name, data, key) {
      checkBlobName(name);
      const sealed = sealBlob(name, data, key);
      await fsStep('store a state blob', () =>
        writeFileAtomically(
          blobPath(layout, name),
          [{ offset: 0, bytes: sealed }],
          sealed.length,
          layout.state,
          sync,
        ),
      );
    },

    async getBlob(name, key) {
      checkBlobName(name);
      const sealed = await fsStep('read a state blob', async () => {
        try {
          return await readFile(blobPath(layout, name));
        } catch (error) {
          const code = errnoOf(error);
          if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
          throw error;
        }
      });
      return sealed && openBlob(name, sealed, key);
    },

    async listBlobs(prefix = '') {
      if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
      const names = await fsStep('list state blobs', () => walkBlobs(layout.state));
      return names.filter((name) => name.startsWith(prefix)).sort();
    },

    async deleteBlob(name) {
      checkBlobName(name);
      return await fsStep('delete a state blob', async () => {
        const path = blobPath(layout, name);
        try {
          await unlink(path);
        } catch (error) {
          const code = errnoOf(error);
          if (code === 'ENOENT' || code === 'EISDIR' || code === 'EPERM') return false;
          throw error;
        }
        await pruneEmptyDirs(join(path, '..'), layout.state);
        return true;
      });
    },

    async availableSpace() {
      return fsStep('measure free space', async () => {
        const stats = await statfs(layout.root);
        return stats.bavail * stats.bsize;
      });
    },

    async close() {
      uploads.clear();
    },
  };
  return backend;
}
