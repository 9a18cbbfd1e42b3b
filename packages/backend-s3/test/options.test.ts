import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Backend, type S3BackendOptions } from '../src/index.js';

function thrown(options: unknown): string {
  try {
    createS3Backend(options as S3BackendOptions);
  } catch (error) {
    return (error as Error).name;
  }
  return 'returned';
}

const base = { bucket: 'ostrom-test', endpoint: 'http://127.0.0.1:9', forcePathStyle: true };

describe('createS3Backend(options)', () => {
  it('createS3Backend(options) refuses malformed options with a TypeError at once', () => {
    for (const [index, options] of [
      undefined,
      null,
      'bucket',
      {},
      { bucket: '' },
      { bucket: 'Upper_Case' },
      { bucket: 'a' },
      { ...base, endpoint: 'not a url' },
      { ...base, endpoint: 'ftp://host/' },
      { ...base, region: '' },
      { ...base, credentials: { accessKeyId: 'x' } },
      { ...base, credentials: 'x:y' },
      { ...base, forcePathStyle: 'yes' },
      { ...base, prefix: '/abs/' },
      { ...base, prefix: 'no-slash' },
      { ...base, prefix: 'a//' },
      { ...base, prefix: '../' },
      { ...base, maxAttempts: 2.5 },
      { ...base, maxAttempts: '3' },
      { ...base, pageSize: Number.NaN },
      { ...base, sleep: 5 },
      { bucket: 'ostrom-test', client: {} },
      { bucket: 'ostrom-test', client: new S3Client({}), endpoint: 'http://127.0.0.1:9' },
    ].entries()) {
      expect([index, thrown(options)]).toEqual([index, 'TypeError']);
    }
  });

  it('createS3Backend(options) refuses numbers out of range with a RangeError', () => {
    for (const options of [
      { ...base, maxAttempts: 0 },
      { ...base, pageSize: 1001 },
      { ...base, maxShareBytes: -1 },
      { ...base, multipartPartBytes: 1024 },
      { ...base, mutableChunkBytes: 0 },
      { ...base, baseDelayMs: 500, maxDelayMs: 100 },
    ]) {
      expect(thrown(options)).toBe('RangeError');
    }
  });

  it('declares its capabilities as data', async () => {
    const backend = createS3Backend({ ...base, maxShareBytes: 1000, prefix: 'node-1/' });
    expect(backend.capabilities).toEqual({
      kind: 's3',
      durable: true,
      embedsLeases: true,
      uploadsSurviveRestart: false,
      maxShareBytes: 1000,
    });
    expect(await backend.availableSpace()).toBeUndefined();
    await backend.close();
  });
});
