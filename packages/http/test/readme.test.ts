import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's embeddings run as written: a node served by the storage handler, and a client
// that reaches it; an admin API that adds an account and refuses to add it twice; metrics that
// count the storage handler's requests.

const packageDir = fileURLToPath(new URL('..', import.meta.url));

const [storageExample, adminExample, metricsExample, ...rest] = readmeExamples(
  `${packageDir}README.md`,
);

it('the README has three runnable examples', () => {
  expect([storageExample, adminExample, metricsExample].every(Boolean)).toBe(true);
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

it('the README metrics example counts the request its client made', async () => {
  const exported = await runExample(packageDir, metricsExample!);
  expect(exported.exposition).toMatch(
    /^ostrom_http_requests_total\{route="version",method="GET",status="200"\} 1$/m,
  );
  expect(exported.exposition).toMatch(/^ostrom_accounts\{status="normal"\} [1-9]\d*$/m);
});
