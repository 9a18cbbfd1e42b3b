import {
  BackendError,
  checkMutableRequest,
  checkShnum,
  checkStorageIndex,
  type ShareBackend,
} from '@ostrom/backend';
import { MUTABLE_DATA_OFFSET, mutableContainerLayout } from './container/index.js';
import { type DiskContext, keyOf } from './context.js';
import { writeFileAtomically } from './durable-fs.js';
import { fsStep } from './fs-errors.js';
import { sharePath } from './layout.js';
import { NO_NODE_ID, toContainerLease } from './leases.js';
import { readRegion, withShare } from './share-files.js';
import type { Uploads } from './uploads.js';

// Mutable shares: a write applied to the share's data, then the whole container rewritten
// beside the old one and renamed over it.

export type MutableWrites = Pick<ShareBackend, 'writeMutable'>;

export function createMutableWrites(
  { layout, maxShareBytes, sync, lock, shares }: DiskContext,
  uploads: Pick<Uploads, 'isUploading'>,
): MutableWrites {
  return {
    async writeMutable(storageIndex, shnum, request) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkMutableRequest(request, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      return await lock.run(key, () =>
        fsStep('write a mutable share', async () => {
          if (uploads.isUploading(key))
            throw new BackendError('CONFLICT', `share ${key} is being uploaded`);
          const existing = await withShare(
            layout,
            storageIndex,
            shnum,
            async (container, handle) => {
              if (container.kind !== 'mutable') {
                throw new BackendError('CONFLICT', `share ${key} is immutable`);
              }
              return {
                container,
                data: await readRegion(handle, container.dataOffset, container.dataLength),
              };
            },
          );
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
          shares.forgetHeader(sharePath(layout, storageIndex, shnum));
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
  };
}
