import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  addRange,
  BackendError,
  type ByteRange,
  checkShnum,
  checkStorageIndex,
  checkUploadChunk,
  checkUploadSize,
  coveredParts,
  missingRanges,
  type ShareBackend,
  type UploadProgress,
} from '@ostrom/backend';
import { immutableContainerLayout } from './container/index.js';
import { type DiskContext, keyOf } from './context.js';
import type { UploadFile } from './disk-backend.js';
import {
  flushFile,
  inDirectory,
  pruneEmptyDirs,
  publish,
  writeAll,
  writeFileAtomically,
} from './durable-fs.js';
import { fsStep } from './fs-errors.js';
import { incomingPath, incomingSetDir, parseShareFileName, sharePath } from './layout.js';
import { NO_NODE_ID, toContainerLease } from './leases.js';
import { readRegion, shareExists } from './share-files.js';

// Immutable uploads: a container file under `shares/incoming` that chunks fill (written behind
// and flushed in the background; the file open while something uses it and, for the most
// recently used few, between chunks), published by rename once complete. A small upload is held
// in memory instead, its container written once, whole, when it completes: most of what a Tahoe
// grid stores is small, and on a disk each file operation costs more than the bytes. Uploads
// live in this process only; none survives a restart.

/** The backend's options that concern uploads only (see `DiskBackendOptions`). */
export interface UploadOptions {
  readonly flushEveryBytes: number;
  readonly writeBehind: boolean;
  readonly wrapUploadFile: (file: UploadFile) => UploadFile;
  readonly heldUploadMaxBytes: number;
  readonly heldUploadsBudgetBytes: number;
}

/** Incoming files left open between chunks, at most (see `idleFiles`). */
const IDLE_UPLOAD_FILES = 32;

interface Upload {
  /** `<storage index>/<shnum>`, its key among the uploads. */
  readonly key: string;
  /** The incoming file, under `shares/incoming` (none for a held upload). */
  readonly path: string;
  readonly sizeBytes: number;
  received: readonly ByteRange[];
  /** A held upload's whole container (header, data as received, leases), in memory. */
  readonly held: Uint8Array | undefined;
  /**
   * The incoming file while something uses it (a call on the upload, a chunk's write running
   * on, a background fdatasync), and after the last of them ends while it is among the idle
   * files (at most IDLE_UPLOAD_FILES): other uploads waiting for chunks hold no descriptor, so
   * uploads in progress cannot exhaust the process's descriptors.
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

type HeldUpload = Upload & { readonly held: Uint8Array };

/** An upload's incoming file, open while `users` (calls and background work) use it. */
interface OpenUploadFile {
  readonly handle: UploadFile;
  users: number;
}

export interface Uploads
  extends Pick<
    ShareBackend,
    'createUpload' | 'writeUpload' | 'getUpload' | 'abortUpload' | 'discardUploads'
  > {
  /** Whether an upload of the share is in progress (`key` as `keyOf` makes it). */
  isUploading(key: string): boolean;
  /** Forgets every upload once its background work is done and its file closed. */
  close(): Promise<void>;
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

/** Waits for the upload's background work; throws its failure, if any. */
async function settle(upload: Upload): Promise<void> {
  await upload.writing;
  await upload.flushing;
  if (upload.failure) throw upload.failure.error;
}

function progress(upload: Upload): UploadProgress {
  const missing = missingRanges(upload.received, upload.sizeBytes);
  return { complete: missing.length === 0, missing };
}

export function createUploads(
  { layout, maxShareBytes, sync, lock }: DiskContext,
  { flushEveryBytes, writeBehind, wrapUploadFile, ...holding }: UploadOptions,
): Uploads {
  const uploads = new Map<string, Upload>();
  /** Bytes of the held uploads' containers, at most `heldUploadsBudgetBytes`. */
  let heldBytes = 0;

  /**
   * Incoming files open with no user, their uploads waiting for the next chunk, the least
   * recently used first; at most IDLE_UPLOAD_FILES. A client sends a large share's chunks one
   * after another, each waiting for the last one's answer, and opening the file again took
   * 200–310 µs of each 1 MiB chunk's 4–5 ms on the bench machine. Beyond the bound the oldest
   * is closed, so uploads in progress still hold a bounded number of descriptors.
   */
  const idleFiles = new Map<Upload, OpenUploadFile>();

  function closeFile(upload: Upload, file: OpenUploadFile): Promise<void> {
    if (upload.file === file) upload.file = undefined;
    const closing = file.handle.close().catch(() => undefined);
    upload.closing = closing;
    return closing;
  }

  /**
   * One user is done with the file. The last one closes it, or, with `keepOpen` and the upload
   * still going, leaves it open for the next chunk (among the idle files).
   */
  function doneWithFile(upload: Upload, file: OpenUploadFile, keepOpen = false): Promise<void> {
    file.users -= 1;
    if (file.users > 0) return Promise.resolve();
    const going = upload.file === file && !upload.failure && uploads.get(upload.key) === upload;
    if (!keepOpen || !going) return closeFile(upload, file);
    idleFiles.set(upload, file);
    const [oldest] = idleFiles;
    if (idleFiles.size > IDLE_UPLOAD_FILES && oldest) {
      idleFiles.delete(oldest[0]);
      void closeFile(oldest[0], oldest[1]);
    }
    return Promise.resolve();
  }

  /**
   * Waits for an upload's background work and the close of its file (abort, discard, close):
   * once it returns the upload holds no descriptor.
   */
  async function closeUpload(upload: Upload): Promise<void> {
    await upload.writing;
    await upload.flushing;
    const idle = idleFiles.get(upload);
    if (idle) {
      idleFiles.delete(upload);
      await closeFile(upload, idle);
    }
    await upload.closing;
  }

  /** Forgets an upload, and gives back what a held one took of the budget. */
  function forget(key: string, upload: Upload): void {
    if (uploads.get(key) !== upload) return;
    uploads.delete(key);
    heldBytes -= upload.held?.length ?? 0;
  }

  /**
   * The upload's incoming file for one more user, opened unless it is open (in use or idle).
   * fsync and fdatasync write back the file's data whichever descriptor wrote it, so closing in
   * between loses none of the crash safety (docs/ARCHITECTURE.md, "Crash safety").
   */
  async function useFile(upload: Upload): Promise<OpenUploadFile> {
    if (upload.file) {
      idleFiles.delete(upload);
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

  /**
   * A chunk's bytes are written through `file`: count them, and start a background fdatasync
   * when due, which uses the file until it ends.
   */
  function startFlush(upload: Upload, file: OpenUploadFile, bytes: number): void {
    if (!sync.enabled || flushEveryBytes === 0 || upload.failure) return;
    upload.unflushed += bytes;
    if (upload.unflushed < flushEveryBytes || upload.flushing) return;
    upload.unflushed = 0;
    file.users += 1;
    const flushing = background(upload, file.handle.datasync()).finally(() => {
      if (upload.flushing === flushing) upload.flushing = undefined;
      return doneWithFile(upload, file, true);
    });
    upload.flushing = flushing;
  }

  async function closeUploads(): Promise<void> {
    const open = [...uploads.values()];
    uploads.clear();
    heldBytes = 0;
    await Promise.all(open.map(closeUpload));
  }

  /**
   * Writes a chunk of a held upload into its container in memory (the bytes are copied: the
   * caller may reuse `data`), and the whole container to the disk when it is complete.
   */
  async function writeHeld(
    upload: HeldUpload,
    chunk: ByteRange,
    data: Uint8Array,
    storageIndex: string,
    shnum: number,
  ): Promise<UploadProgress> {
    const key = keyOf(storageIndex, shnum);
    for (const part of coveredParts(upload.received, chunk)) {
      const before = upload.held.subarray(12 + part.begin, 12 + part.end);
      const after = data.subarray(part.begin - chunk.begin, part.end - chunk.begin);
      if (Buffer.compare(before, after) !== 0) {
        throw new BackendError('CONFLICT', `chunk of ${key} differs from bytes already written`, {
          details: { begin: part.begin, end: part.end },
        });
      }
    }
    upload.held.set(data, 12 + chunk.begin);
    upload.received = addRange(upload.received, chunk);
    const missing = missingRanges(upload.received, upload.sizeBytes);
    if (missing.length > 0) return { complete: false, missing };
    if (await shareExists(layout, storageIndex, shnum)) {
      throw new BackendError('CONFLICT', `share ${key} appeared during its upload`);
    }
    // As a file upload: once its completion starts it is over, published or failed (the client
    // then starts again); a temporary file left by a crash goes with discardUploads().
    forget(key, upload);
    await writeFileAtomically(
      sharePath(layout, storageIndex, shnum),
      [{ offset: 0, bytes: upload.held }],
      upload.held.length,
      layout.incoming,
      sync,
    );
    return { complete: true, missing };
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
      if (await shareExists(layout, storageIndex, shnum)) {
        throw new BackendError(
          'CONFLICT',
          `share ${storageIndex}/${shnum} appeared during its upload`,
        );
      }
      forget(keyOf(storageIndex, shnum), upload);
      await flushFile(file.handle, sharePath(layout, storageIndex, shnum), sync);
    } finally {
      await doneWithFile(upload, file);
    }
    // If the rename fails the upload is over (the client gets the error and starts again);
    // the leftover in incoming/ goes with the next discardUploads().
    await publish(from, sharePath(layout, storageIndex, shnum), sync);
    await pruneEmptyDirs(incomingSetDir(layout, storageIndex), layout.incoming);
  }

  return {
    async createUpload(storageIndex, shnum, sizeBytes, uploadOptions = {}) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkUploadSize(sizeBytes, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      await lock.run(key, () =>
        fsStep('start an upload', async () => {
          if (uploads.has(key) || (await shareExists(layout, storageIndex, shnum))) {
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
          const fresh = {
            key,
            path,
            sizeBytes,
            received: [],
            file: undefined,
            closing: undefined,
            writing: undefined,
            flushing: undefined,
            unflushed: 0,
            failure: undefined,
          };
          if (
            sizeBytes <= holding.heldUploadMaxBytes &&
            heldBytes + container.fileSize <= holding.heldUploadsBudgetBytes
          ) {
            const held = new Uint8Array(container.fileSize);
            held.set(container.header, 0);
            held.set(container.leaseRecords, container.leaseOffset);
            heldBytes += held.length;
            uploads.set(key, { ...fresh, held });
            return;
          }
          // 'w' truncates a leftover of an upload that a crash interrupted: uploads never survive.
          const handle = wrapUploadFile(
            await inDirectory(incomingSetDir(layout, storageIndex), () => open(path, 'w+')),
          );
          try {
            await handle.truncate(container.fileSize);
            await writeAll(handle, container.header, 0);
            await writeAll(handle, container.leaseRecords, container.leaseOffset);
          } finally {
            // The first chunk opens the file again: an upload never sent one holds nothing.
            await handle.close();
          }
          uploads.set(key, { ...fresh, held: undefined });
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
            if (await shareExists(layout, storageIndex, shnum)) {
              // A repeated final chunk after completion: nothing is missing any more.
              throw new BackendError(
                'NOT_FOUND',
                `no upload of ${key} in progress (the share is complete)`,
              );
            }
            throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
          }
          const chunk = checkUploadChunk(offset, data, upload.sizeBytes);
          if (upload.held) {
            return await writeHeld(upload as HeldUpload, chunk, data, storageIndex, shnum);
          }
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
              .finally(() => doneWithFile(upload, file, true));
            // With write-behind the chunk is acknowledged before its bytes reach the page cache:
            // that loses nothing, as an upload does not survive a crash anyway, and a failed
            // write fails the whole upload (the next call on it, or its completion, throws it).
            if (writeBehind) upload.writing = background(upload, write);
            else await write;
            upload.received = received;
            return { complete: false, missing };
          } finally {
            if (!handedOver) await doneWithFile(upload, file, true);
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
          forget(key, upload);
          if (upload.held) return;
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

    isUploading(key) {
      return uploads.has(key);
    },

    close: closeUploads,
  };
}
