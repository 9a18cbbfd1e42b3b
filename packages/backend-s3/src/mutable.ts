import {
  BackendError,
  checkMutableRequest,
  checkShnum,
  checkStorageIndex,
  type MutableWriteRequest,
  type ShareBackend,
} from '@ostrom/backend';
import { mapLimit, REQUEST_CONCURRENCY } from './concurrency.js';
import { keyOf, type S3Context } from './context.js';
import {
  encodeManifest,
  type Manifest,
  META_LENGTH,
  META_SHARETYPE,
  META_USED,
} from './encoding.js';
import { probeShare, readChunk } from './share-objects.js';
import type { Uploads } from './uploads.js';

// Mutable shares: a write stores the chunks it changes under a new generation, then the
// manifest that names them, then deletes the chunks it superseded.

/** The backend's options that concern mutable shares only (see `S3BackendOptions`). */
export interface MutableOptions {
  /** Chunk size of new mutable shares. */
  readonly chunkBytes: number;
}

export type MutableWrites = Pick<ShareBackend, 'writeMutable'>;

export function createMutableWrites(
  context: S3Context,
  uploads: Pick<Uploads, 'isUploading'>,
  { chunkBytes }: MutableOptions,
): MutableWrites {
  const { store, layout, maxShareBytes, lock } = context;
  return {
    async writeMutable(storageIndex, shnum, request: MutableWriteRequest) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkMutableRequest(request, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      return lock.run(key, async () => {
        if (uploads.isUploading(key))
          throw new BackendError('CONFLICT', `share ${key} is being uploaded`);
        const probe = await probeShare(context, storageIndex, shnum);
        if (probe && !probe.manifest)
          throw new BackendError('CONFLICT', `share ${key} is immutable`);
        const old: Manifest = probe?.manifest ?? {
          length: 0,
          chunkBytes,
          generation: 0,
          chunks: [],
          writeEnabler: new Uint8Array(request.writeEnabler),
          ...(request.writeEnablerNodeId
            ? { writeEnablerNodeId: new Uint8Array(request.writeEnablerNodeId) }
            : {}),
          leases: request.leases ?? [],
        };
        const size = old.chunkBytes;
        const generation = old.generation + 1;
        // Chunks this write changes, as whole chunk-sized buffers (zeros past the stored bytes).
        const touched = new Map<number, Uint8Array>();
        const load = async (i: number) => {
          let buffer = touched.get(i);
          if (!buffer) {
            buffer = new Uint8Array(size);
            if (i < old.chunks.length)
              buffer.set(await readChunk(context, storageIndex, shnum, old, i, 0, size));
            touched.set(i, buffer);
          }
          return buffer;
        };
        let length = old.length;
        for (const write of request.writes) {
          const end = write.offset + write.data.length;
          for (let i = Math.floor(write.offset / size); i * size < end; i++) {
            const buffer = await load(i);
            const from = Math.max(write.offset, i * size);
            const to = Math.min(end, (i + 1) * size);
            buffer.set(
              write.data.subarray(from - write.offset, to - write.offset),
              from - i * size,
            );
          }
          length = Math.max(length, end);
        }
        if (request.newLength != null && request.newLength < length) length = request.newLength;
        const count = Math.ceil(length / size);
        const logical = (i: number) => Math.min(size, length - i * size);
        // A shrink leaves stale bytes past the new end in the last chunk; rewrite it so that a
        // later growth reads zeros there (every stored chunk holds no more than its logical bytes).
        if (count > 0 && count <= old.chunks.length && !touched.has(count - 1)) {
          const stored = old.chunks[count - 1]?.[1] ?? 0;
          if (stored > logical(count - 1)) await load(count - 1);
        }
        const chunks: Array<[number, number]> = [];
        const writes: Array<{ index: number; data: Uint8Array }> = [];
        for (let i = 0; i < count; i++) {
          const buffer = touched.get(i);
          if (buffer) {
            writes.push({ index: i, data: buffer.subarray(0, logical(i)) });
            chunks.push([generation, logical(i)]);
          } else {
            chunks.push([...(old.chunks[i] ?? [0, 0])]);
          }
        }
        const unchanged = probe !== undefined && writes.length === 0 && length === old.length;
        if (unchanged) return length;
        // 1. New chunk objects, under a generation no manifest names yet.
        await mapLimit(writes, REQUEST_CONCURRENCY, ({ index, data }) =>
          store.put(layout.chunkKey(storageIndex, shnum, generation, index), data),
        );
        // 2. The manifest: one PUT switches readers from the old chunks to the new. A crash or
        //    failure before it leaves the old manifest and its chunks intact.
        const manifest: Manifest = { ...old, length, generation, chunks };
        const body = encodeManifest(manifest);
        const used = body.length + chunks.reduce((sum, [, stored]) => sum + stored, 0);
        await store.put(layout.shareKey(storageIndex, shnum), body, {
          [META_SHARETYPE]: 'mutable',
          [META_LENGTH]: String(length),
          [META_USED]: String(used),
        });
        // 3. Old chunks the manifest no longer names, once it is acknowledged. When the manifest
        //    PUT fails nothing is deleted: it may have landed although its answer was lost, and
        //    then the new chunks are live. A failure here only leaves garbage behind.
        const superseded = old.chunks.flatMap(([gen], i) =>
          gen !== 0 && chunks[i]?.[0] !== gen ? [layout.chunkKey(storageIndex, shnum, gen, i)] : [],
        );
        await store.deleteMany(superseded).catch(() => undefined);
        return length;
      });
    },
  };
}
