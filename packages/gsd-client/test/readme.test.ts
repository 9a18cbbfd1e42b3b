import { fileURLToPath } from 'node:url';
import { readmeExamples, runExample } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';
import type { GridMemberStatus, GridView } from '../src/index.js';

// The README's examples run as written, on memory servers: what they export is what they claim.

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const examples = readmeExamples(`${packageDir}README.md`);

it('the README has its three examples', () => {
  expect(examples).toHaveLength(3);
});

it('the first example publishes a directory of one node that a client turns into servers.yaml', async () => {
  const exported = await runExample(packageDir, examples[0]!);
  const changes = exported.changes as { added: { petname: string; reachable: boolean }[] }[];
  expect(changes).toHaveLength(1);
  expect(changes[0]!.added).toEqual([expect.objectContaining({ petname: 'n1', reachable: true })]);
  expect(exported.yaml).toMatch(/^storage:\n {2}"?v0-[a-z2-7]{52}"?:\n/);
  expect(exported.yaml).toContain('"n1"');
});

it('the second example’s node announces itself and keeps the directory, which then lists it', async () => {
  const exported = await runExample(packageDir, examples[1]!);
  const status = exported.status as GridMemberStatus;
  expect(status.lastError).toBeNull();
  expect(status.announcement).toMatchObject({ seqnum: 1, lastReason: 'not published yet' });
  expect(status.announcement!.servers.map((c) => c.state)).toEqual(['current', 'current']);
  // This node only: the directory lists no server yet.
  expect(status.directoryWriter!.renewed).toHaveLength(1);
  const view = exported.view as GridView;
  expect(view.entries).toEqual([
    expect.objectContaining({ petname: 'n1', answering: true, problem: undefined }),
  ]);
  expect(view.entries[0]!.announcement?.body.nickname).toBe('n1');
});

it("the third example merges an account NURL into a person's servers.yaml, then removes it", async () => {
  const exported = await runExample(packageDir, examples[2]!);
  const withAccount = exported.withAccount as string;
  expect(withAccount).toContain('nickname: mine # by hand');
  expect(withAccount).toContain('"pb://pin@a.example.net:3457/account-swissnum#v=1"');
  expect(withAccount).not.toContain('anonymous-swissnum');
  expect(exported.written).toEqual(['v0-grid-server']);
  expect(exported.dropped).toBe(
    'storage:\n  v0-my-own-server:\n    ann:\n      nickname: mine # by hand\n',
  );
});
