import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BackendError } from '@ostrom/backend';
import { isNotFound, type RetryPolicy, statusOf, withRetries } from './retry.js';

/** What a HEAD or GET tells of an object besides its bytes. */
export interface ObjectHead {
  readonly sizeBytes: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ObjectBody extends ObjectHead {
  readonly bytes: Uint8Array;
}

/** One page of a listing. */
export interface ListPage {
  readonly keys: ReadonlyArray<{ readonly key: string; readonly sizeBytes: number }>;
  readonly prefixes: readonly string[];
}

/**
 * The few S3 operations the backend uses, each retried as a unit (a GET includes reading its
 * body, so a connection cut mid-body is retried too) and with absence as `undefined`.
 */
export interface ObjectStore {
  head(key: string): Promise<ObjectHead | undefined>;
  /** The object, or its bytes [begin, end) clipped to its size; undefined if absent. */
  get(key: string, range?: { begin: number; end: number }): Promise<ObjectBody | undefined>;
  put(key: string, body: Uint8Array, metadata?: Record<string, string>): Promise<void>;
  /** Starts a multipart upload of `key` (not idempotent: a retry may leave an unused one). */
  createMultipart(key: string, metadata: Record<string, string>): Promise<string>;
  /** Sends part `partNumber` (from 1; at least 5 MiB but the last); returns its ETag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string>;
  /**
   * Completes a multipart upload. A retry after a completion whose answer was lost finds the upload
   * gone: the object is accepted then if its `ostrom-upload` metadata is `token`.
   */
  completeMultipart(
    key: string,
    uploadId: string,
    parts: ReadonlyArray<{ ETag: string; PartNumber: number }>,
    token: string,
  ): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Multipart uploads in progress under `prefix` (key and upload id), all pages. */
  listMultipart(prefix: string): Promise<Array<{ key: string; uploadId: string }>>;
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /**
   * Pages of keys under `prefix` (with `delimiter`, also the common prefixes), in key order;
   * with `startAfter`, only the keys after it.
   */
  list(prefix: string, delimiter?: string, startAfter?: string): AsyncGenerator<ListPage>;
}

const RANGE_NOT_SATISFIABLE = 416;

export function createObjectStore(
  client: S3Client,
  bucket: string,
  policy: RetryPolicy,
  pageSize: number,
): ObjectStore {
  const retry = <T>(what: string, fn: (attempt: number) => Promise<T>) =>
    withRetries(policy, what, fn);
  const asMetadata = (metadata: Record<string, string> | undefined) => ({ ...metadata });

  const store: ObjectStore = {
    head(key) {
      return retry(`HEAD ${key}`, async () => {
        try {
          const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
          return { sizeBytes: out.ContentLength ?? 0, metadata: asMetadata(out.Metadata) };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw error;
        }
      });
    },

    async get(key, range) {
      if (range && range.end <= range.begin) {
        const head = await store.head(key);
        return head && { ...head, bytes: new Uint8Array(0) };
      }
      const result = await retry(`GET ${key}`, async () => {
        try {
          const out = await client.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: key,
              ...(range ? { Range: `bytes=${range.begin}-${range.end - 1}` } : {}),
            }),
          );
          const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
          if (out.ContentLength !== undefined && body.length !== out.ContentLength) {
            // A body cut short without a socket error: treat like a reset connection.
            throw Object.assign(new Error('short body'), { code: 'ECONNRESET' });
          }
          if (range && !out.ContentRange) {
            // A server that ignores Range sends the whole object (200): cut the range here.
            const bytes = body.slice(range.begin, range.end);
            return { bytes, sizeBytes: body.length, metadata: asMetadata(out.Metadata) };
          }
          // A ranged GET reports the whole object's size in Content-Range: ".../total".
          const total = out.ContentRange?.split('/')[1];
          const sizeBytes = total && total !== '*' ? Number(total) : body.length;
          return { bytes: body, sizeBytes, metadata: asMetadata(out.Metadata) };
        } catch (error) {
          if (isNotFound(error)) return undefined;
          if (statusOf(error) === RANGE_NOT_SATISFIABLE) return 'past-end' as const;
          throw error;
        }
      });
      if (result !== 'past-end') return result;
      // The range starts at or past the end: the object exists, so answer with no bytes.
      const head = await store.head(key);
      return head && { ...head, bytes: new Uint8Array(0) };
    },

    async put(key, body, metadata) {
      await retry(`PUT ${key}`, () =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ...(metadata ? { Metadata: metadata } : {}),
          }),
        ),
      );
    },

    async createMultipart(key, metadata) {
      const created = await retry(`CreateMultipartUpload ${key}`, () =>
        client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata }),
        ),
      );
      if (!created.UploadId) throw new BackendError('IO', `no upload id for ${key}`);
      return created.UploadId;
    },

    async uploadPart(key, uploadId, partNumber, body) {
      const out = await retry(`UploadPart ${key} #${partNumber}`, () =>
        client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        ),
      );
      return out.ETag ?? '';
    },

    async completeMultipart(key, uploadId, parts, token) {
      await retry(`CompleteMultipartUpload ${key}`, async (attempt) => {
        try {
          await client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: [...parts] },
            }),
          );
        } catch (error) {
          const name = (error as { name?: unknown }).name;
          if (attempt > 1 && name === 'NoSuchUpload') {
            const head = await store.head(key);
            if (head && head.metadata['ostrom-upload'] === token) return;
          }
          throw error;
        }
      });
    },

    async abortMultipart(key, uploadId) {
      await retry(`AbortMultipartUpload ${key}`, async () => {
        try {
          await client.send(
            new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
          );
        } catch (error) {
          // Already aborted or completed (a retry after a lost answer): nothing left to free.
          if ((error as { name?: unknown }).name === 'NoSuchUpload') return;
          throw error;
        }
      });
    },

    async listMultipart(prefix) {
      const found: Array<{ key: string; uploadId: string }> = [];
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const out = await retry(`ListMultipartUploads ${prefix}`, () =>
          client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: prefix,
              ...(keyMarker ? { KeyMarker: keyMarker } : {}),
              ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
            }),
          ),
        );
        for (const upload of out.Uploads ?? []) {
          if (upload.Key && upload.UploadId)
            found.push({ key: upload.Key, uploadId: upload.UploadId });
        }
        if (!out.IsTruncated || !out.NextKeyMarker) return found;
        keyMarker = out.NextKeyMarker;
        uploadIdMarker = out.NextUploadIdMarker;
      }
    },

    async delete(key) {
      await retry(`DELETE ${key}`, () =>
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
      );
    },

    async deleteMany(keys) {
      for (let start = 0; start < keys.length; start += 1000) {
        const batch = keys.slice(start, start + 1000);
        await retry(`DeleteObjects (${batch.length} keys)`, async () => {
          const out = await client.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
            }),
          );
          const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
          if (failed.length > 0) {
            // Per-key failures of a batch come back in a 200: retry them as a unit.
            throw Object.assign(new Error(`DeleteObjects: ${failed[0]?.Code} ${failed[0]?.Key}`), {
              $metadata: { httpStatusCode: failed[0]?.Code === 'InternalError' ? 500 : 400 },
            });
          }
        });
      }
    },

    async *list(prefix, delimiter, startAfter) {
      let token: string | undefined;
      do {
        const out = await retry(`LIST ${prefix}`, () =>
          client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix,
              MaxKeys: pageSize,
              ...(delimiter ? { Delimiter: delimiter } : {}),
              ...(startAfter ? { StartAfter: startAfter } : {}),
              ...(token ? { ContinuationToken: token } : {}),
            }),
          ),
        );
        yield {
          keys: (out.Contents ?? []).flatMap((item) =>
            item.Key ? [{ key: item.Key, sizeBytes: item.Size ?? 0 }] : [],
          ),
          prefixes: (out.CommonPrefixes ?? []).flatMap((item) =>
            item.Prefix ? [item.Prefix] : [],
          ),
        };
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    },
  };
  return store;
}
