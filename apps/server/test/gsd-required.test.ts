import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseIntroduction, parseReadCap } from '@ostrom/gsd-client';
import { createStorageClient, parseNurl, storageIndexFromBytes } from '@ostrom/protocol';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { type GridNode, gridNodes, gridServers } from './gsd-harness.js';
import { ostrom, outcome } from './helpers.js';

// A grid whose every server is in accounting mode `required` (only accounts may write), over
// HTTPS on loopback: each node still takes the grid's own anonymous writes — the directory of
// its introduction, its own announcement, the announcements its directory lists — made as its
// `grid directory` account, so the directory and all three announcements end up on every
// server and a client sees all three servers; any other anonymous write, and an immutable
// upload even to the directory's storage index, is refused with 403.

function storageIndexOf(seed: string): string {
  return storageIndexFromBytes(createHash('sha256').update(seed).digest().subarray(0, 16));
}

function secret(bytes: number): Uint8Array {
  return new Uint8Array(randomBytes(bytes));
}

async function checkAll(nodes: readonly GridNode[]): Promise<void> {
  for (const n of nodes) await n.running!.gsd.check();
}

describe('grid service directory: three servers in mode required', () => {
  it('every server holds the directory and every announcement; other anonymous writes are refused', async () => {
    const nodes = await gridNodes(3, { mode: 'required' });
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    await a.start();
    // Through its `grid directory` account: the running node knew no directory at start.
    const created = await a.cli(['gsd', 'create', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const { introduction } = JSON.parse(created.stdout) as { introduction: string };
    for (const n of nodes) await n.configure('introduction', JSON.stringify(introduction));
    await a.stop();
    for (const n of nodes) await n.start();
    await checkAll(nodes);

    // Each node holds its own announcement, before the directory lists it: the others refuse it.
    const readcaps: string[] = [];
    for (const n of nodes) {
      const shown = await n.cli(['gsd', 'announcement', '--json']);
      const { readcap, published } = JSON.parse(shown.stdout) as {
        readcap: string;
        published: boolean;
      };
      expect(published).toBe(true);
      readcaps.push(readcap);
    }
    const siOf = (readcap: string) => parseReadCap(readcap).storageIndex;
    expect(
      await b.running!.accountant.anonymous().listShares('mutable', siOf(readcaps[1]!)),
    ).toEqual([0]);
    expect(
      await a.running!.accountant.anonymous().listShares('mutable', siOf(readcaps[1]!)),
    ).toEqual([]);
    const unlisted = await a.cli(['gsd', 'add-announcement', readcaps[1]!, '--json']);
    expect(unlisted.code).toBe(1);
    expect(unlisted.stderr).toMatch(/--from/);
    for (const [i, n] of nodes.entries()) {
      const added = await a.cli([
        'gsd',
        'add-announcement',
        readcaps[i]!,
        '--from',
        n.running!.nurl,
      ]);
      expect(added.stderr).toBe('');
      expect(added.code).toBe(0);
    }

    // A server admits a listed announcement at its next check: two rounds bring every copy.
    await checkAll(nodes);
    await checkAll(nodes);
    for (const n of nodes) {
      const status = n.running!.gsd.status();
      expect(status.lastError).toBeNull();
      expect(status.directory).toMatchObject({ listed: 3, listsThisNode: true, problems: [] });
      const copies = status.announcement!.servers.map((s) => [s.nurl, s.state]);
      expect(copies.sort()).toEqual(nodes.map((m) => [m.running!.nurl, 'current']).sort());
    }
    // The directory's holder renewed its leases everywhere and finds it current everywhere.
    const writer = a.running!.gsd.status().directoryWriter!;
    expect(writer.failed).toEqual([]);
    expect(writer.servers.map((s) => s.state)).toEqual(['current', 'current', 'current']);

    // On every server, the four slots are the `grid directory` account's, not the anonymous one's.
    const slots = [parseIntroduction(introduction).readcap, ...readcaps].map(siOf);
    for (const n of nodes) {
      const { accountant } = n.running!;
      const id = (await accountant.directoryAccountId())!;
      const info = await accountant.account(id).info();
      expect(info).toMatchObject({ nickname: 'grid directory', hardQuotaBytes: 8 * 1024 * 1024 });
      expect(info.usage.shares).toBe(4);
      expect((await accountant.anonymous().info()).usage).toEqual({ shares: 0, bytes: 0 });
      for (const si of slots) {
        expect(await accountant.anonymous().listShares('mutable', si)).toEqual([0]);
      }
    }

    // A client reads all three servers from the grid.
    const state = join(await tempDir('gsd-required-client-'), 'grid');
    const joined = await ostrom(['grid', 'join', introduction, '--state', state, '--json']);
    expect(joined.code).toBe(0);
    const servers = await gridServers(state);
    expect(servers.servers.map((s) => [s.petname, s.reachable])).toEqual([
      ['node-a', true],
      ['node-b', true],
      ['node-c', true],
    ]);
    expect(servers.problems).toEqual([]);

    // Any other anonymous write is refused over HTTPS, as is an immutable upload at all.
    const client = createStorageClient({ nurl: parseNurl(c.running!.nurl) });
    try {
      const lease = { renewSecret: secret(32), cancelSecret: secret(32) };
      const write = (si: string) =>
        client.mutable.readTestWrite(si, {
          ...lease,
          writeEnabler: secret(32),
          testWriteVectors: new Map([
            [0, { test: [], write: [{ offset: 0, data: secret(100) }], newLength: null }],
          ]),
          readVector: [],
        });
      expect(await outcome(write(storageIndexOf('not a slot of the grid')))).toBe(403);
      for (const si of [storageIndexOf('an upload'), slots[0]!]) {
        const upload = client.immutable.allocate(si, {
          ...lease,
          uploadSecret: secret(32),
          shareNumbers: [1],
          allocatedSize: 100,
        });
        expect(await outcome(upload)).toBe(403);
      }
      expect(await outcome(client.addOrRenewLease(storageIndexOf('an upload'), lease))).toBe(403);
      // The grid's own slots: read by anyone, leased through the anonymous NURL.
      expect(await outcome(client.addOrRenewLease(slots[1]!, lease))).toBe('ok');
    } finally {
      client.close();
    }
    for (const n of nodes) await n.stop();
  });
});
