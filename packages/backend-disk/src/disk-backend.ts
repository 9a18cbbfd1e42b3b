import { resolve } from 'node:path';
import {
  type BackendCapabilities,
  checkOffset,
  createKeyedLock,
  type ShareBackend,
} from '@ostrom/backend';
import { createBlobs } from './blobs.js';
import type { ReadableFileHandle } from './container/index.js';
import type { DiskContext } from './context.js';
import { createShareDeletion } from './deletion.js';
import type { DiskFlush, Flushing } from './durable-fs.js';
import { mkdir, statfs } from './fs-calls.js';
import { fsStep } from './fs-errors.js';
import { diskLayout } from './layout.js';
import { createListing } from './listing.js';
import { createMutableWrites } from './mutable.js';
import { createShareReads } from './reads.js';
import { createShareCache } from './share-cache.js';
import { createUploads } from './uploads.js';

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
   * Hears of each flush that makes a write durable, once it has completed: a share's or state
   * blob's data (`file`, named by the path it is published under) or a directory's entries. For
   * tests that check every acknowledged write was flushed first, and for counting flushes.
   */
  readonly onFlush?: (flush: DiskFlush) => void;
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
   * Uploads of at most this many bytes (default 64 KiB; 0: none) are held in memory until they
   * complete, then written whole, synced and renamed into place: no file in `shares/incoming`
   * and no file opened per chunk (file operations cost more than small shares' bytes). Past
   * `heldUploadsBudgetBytes` held at once, uploads are files again.
   */
  readonly heldUploadMaxBytes?: number;
  /**
   * Most bytes of held uploads at once (default 16 MiB): the memory a crowd of small uploads,
   * hostile or not, can take; uploads past it use files.
   */
  readonly heldUploadsBudgetBytes?: number;
  /**
   * Tests only: wraps each opening of an upload's file (opened for each chunk and closed once
   * idle), e.g. to make a background sync fail.
   */
  readonly wrapUploadFile?: (file: UploadFile) => UploadFile;
}

/** The calls the backend makes on an upload's incoming file (a `FileHandle` is one). */
export interface UploadFile extends ReadableFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
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
  if (options.onFlush !== undefined && typeof options.onFlush !== 'function') {
    throw new TypeError('onFlush must be a function');
  }
  const sync: Flushing = { enabled: options.fsync ?? true, onFlush: options.onFlush };
  const flushEveryBytes = options.flushEveryBytes ?? 8 * 2 ** 20;
  checkOffset('flushEveryBytes', flushEveryBytes);
  const writeBehind = options.writeBehind ?? true;
  const heldUploadMaxBytes = options.heldUploadMaxBytes ?? 64 * 2 ** 10;
  checkOffset('heldUploadMaxBytes', heldUploadMaxBytes);
  const heldUploadsBudgetBytes = options.heldUploadsBudgetBytes ?? 16 * 2 ** 20;
  checkOffset('heldUploadsBudgetBytes', heldUploadsBudgetBytes);
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
  const context: DiskContext = {
    layout,
    maxShareBytes,
    sync,
    lock: createKeyedLock(),
    shares: createShareCache(layout),
  };
  const listing = createListing(context);
  const reads = createShareReads(context);
  const uploads = createUploads(context, {
    flushEveryBytes,
    writeBehind,
    wrapUploadFile,
    heldUploadMaxBytes,
    heldUploadsBudgetBytes,
  });
  const mutable = createMutableWrites(context, uploads);
  const deletion = createShareDeletion(context);
  const blobs = createBlobs(context);
  return {
    capabilities,
    listStorageIndexes: listing.listStorageIndexes,
    listShareSets: listing.listShareSets,
    listShares: listing.listShares,
    statShare: listing.statShare,
    getShareMeta: reads.getShareMeta,
    readShare: reads.readShare,
    openShareReader: reads.openShareReader,
    createUpload: uploads.createUpload,
    writeUpload: uploads.writeUpload,
    getUpload: uploads.getUpload,
    abortUpload: uploads.abortUpload,
    discardUploads: uploads.discardUploads,
    writeMutable: mutable.writeMutable,
    deleteShare: deletion.deleteShare,
    putBlob: blobs.putBlob,
    getBlob: blobs.getBlob,
    listBlobs: blobs.listBlobs,
    deleteBlob: blobs.deleteBlob,

    async availableSpace() {
      return fsStep('measure free space', async () => {
        const stats = await statfs(layout.root);
        return stats.bavail * stats.bsize;
      });
    },

    async close() {
      await uploads.close();
      await context.shares.close();
    },
  };
}
