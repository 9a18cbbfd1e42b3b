import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's example runs as written, in a temporary directory: what it exports is what it
// claims.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README example uploads a leased share and lists it as a Tahoe v2 container', async () => {
  const [example, ...rest] = readmeExamples(`${packageDir}README.md`);
  expect(rest).toEqual([]);
  const exported = await runExample(packageDir, example!);
  expect(exported.listing).toEqual([
    'wjcilt4y6hqjsoerdpus3i3uuu/0 immutable-v2: 1000 bytes, 1 lease(s)',
  ]);
});
