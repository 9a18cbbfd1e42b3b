import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's example runs as written, on memory servers: what it exports is what it claims.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README example publishes a directory of one node that a client turns into servers.yaml', async () => {
  const [example, ...rest] = readmeExamples(`${packageDir}README.md`);
  expect(rest).toEqual([]);
  const exported = await runExample(packageDir, example!);
  const changes = exported.changes as { added: { petname: string; reachable: boolean }[] }[];
  expect(changes).toHaveLength(1);
  expect(changes[0]!.added).toEqual([expect.objectContaining({ petname: 'n1', reachable: true })]);
  expect(exported.yaml).toMatch(/^storage:\n {2}"?v0-[a-z2-7]{52}"?:\n/);
  expect(exported.yaml).toContain('"n1"');
});
