import {
  BackendError,
  checkOffset,
  checkShnum,
  checkStorageIndex,
  type ShareBackend,
  type ShareInfo,
  type ShareMeta,
} from '@ostrom/backend';
import { type S3Context, shareName } from './context.js';
import { decodeLeaseMetadata, decodeManifest, META_LEASES } from './encoding.js';
import {
  headShare,
  infoOf,
  probeShare,
  readManifest,
  readMutable,
  sharetypeOf,
} from './share-objects.js';

// Reading complete shares: metadata with leases and write enabler, and data: an immutable
// share's by ranged GET, a mutable one's through its manifest's chunks, in one call or through a
// reader that keeps the version it opened.

export type ShareReads = Pick<ShareBackend, 'getShareMeta' | 'readShare' | 'openShareReader'>;

export function createShareReads(context: S3Context): ShareReads {
  const { store, layout } = context;
  return {
    async getShareMeta(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      // HEAD, not a probe: most shares are immutable, and their metadata is all there is to read.
      const head = await headShare(context, storageIndex, shnum);
      if (!head) return undefined;
      const info = infoOf(head, storageIndex, shnum);
      if (info.sharetype === 'immutable') {
        const leases = decodeLeaseMetadata(
          head.metadata[META_LEASES],
          shareName(storageIndex, shnum),
        );
        return { ...info, leases, container: 's3-object-v1' } satisfies ShareMeta;
      }
      const manifest = await readManifest(context, storageIndex, shnum);
      if (!manifest) return undefined;
      return {
        ...info,
        sizeBytes: manifest.length,
        leases: manifest.leases,
        writeEnabler: manifest.writeEnabler,
        ...(manifest.writeEnablerNodeId ? { writeEnablerNodeId: manifest.writeEnablerNodeId } : {}),
        container: 's3-mutable-manifest-v1',
      } satisfies ShareMeta;
    },

    async readShare(storageIndex, shnum, offset, length) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkOffset('offset', offset);
      checkOffset('length', length);
      // One ranged GET serves an immutable share; for a mutable one its metadata says so and the
      // manifest is read in full.
      const body = await store.get(layout.shareKey(storageIndex, shnum), {
        begin: offset,
        end: offset + length,
      });
      if (!body) throw new BackendError('NOT_FOUND', `no ${shareName(storageIndex, shnum)}`);
      if (sharetypeOf(body, storageIndex, shnum) === 'immutable') return body.bytes;
      // A writer deletes the chunks it supersedes once its manifest is in place, so a reader
      // holding the previous manifest can find a chunk gone: read the newer manifest and again.
      for (let tries = 1; ; tries++) {
        const whole = tries === 1 && offset === 0 && body.bytes.length === body.sizeBytes;
        const manifest = whole
          ? decodeManifest(body.bytes, shareName(storageIndex, shnum))
          : await readManifest(context, storageIndex, shnum);
        if (!manifest) throw new BackendError('NOT_FOUND', `no ${shareName(storageIndex, shnum)}`);
        try {
          return await readMutable(context, storageIndex, shnum, manifest, offset, length);
        } catch (error) {
          const raced = error instanceof BackendError && error.details.chunkMissing === true;
          if (!raced || tries >= 3) throw error;
          const latest = await readManifest(context, storageIndex, shnum);
          if (latest?.generation === manifest.generation) throw error;
        }
      }
    },

    async openShareReader(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const probe = await probeShare(context, storageIndex, shnum);
      if (!probe) return undefined;
      const { head, manifest } = probe;
      const info: ShareInfo = manifest
        ? { ...infoOf(head, storageIndex, shnum), sizeBytes: manifest.length }
        : infoOf(head, storageIndex, shnum);
      const changed = () =>
        new BackendError('CONFLICT', `${shareName(storageIndex, shnum)} changed while read`, {
          details: { storageIndex, shnum },
        });
      let open = true;
      return {
        info,
        async read(offset, length) {
          checkOffset('offset', offset);
          checkOffset('length', length);
          if (!open) {
            throw new BackendError(
              'NOT_FOUND',
              `reader of ${shareName(storageIndex, shnum)} closed`,
            );
          }
          const begin = Math.min(offset, info.sizeBytes);
          const end = Math.min(offset + length, info.sizeBytes);
          if (manifest) {
            // The version is the manifest read at open: its chunk keys carry its generation, so a
            // later write never changes them, only deletes them once superseded (CONFLICT here:
            // reading the newer manifest, as readShare does, would mix two versions).
            try {
              return await readMutable(context, storageIndex, shnum, manifest, begin, end - begin);
            } catch (error) {
              if (error instanceof BackendError && error.details.chunkMissing === true) {
                throw changed();
              }
              throw error;
            }
          }
          if (end <= begin) return new Uint8Array(0);
          const body = await store.get(layout.shareKey(storageIndex, shnum), { begin, end });
          if (!body) throw new BackendError('NOT_FOUND', `no ${shareName(storageIndex, shnum)}`);
          // Immutable objects never change in place; one of another type or size is another share.
          const same =
            sharetypeOf(body, storageIndex, shnum) === 'immutable' &&
            body.sizeBytes === info.sizeBytes &&
            body.bytes.length === end - begin;
          if (!same) throw changed();
          return body.bytes;
        },
        async close() {
          open = false;
        },
      };
    },
  };
}
