import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDiskBackend } from '@ostrom/backend-disk';
import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { copyTahoeFixture, readTahoeManifest, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseConfig } from '../src/config.js';
import { ostrom, ostromJson } from './helpers.js';
import { createTestNode, T0 } from './node-harness.js';

// Adopting a Tahoe-LAFS storage directory in place (`ostrom init --adopt`): a copy of the
// fixture written by Tahoe-LAFS 1.20 itself (test-fixtures/tahoe-1.20-storage, never written
// to), whose manifest.json was read with Tahoe's own share parsers.

describe('ostrom init --adopt', () => {
  it('the first start adopts every share of a Tahoe-LAFS storage directory, with its sizes and leases, and serves the same bytes', async () => {
    const store = await copyTahoeFixture();
    const manifest = await readTahoeManifest(store);
    // The bytes each share holds, read from a second, untouched copy by the disk backend's own
    // container reader (what Tahoe would serve), independently of the node under test.
    const reference = await createDiskBackend({ root: await copyTahoeFixture() });
    onTestFinished(() => reference.close());

    const dir = join(await tempDir('adopt-'), 'node');
    const init = await ostromJson<{ adopted: string }>(['init', dir, '--adopt', store]);
    expect(init.adopted).toBe(store);
    expect(parseConfig(await readFile(join(dir, 'ostrom.toml'), 'utf8')).backend).toEqual({
      kind: 'disk',
      path: store,
    });

    // T0 is before the fixture's leases expire (Tahoe wrote them for 31 days).
    const node = await createTestNode('disk', {}, { dir, init: false });
    expect(node.clock.now()).toBe(T0);
    const running = await node.start();
    expect(running.recovery).toMatchObject({
      reason: 'missing',
      restored: undefined,
      cycle: { counters: { examined: manifest.length, adopted: manifest.length, corrupt: 0 } },
    });

    const db = await node.openDb();
    // Exactly the manifest's shares: no more (the count), no fewer, each with its data length.
    const counts = await db.countSharesByState();
    expect(counts.stable.shares).toBe(manifest.length);
    expect(counts.coming.shares + counts.going.shares).toBe(0);
    for (const share of manifest) {
      const row = await db.getShare(share.storage_index, share.shnum);
      expect(row, `${share.storage_index}/${share.shnum}`).toMatchObject({
        state: 'stable',
        sharetype: share.sharetype,
        usedBytes: share.data_length,
        ownerAccountId: null,
      });
      // One lease per account (the lease database's rule, as Tahoe's leases are per account
      // too): Tahoe's leases carry no account, so all of a share's leases are the anonymous
      // account's, which keeps the share as long as Tahoe would have: until the latest expires.
      const latest = Math.max(...share.leases.map((l) => l.expiration_time));
      const leases = await db.listLeases(share.storage_index, share.shnum);
      expect(leases.map((l) => [l.accountId, l.expiresAt])).toEqual([
        [ANONYMOUS_ACCOUNT_ID, latest],
      ]);
    }
    const total = manifest.reduce((sum, s) => sum + s.data_length, 0);
    expect(await db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({
      shares: manifest.length,
      bytes: total,
    });
    const adopted = await db.listEvents({ kinds: ['share-adopted'], limit: 1000 });
    expect(adopted).toHaveLength(manifest.length);
    expect(adopted.every((e) => e.data.leasedBy === 'embedded-lease')).toBe(true);

    // Every share reads back over the HTTP storage API exactly as the container holds it.
    const client = node.client(running.nurl);
    for (const share of manifest) {
      const expected = await reference.readShare(
        share.storage_index,
        share.shnum,
        0,
        share.data_length + 1,
      );
      expect(expected.length).toBe(share.data_length);
      const read = client[share.sharetype].read(share.storage_index, share.shnum);
      expect(await read, `${share.storage_index}/${share.shnum}`).toEqual(expected);
    }
    expect((await client.immutable.listShares('elfechxb2pbtaeqt5hboxprpxi')).sort()).toEqual([
      0, 1, 2, 3,
    ]);
  });

  it('takes the shares/ directory too; refuses a directory that is not a Tahoe storage directory', async () => {
    const store = await copyTahoeFixture();
    const dir = join(await tempDir('adopt-'), 'node');
    expect(
      (await ostromJson<{ adopted: string }>(['init', dir, '--adopt', join(store, 'shares')]))
        .adopted,
    ).toBe(store);

    const elsewhere = await tempDir('not-tahoe-');
    for (const args of [
      ['--adopt', elsewhere],
      ['--adopt', join(elsewhere, 'nothing')],
      ['--adopt', store, '--backend', 's3', '--s3-bucket', 'b'],
      ['--adopt', store, '--storage-path', 'storage'],
    ]) {
      const result = await ostrom(['init', join(elsewhere, 'node'), ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.split('\n')).toHaveLength(2); // one line
    }
    const notTahoe = await ostrom(['init', join(elsewhere, 'node'), '--adopt', elsewhere]);
    expect(notTahoe.stderr).toBe(
      `ostrom: --adopt: ${elsewhere} is not a Tahoe-LAFS storage directory (no shares/ in it): give the node's storage/ directory or its shares/\n`,
    );
  });
});
