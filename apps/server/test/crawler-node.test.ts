import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { listBackups, PREFIXES } from '@ostrom/crawler';
import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import type { RunningNode } from '../src/server.js';
import { ostrom, ostromJson } from './helpers.js';
import { bytes, storageIndex } from './http-setup.js';
import {
  addAccount,
  createTestNode,
  describeFlavours,
  messages,
  SLOW,
  upload,
} from './node-harness.js';

// The crawler inside a running node: the start-up reconciliation, the background crawl and its
// reports (admin API, /metrics, `ostrom crawler status`), the periodic and shutdown backups, and
// what the node does when its SQLite database is deleted under it or found damaged at start-up.

const KEY_A = 'a1'.repeat(32);

async function admin(running: RunningNode, path: string): Promise<Response> {
  const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
  return await fetch(`${running.adminUrl}${path}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
}

interface CrawlerJson {
  cycle: number;
  prefixesDone: number;
  prefixesTotal: number;
  percent: number;
  etaSeconds: number | null;
  counters: Record<string, number>;
  history: { cycle: number; counters: Record<string, number> }[];
  background?: {
    enabled: boolean;
    running: boolean;
    holding: boolean;
    processId: string;
    lastError: string | null;
  };
  claim: { holder: string; claimedAt: number; expiresAt: number; live: boolean } | null;
  deletionHold: { until: number; restoredAt: number; reason: string; backup: string | null } | null;
  backups?: { intervalSeconds: number; kept: number; last: { name: string } | null } | null;
  databaseFile?: string | null;
}

describeFlavours('the crawler in a node', (flavour) => {
  it(
    'a new node reconciles before it serves, then its background crawl waits out the minimum cycle; the admin API, /metrics and `ostrom crawler status` report it',
    async () => {
      const node = await createTestNode(flavour);
      const running = await node.start();
      // No database yet: one full cycle over the (empty) store ran before the port opened.
      expect(running.recovery).toMatchObject({ reason: 'missing', restored: undefined });
      expect(running.recovery?.cycle).toMatchObject({ cycle: 1, counters: { examined: 0 } });
      // An empty store: no lease can have been lost, so deletion is not held.
      expect(running.recovery?.deletionHeld).toBe(false);
      // The background crawl holds the claim and waits: the start-up cycle began under an hour ago
      // (`min_cycle`), so no second cycle runs at once.
      await node.pacing.rested;
      await upload(node.client(running.nurl), running, storageIndex('one'), 0, bytes(1000));

      const response = await admin(running, '/admin/v1/crawler');
      expect(response.status).toBe(200);
      const status = (await response.json()) as CrawlerJson;
      expect(status).toMatchObject({
        cycle: 2,
        prefixesDone: 0,
        prefixesTotal: 1024,
        background: { enabled: true, running: true, holding: true, lastError: null },
        backups: { intervalSeconds: 3600, kept: 24, last: null },
        databaseFile: 'ok',
        deletionHold: null,
      });
      // This process holds the crawler's claim, under its [cluster] id (host name and port).
      expect(status.background?.processId).toMatch(new RegExp(`-${running.port}$`));
      expect(status.claim).toEqual({
        holder: status.background?.processId,
        claimedAt: node.clock.now(),
        expiresAt: node.clock.now() + 300,
        live: true,
      });
      expect(status.history.map((c) => c.cycle)).toEqual([1]);

      const metrics = await (await admin(running, '/metrics')).text();
      expect(metrics).toMatch(/^ostrom_crawler_cycle 2$/m);
      expect(metrics).toMatch(/^ostrom_crawler_last_cycle_count\{counter="examined"\} 0$/m);
      expect(metrics).toMatch(/^ostrom_crawler_last_cycle_finished_timestamp_seconds \d+$/m);

      // The CLI reads the same saved state, whether the node runs or not.
      const cli = await ostromJson<CrawlerJson>(['crawler', 'status', '-d', node.dir], {
        now: node.clock.now,
      });
      expect(cli).toEqual({
        ...status,
        background: undefined,
        backups: undefined,
        databaseFile: undefined,
      } satisfies CrawlerJson);
      const human = await ostrom(['crawler', 'status', '-d', node.dir]);
      expect(human.stdout).toContain('cycle 2: not started');
      expect(human.stdout).toContain('last cycles:');

      // Stopping backs the database up (the backup and the usage-snapshot timers were set).
      expect(node.timer.scheduled).toBe(2);
      await running.close();
      expect(node.timer.scheduled).toBe(0);
      const backend = await node.openBackend();
      expect(await listBackups(backend)).toHaveLength(1);
      const db = await node.openDb();
      // The start took the hour's usage snapshot (the panel's charts read them).
      expect((await db.getServerUsageHistory()).map((s) => s.at)).toEqual([
        Math.floor(node.clock.now() / 3600) * 3600,
      ]);
      expect(await db.listEvents({ kinds: ['backup-made'] })).toMatchObject([
        { actor: 'shutdown' },
      ]);
      expect((await ostromJson<CrawlerJson>(['crawler', 'status', '-d', node.dir])).cycle).toBe(2);
    },
    SLOW,
  );

  it(
    'a database deleted while the node runs: the node goes on with the open one, backs it up, and the next start restores it',
    async () => {
      // The background crawl is off: the start-up recovery runs all the same.
      const node = await createTestNode(flavour, { crawlerEnabled: false });
      const running = await node.start();
      const alice = await addAccount(node, running, KEY_A, 'alice');
      const [a, b, c] = [storageIndex('del-a'), storageIndex('del-b'), storageIndex('del-c')];
      await upload(node.client(alice.nurl), running, a, 0, bytes(3000, 1));
      await upload(node.client(running.nurl), running, b, 0, bytes(2000, 2));

      await rm(node.dbPath);
      // Still serving, on the database it has open.
      await upload(node.client(alice.nurl), running, c, 1, bytes(1000, 3));
      await node.timer.fire(); // the hourly backup
      expect(messages(node.logged, 50).join('\n')).toContain('deleted while the node runs');
      const status = (await (await admin(running, '/admin/v1/crawler')).json()) as CrawlerJson;
      expect(status.databaseFile).toBe('missing');
      expect(status.backups?.last?.name).toMatch(/^leasedb\/backup-\d{12}\.sqlite\.gz$/);

      // An operator command must not create an empty database in its place.
      const refused = await ostrom(['usage', '-d', node.dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^ostrom: the database .* is missing and the store holds 1 backup of it/,
      );

      node.clock.advance(10);
      await running.close(); // a second backup, at shutdown
      const again = await node.start();
      expect(again.recovery).toMatchObject({ reason: 'missing', skipped: [] });
      expect(again.recovery?.restored?.createdAt).toBe(node.clock.now());
      expect(again.recovery?.cycle.counters).toMatchObject({
        examined: 3,
        adopted: 0,
        vanished: 0,
      });
      // Leases renewed after that backup would be unknown: deletion is held for a lease and the grace.
      expect(again.recovery?.deletionHeld).toBe(true);
      const held = (await again.crawler.status()).deletionHold;
      expect(held).toEqual({
        until: node.clock.now() + (31 + 14) * 86_400,
        restoredAt: node.clock.now(),
        reason: 'missing',
        backup: again.recovery?.restored?.name,
      });
      expect(messages(node.logged, 40).join('\n')).toContain(
        'deletion of unleased shares is held until',
      );

      const db = await node.openDb();
      expect((await db.getShare(a, 0))?.ownerAccountId).toBe(alice.id);
      expect((await db.getShare(b, 0))?.ownerAccountId).toBe(ANONYMOUS_ACCOUNT_ID);
      expect((await db.getShare(c, 1))?.ownerAccountId).toBe(alice.id);
      expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 4000 });
      expect(await db.checkUsage()).toEqual([]);
      expect(await node.client(again.nurl).immutable.read(c, 1)).toEqual(bytes(1000, 3));
      expect(messages(node.logged, 30)).toContain('the database agrees with the store');
    },
    SLOW,
  );

  it(
    'a damaged database file is moved aside, the newest backup restored and reconciled before serving',
    async () => {
      const node = await createTestNode(flavour, { crawlerEnabled: false });
      let running = await node.start();
      const alice = await addAccount(node, running, KEY_A, 'alice');
      const si = storageIndex('damaged');
      await upload(node.client(alice.nurl), running, si, 0, bytes(5000, 4));
      await running.close();

      // 1. Not a database at all (the header overwritten): SQLite refuses to open it.
      const original = await readFile(node.dbPath);
      const garbled = Buffer.from(original);
      garbled.write('this is not SQLite', 0, 'latin1');
      await writeFile(node.dbPath, garbled);
      node.clock.advance(60);
      running = await node.start();
      expect(running.recovery).toMatchObject({ reason: 'damaged', skipped: [] });
      expect(running.recovery?.damage).toContain('SQLITE_NOTADB');
      const [aside] = running.recovery!.movedAside;
      expect(aside).toBe(`${node.dbPath}.damaged-${node.clock.now()}`);
      expect(await readFile(aside!)).toEqual(garbled); // kept as it was, never deleted
      expect(running.recovery?.restored).toBeDefined();
      expect(messages(node.logged, 50)).toContain('the database is damaged: moved it aside');
      let db = await node.openDb();
      expect((await db.getShare(si, 0))?.ownerAccountId).toBe(alice.id);
      await db.close();
      await running.close();

      // 2. Pages damaged: it opens, but fails SQLite's quick_check.
      const sound = await readFile(node.dbPath);
      const damaged = Buffer.from(sound);
      damaged.fill(0xa5, 4096, Math.min(damaged.length, 4 * 4096));
      await writeFile(node.dbPath, damaged);
      node.clock.advance(60);
      running = await node.start();
      expect(running.recovery?.reason).toBe('damaged');
      // With its -wal and -shm (a read-only look at a database in WAL mode leaves them).
      const base = `${node.dbPath}.damaged-${node.clock.now()}`;
      expect(running.recovery?.movedAside[0]).toBe(base);
      for (const moved of running.recovery!.movedAside) {
        expect([base, `${base}-wal`, `${base}-shm`]).toContain(moved);
      }
      db = await node.openDb();
      expect((await db.getShare(si, 0))?.ownerAccountId).toBe(alice.id);
      expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: 5000 });
      expect(await node.client(running.nurl).immutable.read(si, 0)).toEqual(bytes(5000, 4));
    },
    SLOW,
  );
});

it('a backup taken while the node crawled holds its claim: restored, that stale claim does not stop the next start', async () => {
  const node = await createTestNode('disk');
  const running = await node.start();
  await node.pacing.rested;
  const holder = (await running.crawler.status()).claim?.holder;
  expect(holder).toBeDefined();
  await node.timer.fire(); // a backup, with the claim in it
  node.clock.advance(10);
  await running.close();
  // As if the node had crashed then: no shutdown backup (which is made after the claim is
  // given up), and no database.
  const backend = await node.openBackend();
  const [shutdown] = await listBackups(backend);
  await backend.deleteBlob(shutdown!.name);
  for (const suffix of ['', '-wal', '-shm']) await rm(node.dbPath + suffix, { force: true });
  // Within the claim's five minutes, under another port (another process id).
  const again = await node.start();
  expect(again.recovery).toMatchObject({ reason: 'missing' });
  expect(again.recovery?.restored).toBeDefined();
  await node.pacing.rested;
  const status = await again.crawler.status();
  expect(status.claim?.holder).toBe(status.background?.processId);
  expect(status.claim?.holder).not.toBe(holder);
});

it('a database file replaced while the node runs: the log says the next start uses the new file, not the backup', async () => {
  const node = await createTestNode('disk', { crawlerEnabled: false });
  const running = await node.start();
  await upload(node.client(running.nurl), running, storageIndex('replaced'), 0, bytes(100));
  // Another file put in its place (an operator copying a database over it).
  await copyFile(node.dbPath, `${node.dbPath}.copy`);
  await rename(`${node.dbPath}.copy`, node.dbPath);
  await node.timer.fire();
  const logged = messages(node.logged, 50).join('\n');
  expect(logged).toContain('the database file was replaced while the node runs');
  expect(logged).toContain(`at its next start it will use the file now at ${node.dbPath} instead`);
  expect(logged).not.toContain('restart it to restore that backup');
  const status = (await (await admin(running, '/admin/v1/crawler')).json()) as CrawlerJson;
  expect(status.databaseFile).toBe('replaced');
  await running.close();
  // As said: the file in place is sound, so the next start takes it as it is.
  const again = await node.start();
  expect(again.recovery).toBeUndefined();
});

it('`ostrom crawler status` shows a cycle in progress: percent, ETA and counters', async () => {
  const node = await createTestNode('disk', { crawlerEnabled: false });
  const running = await node.start();
  await running.close();
  const db = await node.openDb();
  // Half the prefixes done in ten minutes: ten minutes to go.
  await db.saveCrawlerState({
    name: 'accounting',
    cycle: 2,
    position: PREFIXES[511]!,
    cycleStartedAt: node.clock.now() - 600,
    counters: { examined: 40, adopted: 3, bytes: 123_000 },
  });
  const io = { now: node.clock.now };
  const status = await ostromJson<CrawlerJson>(['crawler', 'status', '-d', node.dir], io);
  expect(status).toMatchObject({
    cycle: 2,
    prefixesDone: 512,
    percent: 50,
    etaSeconds: 600,
    counters: { examined: 40, adopted: 3, bytes: 123_000, deleted: 0 },
  });
  expect(status.history).toHaveLength(1);
  const human = (await ostrom(['crawler', 'status', '-d', node.dir], io)).stdout;
  expect(human).toContain('cycle 2: 50% (512/1024 prefixes), started ');
  expect(human).toContain('about 10 min left');
  expect(human).toMatch(/│ shares examined +│ 40 +│/);
  expect(human).toMatch(/│ bytes examined +│ 123 kB +│/);
  // The node stopped, and gave the crawler's claim up; the store was empty at its first start.
  expect(human).toContain('crawler: no process holds the claim (none is crawling)\n');
  expect(human).not.toContain('deletion held');

  // Another process crawls; then it stops renewing.
  await db.claimCrawler('accounting', 'node-b.example-3457', 300);
  const until = new Date((node.clock.now() + 300) * 1000).toISOString().replace('.000Z', 'Z');
  expect((await ostrom(['crawler', 'status', '-d', node.dir], io)).stdout).toContain(
    `crawler: process node-b.example-3457 crawls (since ${new Date(node.clock.now() * 1000).toISOString().replace('.000Z', 'Z')}; its claim runs until ${until} and is renewed while it crawls)`,
  );
  node.clock.advance(300);
  expect((await ostrom(['crawler', 'status', '-d', node.dir], io)).stdout).toContain(
    `crawler: process node-b.example-3457 stopped renewing its claim, which lapsed at ${until}; the next process to look takes over`,
  );

  // A restore holds deletion for a lease duration and the node's grace.
  await db.recordRestore({ reason: 'restore', backup: 'leasedb/backup-001797000000.sqlite.gz' });
  const restoredAt = node.clock.now();
  const shown = await ostromJson<CrawlerJson>(['crawler', 'status', '-d', node.dir], io);
  expect(shown.deletionHold).toEqual({
    until: restoredAt + (31 + 14) * 86_400,
    restoredAt,
    reason: 'restore',
    backup: 'leasedb/backup-001797000000.sqlite.gz',
  });
  expect((await ostrom(['crawler', 'status', '-d', node.dir], io)).stdout).toContain(
    `deletion held until ${new Date((restoredAt + (31 + 14) * 86_400) * 1000).toISOString().replace('.000Z', 'Z')}: the database was restored from leasedb/backup-001797000000.sqlite.gz`,
  );

  // An ETA just short of an hour reads as one, not as "60 min".
  await db.saveCrawlerState({
    name: 'accounting',
    cycle: 2,
    position: PREFIXES[511]!,
    cycleStartedAt: node.clock.now() - 3590,
    counters: {},
  });
  expect((await ostrom(['crawler', 'status', '-d', node.dir], io)).stdout).toContain(
    'about 1 h 0 min left',
  );
});
