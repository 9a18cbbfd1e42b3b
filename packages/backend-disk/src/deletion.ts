import { checkShnum, checkStorageIndex, type ShareBackend } from '@ostrom/backend';
import { type DiskContext, keyOf } from './context.js';
import { pruneEmptyDirs, syncPath } from './durable-fs.js';
import { unlink } from './fs-calls.js';
import { errnoOf, fsStep } from './fs-errors.js';
import { sharePath, shareSetDir } from './layout.js';

// Deleting a complete share: out of the cache, its file unlinked, emptied directories removed.

export type ShareDeletion = Pick<ShareBackend, 'deleteShare'>;

export function createShareDeletion({ layout, sync, lock, shares }: DiskContext): ShareDeletion {
  return {
    async deleteShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return await lock.run(keyOf(storageIndex, shnum), () =>
        fsStep('delete a share', async () => {
          await shares.evict(sharePath(layout, storageIndex, shnum));
          try {
            await unlink(sharePath(layout, storageIndex, shnum));
          } catch (error) {
            if (errnoOf(error) === 'ENOENT') return false;
            throw error;
          }
          await syncPath(shareSetDir(layout, storageIndex), 'directory', sync).catch(
            () => undefined,
          );
          // Tahoe removes the storage-index and prefix directories once empty; so do we.
          await pruneEmptyDirs(shareSetDir(layout, storageIndex), layout.shares);
          return true;
        }),
      );
    },
  };
}
