import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';

// The README's examples run as written (SQLite; the disk backend in a temporary directory, or
// the memory backend): what they export is what they claim.

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const [quickStart, accounts, health, ...rest] = readmeExamples(`${packageDir}README.md`);

it('the README has the quick start, the accounts example and the health example, and no other', () => {
  expect([quickStart, accounts, health].every(Boolean)).toBe(true);
  expect(rest).toEqual([]);
});

it('the quick start uploads a share in two chunks through the anonymous swissnum and reads it', async () => {
  const exported = await runExample(packageDir, quickStart!);
  expect(exported.allocation).toEqual({ alreadyHave: [], allocated: [0, 1] });
  expect(exported.written).toEqual({ complete: true, required: [] });
  expect(exported.read).toMatchObject({ sizeBytes: 1507 });
  expect((exported.read as { data: Uint8Array }).data).toHaveLength(64);
});

it("the accounts example charges bob's upload to his account, under his quota, and records both", async () => {
  const exported = await runExample(packageDir, accounts!);
  const info = exported.info as { accountId: number };
  expect(exported.swissnum).toMatch(new RegExp(`^${info.accountId}-[a-z2-7]{32}$`));
  expect(info).toMatchObject({
    nickname: 'bob',
    status: 'normal',
    usage: { shares: 1, bytes: 1000 },
    hardQuotaBytes: 1_000_000,
    softQuotaBytes: 800_000,
    leaseDurationSeconds: expect.any(Number),
  });
  expect(exported.owner).toMatchObject({
    accountId: info.accountId,
    nickname: 'bob',
    sharetype: 'immutable',
  });
  expect(exported.record).toMatchObject({
    accountId: info.accountId,
    nickname: 'bob',
    status: 'normal',
    hardQuotaBytes: 1_000_000,
    softQuotaBytes: 800_000,
  });
});

it('the health example reports both up, then the database down as an operation saw it', async () => {
  const exported = await runExample(packageDir, health!);
  expect(exported.report).toMatchObject({ database: { up: true }, store: { up: true }, ok: true });
  expect(exported.during).toMatchObject({
    database: { up: false, error: 'connection refused' },
    store: { up: true },
    ok: false,
  });
  expect(exported.changes).toEqual([
    { dependency: 'database', up: false, error: 'connection refused' },
  ]);
});
