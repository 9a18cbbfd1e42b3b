import { join } from 'node:path';
import {
  BackendError,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
  type ShareBackend,
  type ShareInfo,
} from '@ostrom/backend';
import type { DiskContext } from './context.js';
import { readdir } from './fs-calls.js';
import { errnoOf, fsStep } from './fs-errors.js';
import { type DiskLayout, parseShareFileName, shareSetDir } from './layout.js';

// Which complete shares exist: storage indexes and share sets from directory names alone, and
// each share's type and sizes from its (cached) header.

/** Share-set directories read at once when listing a prefix (libuv's pool has 4 threads). */
const LISTING_CONCURRENCY = 8;

/**
 * The storage indexes filed under a prefix directory, sorted. An index directory is removed
 * with its last share (deleteShare), so a listed name has shares; a crash between the two can
 * leave an empty one, which lists no shares.
 */
async function indexesUnder(layout: DiskLayout, prefix: string): Promise<string[]> {
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

async function listShareNumbers(layout: DiskLayout, storageIndex: string): Promise<number[]> {
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

export type Listing = Pick<
  ShareBackend,
  'listStorageIndexes' | 'listShareSets' | 'listShares' | 'statShare'
>;

export function createListing({ layout, shares }: DiskContext): Listing {
  /** What `listShares` and `statShare` say of one share, from its (cached) header. */
  async function infoOf(storageIndex: string, shnum: number): Promise<ShareInfo | undefined> {
    const share = await shares.headerOf(storageIndex, shnum);
    return (
      share && {
        shnum,
        sharetype: share.header.kind,
        sizeBytes: share.header.dataLength,
        usedBytes: share.size,
      }
    );
  }

  return {
    async listStorageIndexes(prefix) {
      checkPrefix(prefix);
      return fsStep('list a prefix directory', () => indexesUnder(layout, prefix));
    },

    async listShareSets(prefix) {
      checkPrefix(prefix);
      return fsStep('list share sets', async () => {
        // Names only: a readdir per share set, no stat or read of a share file. Several are in
        // flight at once, so a crawl is not bound by one directory read's latency at a time.
        const indexes = await indexesUnder(layout, prefix);
        const shnums: number[][] = new Array(indexes.length);
        let next = 0;
        const reader = async () => {
          while (next < indexes.length) {
            const at = next++;
            shnums[at] = await listShareNumbers(layout, indexes[at]!);
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
          (await listShareNumbers(layout, storageIndex)).map(
            async (shnum): Promise<ShareInfo | undefined> => {
              try {
                return await infoOf(storageIndex, shnum);
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
      return fsStep('stat a share', () => infoOf(storageIndex, shnum));
    },
  };
}
