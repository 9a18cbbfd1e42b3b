import { S3Client } from '@aws-sdk/client-s3';
import { type BackendCapabilities, createKeyedLock, type ShareBackend } from '@ostrom/backend';
import { createBlobs } from './blobs.js';
import type { S3Context } from './context.js';
import { createShareDeletion } from './deletion.js';
import { s3Layout } from './layout.js';
import { createListing } from './listing.js';
import { createMutableWrites } from './mutable.js';
import { createObjectStore } from './object-store.js';
import { createShareReads } from './reads.js';
import type { RetryPolicy } from './retry.js';
import { createShareListing } from './share-listing.js';
import { createUploads } from './uploads.js';

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

const MIB = 1024 * 1024;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KEY_PREFIX = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*$/;

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
  const capabilities: BackendCapabilities = Object.freeze({
    kind: 's3',
    durable: true,
    embedsLeases: true,
    uploadsSurviveRestart: false,
    maxShareBytes,
  });
  const context: S3Context = {
    // Every write under shares/ goes through the watch, which drops a stale read-ahead.
    store: shareListing.watch(objects),
    layout,
    maxShareBytes,
    lock: createKeyedLock(),
  };
  const listing = createListing(context, shareListing);
  const reads = createShareReads(context);
  const uploads = createUploads(context, { partBytes });
  const mutable = createMutableWrites(context, uploads, { chunkBytes: mutableChunkBytes });
  const deletion = createShareDeletion(context);
  const blobs = createBlobs(context);
  return {
    capabilities,
    listStorageIndexes: listing.listStorageIndexes,
    listShareSets: listing.listShareSets,
    listShares: listing.listShares,
    statShare: listing.statShare,
    getShareMeta: reads.getShareMeta,
    readShare: reads.readShare,
    openShareReader: reads.openShareReader,
    createUpload: uploads.createUpload,
    writeUpload: uploads.writeUpload,
    getUpload: uploads.getUpload,
    abortUpload: uploads.abortUpload,
    discardUploads: uploads.discardUploads,
    writeMutable: mutable.writeMutable,
    deleteShare: deletion.deleteShare,
    putBlob: blobs.putBlob,
    getBlob: blobs.getBlob,
    listBlobs: blobs.listBlobs,
    deleteBlob: blobs.deleteBlob,

    async availableSpace() {
      return undefined;
    },

    async close() {
      if (ownsClient) client.destroy();
    },
  };
}
