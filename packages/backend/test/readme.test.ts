import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';

// The README's examples run as written: what the usage example exports is what it claims, and
// the conformance example, a test file, declares its suite here.

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const [usage, conformance, ...rest] = readmeExamples(`${packageDir}README.md`);

it('the README has the usage example and the conformance example, and no other', () => {
  expect([usage, conformance].every(Boolean)).toBe(true);
  expect(rest).toEqual([]);
});

it('the usage example completes an upload, reads it, writes a mutable share and seals a blob', async () => {
  const exported = await runExample(packageDir, usage!);
  expect(exported.complete).toBe(true);
  expect(exported.head).toHaveLength(64);
  expect(exported.mutableLength).toBe(300);
  expect(exported.indexes).toEqual(['wj3eiyxu7rquxzmt5cj43q7uem', 'wjcilt4y6hqjsoerdpus3i3uuu']);
  expect(exported.blobs).toEqual(['leasedb/2026-11-22']);
});

// Imported while vitest collects this file, the example's describeShareBackend() call declares
// the whole suite (and its extra case) inside this block, as it would in a test file of its own.
describe('the conformance example runs the suite on the memory backend', async () => {
  await runExample(packageDir, conformance!);
});
