import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BackendError } from '@ostrom/backend';
import { s3Endpoint } from '@ostrom/test-fixtures';
import { createS3Backend, type S3BackendOptions } from '../src/index.js';

/** The run's moto endpoint, or undefined (the suite is then skipped with a message). */
export const endpoint = s3Endpoint('@ostrom/backend-s3');

export const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** A client on moto configured as the backend configures its own. */
export function motoClient(url = endpoint): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: url!,
    credentials: CREDENTIALS,
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A fresh bucket with a random name (moto is thrown away after the run: no cleanup). */
export async function createBucket(): Promise<string> {
  const bucket = `ostrom-${randomBytes(6).toString('hex')}`;
  const client = motoClient();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return bucket;
}

/** A backend on moto with test-friendly retries (no real waiting). */
export function motoBackend(bucket: string, extra: Partial<S3BackendOptions> = {}) {
  return createS3Backend({
    endpoint: endpoint!,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    forcePathStyle: true,
    bucket,
    sleep: async () => {},
    ...extra,
  });
}

/** Every key in the bucket, sorted. */
export async function allKeys(bucket: string, client = motoClient()): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** The BackendError code or error name a promise rejects with, or `resolved`. */
export async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BackendError) return error.code;
    return (error as Error).name;
  }
  return 'resolved';
}

export function bytes(length: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

export const WE = new Uint8Array(32).fill(0x5e);
