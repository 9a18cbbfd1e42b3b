import {
  BackendError,
  checkOffset,
  checkShnum,
  checkStorageIndex,
  type ShareBackend,
  type ShareMeta,
} from '@ostrom/backend';
import type { DiskContext } from './context.js';
import { fsStep } from './fs-errors.js';
import { toEmbeddedLease } from './leases.js';
import { readRegion, withShare } from './share-files.js';

// Reading complete shares: a container's metadata (parsed whole), and data through the cache's
// open handles, in one call or through a reader that keeps its version.

export type ShareReads = Pick<ShareBackend, 'getShareMeta' | 'readShare' | 'openShareReader'>;

export function createShareReads({ layout, shares }: DiskContext): ShareReads {
  return {
    async getShareMeta(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return fsStep('read a share header', () =>
        withShare(
          layout,
          storageIndex,
          shnum,
          async (container, _handle, size): Promise<ShareMeta> => {
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
          },
        ),
      );
    },

    async readShare(storageIndex, shnum, offset, length) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkOffset('offset', offset);
      checkOffset('length', length);
      const bytes = await fsStep('read a share', async () => {
        const share = await shares.openForRead(storageIndex, shnum);
        if (!share) return undefined;
        try {
          const { dataOffset, dataLength } = share.header;
          const begin = Math.min(offset, dataLength);
          const end = Math.min(offset + length, dataLength);
          return await readRegion(share.handle, dataOffset + begin, end - begin);
        } finally {
          shares.release(share);
        }
      });
      if (!bytes) throw new BackendError('NOT_FOUND', `no share ${storageIndex}/${shnum}`);
      return bytes;
    },

    async openShareReader(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const opened = await fsStep('open a share', async () => {
        const share = await shares.openForRead(storageIndex, shnum);
        if (!share) return undefined;
        try {
          return { share, usedBytes: (await share.handle.stat()).size };
        } catch (error) {
          shares.release(share);
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
          shares.release(share);
        },
      };
    },
  };
}
