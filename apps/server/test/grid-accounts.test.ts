import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageClient, parseNurl } from '@ostrom/protocol';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type GridNode, oneNodeGrid, threeNodeGrid } from './gsd-harness.js';
import { ostrom } from './helpers.js';
import { bytes, secrets, storageIndex } from './http-setup.js';

// A client's accounts across a grid, end to end: three real nodes over HTTPS (node-a with
// accounting `enabled` and the directory, node-b `required` with manual approval, node-c stopped
// when the client joins), a Tahoe-LAFS node directory with an entry of the user's own in its
// servers.yaml, and the `ostrom grid join --tahoe-dir`, `sync`, `usage` and `lease-duration`
// commands run in this process on the nodes' clock.

interface Account {
  serverId: string;
  petname: string;
  status: string;
  accountNurl?: string;
  accountId?: number;
  reason?: string;
}
interface Synced {
  accounts: Account[];
  serversYaml: {
    path: string;
    changed: boolean;
    accountNurls: number;
    anonymousNurls: number;
    keptYourEntries: string[];
    removed: string[];
  };
}

/** The storage: block of a servers.yaml: server id → the NURLs a Tahoe client would use. */
async function nurlsIn(path: string): Promise<Record<string, string[]>> {
  const doc = parseYaml(await readFile(path, 'utf8'), { version: '1.1' }) as {
    storage: Record<string, { ann: { 'anonymous-storage-NURLs': string[] } }>;
  };
  return Object.fromEntries(
    Object.entries(doc.storage).map(([id, e]) => [id, e.ann['anonymous-storage-NURLs']]),
  );
}

const HAND_ENTRY = `storage:
  v0-my-own-server:
    ann:
      nickname: mine # written by hand
      anonymous-storage-NURLs: ["pb://AAAA@127.0.0.1:1/swiss#v=1"]
`;

/** Three nodes listed in node-a's directory, node-b in mode required; the feed on a and b. */
function grid() {
  return threeNodeGrid({
    async before([a, b]) {
      await b!.configure('mode', '"required"');
      await a!.configure('feed', 'true');
      await b!.configure('feed', 'true');
    },
  });
}

/** Uploads one immutable share of `size` bytes through `nurl`. */
async function upload(nurl: string, seed: string, size: number): Promise<void> {
  const client = createStorageClient({ nurl });
  try {
    const si = storageIndex(seed);
    const s = secrets(seed);
    await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: size });
    await client.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: bytes(size),
    });
  } finally {
    client.close();
  }
}

describe('grid accounts: join --tahoe-dir, sync, usage, lease-duration', () => {
  it('joins with an account where one is granted, follows approvals, new and removed servers, and reports exact usage', async () => {
    const { nodes, introduction } = await grid();
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    const ids = nodes.map((n) => n.running!.node.serverId);
    const anonymous = nodes.map((n) => n.running!.nurl);
    await c.stop();

    const home = await tempDir('grid-accounts-');
    const state = join(home, 'grid');
    const key = join(home, 'account.key');
    const tahoe = join(home, 'tahoe');
    await mkdir(join(tahoe, 'private'), { recursive: true });
    await writeFile(join(tahoe, 'tahoe.cfg'), '[client]\n');
    const yamlPath = join(tahoe, 'private', 'servers.yaml');
    await writeFile(yamlPath, HAND_ENTRY);
    const io = { now: a.test.clock.now };
    const cli = (args: string[]) => ostrom(args, io);
    const base = ['--state', state];

    // --- join: node-a grants an account at once, node-b holds it pending, node-c is down.
    const joined = await cli([
      'grid',
      'join',
      introduction,
      ...base,
      '--tahoe-dir',
      tahoe,
      '--nickname',
      'alice',
      '--key',
      key,
      '--json',
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const j = JSON.parse(joined.stdout) as Synced & { nickname: string };
    expect(j.nickname).toBe('alice');
    expect(j.accounts.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'active'],
      ['node-b', 'pending'],
      ['node-c', 'unreachable'],
    ]);
    expect(j.accounts[1]!.reason).toMatch(/approval/);
    expect(j.accounts[2]!.reason).toMatch(/cannot reach it/);
    const accountA = j.accounts[0]!.accountNurl!;
    expect(parseNurl(accountA).swissnum).not.toBe(parseNurl(anonymous[0]!).swissnum);
    expect(j.serversYaml).toMatchObject({ changed: true, accountNurls: 1, anonymousNurls: 2 });
    let nurls = await nurlsIn(yamlPath);
    expect(nurls).toEqual({
      'v0-my-own-server': ['pb://AAAA@127.0.0.1:1/swiss#v=1'],
      [ids[0]!]: [accountA],
      [ids[1]!]: [anonymous[1]],
      [ids[2]!]: [anonymous[2]],
    });
    // The user's own entry is kept as written, comment and all; the file is private.
    const text = await readFile(yamlPath, 'utf8');
    expect(text).toContain('nickname: mine # written by hand');
    // The same person on the operator's side: node-a's account for that key, named alice.
    const shown = JSON.parse(
      (await a.cli(['accounts', 'show', String(j.accounts[0]!.accountId), '--json'])).stdout,
    ) as { nickname: string };
    expect(shown.nickname).toBe('alice');

    // --- the operator of node-b approves; node-c starts; sync adds both with account NURLs.
    const listed = JSON.parse((await b.cli(['accounts', 'list', '--json'])).stdout) as {
      id: number;
      nickname: string;
      status: string;
    }[];
    const pendingId = listed.find((x) => x.nickname === 'alice')!;
    expect(pendingId.status).toBe('pending');
    expect((await b.cli(['accounts', 'approve', String(pendingId.id)])).code).toBe(0);
    await c.start();
    const synced = await cli(['grid', 'sync', ...base, '--json']);
    expect(synced.code, synced.stderr).toBe(0);
    const s = JSON.parse(synced.stdout) as Synced;
    expect(s.accounts.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'active'],
      ['node-b', 'active'],
      ['node-c', 'active'],
    ]);
    // The same account on node-a as at the join: one key, one account.
    expect(s.accounts[0]!.accountNurl).toBe(accountA);
    expect(s.serversYaml).toMatchObject({ changed: true, accountNurls: 3, anonymousNurls: 0 });
    nurls = await nurlsIn(yamlPath);
    expect(Object.keys(nurls)).toEqual(['v0-my-own-server', ...ids]);
    for (const [i, id] of ids.entries()) expect(nurls[id]).toEqual([s.accounts[i]!.accountNurl]);

    // `grid servers --yaml` prints the same NURLs.
    const printed = await cli(['grid', 'servers', ...base, '--yaml']);
    expect(printed.stdout).toContain(s.accounts[1]!.accountNurl!);
    expect(printed.stdout).not.toContain(anonymous[1]!);

    // Nothing changed: servers.yaml is left alone (not even replaced by the same text: the
    // same inode) and the user is told so.
    const textBefore = await readFile(yamlPath, 'utf8');
    const inodeBefore = (await stat(yamlPath)).ino;
    const again = await cli(['grid', 'sync', ...base]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /servers\.yaml is up to date \(3 account NURL\(s\), 0 anonymous\)/,
    );
    expect(await readFile(yamlPath, 'utf8')).toBe(textBefore);
    expect((await stat(yamlPath)).ino).toBe(inodeBefore);

    // --- usage: exactly what was stored through each account NURL, and the sum.
    const sizes = [1000, 2500, 700];
    for (const [i, size] of sizes.entries()) {
      await upload(s.accounts[i]!.accountNurl!, `usage-${i}`, size);
    }
    await upload(s.accounts[0]!.accountNurl!, 'usage-a-2', 300);
    // The anonymous account's uploads are not the client's.
    await upload(anonymous[0]!, 'usage-anonymous', 4000);
    const usage = await cli(['grid', 'usage', ...base, '--json']);
    expect(usage.code, usage.stderr).toBe(0);
    const u = JSON.parse(usage.stdout) as {
      servers: { petname: string; status: string; account: { shares: number; bytes: number } }[];
      total: { servers: number; shares: number; bytes: number };
    };
    expect(u.servers.map((r) => [r.petname, r.status, r.account.shares])).toEqual([
      ['node-a', 'read', 2],
      ['node-b', 'read', 1],
      ['node-c', 'read', 1],
    ]);
    const bytesA = u.servers[0]!.account.bytes;
    // A share's bytes are its data plus the share file's header (the same per share).
    const overhead = u.servers[1]!.account.bytes - 2500;
    expect(overhead).toBeGreaterThanOrEqual(0);
    expect(u.servers[2]!.account.bytes).toBe(700 + overhead);
    expect(bytesA).toBe(1300 + 2 * overhead);
    expect(u.total).toEqual({ servers: 3, shares: 4, bytes: 4500 + 4 * overhead });
    const human = await cli(['grid', 'usage', ...base]);
    expect(human.stdout).toMatch(/total: 4 share\(s\), .* on 3 server\(s\)/);

    // --- the grid's feed: node-a's and node-b's merged, node-c's off.
    const feed = await cli(['grid', 'feed', ...base, '--json']);
    expect(feed.code, feed.stderr).toBe(0);
    const f = JSON.parse(feed.stdout) as {
      servers: { petname: string; status: string }[];
      digest: string[];
      accounts: { nickname: string; bytes: number; where: { petname: string; bytes: number }[] }[];
      totals: { servers: number };
      newServers: string[];
    };
    expect(f.servers.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'read'],
      ['node-b', 'read'],
      ['node-c', 'off'],
    ]);
    expect(f.totals.servers).toBe(2);
    expect(f.newServers).toEqual([]);
    const alice = f.accounts.find((x) => x.nickname === 'alice')!;
    expect(alice.where).toEqual([
      { petname: 'node-b', bytes: 2500 + overhead },
      { petname: 'node-a', bytes: 1300 + 2 * overhead },
    ]);
    expect(alice.bytes).toBe(3800 + 3 * overhead);
    expect(f.digest.length).toBeGreaterThan(0);
    expect(f.digest.every((line) => /^node-[ab]: /.test(line))).toBe(true);
    const feedText = await cli(['grid', 'feed', ...base]);
    expect(feedText.stdout).toMatch(/no feed from node-c: its feed is not on/);
    expect(feedText.stdout).toMatch(/alice .*node-b .*node-a/);

    // --- lease duration: each server answers within its own bounds.
    const lease = await cli(['grid', 'lease-duration', '40d', ...base, '--json']);
    expect(lease.code, lease.stderr).toBe(0);
    const l = JSON.parse(lease.stdout) as {
      servers: { petname: string; outcome: string; leaseDurationSeconds: number }[];
    };
    expect(l.servers.map((r) => [r.petname, r.outcome, r.leaseDurationSeconds])).toEqual([
      ['node-a', 'granted', 40 * 86_400],
      ['node-b', 'granted', 40 * 86_400],
      ['node-c', 'granted', 40 * 86_400],
    ]);
    const after = JSON.parse((await cli(['grid', 'usage', ...base, '--json'])).stdout) as {
      servers: { account: { leaseDurationSeconds: number } }[];
    };
    expect(after.servers.map((r) => r.account.leaseDurationSeconds)).toEqual([
      40 * 86_400,
      40 * 86_400,
      40 * 86_400,
    ]);
    const clamped = JSON.parse(
      (await cli(['grid', 'lease-duration', '100y', ...base, '--json'])).stdout,
    ) as { servers: { outcome: string; leaseDurationSeconds: number }[] };
    expect(clamped.servers.map((r) => r.outcome)).toEqual(['clamped', 'clamped', 'clamped']);
    expect(clamped.servers[0]!.leaseDurationSeconds).toBeLessThan(100 * 365 * 86_400);

    // --- node-c goes down: its account NURL is kept (a server's outage takes nothing away).
    await c.stop();
    const down = JSON.parse((await cli(['grid', 'sync', ...base, '--json'])).stdout) as Synced;
    expect(down.accounts[2]).toMatchObject({
      status: 'active',
      accountNurl: s.accounts[2]!.accountNurl,
    });
    expect(down.accounts[2]!.reason).toMatch(/did not answer/);
    expect(down.serversYaml.changed).toBe(false);
    const usageDown = await cli(['grid', 'usage', ...base, '--json']);
    expect(usageDown.code).toBe(1);
    expect(
      (JSON.parse(usageDown.stdout) as { servers: { status: string }[] }).servers.map(
        (r) => r.status,
      ),
    ).toEqual(['read', 'read', 'unreachable']);

    // --- the directory drops node-b: sync removes it, and keeps the user's entry.
    // (exit 1: node-c, down, missed the write; node-a and node-b took it)
    const dropped = await a.cli(['gsd', 'remove-announcement', 'node-b']);
    expect(dropped.stdout, dropped.stderr).toMatch(/^removed/);
    await a.running!.gsd.check();
    const removed = JSON.parse(
      (await cli(['grid', 'sync', ...base, '--json'])).stdout,
    ) as Synced & {
      changes: { removed: string[] };
    };
    expect(removed.changes.removed).toEqual(['node-b']);
    expect(removed.accounts.map((x) => x.petname)).toEqual(['node-a', 'node-c']);
    expect(removed.serversYaml).toMatchObject({ changed: true, removed: [ids[1]] });
    expect(Object.keys(await nurlsIn(yamlPath))).toEqual(['v0-my-own-server', ids[0], ids[2]]);
    expect(await readFile(yamlPath, 'utf8')).toContain('nickname: mine # written by hand');

    for (const n of nodes) await n.stop();
  });

  it('refuses bad input before asking any server, and every command without a join says what to run', async () => {
    const { node: a, introduction } = await oneNodeGrid();

    const home = await tempDir('grid-accounts-bad-');
    const state = join(home, 'grid');
    const tahoe = join(home, 'tahoe');
    await mkdir(join(tahoe, 'private'), { recursive: true });
    await writeFile(join(tahoe, 'tahoe.cfg'), '[client]\n');
    const key = join(home, 'account.key');
    const sleeps: number[] = [];
    const io = {
      now: a.test.clock.now,
      // --watch's pause: the test ends the loop at its third pause.
      sleep: async (ms: number) => {
        sleeps.push(ms);
        if (sleeps.length === 3) throw new Error('stop watching');
      },
    };
    const cli = (args: string[]) => ostrom(args, io);
    const base = ['--state', state];
    const join_ = (more: string[]) =>
      cli(['grid', 'join', introduction, ...base, '--tahoe-dir', tahoe, '--key', key, ...more]);

    // Commands that need a join say which join.
    for (const args of [['sync'], ['usage'], ['lease-duration', '30d'], ['feed']]) {
      const r = await cli(['grid', ...args, ...base]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/no grid joined|run `ostrom grid join/);
    }
    // Arguments: a bad introduction, options that need --tahoe-dir, a bad duration or nickname.
    for (const [args, message] of [
      [['grid', 'join', 'not-an-introduction', ...base, '--tahoe-dir', tahoe], /introduction/],
      [['grid', 'join', introduction, ...base, '--nickname', 'bob'], /go with --tahoe-dir/],
      [['grid', 'join', introduction, ...base, '--tahoe-dir', tahoe, '--nickname', ''], /nickname/],
      [
        ['grid', 'join', introduction, ...base, '--tahoe-dir', home],
        /not a Tahoe-LAFS node directory/,
      ],
      [['grid', 'lease-duration', 'soon', ...base], /not a duration/],
      [['grid', 'sync', '--interval', '1m', ...base], /goes with --watch/],
      [['grid', 'sync', '--watch', '--interval', '5s', ...base], /at least 10s/],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // A key file that cannot be read (here a directory) or is not a key: refused, nothing kept.
    await mkdir(join(home, 'key-dir'));
    const unreadable = await cli([
      'grid',
      'join',
      introduction,
      ...base,
      '--tahoe-dir',
      tahoe,
      '--key',
      join(home, 'key-dir'),
    ]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toMatch(/cannot read the account key .*key-dir: EISDIR/);
    await writeFile(join(home, 'bad.key'), 'not a key\n');
    const damaged = await cli([
      'grid',
      'join',
      introduction,
      ...base,
      '--tahoe-dir',
      tahoe,
      '--key',
      join(home, 'bad.key'),
    ]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/is not an Ostrom account key/);
    await expect(readFile(join(state, 'introduction'), 'utf8')).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(tahoe, 'private', 'servers.yaml'), 'utf8')).rejects.toThrow(
      /ENOENT/,
    );

    // No server reachable: the join fails and writes nothing (no key either).
    await a.stop();
    const nobody = await join_(['--json']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/none of its servers answered/);
    await expect(readFile(key, 'utf8')).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(tahoe, 'private', 'servers.yaml'), 'utf8')).rejects.toThrow(
      /ENOENT/,
    );
    await a.start();

    // The join, in words for a person: the key made, the account, servers.yaml written.
    const joined = await join_([]);
    expect(joined.code, joined.stderr).toBe(0);
    expect(joined.stderr).toContain(`created the account key ${key}`);
    expect(joined.stdout).toMatch(/node-a\s*│\s*active \(\d+\)\s*│\s*account\s/);
    expect(joined.stdout).toMatch(
      /wrote .*servers\.yaml \(1 account NURL\(s\), 0 anonymous\): restart/,
    );

    // --watch: a round, a round that fails (servers.yaml damaged by hand: left as it is), then a
    // round after the user fixed it; each pause is the interval.
    const yamlPath = join(tahoe, 'private', 'servers.yaml');
    const good = await readFile(yamlPath, 'utf8');
    let rounds = 0;
    const watching = ostrom(['grid', 'sync', '--watch', '--interval', '15m', ...base, '--json'], {
      ...io,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        rounds++;
        if (rounds === 1) await writeFile(yamlPath, 'storage: [');
        if (rounds === 2) await writeFile(yamlPath, good);
        if (rounds === 3) throw new Error('stop watching');
      },
    });
    const watched = await watching;
    expect(watched.code).toBe(1);
    expect(sleeps).toEqual([900_000, 900_000, 900_000]);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Synced);
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.serversYaml.changed)).toEqual([false, false]);
    expect(watched.stderr).toMatch(/servers\.yaml: servers\.yaml is not YAML/);
    expect(watched.stderr).toMatch(/stop watching/);

    // A damaged servers.yaml is never overwritten.
    await writeFile(yamlPath, 'storage: [');
    const refused = await cli(['grid', 'sync', ...base]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/fix it or move it away/);
    expect(await readFile(yamlPath, 'utf8')).toBe('storage: [');
    await writeFile(yamlPath, good);

    // The key is gone: sync refuses rather than make a new identity.
    await rm(key);
    const keyless = await cli(['grid', 'sync', ...base]);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toMatch(/account key .* is gone/);
    await a.stop();
  });
});
