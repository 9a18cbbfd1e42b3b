import { checkBlobName, openBlob, type ShareBackend, sealBlob } from '@ostrom/backend';
import type { S3Context } from './context.js';

// Sealed state blobs: one object each under `state/`, named by the blob's name.

export type Blobs = Pick<ShareBackend, 'putBlob' | 'getBlob' | 'listBlobs' | 'deleteBlob'>;

export function createBlobs({ store, layout }: S3Context): Blobs {
  return {
    async putBlob(name, data, key) {
      checkBlobName(name);
      await store.put(layout.blobKey(name), sealBlob(name, data, key));
    },

    async getBlob(name, key) {
      checkBlobName(name);
      const body = await store.get(layout.blobKey(name));
      return body && openBlob(name, body.bytes, key);
    },

    async listBlobs(blobPrefix = '') {
      if (typeof blobPrefix !== 'string') throw new TypeError('prefix must be a string');
      const root = layout.stateRoot();
      const names: string[] = [];
      for await (const page of store.list(`${root}${blobPrefix}`)) {
        for (const { key } of page.keys) {
          const name = key.slice(root.length);
          try {
            names.push(checkBlobName(name));
          } catch {
            // Not a blob name: something else wrote into the bucket.
          }
        }
      }
      return names.sort();
    },

    async deleteBlob(name) {
      checkBlobName(name);
      if (!(await store.head(layout.blobKey(name)))) return false;
      await store.delete(layout.blobKey(name));
      return true;
    },
  };
}
