import {
  BackendError,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
  type ShareBackend,
  type ShareInfo,
} from '@ostrom/backend';
import { isStorageIndex, sharePrefixOf } from '@ostrom/protocol/facts';
import { mapLimit, REQUEST_CONCURRENCY } from './concurrency.js';
import type { S3Context } from './context.js';
import { parseShnum } from './layout.js';
import type { ShareListing } from './share-listing.js';
import { headShare, infoOf } from './share-objects.js';

// Which complete shares exist: storage indexes and share sets from key listings alone (read
// ahead across prefixes by share-listing.ts), and each share's type and sizes from a HEAD.

/** Whether a listed name is a storage index filed under `prefix` (else something else wrote it). */
function isStorageIndexOf(name: string, prefix: string): boolean {
  return isStorageIndex(name) && sharePrefixOf(name) === prefix;
}

export type Listing = Pick<
  ShareBackend,
  'listStorageIndexes' | 'listShareSets' | 'listShares' | 'statShare'
>;

export function createListing(
  context: S3Context,
  shareListing: Pick<ShareListing, 'keysUnder'>,
): Listing {
  const { store, layout } = context;
  return {
    async listStorageIndexes(sharePrefix) {
      checkPrefix(sharePrefix);
      const dir = layout.sharePrefixDir(sharePrefix);
      const found: string[] = [];
      for await (const page of store.list(dir, '/')) {
        for (const p of page.prefixes) {
          const storageIndex = p.slice(dir.length, -1);
          // Anything else under the prefix was written by something other than this backend.
          if (isStorageIndexOf(storageIndex, sharePrefix)) found.push(storageIndex);
        }
      }
      return found.sort();
    },

    async listShareSets(sharePrefix) {
      checkPrefix(sharePrefix);
      const dir = layout.sharePrefixDir(sharePrefix);
      const sets = new Map<string, number[]>();
      // Keys are `<SI>/<shnum>`, sorted by S3; read ahead past the prefix (share-listing.ts).
      for (const key of await shareListing.keysUnder(dir)) {
        const [storageIndex, name, ...rest] = key.slice(dir.length).split('/');
        const shnum = rest.length === 0 && name !== undefined ? parseShnum(name) : undefined;
        if (shnum === undefined || !isStorageIndexOf(storageIndex!, sharePrefix)) continue;
        const shnums = sets.get(storageIndex!) ?? [];
        if (shnums.length === 0) sets.set(storageIndex!, shnums);
        shnums.push(shnum);
      }
      return [...sets.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([storageIndex, shnums]) => ({ storageIndex, shnums: shnums.sort((a, b) => a - b) }));
    },

    async listShares(storageIndex) {
      checkStorageIndex(storageIndex);
      const dir = layout.shareSetDir(storageIndex);
      const shnums: number[] = [];
      for await (const page of store.list(dir, '/')) {
        for (const { key } of page.keys) {
          const shnum = parseShnum(key.slice(dir.length));
          if (shnum !== undefined) shnums.push(shnum);
        }
      }
      // The listing has sizes but not types: a HEAD per share gives the metadata.
      const infos = await mapLimit(shnums, REQUEST_CONCURRENCY, async (shnum) => {
        const head = await headShare(context, storageIndex, shnum);
        if (!head) return undefined; // deleted meanwhile
        try {
          return infoOf(head, storageIndex, shnum);
        } catch (error) {
          if (error instanceof BackendError && error.code === 'CORRUPT') return undefined;
          throw error;
        }
      });
      return infos.filter((i): i is ShareInfo => i !== undefined).sort((a, b) => a.shnum - b.shnum);
    },

    async statShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const head = await headShare(context, storageIndex, shnum);
      return head && infoOf(head, storageIndex, shnum);
    },
  };
}
