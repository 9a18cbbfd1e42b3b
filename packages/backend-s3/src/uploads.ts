import { createHash, randomBytes } from 'node:crypto';
import {
  addRange,
  BackendError,
  type ByteRange,
  checkShnum,
  checkStorageIndex,
  checkUploadChunk,
  checkUploadSize,
  coveredParts,
  type EmbeddedLease,
  missingRanges,
  type ShareBackend,
  type UploadProgress,
} from '@ostrom/backend';
import { mapLimit, REQUEST_CONCURRENCY } from './concurrency.js';
import { keyOf, type S3Context } from './context.js';
import { deleteUnder } from './deletion.js';
import {
  encodeLeaseMetadata,
  MAX_LEASE_METADATA_CHARS,
  META_LEASES,
  META_SHARETYPE,
  META_UPLOAD,
} from './encoding.js';
import { headShare } from './share-objects.js';

// Immutable uploads: chunks in order are buffered and streamed to the share key (one PUT, or a
// multipart upload part by part), chunks beyond the stream staged under incoming/ until the
// stream reaches them; the share appears with the final PUT or multipart completion. Uploads
// live in this process only; none survives a restart.

/** The backend's options that concern uploads only (see `S3BackendOptions`). */
export interface UploadOptions {
  /** Part size when composing a large upload. */
  readonly partBytes: number;
}

interface Piece {
  readonly begin: number;
  readonly end: number;
  readonly key: string;
}

/**
 * Stream bytes [begin, end) from one append (an in-order chunk or an absorbed piece), split at
 * part boundaries; once sent in a part, with their SHA-256 to compare retransmissions against.
 */
interface StreamRecord {
  readonly begin: number;
  readonly end: number;
  readonly hash?: Buffer;
}

/**
 * An immutable upload in progress. Bytes arriving in order form the stream [0, streamed): those
 * before `flushed` were sent as parts of a multipart upload, the rest are in `buffer` (never more
 * than one part). Bytes beyond the stream are staged objects under incoming/.
 *
 * Keeping the unsent part in memory loses nothing that was promised: an upload in progress never
 * survives a restart anyway (Tahoe's own server deletes incoming/ at start-up; this backend says
 * `uploadsSurviveRestart: false`; the client uploads again). Only completion is acknowledged as
 * durable, and it returns only after S3 acknowledged the whole object (PUT or multipart
 * completion); a multipart object is invisible until completed.
 */
interface Upload {
  readonly sizeBytes: number;
  readonly token: string;
  readonly leaseMetadata: string;
  streamed: number;
  flushed: number;
  /** Bytes [flushed, streamed); capacity min(partBytes, sizeBytes - flushed). */
  buffer: Uint8Array | undefined;
  /** Consecutive, covering [0, streamed); those before `flushed` hashed. */
  records: StreamRecord[];
  multipart:
    | { readonly uploadId: string; parts: Array<{ ETag: string; PartNumber: number }> }
    | undefined;
  /** Staged objects, disjoint, each holding the bytes [begin, end) of the share; end > streamed. */
  pieces: readonly Piece[];
  /** Whether anything was ever staged (else completion has nothing to delete under incoming/). */
  staged: boolean;
}

export interface Uploads
  extends Pick<
    ShareBackend,
    'createUpload' | 'writeUpload' | 'getUpload' | 'abortUpload' | 'discardUploads'
  > {
  /** Whether an upload of the share is in progress (`key` as `keyOf` makes it). */
  isUploading(key: string): boolean;
}

/** The ranges an upload holds: the stream and the staged pieces. */
function receivedOf(upload: Upload): ByteRange[] {
  let received: ByteRange[] = upload.streamed > 0 ? [{ begin: 0, end: upload.streamed }] : [];
  for (const piece of upload.pieces) received = addRange(received, piece);
  return received;
}

/** [chunk] minus the parts of it already received, in order. */
function newParts(received: readonly ByteRange[], chunk: ByteRange): ByteRange[] {
  const parts: ByteRange[] = [];
  let position = chunk.begin;
  for (const covered of coveredParts(received, chunk)) {
    if (covered.begin > position) parts.push({ begin: position, end: covered.begin });
    position = covered.end;
  }
  if (position < chunk.end) parts.push({ begin: position, end: chunk.end });
  return parts;
}

function conflict(key: string, range: ByteRange, why = 'differs from bytes already written') {
  return new BackendError('CONFLICT', `chunk of ${key} ${why}`, {
    details: { begin: range.begin, end: range.end },
  });
}

/**
 * Checks that the chunk's bytes over `range` (inside the stream) equal the stream's: bytes still
 * buffered are compared directly; bytes already sent in a part are compared through the SHA-256
 * of each earlier append they belong to, which the chunk must then cover whole (a retransmission
 * does: Tahoe resends the same chunk). A partial overlap of flushed bytes cannot be proven equal
 * and is CONFLICT too, so nothing unverified is ever accepted.
 */
function verifyStream(
  upload: Upload,
  key: string,
  range: ByteRange,
  offset: number,
  data: Uint8Array,
): void {
  const bufferedBegin = Math.max(range.begin, upload.flushed);
  if (bufferedBegin < range.end) {
    const before = (upload.buffer ?? new Uint8Array(0)).subarray(
      bufferedBegin - upload.flushed,
      range.end - upload.flushed,
    );
    const after = data.subarray(bufferedBegin - offset, range.end - offset);
    if (!Buffer.from(before).equals(Buffer.from(after))) throw conflict(key, range);
  }
  const flushedEnd = Math.min(range.end, upload.flushed);
  if (range.begin >= flushedEnd) return;
  const chunkEnd = offset + data.length;
  for (const record of upload.records) {
    if (record.end <= range.begin || record.begin >= flushedEnd) continue;
    if (!record.hash || record.begin < offset || record.end > chunkEnd)
      throw conflict(key, range, 'partly overlaps bytes already sent to the store');
    const hash = createHash('sha256')
      .update(data.subarray(record.begin - offset, record.end - offset))
      .digest();
    if (!hash.equals(record.hash)) throw conflict(key, range);
  }
}

function uploadMetadata(upload: Upload): Record<string, string> {
  return {
    [META_SHARETYPE]: 'immutable',
    [META_UPLOAD]: upload.token,
    ...(upload.leaseMetadata ? { [META_LEASES]: upload.leaseMetadata } : {}),
  };
}

export function createUploads(context: S3Context, { partBytes }: UploadOptions): Uploads {
  const { store, layout, maxShareBytes, lock } = context;
  const uploads = new Map<string, Upload>();

  /** Staged bytes [begin, end) of an upload, from the pieces that hold them. */
  async function readStaged(upload: Upload, range: ByteRange): Promise<Uint8Array> {
    const out = new Uint8Array(range.end - range.begin);
    const pieces = upload.pieces.filter((p) => p.begin < range.end && p.end > range.begin);
    await mapLimit(pieces, REQUEST_CONCURRENCY, async (piece) => {
      const begin = Math.max(range.begin, piece.begin);
      const end = Math.min(range.end, piece.end);
      const body = await store.get(piece.key, {
        begin: begin - piece.begin,
        end: end - piece.begin,
      });
      if (!body || body.bytes.length !== end - begin) {
        throw new BackendError('IO', `staged bytes ${piece.key} vanished`, {
          details: { key: piece.key },
        });
      }
      out.set(body.bytes, begin - range.begin);
    });
    return out;
  }

  /** Sends the full buffer as the next part, starting the multipart upload on the first. */
  async function flushPart(upload: Upload, key: string, metadata: Record<string, string>) {
    const buffer = (upload.buffer ?? new Uint8Array(0)).subarray(
      0,
      upload.streamed - upload.flushed,
    );
    if (!upload.multipart) {
      upload.multipart = { uploadId: await store.createMultipart(key, metadata), parts: [] };
    }
    const partNumber = upload.multipart.parts.length + 1;
    const etag = await store.uploadPart(key, upload.multipart.uploadId, partNumber, buffer);
    upload.multipart.parts.push({ ETag: etag, PartNumber: partNumber });
    // The part's bytes leave memory: keep the SHA-256 of each append's share of them.
    const partEnd = upload.flushed + buffer.length;
    const hashOf = (begin: number, end: number) =>
      createHash('sha256')
        .update(buffer.subarray(begin - upload.flushed, end - upload.flushed))
        .digest();
    upload.records = upload.records.flatMap((record): StreamRecord[] => {
      if (record.hash || record.end <= upload.flushed || record.begin >= partEnd) return [record];
      if (record.end <= partEnd) return [{ ...record, hash: hashOf(record.begin, record.end) }];
      return [
        { begin: record.begin, end: partEnd, hash: hashOf(record.begin, partEnd) },
        { begin: partEnd, end: record.end },
      ];
    });
    upload.flushed = partEnd;
    upload.buffer = undefined;
  }

  /**
   * Appends share bytes [streamed, end) to the stream, taken from `source` at most one part at a
   * time; a full part is sent as soon as more bytes follow it (the last part, or a share within
   * one part, is kept for completion). Memory: one part per upload. If a part fails, the bytes
   * appended so far stay buffered (and recorded) and the next write sends them again.
   */
  async function append(
    upload: Upload,
    key: string,
    metadata: Record<string, string>,
    end: number,
    source: (range: ByteRange) => Uint8Array | Promise<Uint8Array>,
  ): Promise<void> {
    const begin = upload.streamed;
    try {
      while (upload.streamed < end) {
        const capacity = Math.min(partBytes, upload.sizeBytes - upload.flushed);
        if (upload.streamed - upload.flushed === capacity) {
          await flushPart(upload, key, metadata);
          continue;
        }
        const take = Math.min(end, upload.flushed + capacity) - upload.streamed;
        const bytes = await source({ begin: upload.streamed, end: upload.streamed + take });
        if (bytes.length !== take) throw new BackendError('IO', `short read for ${key}`);
        // Unzeroed: only bytes [flushed, streamed) are ever read or sent.
        upload.buffer ??= Buffer.allocUnsafe(capacity);
        upload.buffer.set(bytes, upload.streamed - upload.flushed);
        upload.streamed += take;
        // Recorded per part, so that a part's flush finds its records' bytes in the buffer.
        const last = upload.records.at(-1);
        if (last && !last.hash && last.begin >= begin && last.end === upload.streamed - take) {
          upload.records[upload.records.length - 1] = { begin: last.begin, end: upload.streamed };
        } else {
          upload.records.push({ begin: upload.streamed - take, end: upload.streamed });
        }
      }
    } finally {
      upload.pieces = upload.pieces.filter((p) => p.end > upload.streamed);
    }
  }

  /** Moves staged pieces that the stream has reached into it (read back from incoming/). */
  async function absorbPieces(upload: Upload, key: string, metadata: Record<string, string>) {
    for (;;) {
      const next = upload.pieces.find((p) => p.begin <= upload.streamed && p.end > upload.streamed);
      if (!next) return;
      await append(upload, key, metadata, next.end, (range) => readStaged(upload, range));
    }
  }

  /**
   * Makes the whole stream the share: one PUT of the buffer for a share within one part, else
   * the last part and CompleteMultipartUpload. Until that returns the share key does not exist
   * (a multipart object is invisible until completed), so no partial share is ever visible.
   */
  async function finishStream(upload: Upload, key: string, metadata: Record<string, string>) {
    if (!upload.multipart) {
      try {
        const bytes = (upload.buffer ?? new Uint8Array(0)).subarray(
          0,
          upload.streamed - upload.flushed,
        );
        await store.put(key, bytes, metadata);
      } catch (error) {
        // The write may have landed although its answer was lost. The key did not exist before
        // (createUpload checked, and this share's writers hold the lock), so removing it restores
        // "nothing visible"; the upload keeps its buffer and the client can retry the chunk.
        await store.delete(key).catch(() => undefined);
        throw error;
      }
      return;
    }
    if (upload.streamed > upload.flushed) await flushPart(upload, key, metadata);
    const { uploadId, parts } = upload.multipart;
    try {
      await store.completeMultipart(key, uploadId, parts, upload.token);
    } catch (error) {
      // As above, the completion may have landed: remove it. The parts are gone then, or may be,
      // so abort the multipart upload and report the streamed bytes missing again; the client
      // resends them (a Tahoe client abandons the share on an error anyway).
      await store.delete(key).catch(() => undefined);
      await store.abortMultipart(key, uploadId).catch(() => undefined);
      upload.multipart = undefined;
      upload.streamed = 0;
      upload.flushed = 0;
      upload.buffer = undefined;
      upload.records = [];
      throw error;
    }
  }

  /** Frees what an upload holds in the store: its multipart upload and its staged pieces. */
  async function dropUpload(storageIndex: string, shnum: number, upload: Upload) {
    if (upload.multipart) {
      await store
        .abortMultipart(layout.shareKey(storageIndex, shnum), upload.multipart.uploadId)
        .catch(() => undefined);
      upload.multipart = undefined;
    }
    if (upload.staged)
      await deleteUnder(store, layout.uploadDir(storageIndex, shnum, upload.token));
  }

  return {
    async createUpload(storageIndex, shnum, sizeBytes, uploadOptions = {}) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkUploadSize(sizeBytes, maxShareBytes);
      const leases: readonly EmbeddedLease[] = uploadOptions.leases ?? [];
      const leaseMetadata = encodeLeaseMetadata(leases);
      if (leaseMetadata.length > MAX_LEASE_METADATA_CHARS) {
        throw new RangeError('too many leases for object metadata (about 14 fit)');
      }
      const key = keyOf(storageIndex, shnum);
      await lock.run(key, async () => {
        if (uploads.has(key) || (await headShare(context, storageIndex, shnum))) {
          throw new BackendError('CONFLICT', `share ${key} exists or is being uploaded`);
        }
        uploads.set(key, {
          sizeBytes,
          token: randomBytes(8).toString('hex'),
          leaseMetadata,
          streamed: 0,
          flushed: 0,
          buffer: undefined,
          records: [],
          multipart: undefined,
          pieces: [],
          staged: false,
        });
      });
    },

    async writeUpload(storageIndex, shnum, offset, data) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const key = keyOf(storageIndex, shnum);
      return lock.run(key, async (): Promise<UploadProgress> => {
        const upload = uploads.get(key);
        if (!upload) throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
        const chunk = checkUploadChunk(offset, data, upload.sizeBytes);
        const shareKey = layout.shareKey(storageIndex, shnum);
        const metadata = uploadMetadata(upload);
        // Overlapping bytes must agree with what was received, before anything is written: in the
        // stream, with the buffer or the hashes of flushed bytes; beyond it, with the staged
        // pieces, read back.
        for (const part of coveredParts(receivedOf(upload), chunk)) {
          if (part.begin < upload.streamed) {
            const inStream = { begin: part.begin, end: Math.min(part.end, upload.streamed) };
            verifyStream(upload, key, inStream, offset, data);
          }
          if (part.end > upload.streamed) {
            const range = { begin: Math.max(part.begin, upload.streamed), end: part.end };
            const before = await readStaged(upload, range);
            const after = data.subarray(range.begin - offset, range.end - offset);
            if (!Buffer.from(before).equals(Buffer.from(after))) throw conflict(key, range);
          }
        }
        const complete = async (): Promise<UploadProgress> => {
          await finishStream(upload, shareKey, metadata);
          uploads.delete(key);
          await dropUpload(storageIndex, shnum, { ...upload, multipart: undefined });
          return { complete: true, missing: [] };
        };
        if (chunk.begin <= upload.streamed) {
          // In order (what Tahoe clients send): into the stream, in memory, parts sent as they fill.
          if (chunk.end > upload.streamed) {
            await append(upload, shareKey, metadata, chunk.end, (range) =>
              data.subarray(range.begin - offset, range.end - offset),
            );
          }
          await absorbPieces(upload, shareKey, metadata);
          if (upload.streamed === upload.sizeBytes) return complete();
          return { complete: false, missing: missingRanges(receivedOf(upload), upload.sizeBytes) };
        }
        const fresh = newParts(receivedOf(upload), chunk).map((range) => ({
          range,
          data: data.subarray(range.begin - offset, range.end - offset),
        }));
        const missing = missingRanges(addRange(receivedOf(upload), chunk), upload.sizeBytes);
        if (missing.length === 0) {
          // The last missing bytes, out of order: the rest of the share streams from the staged
          // pieces and this chunk (not staged).
          await append(upload, shareKey, metadata, upload.sizeBytes, async (range) => {
            const out = await readStaged(upload, range);
            for (const part of fresh) {
              const begin = Math.max(range.begin, part.range.begin);
              const end = Math.min(range.end, part.range.end);
              if (begin < end) {
                out.set(
                  part.data.subarray(begin - part.range.begin, end - part.range.begin),
                  begin - range.begin,
                );
              }
            }
            return out;
          });
          return complete();
        }
        // Beyond the stream: stage only bytes not received before, so pieces stay disjoint; the
        // in-memory state changes only once they are stored.
        upload.staged = true;
        const pieces = await mapLimit(
          fresh,
          REQUEST_CONCURRENCY,
          async ({ range, data: bytes }) => {
            const stagedKey = layout.stagedKey(
              storageIndex,
              shnum,
              upload.token,
              range.begin,
              range.end,
            );
            await store.put(stagedKey, bytes);
            return { ...range, key: stagedKey };
          },
        );
        upload.pieces = [...upload.pieces, ...pieces].sort((a, b) => a.begin - b.begin);
        return { complete: false, missing };
      });
    },

    async getUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const upload = uploads.get(keyOf(storageIndex, shnum));
      if (!upload) return undefined;
      const missing = missingRanges(receivedOf(upload), upload.sizeBytes);
      return { complete: missing.length === 0, missing };
    },

    async abortUpload(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const key = keyOf(storageIndex, shnum);
      await lock.run(key, async () => {
        const upload = uploads.get(key);
        if (!upload) throw new BackendError('NOT_FOUND', `no upload of ${key} in progress`);
        uploads.delete(key);
        await dropUpload(storageIndex, shnum, upload);
      });
    },

    async discardUploads() {
      // Uploads of this process, and anything staged by an earlier one (a restart).
      const discarded = new Set(uploads.keys());
      const mine = [...uploads.entries()];
      uploads.clear();
      for (const [key, upload] of mine) {
        const [storageIndex, shnum] = key.split('/');
        await dropUpload(storageIndex as string, Number(shnum), { ...upload, staged: false });
      }
      // Multipart uploads an earlier process left unfinished (their share keys were never
      // completed, so nothing of them is visible): free their parts.
      // An in-order upload smaller than one part left nothing in the store to find or count.
      const sharesRoot = layout.sharesRoot();
      for (const { key, uploadId } of await store.listMultipart(sharesRoot)) {
        const [, storageIndex, shnum] = key.slice(sharesRoot.length).split('/');
        discarded.add(`${storageIndex}/${shnum}`);
        await store.abortMultipart(key, uploadId).catch(() => undefined);
      }
      const root = layout.incomingRoot();
      for await (const page of store.list(root)) {
        for (const { key } of page.keys) {
          const [, storageIndex, shnum] = key.slice(root.length).split('/');
          discarded.add(`${storageIndex}/${shnum}`);
        }
        await store.deleteMany(page.keys.map((k) => k.key));
      }
      return discarded.size;
    },

    isUploading(key) {
      return uploads.has(key);
    },
  };
}
