import { openBlob, sealBlob } from './blob-crypto.js';
import { addRange, coveredParts, missingRanges } from './byte-ranges.js';
import { BackendError } from './errors.js';
import type {
  BackendCapabilities,
  ByteRange,
  EmbeddedLease,
  MutableWriteRequest,
  ShareBackend,
  ShareInfo,
  ShareMeta,
  ShareType,
  UploadProgress,
} from './types.js';
import {
  checkBlobName,
  checkOffset,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
} from './validate.js';
import { checkMutableRequest, checkUploadChunk, checkUploadSize } from './write-checks.js';

export interface MemoryBackendOptions {
  /** Largest share accepted (default 2^40 bytes). */
  readonly maxShareBytes?: number;
}

interface StoredShare {
  readonly sharetype: ShareType;
  data: Uint8Array;
  readonly writeEnabler?: Uint8Array;
  readonly writeEnablerNodeId?: Uint8Array;
  readonly leases: readonly EmbeddedLease[];
}

interface Upload {
  readonly buffer: Uint8Array;
  received: readonly ByteRange[];
  readonly leases: readonly EmbeddedLease[];
}

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * A backend that keeps everything in memory: the reference the conformance suite is written
 * against, and a stand-in for embedders' tests. Nothing survives the process.
 */
export function createMemoryBackend(options: MemoryBackendOptions = {}): ShareBackend {
  const maxShareBytes = options.maxShareBytes ?? 2 ** 40;
  checkOffset('maxShareBytes', maxShareBytes);
  const capabilities: BackendCapabilities = Object.freeze({
    kind: 'memory',
    durable: false,
    embedsLeases: true,
    uploadsSurviveRestart: false,
    maxShareBytes,
  });
  const shareSets = new Map<string, Map<number, StoredShare>>();
  const uploads = new Map<string, Upload>();
  const blobs = new Map<string, Uint8Array>();
  const uploadKey = (storageIndex: string, shnum: number) => `${storageIndex}/${shnum}`;

  const getShare = (storageIndex: string, shnum: number) => shareSets.get(storageIndex)?.get(shnum);
  const setShare = (storageIndex: string, shnum: number, share: StoredShare) => {
    const set = shareSets.get(storageIndex) ?? new Map<number, StoredShare>();
    shareSets.set(storageIndex, set);
    set.set(shnum, share);
  };
  const info = (shnum: number, share: StoredShare): ShareInfo => ({
    shnum,
    sharetype: share.sharetype,
    sizeBytes: share.data.length,
    usedBytes: share.data.length,
  });
  const progress = (upload: Upload): UploadProgress => {
    const missing = missingRanges(upload.received, upload.buffer.length);
    return { complete: missing.length === 0, missing };
  };

  return {
    capabilities,

    async listStorageIndexes(prefix) {
      checkPrefix(prefix);
      return [...shareSets.entries()]
        .filter(([storageIndex, set]) => storageIndex.startsWith(prefix) && set.size > 0)
        .map(([storageIndex]) => storageIndex)
        .sort();
    },

    async listShareSets(prefix) {
      checkPrefix(prefix);
      return [...shareSets.entries()]
        .filter(([storageIndex, set]) => storageIndex.startsWith(prefix) && set.size > 0)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([storageIndex, set]) => ({
          storageIndex,
          shnums: [...set.keys()].sort((a, b) => a - b),
        }));
    },

    async listShares(storageIndex) {
      checkStorageIndex(storageIndex);
      const set = shareSets.get(storageIndex);
      if (!set) return [];
      return [...set.entries()]
        .sort(([a], [b]) => a - b)
        .map(([shnum, share]) => info(shnum, share));
    },

    async statShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const share = getShare(storageIndex, shnum);
      return share && info(shnum, share);
    },

    async getShareMeta(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const share = getShare(storageIndex, shnum);
      if (!share) return undefined;
      const meta: ShareMeta = {
        ...info(shnum, share),
        leases: share.leases,
        ...(share.writeEnabler ? { writeEnabler: copy(share.writeEnabler) } : {}),
        ...(share.writeEnablerNodeId ? { writeEnablerNodeId: copy(share.writeEnablerNodeId) } : {}),
      };
      return meta;
    },

    async readShare(storageIndex, shnum, offset, length) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkOffset('offset', offset);
      checkOffset('length', length);
      const share = getShare(storageIndex, shnum);
      if (!share) throw new BackendError('NOT_FOUND', `no share ${storageIndex}/${shnum}`);
      return copy(
        share.data.subarray(
          Math.min(offset, share.data.length),
          Math.min(offset + length, share.data.length),
        ),
      );
    },

    async openShareReader(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const share = getShare(storageIndex, shnum);
      if (!share) return undefined;
      // The version opened: mutable writes replace `share.data` (copy on write), never change it.
      const data = share.data;
      let open = true;
      return {
        info: info(shnum, share),
        async read(offset, length) {
          checkOffset('offset', offset);
          checkOffset('length', length);
          if (!open)
            throw new BackendError('NOT_FOUND', `reader of ${storageIndex}/${shnum} closed`);
          const begin = Math.min(offset, data.length);
          return copy(data.subarray(begin, Math.min(offset + length, data.length)));
        },
        async close() {
          open = false;
        },
      };
    },

    async createUpload(storageIndex, shnum, sizeBytes, uploadOptions = {}) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkUploadSize(sizeBytes, maxShareBytes);
      const key = uploadKey(storageIndex, shnum);
      if (getShare(storageIndex, shnum) || uploads.has(key)) {
        throw new BackendError('CONFLICT', `share ${key} exists or is being uploaded`);
      }
      uploads.set(key, {
        buffer: new Uint8Array(sizeBytes),
        received: [],
        leases: uploadOptions.leases ?? [],
      });
    },

    async writeUpload(storageIndex, shnum, offset, data) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const key = uploadKey(storageIndex, shnum);
      const upload = uploads.get(key);
      if (!upload) throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
      const chunk = checkUploadChunk(offset, data, upload.buffer.length);
      for (const part of coveredParts(upload.received, chunk)) {
        const before = upload.buffer.subarray(part.begin, part.end);
        const after = data.subarray(part.begin - offset, part.end - offset);
        if (!Buffer.from(before).equals(Buffer.from(after))) {
          throw new BackendError('CONFLICT', `chunk of ${key} differs from bytes already written`, {
            details: { begin: part.begin, end: part.end },
          });
        }
      }
      upload.buffer.set(data, offset);
      upload.received = addRange(upload.received, chunk);
      const state = progress(upload);
      if (state.complete) {
        uploads.delete(key);
        setShare(storageIndex, shnum, {
          sharetype: 'immutable',
          data: upload.buffer,
          leases: upload.leases,
        });
      }
      return state;
    },

    async getUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const upload = uploads.get(uploadKey(storageIndex, shnum));
      return upload && progress(upload);
    },

    async abortUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      if (!uploads.delete(uploadKey(storageIndex, shnum))) {
        throw new BackendError('NOT_FOUND', `no upload of ${storageIndex}/${shnum} in progress`);
      }
    },

    async discardUploads() {
      const count = uploads.size;
      uploads.clear();
      return count;
    },

    async writeMutable(storageIndex, shnum, request: MutableWriteRequest) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkMutableRequest(request, maxShareBytes);
      const key = uploadKey(storageIndex, shnum);
      const existing = getShare(storageIndex, shnum);
      if (existing?.sharetype === 'immutable' || uploads.has(key)) {
        throw new BackendError('CONFLICT', `share ${key} is immutable`);
      }
      const share: StoredShare = existing ?? {
        sharetype: 'mutable',
        data: new Uint8Array(0),
        writeEnabler: copy(request.writeEnabler),
        ...(request.writeEnablerNodeId
          ? { writeEnablerNodeId: copy(request.writeEnablerNodeId) }
          : {}),
        leases: request.leases ?? [],
      };
      // Copy on write: a reader opened before this write keeps reading the version it opened.
      let data = request.writes.length > 0 ? copy(share.data) : share.data;
      for (const write of request.writes) {
        const end = write.offset + write.data.length;
        if (end > data.length) {
          const grown = new Uint8Array(end); // zero-filled: gaps read as zeros
          grown.set(data);
          data = grown;
        }
        data.set(write.data, write.offset);
      }
      if (request.newLength != null && request.newLength < data.length)
        data = data.slice(0, request.newLength);
      share.data = data;
      setShare(storageIndex, shnum, share);
      return data.length;
    },

    async deleteShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const set = shareSets.get(storageIndex);
      const deleted = set?.delete(shnum) ?? false;
      if (set && set.size === 0) shareSets.delete(storageIndex);
      return deleted;
    },

    async putBlob(name, data, key) {
      checkBlobName(name);
      blobs.set(name, sealBlob(name, data, key));
    },

    async getBlob(name, key) {
      checkBlobName(name);
      const sealed = blobs.get(name);
      return sealed && openBlob(name, sealed, key);
    },

    async listBlobs(prefix = '') {
      if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
      return [...blobs.keys()].filter((name) => name.startsWith(prefix)).sort();
    },

    async deleteBlob(name) {
      checkBlobName(name);
      return blobs.delete(name);
    },

    async availableSpace() {
      return undefined;
    },

    async close() {},
  };
}
