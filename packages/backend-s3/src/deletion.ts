import { checkShnum, checkStorageIndex, type ShareBackend } from '@ostrom/backend';
import { keyOf, type S3Context } from './context.js';
import { META_SHARETYPE } from './encoding.js';
import type { ObjectStore } from './object-store.js';
import { headShare } from './share-objects.js';

// Deleting a complete share (its object, then a mutable share's chunks), and sweeping every
// object under a key prefix.

/** Deletes every object under `keyPrefix`; failures are left for a later sweep. */
export async function deleteUnder(store: ObjectStore, keyPrefix: string): Promise<void> {
  try {
    for await (const page of store.list(keyPrefix)) {
      await store.deleteMany(page.keys.map((k) => k.key));
    }
  } catch {
    // Leftovers under incoming/ or chunks/ are never listed as shares; discardUploads() and
    // deleteShare() sweep them.
  }
}

export type ShareDeletion = Pick<ShareBackend, 'deleteShare'>;

export function createShareDeletion(context: S3Context): ShareDeletion {
  const { store, layout, lock } = context;
  return {
    async deleteShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return lock.run(keyOf(storageIndex, shnum), async () => {
        const head = await headShare(context, storageIndex, shnum);
        if (!head) return false;
        // The share object first, so the share disappears at once; then any chunks, orphans of
        // interrupted writes included.
        await store.delete(layout.shareKey(storageIndex, shnum));
        if (head.metadata[META_SHARETYPE] !== 'immutable')
          await deleteUnder(store, layout.chunkPrefix(storageIndex, shnum));
        return true;
      });
    },
  };
}
