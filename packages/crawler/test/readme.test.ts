import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's example of a node's database runs as written: the start-up recovery of a database
// not made yet, then the node's crawler, a backup and a stop.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README example recovers, reconciles, crawls and backs up a node database', async () => {
  const [example, ...rest] = readmeExamples(`${packageDir}README.md`);
  expect(rest).toEqual([]);
  const exported = await runExample(packageDir, example!);
  expect(exported.recovery).toMatchObject({ reason: 'missing', restored: undefined });
  expect(exported.backup).toMatchObject({ name: expect.stringMatching(/^leasedb\/backup-/) });
});
