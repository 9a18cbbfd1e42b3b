import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's examples run as written, on SQLite: what they export is what they claim.

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const [quickStart, traffic, ...rest] = readmeExamples(`${packageDir}README.md`);

it('the README has the quick start and the traffic example, and no other', () => {
  expect(quickStart).toBeDefined();
  expect(traffic).toBeDefined();
  expect(rest).toEqual([]);
});

it('the quick start stores a share, leases it twice, expires both leases and finds it unleased', async () => {
  const exported = await runExample(packageDir, quickStart!);
  expect(exported.usage).toEqual({ shares: 1, bytes: 1_000_072 });
  expect(exported.expired).toHaveLength(2);
  expect(exported.unleased).toEqual([
    expect.objectContaining({
      storageIndex: 'wjcilt4y6hqjsoerdpus3i3uuu',
      shnum: 0,
      state: 'stable',
      usedBytes: 1_000_072,
    }),
  ]);
});

it('the traffic example adds two batches of one hour into one row', async () => {
  const exported = await runExample(packageDir, traffic!);
  expect(exported.lastDay).toEqual([
    { hour: expect.any(Number), uploads: 1, reads: 2, bytesIn: 1_000_072, bytesOut: 8192 },
  ]);
});
