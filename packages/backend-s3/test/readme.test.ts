import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { afterEach, expect, it, vi } from 'vitest';
import { CREDENTIALS, createBucket, endpoint } from './helpers.js';

// The README's example runs as written against the run's S3-compatible server, which it finds,
// as a deployment would, in the environment.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

afterEach(() => {
  vi.unstubAllEnvs();
});

it.skipIf(!endpoint)(
  'the README example stores, reads and rewrites shares in the bucket its environment names',
  async () => {
    const [example, ...rest] = readmeExamples(`${packageDir}README.md`);
    expect(rest).toEqual([]);
    const bucket = await createBucket();
    vi.stubEnv('S3_BUCKET', bucket);
    vi.stubEnv('S3_ENDPOINT', endpoint!);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    const exported = await runExample(packageDir, example!);
    expect(exported.complete).toBe(true);
    expect(exported.head).toHaveLength(4096);
    expect(exported.mutableLength).toBe(300);
  },
);
