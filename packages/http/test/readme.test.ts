import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's embedding runs as written: a node served by the handler, and a client that
// reaches it.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README example serves a node that a storage client reaches', async () => {
  const [example, ...rest] = readmeExamples(`${packageDir}README.md`);
  expect(rest).toEqual([]);
  const exported = await runExample(packageDir, example!);
  expect(exported.version).toMatchObject({ applicationVersion: expect.any(String) });
});
