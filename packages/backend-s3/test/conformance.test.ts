import { describeShareBackend } from '@ostrom/backend/conformance';
import { describe, it } from 'vitest';
import { createBucket, endpoint, motoBackend } from './helpers.js';

if (endpoint) {
  describeShareBackend('s3', async () => {
    const bucket = await createBucket();
    return { backend: motoBackend(bucket), reopen: async () => motoBackend(bucket) };
  });
} else {
  describe.skip('ShareBackend conformance: s3 (no S3-compatible server)', () => {
    it('needs moto_server', () => {});
  });
}
