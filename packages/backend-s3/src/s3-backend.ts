import { createHash, randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import {
  addRange,
  type BackendCapabilities,
  BackendError,
  type ByteRange,
  checkBlobName,
  checkMutableRequest,
  checkOffset,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
  checkUploadChunk,
  checkUploadSize,
  coveredParts,
  createKeyedLock,
  type EmbeddedLease,
  type MutableWriteRequest,
  missingRanges,
  openBlob,
  type ShareBackend,
  type ShareInfo,
  type ShareMeta,
  sealBlob,
  type UploadProgress,
} from '@ostrom/backend';
import {
  decodeLeaseMetadata,
  decodeManifest,
  encodeLeaseMetadata,
  encodeManifest,
  MAX_LEASE_METADATA_CHARS,
  type Manifest,
  META_LEASES,
  META_LENGTH,
  META_SHARETYPE,
  META_UPLOAD,
  META_USED,
} from './encoding.js';
import { parseShnum, s3Layout } from './layout.js';
import { createObjectStore, type ObjectHead } from './object-store.js';
import type { RetryPolicy } from './retry.js';
import { createShareListing } from './share-listing.js';

/** Static credentials for a client the backend builds itself. */
export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3BackendOptions {
  /** The bucket holding everything; it must exist. */
  readonly bucket: string;
  /** A ready client (its own retry settings apply too); or give the connection options below. */
  readonly client?: S3Client;
  /** e.g. `http://127.0.0.1:9000` for an S3-compatible server; AWS when absent. */
  readonly endpoint?: string;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Default: the SDK's credential chain. */
  readonly credentials?: S3Credentials;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  readonly forcePathStyle?: boolean;
  /** Per-request timeout of a built client, ms (default 30 000). A timeout is retried. */
  readonly requestTimeoutMs?: number;
  /** Prepended to every key: empty, or `/`-terminated segments such as `node-1/`. */
  readonly prefix?: string;
  /** Largest share accepted (default 2^40 bytes). */
  readonly maxShareBytes?: number;
  /** Attempts per request before UNAVAILABLE (default 5). */
  readonly maxAttempts?: number;
  /** First backoff ceiling, ms (default 100); doubles per attempt, up to `maxDelayMs` (10 000). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Waits between attempts (default a timer); tests pass one that does not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Keys per listing page, 1–1000 (default 1000, S3's maximum). */
  readonly pageSize?: number;
  /**
   * How long a share listing's read-ahead answers the following prefixes, ms (default 5 000; 0:
   * one LIST per prefix). `listShareSets` of one prefix reads on to the end of the page that
   * passes it, so a crawl of the 1,024 prefixes of a small store takes a few requests, not
   * 1,024. Writes through this backend are always seen; another process's, after this long.
   */
  readonly listingReadAheadMs?: number;
  /** The clock the read-ahead ages by, ms (default `Date.now`). */
  readonly now?: () => number;
  /** Chunk size of new mutable shares (default 512 KiB, as Tahoe's cloud backend). */
  readonly mutableChunkBytes?: number;
  /** Part size when composing a large upload, at least 5 MiB (default 8 MiB). */
  readonly multipartPartBytes?: number;
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

/** The ranges an upload holds: the stream and the staged pieces. */
function receivedOf(upload: Upload): ByteRange[] {
  let received: ByteRange[] = upload.streamed > 0 ? [{ begin: 0, end: upload.streamed }] : [];
  for (const piece of upload.pieces) received = addRange(received, piece);
  return received;
}

const MIB = 1024 * 1024;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KEY_PREFIX = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*$/;
const REQUEST_CONCURRENCY = 8;
const MANIFEST_PROBE_BYTES = 64 * 1024;

function integerOption(
  options: S3BackendOptions,
  name: keyof S3BackendOptions,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be in [${min}, ${max}]`);
  return value;
}

function stringOption(options: S3BackendOptions, name: keyof S3BackendOptions): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '')
    throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

function buildClient(options: S3BackendOptions, requestTimeoutMs: number): S3Client {
  const endpoint = stringOption(options, 'endpoint');
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new TypeError('endpoint must be an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError('endpoint must be an http(s) URL');
  }
  const region = stringOption(options, 'region') ?? 'us-east-1';
  const { credentials, forcePathStyle } = options;
  if (
    credentials !== undefined &&
    (typeof credentials !== 'object' ||
      credentials === null ||
      typeof credentials.accessKeyId !== 'string' ||
      credentials.accessKeyId === '' ||
      typeof credentials.secretAccessKey !== 'string' ||
      credentials.secretAccessKey === '')
  ) {
    throw new TypeError('credentials must be { accessKeyId, secretAccessKey } strings');
  }
  if (forcePathStyle !== undefined && typeof forcePathStyle !== 'boolean')
    throw new TypeError('forcePathStyle must be a boolean');
  return new S3Client({
    region,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    forcePathStyle: forcePathStyle ?? false,
    // Retries are ours (counted, backed off, injectable sleep), not the SDK's.
    maxAttempts: 1,
    // The SDK's default flexible checksums (aws-chunked CRC32 trailers) are not understood by
    // moto and other S3-compatible servers; send checksums only where S3 demands them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without throwOnRequestTimeout the handler only logs a warning when the timeout passes.
    requestHandler: {
      requestTimeout: requestTimeoutMs,
      connectionTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** [chunk] minus the parts of it already received, in order. */
/** Whether a listed name is a storage index filed under `prefix`. */
function isStorageIndexOf(name: string, prefix: string): boolean {
  try {
    return checkStorageIndex(name).startsWith(prefix);
  } catch {
    return false; // something else wrote into the bucket
  }
}

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

/**
 * A share backend on an S3-compatible object store. Complete shares are single objects (immutable)
 * or a manifest naming 512 KiB chunk objects (mutable); in-order upload chunks are buffered and
 * streamed (one PUT, or a multipart upload part by part), out-of-order ones staged beside them;
 * a share appears with one final PUT or multipart completion. See the README for the layout and the crash-safety argument.
 */
export function createS3Backend(options: S3BackendOptions): ShareBackend {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('options must be an object');
  const bucket = options.bucket;
  if (typeof bucket !== 'string' || !BUCKET_NAME.test(bucket))
    throw new TypeError('bucket must be an S3 bucket name');
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string' || !KEY_PREFIX.test(prefix))
    throw new TypeError('prefix must be empty or /-terminated segments of A-Za-z0-9._-');
  const maxShareBytes = integerOption(options, 'maxShareBytes', 2 ** 40, 0, 2 ** 50);
  const maxAttempts = integerOption(options, 'maxAttempts', 5, 1, 100);
  const baseDelayMs = integerOption(options, 'baseDelayMs', 100, 0, 60_000);
  const maxDelayMs = integerOption(options, 'maxDelayMs', 10_000, baseDelayMs, 600_000);
  const requestTimeoutMs = integerOption(options, 'requestTimeoutMs', 30_000, 1, 3_600_000);
  const pageSize = integerOption(options, 'pageSize', 1000, 1, 1000);
  const listingReadAheadMs = integerOption(options, 'listingReadAheadMs', 5000, 0, 3_600_000);
  const mutableChunkBytes = integerOption(options, 'mutableChunkBytes', 512 * 1024, 1, 64 * MIB);
  const partBytes = integerOption(options, 'multipartPartBytes', 8 * MIB, 5 * MIB, 5 * 1024 * MIB);
  if (options.sleep !== undefined && typeof options.sleep !== 'function')
    throw new TypeError('sleep must be a function');
  let client: S3Client;
  const ownsClient = options.client === undefined;
  if (options.client !== undefined) {
    if (typeof (options.client as { send?: unknown }).send !== 'function')
      throw new TypeError('client must be an S3Client');
    for (const name of ['endpoint', 'region', 'credentials', 'forcePathStyle'] as const) {
      if (options[name] !== undefined)
        throw new TypeError(`${name} configures a built client: give it or client, not both`);
    }
    client = options.client;
  } else {
    client = buildClient(options, requestTimeoutMs);
  }

  const policy: RetryPolicy = {
    maxAttempts,
    baseDelayMs,
    maxDelayMs,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    random: Math.random,
  };
  const layout = s3Layout(prefix);
  const objects = createObjectStore(client, bucket, policy, pageSize);
  const shareListing = createShareListing(objects, layout.sharesRoot(), {
    readAheadMs: listingReadAheadMs,
    now: options.now ?? Date.now,
  });
  // Every write under shares/ goes through the watch, which drops a stale read-ahead.
  const store = shareListing.watch(objects);
  const capabilities: BackendCapabilities = Object.freeze({
    kind: 's3',
    durable: true,
    embedsLeases: true,
    uploadsSurviveRestart: false,
    maxShareBytes,
  });
  const uploads = new Map<string, Upload>();
  // Writers of one share (chunks of an upload, a mutable write, a delete) take turns.
  const lock = createKeyedLock();
  const keyOf = (storageIndex: string, shnum: number) => `${storageIndex}/${shnum}`;
  const shareName = (storageIndex: string, shnum: number) => `share ${storageIndex}/${shnum}`;

  function sharetypeOf(head: ObjectHead, storageIndex: string, shnum: number) {
    const type = head.metadata[META_SHARETYPE];
    if (type === 'immutable' || type === 'mutable') return type;
    throw new BackendError('CORRUPT', `${shareName(storageIndex, shnum)} has no share type`, {
      details: { storageIndex, shnum },
    });
  }

  function infoOf(head: ObjectHead, storageIndex: string, shnum: number): ShareInfo {
    const sharetype = sharetypeOf(head, storageIndex, shnum);
    if (sharetype === 'immutable')
      return { shnum, sharetype, sizeBytes: head.sizeBytes, usedBytes: head.sizeBytes };
    const sizeBytes = Number(head.metadata[META_LENGTH]);
    const usedBytes = Number(head.metadata[META_USED]);
    if (!Number.isSafeInteger(sizeBytes) || !Number.isSafeInteger(usedBytes)) {
      throw new BackendError('CORRUPT', `${shareName(storageIndex, shnum)} has a bad length`, {
        details: { storageIndex, shnum },
      });
    }
    return { shnum, sharetype, sizeBytes, usedBytes };
  }

  async function readManifest(storageIndex: string, shnum: number): Promise<Manifest | undefined> {
    const body = await store.get(layout.shareKey(storageIndex, shnum));
    if (!body) return undefined;
    if (sharetypeOf(body, storageIndex, shnum) !== 'mutable')
      throw new BackendError('CONFLICT', `${shareName(storageIndex, shnum)} is immutable`);
    return decodeManifest(body.bytes, shareName(storageIndex, shnum));
  }

  /**
   * A share's object metadata and, for a mutable share, its manifest, in one request when the
   * manifest is small (it is: about 12 bytes per 512 KiB chunk). The first bytes of an immutable
   * share are fetched for nothing, but never more than MANIFEST_PROBE_BYTES.
   */
  async function probeShare(
    storageIndex: string,
    shnum: number,
  ): Promise<{ head: ObjectHead; manifest?: Manifest } | undefined> {
    const body = await store.get(layout.shareKey(storageIndex, shnum), {
      begin: 0,
      end: MANIFEST_PROBE_BYTES,
    });
    if (!body) return undefined;
    if (sharetypeOf(body, storageIndex, shnum) === 'immutable') return { head: body };
    const manifest =
      body.bytes.length === body.sizeBytes
        ? decodeManifest(body.bytes, shareName(storageIndex, shnum))
        : await readManifest(storageIndex, shnum);
    return manifest && { head: body, manifest };
  }

  /** Bytes [begin, end) of chunk `index` as stored (zeros past the stored bytes). */
  async function readChunk(
    storageIndex: string,
    shnum: number,
    manifest: Manifest,
    index: number,
    begin: number,
    end: number,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(end - begin);
    const [generation, stored] = manifest.chunks[index] ?? [0, 0];
    const storedEnd = Math.min(end, stored);
    if (generation === 0 || storedEnd <= begin) return out;
    const key = layout.chunkKey(storageIndex, shnum, generation, index);
    const body = await store.get(key, { begin, end: storedEnd });
    if (!body || body.bytes.length !== storedEnd - begin) {
      throw new BackendError(
        'CORRUPT',
        `chunk ${index} of ${shareName(storageIndex, shnum)} is missing`,
        {
          details: { storageIndex, shnum, key, chunkMissing: true },
        },
      );
    }
    out.set(body.bytes);
    return out;
  }

  async function readMutable(
    storageIndex: string,
    shnum: number,
    manifest: Manifest,
    offset: number,
    length: number,
  ): Promise<Uint8Array> {
    const begin = Math.min(offset, manifest.length);
    const end = Math.min(offset + length, manifest.length);
    const out = new Uint8Array(end - begin);
    const size = manifest.chunkBytes;
    const indexes: number[] = [];
    for (let i = Math.floor(begin / size); i * size < end; i++) indexes.push(i);
    await mapLimit(indexes, REQUEST_CONCURRENCY, async (i) => {
      const from = Math.max(begin, i * size);
      const to = Math.min(end, (i + 1) * size);
      out.set(
        await readChunk(storageIndex, shnum, manifest, i, from - i * size, to - i * size),
        from - begin,
      );
    });
    return out;
  }

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

  /** Deletes every object under `keyPrefix`; failures are left for a later sweep. */
  async function deleteUnder(keyPrefix: string): Promise<void> {
    try {
      for await (const page of store.list(keyPrefix)) {
        await store.deleteMany(page.keys.map((k) => k.key));
      }
    } catch {
      // Leftovers under incoming/ or chunks/ are never listed as shares; discardUploads() and
      // deleteShare() sweep them.
    }
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

  function uploadMetadata(upload: Upload): Record<string, string> {
    return {
      [META_SHARETYPE]: 'immutable',
      [META_UPLOAD]: upload.token,
      ...(upload.leaseMetadata ? { [META_LEASES]: upload.leaseMetadata } : {}),
    };
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
    if (upload.staged) await deleteUnder(layout.uploadDir(storageIndex, shnum, upload.token));
  }

  async function headShare(storageIndex: string, shnum: number) {
    return store.head(layout.shareKey(storageIndex, shnum));
  }

  return {
    capabilities,

    async listStorageIndexes(sharePrefix) {
      checkPrefix(sharePrefix);
      const dir = layout.sharePrefixDir(sharePrefix);
      const found: string[] = [];
      for await (const page of store.list(dir, '/')) {
        for (const p of page.prefixes) {
          const storageIndex = p.slice(dir.length, -1);
          try {
            found.push(checkStorageIndex(storageIndex));
          } catch {
            // Not a storage index: something else wrote into the bucket.
          }
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
        const head = await headShare(storageIndex, shnum);
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
      const head = await headShare(storageIndex, shnum);
      return head && infoOf(head, storageIndex, shnum);
    },

    async getShareMeta(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      // HEAD, not a probe: most shares are immutable, and their metadata is all there is to read.
      const head = await headShare(storageIndex, shnum);
      if (!head) return undefined;
      const info = infoOf(head, storageIndex, shnum);
      if (info.sharetype === 'immutable') {
        const leases = decodeLeaseMetadata(
          head.metadata[META_LEASES],
          shareName(storageIndex, shnum),
        );
        return { ...info, leases, container: 's3-object-v1' } satisfies ShareMeta;
      }
      const manifest = await readManifest(storageIndex, shnum);
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
          : await readManifest(storageIndex, shnum);
        if (!manifest) throw new BackendError('NOT_FOUND', `no ${shareName(storageIndex, shnum)}`);
        try {
          return await readMutable(storageIndex, shnum, manifest, offset, length);
        } catch (error) {
          const raced = error instanceof BackendError && error.details.chunkMissing === true;
          if (!raced || tries >= 3) throw error;
          const latest = await readManifest(storageIndex, shnum);
          if (latest?.generation === manifest.generation) throw error;
        }
      }
    },

    async openShareReader(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      const probe = await probeShare(storageIndex, shnum);
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
              return await readMutable(storageIndex, shnum, manifest, begin, end - begin);
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
        if (uploads.has(key) || (await headShare(storageIndex, shnum))) {
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

    async writeMutable(storageIndex, shnum, request: MutableWriteRequest) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      checkMutableRequest(request, maxShareBytes);
      const key = keyOf(storageIndex, shnum);
      return lock.run(key, async () => {
        if (uploads.has(key)) throw new BackendError('CONFLICT', `share ${key} is being uploaded`);
        const probe = await probeShare(storageIndex, shnum);
        if (probe && !probe.manifest)
          throw new BackendError('CONFLICT', `share ${key} is immutable`);
        const old: Manifest = probe?.manifest ?? {
          length: 0,
          chunkBytes: mutableChunkBytes,
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
              buffer.set(await readChunk(storageIndex, shnum, old, i, 0, size));
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

    async deleteShare(storageIndex, shnum) {
      checkStorageIndex(storageIndex);
      checkShnum(shnum);
      return lock.run(keyOf(storageIndex, shnum), async () => {
        const head = await headShare(storageIndex, shnum);
        if (!head) return false;
        // The share object first, so the share disappears at once; then any chunks, orphans of
        // interrupted writes included.
        await store.delete(layout.shareKey(storageIndex, shnum));
        if (head.metadata[META_SHARETYPE] !== 'immutable')
          await deleteUnder(layout.chunkPrefix(storageIndex, shnum));
        return true;
      });
    },

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

    async availableSpace() {
      return undefined;
    },

    async close() {
      if (ownsClient) client.destroy();
    },
  };
}
