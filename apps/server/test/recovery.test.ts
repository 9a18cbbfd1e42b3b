import { rm } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { ostrom } from './helpers.js';
import { bytes, storageIndex } from './http-setup.js';
import { addAccount, configure, createTestNode, upload } from './node-harness.js';

// The upgrade to account records: a node started with them writes the missing ones before it
// serves, so that a database lost afterwards keeps every NURL. (Looking at a database file
// without changing it is @ostrom/leasedb's inspectSqliteFile, tested there.)

it('after the upgrade to account records, a database lost keeps every NURL, accounts without shares included', async () => {
  const node = await createTestNode('disk', { crawlerEnabled: false });
  await configure(node.dir, 'backup_interval', '0');
  let running = await node.start();
  const alice = await addAccount(node, running, 'a1'.repeat(32), 'alice');
  const bob = await addAccount(node, running, 'b2'.repeat(32), 'bob');
  await upload(node.client(alice.nurl), running, storageIndex('upgrade'), 0, bytes(300));
  const frozen = await ostrom(['accounts', 'freeze', String(bob.id), '-d', node.dir]);
  expect(frozen.code, frozen.stderr).toBe(0);
  await running.close();
  // The store as a node of an earlier version left it: owner records, no account records.
  const backend = await node.openBackend();
  for (const name of await backend.listBlobs('accounts/')) await backend.deleteBlob(name);

  // The upgraded node writes them before it serves.
  running = await node.start();
  expect(await backend.listBlobs('accounts/')).toEqual(
    [0, 1, alice.id, bob.id].map((id) => `accounts/${id}`).sort(),
  );
  await running.close();

  for (const suffix of ['', '-wal', '-shm']) await rm(node.dbPath + suffix, { force: true });
  running = await node.start();
  expect(running.recovery).toMatchObject({ reason: 'missing' });
  for (const [account, name, status] of [
    [alice, 'alice', 'normal'],
    [bob, 'bob', 'frozen'],
  ] as const) {
    const info = await node.client(running.nurlFor(account.id)).accounting.getAccount();
    expect([info.accountId, info.nickname, info.status]).toEqual([account.id, name, status]);
  }
});
