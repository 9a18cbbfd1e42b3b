import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's embeddings run as written: a node served by the storage handler, and a client
// that reaches it; an admin API that adds an account and refuses to add it twice.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

const [storageExample, adminExample, ...rest] = readmeExamples(`${packageDir}README.md`);

it('the README has two runnable examples', () => {
  expect([storageExample, adminExample].every(Boolean)).toBe(true);
  expect(rest).toEqual([]);
});

it('the README storage example serves a node that a storage client reaches', async () => {
  const exported = await runExample(packageDir, storageExample!);
  expect(exported.version).toMatchObject({ applicationVersion: expect.any(String) });
});

it('the README admin example adds an account with its quota, and a second add is a 409', async () => {
  const exported = await runExample(packageDir, adminExample!);
  expect(exported.account).toMatchObject({
    nickname: 'laptop',
    status: 'normal',
    hardQuotaBytes: 5_000_000_000,
    nurl: expect.any(String),
  });
  expect(exported.refusal).toEqual({ status: 409, error: expect.any(String) });
});
