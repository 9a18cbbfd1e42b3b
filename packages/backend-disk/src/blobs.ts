import { join, relative, sep } from 'node:path';
import { checkBlobName, openBlob, type ShareBackend, sealBlob } from '@ostrom/backend';
import type { DiskContext } from './context.js';
import { pruneEmptyDirs, writeFileAtomically } from './durable-fs.js';
import { readdir, readFile, unlink } from './fs-calls.js';
import { errnoOf, fsStep } from './fs-errors.js';
import { blobPath, type DiskLayout } from './layout.js';

// Sealed state blobs: one file each under `ostrom-state/`, a name's `/` a directory, written
// atomically.

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

/** Names of the blobs under `dir`, as paths relative to the state directory. */
async function walkBlobs(layout: DiskLayout, dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue; // temporary files of writes in progress
    const path = join(dir, entry.name);
    if (entry.isDirectory()) names.push(...(await walkBlobs(layout, path)));
    else if (entry.isFile()) names.push(relative(layout.state, path).split(sep).join('/'));
  }
  return names;
}

function isBlobName(name: string): boolean {
  try {
    checkBlobName(name);
    return true;
  } catch {
    return false;
  }
}

export type Blobs = Pick<ShareBackend, 'putBlob' | 'getBlob' | 'listBlobs' | 'deleteBlob'>;

export function createBlobs({ layout, sync }: DiskContext): Blobs {
  const blobWrites = createGate(BLOB_WRITE_CONCURRENCY);
  return {
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
      // Only the directory the prefix names is walked: the crawler lists one prefix's owner
      // records at a time, and the whole tree holds one file per share.
      const dir = prefix.slice(0, prefix.lastIndexOf('/'));
      const root = dir !== '' && isBlobName(dir) ? blobPath(layout, dir) : layout.state;
      const names = await fsStep('list state blobs', () => walkBlobs(layout, root));
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
  };
}
