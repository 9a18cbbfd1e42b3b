import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  stat,
  statfs,
  unlink,
} from 'node:fs/promises';
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
  CONTAINER_HEADER_PROBE_BYTES,
  ContainerFormatError,
  type ContainerHeader,
  type ContainerLease,
  fileReader,
  immutableContainerLayout,
  leaseSecretDigest,
  MUTABLE_DATA_OFFSET,
  mutableContainerLayout,
  parseContainerHeader,
  readContainer,
  type ShareContainer,
} from './container/index.js';
import {
  inDirectory,
  pruneEmptyDirs,
  publish,
  syncPath,
  writeAll,
  writeFileAtomically,
} from './durable-fs.js';
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
  /**
   * Start writing an upload's data back to disk while it is still arriving: an `fdatasync` in
   * the background after every this many bytes of chunks (default 8 MiB; 0: none), at most one
   * at a time per upload, so the sync that completes the share has little left to do. A failed
   * background sync fails the upload: its share is never published. Ignored with `fsync: false`.
   */
  readonly flushEveryBytes?: number;
  /**
   * Let a chunk's write run on while `writeUpload` returns (default true): it overlaps with the
   * next chunk's arrival, and the next call on the upload waits for it. The backend then holds
   * `data` until that call, so callers must not change it in the meantime. A failed write fails
   * the upload (every later chunk of it gets the error; the share is never published). The chunk
   * that completes a share is always written, synced and published before the call returns.
   */
  readonly writeBehind?: boolean;
  /**
   * Tests only: wraps each opening of an upload's file (opened for each chunk and closed once
   * idle), e.g. to make a background sync fail.
   */
  readonly wrapUploadFile?: (file: UploadFile) => UploadFile;
}

/** The calls the backend makes on an upload's incoming file (a `FileHandle` is one). */
export interface UploadFile {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

interface Upload {
  /** The incoming file, under `shares/incoming`. */
  readonly path: string;
  readonly sizeBytes: number;
  received: readonly ByteRange[];
  /**
   * The incoming file while something uses it (a call on the upload, a chunk's write running
   * on, a background fdatasync), closed when the last of them ends: an idle upload holds no
   * descriptor, so uploads in progress cannot exhaust the process's descriptors.
   */
  file: OpenUploadFile | undefined;
  /** The last close of the file, which abort and close wait for. */
  closing: Promise<void> | undefined;
  /** The last chunk's write while it runs on (write-behind); never rejects (see `failure`). */
  writing: Promise<void> | undefined;
  /** The background fdatasync in flight, at most one; never rejects (see `failure`). */
  flushing: Promise<void> | undefined;
  /** Bytes written since the last background fdatasync started. */
  unflushed: number;
  /** The first error of a write or sync that ran on in the background: the upload is lost. */
  failure: { readonly error: unknown } | undefined;
}

/** An upload's incoming file, open while `users` (calls and background work) use it. */
interface OpenUploadFile {
  readonly handle: UploadFile;
  users: number;
}

/** A complete immutable share kept open for reads (see `openImmutable`). */
interface OpenShare {
  readonly handle: FileHandle;
  readonly header: ContainerHeader;
  users: number;
  evicted: boolean;
}

/** What a share file's header says, remembered with the stat that validates it. */
interface CachedHeader {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly header: ContainerHeader;
}

// Reads reuse open handles of immutable shares (they never change in place, only get deleted),
// so a 1 MiB ranged read is one pread, as a raw reader holding the file open would do. Mutable
// shares are replaced by rename and always opened afresh.
const OPEN_SHARE_LIMIT = 64;
// Listings validate a remembered header with one stat instead of opening and reading the file.
const HEADER_CACHE_LIMIT = 200_000;

/** Share-set directories read at once when listing a prefix (libuv's pool has 4 threads). */
const LISTING_CONCURRENCY = 8;

/**
 * State blobs written at once. Each holds a descriptor for its temporary file and one for its
 * directory's fsync, and a caller may write hundreds together (an allocation's owner records,
 * one per share): more at once would only wait in libuv's pool (4 threads) with their
 * descriptors open.
 */
const BLOB_WRITE_CONCURRENCY = 8;

/** Runs at most `limit` calls at once; the others wait their turn, first come first served. */
function createGate(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (running < limit) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // The place goes straight to the next in line, or is given back.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
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
  const flushEveryBytes = options.flushEveryBytes ?? 8 * 2 ** 20;
  checkOffset('flushEveryBytes', flushEveryBytes);
  const writeBehind = options.writeBehind ?? true;
  const wrapUploadFile = options.wrapUploadFile ?? ((file: UploadFile) => file);
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
  const blobWrites = createGate(BLOB_WRITE_CONCURRENCY);
  const openShares = new Map<string, OpenShare>();
  const headers = new Map<string, CachedHeader>();
  // Writers of one share (chunks of an upload, a mutable rewrite) take turns; reads do not wait.
  const lock = createKeyedLock();
  const keyOf = (storageIndex: string, shnum: number) => `${storageIndex}/${shnum}`;

  async function openIfExists(path: string): Promise<FileHandle | undefined> {
    try {
      return await open(path, 'r');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Opens and parses a complete share; undefined if absent; CORRUPT if unreadable. */
  async function withShare<T>(
    storageIndex: string,
    shnum: number,
    fn: (container: ShareContainer, handle: FileHandle, size: number) => Promise<T>,
  ): Promise<T | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    const handle = await openIfExists(path);
    if (!handle) return undefined;
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

  async function readRegion(handle: Pick<UploadFile, 'read'>, position: number, length: number) {
    // Every byte returned is read from the file; no need to zero the buffer first.
    const buffer = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  }

  function corrupt(storageIndex: string, shnum: number, error: ContainerFormatError): BackendError {
    return new BackendError(
      'CORRUPT',
      `share ${storageIndex}/${shnum} is not a readable container`,
      {
        cause: error,
        details: { storageIndex, shnum, problem: error.code },
      },
    );
  }

  async function readHeader(handle: FileHandle, size: number): Promise<ContainerHeader> {
    const head = await readRegion(handle, 0, Math.min(size, CONTAINER_HEADER_PROBE_BYTES));
    return parseContainerHeader(head, size);
  }

  /** What `listShares` and `statShare` say of one share, from its (cached) header. */
  async function statShare(storageIndex: string, shnum: number): Promise<ShareInfo | undefined> {
    const share = await headerOf(storageIndex, shnum);
    return (
      share && {
        shnum,
        sharetype: share.header.kind,
        sizeBytes: share.header.dataLength,
        usedBytes: share.size,
      }
    );
  }

  /** The header of a share file, from the cache when a stat shows the file unchanged. */
  async function headerOf(
    storageIndex: string,
    shnum: number,
  ): Promise<{ header: ContainerHeader; size: number } | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    let stats: import('node:fs').Stats;
    try {
      stats = await stat(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    }
    const cached = headers.get(path);
    if (
      cached &&
      cached.ino === stats.ino &&
      cached.size === stats.size &&
      cached.mtimeMs === stats.mtimeMs
    ) {
      return { header: cached.header, size: stats.size };
    }
    const handle = await open(path, 'r');
    try {
      const header = await readHeader(handle, stats.size);
      if (headers.size >= HEADER_CACHE_LIMIT) headers.delete(headers.keys().next().value!);
      headers.set(path, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, header });
      return { header, size: stats.size };
    } catch (error) {
      if (error instanceof ContainerFormatError) throw corrupt(storageIndex, shnum, error);
      throw error;
    } finally {
      await handle.close();
    }
  }

  function release(entry: OpenShare): void {
    entry.users -= 1;
    if (entry.evicted && entry.users === 0) void entry.handle.close().catch(() => undefined);
  }

  /** Forgets a share's cached header and handle; the handle closes once no read uses it. */
  function evict(path: string): Promise<void> {
    headers.delete(path);
    const entry = openShares.get(path);
    if (!entry) return Promise.resolve();
    openShares.delete(path);
    entry.evicted = true;
    return entry.users === 0 ? entry.handle.close().catch(() => undefined) : Promise.resolve();
  }

  /**
   * A share opened for reading, with its header; the caller must `release` it. Immutable shares
   * stay open for the next read (up to OPEN_SHARE_LIMIT, least recently used closed first).
   */
  async function openForRead(storageIndex: string, shnum: number): Promise<OpenShare | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    const cached = openShares.get(path);
    if (cached) {
      openShares.delete(path); // re-insert: Map order is the recency order
      openShares.set(path, cached);
      cached.users += 1;
      return cached;
    }
    const handle = await openIfExists(path);
    if (!handle) return undefined;
    let header: ContainerHeader;
    try {
      header = await readHeader(handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      if (error instanceof ContainerFormatError) throw corrupt(storageIndex, shnum, error);
      throw error;
    }
    const entry: OpenShare = { handle, header, users: 1, evicted: header.kind === 'mutable' };
    if (header.kind === 'mutable') return entry; // closed by release
    const raced = openShares.get(path);
    if (raced) {
      await handle.close();
      raced.users += 1;
      return raced;
    }
    openShares.set(path, entry);
    for (const [key, other] of openShares) {
      if (openShares.size <= OPEN_SHARE_LIMIT) break;
      if (other.users === 0) void evict(key);
    }
    return entry;
  }

  /** Records the first failure of background work on an upload (it cannot complete any more). */
  function background(upload: Upload, work: Promise<unknown>): Promise<void> {
    return work.then(
      () => undefined,
      (error: unknown) => {
        upload.failure ??= { error };
      },
    );
  }

  /**
   * The upload's incoming file for one more user, opened when nobody uses it. Only while used:
   * fsync and fdatasync write back the file's data whichever descriptor wrote it, so closing in
   * between loses none of the crash safety (docs/ARCHITECTURE.md, "Crash safety").
   */
  async function useFile(upload: Upload): Promise<OpenUploadFile> {
    if (upload.file) {
      upload.file.users += 1;
      return upload.file;
    }
    const handle = wrapUploadFile(await open(upload.path, 'r+'));
    // A background write or sync may have opened it meanwhile (they do not take the lock).
    const raced = upload.file as OpenUploadFile | undefined;
    if (raced) {
      await handle.close().catch(() => undefined);
      raced.users += 1;
      return raced;
    }
    const file: OpenUploadFile = { handle, users: 1 };
    upload.file = file;
    return file;
  }

  /** One user is done with the file; the last one closes it. */
  function doneWithFile(upload: Upload, file: OpenUploadFile): Promise<void> {
    file.users -= 1;
    if (file.users > 0) return Promise.resolve();
    if (upload.file === file) upload.file = undefined;
    const closing = file.handle.close().catch(() => undefined);
    upload.closing = closing;
    return closing;
  }

  /**
   * A chunk's bytes are written through `file`: count them, and start a background fdatasync
   * when due, which uses the file until it ends.
   */
  function startFlush(upload: Upload, file: OpenUploadFile, bytes: number): void {
    if (!sync || flushEveryBytes === 0 || upload.failure) return;
    upload.unflushed += bytes;
    if (upload.unflushed < flushEveryBytes || upload.flushing) return;
    upload.unflushed = 0;
    file.users += 1;
    const flushing = background(upload, file.handle.datasync()).finally(() => {
      if (upload.flushing === flushing) upload.flushing = undefined;
      return doneWithFile(upload, file);
    });
    upload.flushing = flushing;
  }

  /** Waits for the upload's background work; throws its failure, if any. */
  async function settle(upload: Upload): Promise<void> {
    await upload.writing;
    await upload.flushing;
    if (upload.failure) throw upload.failure.error;
  }

  /**
   * Waits for an upload's background work and the close of its file (abort, discard, close):
   * once it returns the upload holds no descriptor.
   */
  async function closeUpload(upload: Upload): Promise<void> {
    await upload.writing;
    await upload.flushing;
    await upload.closing;
  }

  async function closeUploads(): Promise<void> {
    const open = [...uploads.values()];
    uploads.clear();
    await Promise.all(open.map(closeUpload));
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

  /**
   * Moves a complete upload into place: data synced, then renamed, then the directory synced.
   * A background write or sync that failed stops it here (the upload stays, failed, until it is
   * aborted or discarded): the share is never published.
   */
  async function completeUpload(
    upload: Upload,
    file: OpenUploadFile,
    storageIndex: string,
    shnum: number,
  ) {
    const from = incomingPath(layout, storageIndex, shnum);
    // The caller's use of the file ends here, failed or not; once the background work is
    // settled it is the last one, so the file is closed before it is published.
    try {
      await settle(upload);
      if (await shareExists(storageIndex, shnum)) {
        throw new BackendError(
          'CONFLICT',
          `share ${storageIndex}/${shnum} appeared during its upload`,
        );
      }
      uploads.delete(keyOf(storageIndex, shnum));
      if (sync) await file.handle.sync();
    } finally {
      await doneWithFile(upload, file);
    }
    // If the rename fails the upload is over (the client gets the error and starts again);
    // the leftover in incoming/ goes with the next discardUploads().
    await publish(from, sharePath(layout, storageIndex, shnum), sync);
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

  /**
   * The storage indexes filed under a prefix directory, sorted. An index directory is removed
   * with its last share (deleteShare), so a listed name has shares; a crash between the two can
   * leave an empty one, which lists no shares.
   */
  async function indexesUnder(prefix: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(layout.shares, prefix));
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return [];
      throw error;
    }
    // Tahoe keeps nothing else here, but be strict: anything not named like an index is skipped.
    return names
      .filter((name) => {
        try {
          return checkStorageIndex(name) === name;
        } catch {
          return false;
        }
      })
      .sort();
  }

  const backend: ShareBackend = {
    capabilities,

    async listStorageIndexes(prefix) {
      checkPrefix(prefix);
      return fsStep('list a prefix directory', () => indexesUnder(prefix));
    },

    async listShareSets(prefix) {
      checkPrefix(prefix);
      return fsStep('list share sets', async () => {
        // Names only: a readdir per share set, no stat or read of a share file. Several are in
        // flight at once, so a crawl is not bound by one directory read's latency at a time.
        const indexes = await indexesUnder(prefix);
        const shnums: number[][] = new Array(indexes.length);
        let next = 0;
        const reader = async () => {
          while (next < indexes.length) {
            const at = next++;
            shnums[at] = await listShareNumbers(indexes[at]!);
          }
        };
        await Promise.all(
          Array.from({ length: Math.min(LISTING_CONCURRENCY, indexes.length) }, reader),
        );
        return indexes
          .map((storageIndex, at) => ({ storageIndex, shnums: shnums[at]! }))
          .filter((set) => set.shnums.length > 0);
      });
    },

    async listShares(storageIndex) {
      checkStorageIndex(storageIndex);
      return fsStep('list shares', async () => {
        const found = await Promise.all(
          (await listShareNumbers(storageIndex)).map(
            async (shnum): Promise<ShareInfo | undefined> => {
              try {
                return await statShare(storageIndex, shnum);
              } catch (error) {
                // A damaged container is not a share a client can use; the crawler reports it.
                if (error instanceof BackendError && error.code === 'CORRUPT') return undefined;
                throw error;
              }
            },
          ),
        );
        return found.filter((info): info is ShareInfo => info !== undefined);
      });
    },

    async statShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return fsStep('stat a share', () => statShare(storageIndex, shnum));
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
      const bytes = await fsStep('read a share', async () => {
        const share = await openForRead(storageIndex, shnum);
        if (!share) return undefined;
        try {
          const { dataOffset, dataLength } = share.header;
          const begin = Math.min(offset, dataLength);
          const end = Math.min(offset + length, dataLength);
          return await readRegion(share.handle, dataOffset + begin, end - begin);
        } finally {
          release(share);
        }
      });
      if (!bytes) throw new BackendError('NOT_FOUND', `no share ${storageIndex}/${shnum}`);
      return bytes;
    },

    async openShareReader(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const opened = await fsStep('open a share', async () => {
        const share = await openForRead(storageIndex, shnum);
        if (!share) return undefined;
        try {
          return { share, usedBytes: (await share.handle.stat()).size };
        } catch (error) {
          release(share);
          throw error;
        }
      });
      if (!opened) return undefined;
      const { share, usedBytes } = opened;
      // The open handle is the version: a mutable rewrite renames a new file over the path and a
      // deletion unlinks it, and neither changes the file this handle reads.
      const { dataOffset, dataLength, kind } = share.header;
      let open = true;
      return {
        info: { shnum, sharetype: kind, sizeBytes: dataLength, usedBytes },
        async read(offset, length) {
          checkOffset('offset', offset);
          checkOffset('length', length);
          if (!open) {
            throw new BackendError('NOT_FOUND', `reader of ${storageIndex}/${shnum} closed`);
          }
          const begin = Math.min(offset, dataLength);
          const end = Math.min(offset + length, dataLength);
          return await fsStep('read a share', () =>
            readRegion(share.handle, dataOffset + begin, end - begin),
          );
        },
        async close() {
          if (!open) return;
          open = false;
          release(share);
        },
      };
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
          // 'w' truncates a leftover of an upload that a crash interrupted: uploads never survive.
          const handle = wrapUploadFile(
            await inDirectory(incomingSetDir(layout, storageIndex), () => open(path, 'w+')),
          );
          try {
            await handle.truncate(container.fileSize);
            await writeAll(handle, container.header, 0);
            await writeAll(handle, container.leaseRecords, container.leaseOffset);
          } finally {
            // Each chunk opens the file again: an upload waiting for its chunks holds nothing.
            await handle.close();
          }
          uploads.set(key, {
            path,
            sizeBytes,
            received: [],
            file: undefined,
            closing: undefined,
            writing: undefined,
            flushing: undefined,
            unflushed: 0,
            failure: undefined,
          });
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
          // The previous chunk's write first: its bytes are compared below, its error is ours.
          await upload.writing;
          upload.writing = undefined;
          if (upload.failure) throw upload.failure.error;
          const file = await useFile(upload);
          // This call's use of the file ends here unless the write running on takes it over.
          let handedOver = false;
          try {
            const { handle } = file;
            for (const part of coveredParts(upload.received, chunk)) {
              const before = await readRegion(handle, 12 + part.begin, part.end - part.begin);
              const after = data.subarray(part.begin - offset, part.end - offset);
              if (Buffer.compare(before, after) !== 0) {
                throw new BackendError(
                  'CONFLICT',
                  `chunk of ${key} differs from bytes already written`,
                  {
                    details: { begin: part.begin, end: part.end },
                  },
                );
              }
            }
            const received = addRange(upload.received, chunk);
            const missing = missingRanges(received, upload.sizeBytes);
            if (missing.length === 0) {
              await writeAll(handle, data, 12 + offset);
              upload.received = received;
              handedOver = true; // completion syncs and closes the file
              await completeUpload(upload, file, storageIndex, shnum);
              return { complete: true, missing };
            }
            handedOver = true;
            const write = writeAll(handle, data, 12 + offset)
              .then(() => startFlush(upload, file, data.length))
              .finally(() => doneWithFile(upload, file));
            // With write-behind the chunk is acknowledged before its bytes reach the page cache:
            // that loses nothing, as an upload does not survive a crash anyway, and a failed
            // write fails the whole upload (the next call on it, or its completion, throws it).
            if (writeBehind) upload.writing = background(upload, write);
            else await write;
            upload.received = received;
            return { complete: false, missing };
          } finally {
            if (!handedOver) await doneWithFile(upload, file);
          }
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
          const upload = uploads.get(key);
          if (!upload) throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
          uploads.delete(key);
          await closeUpload(upload);
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
        await closeUploads();
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
          headers.delete(sharePath(layout, storageIndex, shnum));
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
          await evict(sharePath(layout, storageIndex, shnum));
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
      await blobWrites(() =>
        fsStep('store a state blob', () =>
          writeFileAtomically(
            blobPath(layout, name),
            [{ offset: 0, bytes: sealed }],
            sealed.length,
            layout.state,
            sync,
          ),
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
      await closeUploads();
      await Promise.all([...openShares.keys()].map(evict));
      headers.clear();
    },
  };
  return backend;
}
