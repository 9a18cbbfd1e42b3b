import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { backupName, listBackups } from '@ostrom/crawler';
import { ANONYMOUS_ACCOUNT_ID, type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { createScratchSchema, postgresUrl, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { initNode, loadNode } from '../src/node-dir.js';
import { openNodeBackend, startNode } from '../src/server.js';
import { ostrom, ostromJson } from './helpers.js';
import { bytes, storageIndex } from './http-setup.js';
import { addAccount, configure, describeFlavours, S3, SLOW, upload } from './node-harness.js';
import { nodeInMemory, nodeWithoutAutomaticBackups, type RebuildJson } from './rebuild-setup.js';

// Rebuilding a node's lease database from what the store holds: the newest backup, then one
// full reconciliation that adopts every share stored since with its owner record (the same
// account, found by its public key, or made again from the record), and removes what vanished.
// With no backup at all, the store alone gives back every share, lease and owner. `ostrom db
// rebuild`, `db restore`, `db backup` and `db backups`, run in-process as cli.test.ts does.
// Every account's NURL across these: rebuild.test.ts.

const KEY_A = 'a1'.repeat(32);
const KEY_B = 'b2'.repeat(32);

/** Each share's owner, and each account's usage, as the database says. */
async function ownership(db: LeaseDb, shares: [string, number][]) {
  const owners = await Promise.all(
    shares.map(async ([si, shnum]) => (await db.getShare(si, shnum))?.ownerAccountId),
  );
  return owners;
}

describeFlavours('rebuilding the lease database', (flavour) => {
  it(
    '`ostrom db rebuild` restores the newest backup, then adopts the shares stored since with their owners',
    async () => {
      const node = await nodeWithoutAutomaticBackups(flavour);
      const io = { now: node.clock.now };
      let running = await node.start();
      const alice = await addAccount(node, running, KEY_A, 'alice');
      expect(
        (await ostrom(['accounts', 'set-quota', String(alice.id), '--hard', '1GB', '-d', node.dir]))
          .code,
      ).toBe(0);
      const [a, b, c, d] = ['rb-a', 'rb-b', 'rb-c', 'rb-d'].map(storageIndex) as [
        string,
        string,
        string,
        string,
      ];
      await upload(node.client(alice.nurl), running, a, 0, bytes(3000, 1));
      const backup = await ostromJson<{ name: string }>(['db', 'backup', '-d', node.dir], io);
      expect(backup.name).toBe(backupName(node.clock.now()));

      // After the backup: alice stores again, bob's account is made and stores, anonymous stores.
      node.clock.advance(600);
      await upload(node.client(alice.nurl), running, b, 2, bytes(2000, 2));
      const bob = await addAccount(node, running, KEY_B, 'bob');
      await upload(node.client(bob.nurl), running, c, 0, bytes(1500, 3));
      await upload(node.client(running.nurl), running, d, 1, bytes(500, 4));
      await running.close();

      const rebuilt = await ostrom(['db', 'rebuild', '-d', node.dir, '--json'], io);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      const report = JSON.parse(rebuilt.stdout) as RebuildJson;
      expect(report.restored?.name).toBe(backup.name);
      expect(report.movedAside).toEqual([`${node.dbPath}.replaced-${node.clock.now()}`]);
      expect(report.cycle.counters).toMatchObject({
        examined: 4,
        adopted: 3,
        vanished: 0,
        corrupt: 0,
      });
      // Progress goes to stderr a line per tenth (stderr is no terminal here).
      expect(rebuilt.stderr).toContain(
        'reconciling: 100% (1024/1024 prefixes), 4 shares examined, 3 adopted',
      );

      const db = await node.openDb();
      const aliceNow = await db.getAccountByPublicKey(KEY_A);
      const bobNow = await db.getAccountByPublicKey(KEY_B);
      // alice is the account of the backup (same id, her quota kept); bob, made after the
      // backup, is made again from his owner records, with his public key and nickname.
      expect(aliceNow).toMatchObject({ id: alice.id, nickname: 'alice', hardQuotaBytes: 1e9 });
      expect(bobNow).toMatchObject({ nickname: 'bob', status: 'normal' });
      expect(
        await ownership(db, [
          [a, 0],
          [b, 2],
          [c, 0],
          [d, 1],
        ]),
      ).toEqual([alice.id, alice.id, bobNow!.id, ANONYMOUS_ACCOUNT_ID]);
      expect((await db.listLeases(b, 2)).map((l) => l.accountId)).toEqual([alice.id]);
      expect(await db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 5000 });
      expect(await db.getAccountUsage(bobNow!.id)).toEqual({ shares: 1, bytes: 1500 });
      expect(await db.checkUsage()).toEqual([]);
      await db.close();

      // Reconciled: the next start serves at once, and the shares read back.
      running = await node.start();
      expect(running.recovery).toBeUndefined();
      expect(await node.client(running.nurl).immutable.read(c, 0)).toEqual(bytes(1500, 3));
    },
    3 * SLOW,
  );

  it(
    'with no backup at all, the start-up recovery and `ostrom db rebuild` give back every share, lease and owner from the store',
    async () => {
      const node = await nodeWithoutAutomaticBackups(flavour);
      const io = { now: node.clock.now };
      let running = await node.start();
      const alice = await addAccount(node, running, KEY_A, 'alice');
      const bob = await addAccount(node, running, KEY_B, 'bob');
      const shares: [string, number][] = [
        [storageIndex('nb-a'), 0],
        [storageIndex('nb-b'), 3],
        [storageIndex('nb-c'), 0],
      ];
      await upload(node.client(alice.nurl), running, shares[0]![0], 0, bytes(1000, 1));
      await upload(node.client(bob.nurl), running, shares[1]![0], 3, bytes(2000, 2));
      await upload(node.client(running.nurl), running, shares[2]![0], 0, bytes(3000, 3));
      await running.close();
      expect(await listBackups(await node.openBackend())).toEqual([]);

      for (const suffix of ['', '-wal', '-shm']) await rm(node.dbPath + suffix, { force: true });
      running = await node.start();
      expect(running.recovery).toMatchObject({
        reason: 'missing',
        restored: undefined,
        movedAside: [],
        cycle: { counters: { examined: 3, adopted: 3 } },
      });
      const check = async () => {
        const db = await node.openDb();
        const a = await db.getAccountByPublicKey(KEY_A);
        const b = await db.getAccountByPublicKey(KEY_B);
        expect([a?.nickname, b?.nickname]).toEqual(['alice', 'bob']);
        expect(await ownership(db, shares)).toEqual([a!.id, b!.id, ANONYMOUS_ACCOUNT_ID]);
        expect(await db.getAccountUsage(b!.id)).toEqual({ shares: 1, bytes: 2000 });
        expect(await db.checkUsage()).toEqual([]);
        // Each adopted share is leased by its owner (the owner record's account).
        for (const [si, shnum] of shares) expect(await db.listLeases(si, shnum)).toHaveLength(1);
        await db.close();
      };
      await check();
      await running.close();

      // The same on demand, again from nothing: no backup, an empty database, the store.
      const rebuilt = await ostrom(['db', 'rebuild', '-d', node.dir], io);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      expect(rebuilt.stderr).toContain('no usable backup: starting from an empty database');
      expect(rebuilt.stdout).toMatch(
        /^reconciled with the store in .*: 3 shares \(6 kB\), 3 adopted/,
      );
      await check();
      expect(existsSync(`${node.dbPath}.recovering`)).toBe(false);
    },
    3 * SLOW,
  );
});

describe('db restore, backup and backups', () => {
  it('restore refuses while the node runs, names a missing or unusable backup, passes over an unusable newest one', async () => {
    const node = await nodeWithoutAutomaticBackups('disk');
    const io = { now: node.clock.now };
    const d = ['-d', node.dir];
    const running = await node.start();
    const alice = await addAccount(node, running, KEY_A, 'alice');
    await upload(node.client(alice.nurl), running, storageIndex('restore'), 0, bytes(100));

    const none = await ostrom(['db', 'restore', ...d], io);
    expect(none.code).toBe(1); // the node runs: refused before anything else
    expect(none.stderr).toMatch(
      /^ostrom: the node is running \(pid \d+, .*ostrom\.pid\): stop it before restoring its database\n$/,
    );
    expect((await ostrom(['db', 'rebuild', ...d], io)).stderr).toContain(
      'stop it before rebuilding',
    );

    const good = await ostromJson<{ name: string }>(['db', 'backup', ...d], io);
    node.clock.advance(60);
    // The newest backup sealed with another node's key.
    const backend = await node.openBackend();
    const foreign = backupName(node.clock.now());
    await backend.putBlob(foreign, new Uint8Array(200), new Uint8Array(32).fill(1));
    await running.close();

    expect(await ostromJson<{ name: string }[]>(['db', 'backups', ...d])).toEqual([
      { name: foreign, createdAt: node.clock.now() },
      { name: good.name, createdAt: node.clock.now() - 60 },
    ]);
    const bad = await ostrom(['db', 'restore', '--from', 'yesterday', ...d], io);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected a backup name such as backup-001800000000.sqlite.gz');
    const missing = await ostrom(
      ['db', 'restore', '--from', 'backup-000000000001.sqlite.gz', ...d],
      io,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('ostrom: no backup leasedb/backup-000000000001.sqlite.gz\n');
    const undecryptable = await ostrom(['db', 'restore', '--from', foreign, ...d], io);
    expect(undecryptable.code).toBe(1);
    expect(undecryptable.stderr).toBe(
      `ostrom: ${foreign} does not decrypt with this node's state key (another node's, or altered)\n`,
    );
    // Nothing changed by the refusals.
    expect((await readdir(dirname(node.dbPath))).filter((f) => f.includes('.replaced-'))).toEqual(
      [],
    );

    node.clock.advance(60);
    const restored = await ostrom(['db', 'restore', ...d], io);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`restored the backup ${good.name}`);
    expect(restored.stdout).toContain(`passed over 1 unusable: ${foreign}`);
    expect(restored.stdout).toContain('the node reconciles it with the store when it next starts');
    expect(existsSync(`${node.dbPath}.replaced-${node.clock.now()}`)).toBe(true);

    // The restore awaits its reconciliation: the next start runs it before serving.
    const again = await node.start();
    expect(again.recovery).toMatchObject({
      reason: 'interrupted',
      cycle: { counters: { examined: 1 } },
    });
    expect(existsSync(`${node.dbPath}.recovering`)).toBe(false);
  });

  it(
    'after `db restore`, deletion is held for a lease duration and the grace: an expired unleased share stays until the hold ends, then goes',
    async () => {
      const DAY = 86_400;
      const node = await nodeInMemory('disk');
      await configure(node.dir, 'backup_interval', '0');
      await configure(node.dir, 'deletion_grace', '"7d"');
      const io = { now: node.clock.now };
      let running = await node.start();
      await node.pacing.rested;
      const si = storageIndex('held');
      await upload(node.client(running.nurl), running, si, 0, bytes(700)); // leased for 31 days
      const backup = await ostromJson<{ name: string }>(['db', 'backup', '-d', node.dir], io);
      await running.close();

      // 40 days on, the lease expired 9 days ago, beyond the grace: but a renewal made after the
      // backup would not be in it.
      node.clock.advance(40 * DAY);
      const restored = await ostrom(['db', 'restore', '-d', node.dir], io);
      expect(restored.code, restored.stderr).toBe(0);
      const until = new Date((node.clock.now() + 31 * DAY + 7 * DAY) * 1000).toISOString();
      expect(restored.stdout).toContain(
        `deletion of unleased shares is held until ${until.replace('.000Z', 'Z')} at least`,
      );

      running = await node.start();
      expect(running.recovery).toMatchObject({
        reason: 'interrupted',
        marker: { reason: 'restore', backup: { name: backup.name } },
        deletionHeld: true,
      });
      await node.pacing.rested; // one background cycle
      const status = await running.crawler.status();
      expect(status.history[0]?.counters).toMatchObject({ unleased: 1, deleted: 0 });
      expect(status.deletionHold).toEqual({
        until: node.clock.now() + 31 * DAY + 7 * DAY, // a lease duration and the grace
        restoredAt: node.clock.now(),
        reason: 'restore',
        backup: backup.name,
      });
      expect(await node.client(running.nurl).immutable.read(si, 0)).toEqual(bytes(700));
      const cli = await ostrom(['crawler', 'status', '-d', node.dir], io);
      expect(cli.stdout).toContain(`deletion held until ${until.replace('.000Z', 'Z')}`);
      await running.close();

      // The hold ends: the next cycle deletes it.
      node.clock.advance(31 * DAY + 7 * DAY);
      running = await node.start();
      expect(running.recovery).toBeUndefined();
      await node.pacing.rested;
      expect((await running.crawler.status()).history[0]?.counters).toMatchObject({ deleted: 1 });
      const db = await node.openDb();
      expect(await db.getShare(si, 0)).toBeUndefined();
      expect(
        (await db.listEvents({ kinds: ['database-restored'] })).map((e) => [e.actor, e.data]),
      ).toEqual([
        ['cli', { reason: 'restore', backup: backup.name, backupCreatedAt: expect.any(Number) }],
        ['node', { reason: 'restore', backup: backup.name, backupCreatedAt: expect.any(Number) }],
      ]);
    },
    SLOW,
  );

  it.skipIf(!S3)(
    '`db backups` and `db restore` on an unreachable bucket: one line naming it',
    async () => {
      const dir = join(await tempDir('missing-bucket-'), 'node');
      await initNode(dir, { backend: 's3', s3: { bucket: 'no-such-bucket-here', endpoint: S3! } });
      const env = { AWS_ACCESS_KEY_ID: 't', AWS_SECRET_ACCESS_KEY: 't' };
      for (const command of ['backups', 'restore']) {
        const result = await ostrom(['db', command, '-d', dir], { env });
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(
          new RegExp(`^ostrom: cannot reach the bucket no-such-bucket-here at ${S3}: .*\n$`),
        );
      }
    },
  );

  it('restore with no backup in the store changes nothing', async () => {
    const node = await nodeWithoutAutomaticBackups('disk');
    const running = await node.start();
    await running.close();
    const before = await readdir(node.dir);
    const result = await ostrom(['db', 'restore', '-d', node.dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('ostrom: the store holds no backup of the lease database\n');
    expect(await readdir(node.dir)).toEqual(before);
  });

  it('`db rebuild` draws a progress bar on a terminal', async () => {
    const node = await nodeWithoutAutomaticBackups('disk');
    let drawn = '';
    const terminal = {
      isTTY: true,
      columns: 120,
      write(chunk: string | Uint8Array, callback?: unknown) {
        drawn += String(chunk);
        if (typeof callback === 'function') callback();
        return true;
      },
    } as unknown as NodeJS.WritableStream & { isTTY: boolean };
    const result = await ostrom(['db', 'rebuild', '-d', node.dir], { progressStream: terminal });
    expect(result.code, result.stderr).toBe(0);
    expect(drawn).toMatch(
      /reconciling \[█+\] 100% \| 1024\/1024 prefixes \| ETA 0s \| 0 shares, 0 adopted/,
    );
    expect(result.stderr).not.toContain('reconciling:');
  });

  const pg = postgresUrl('@ostrom/server db commands on PostgreSQL');
  it.skipIf(!pg)(
    "on PostgreSQL, backups and restores are pg_dump's: one message, exit 1; rebuild reconciles",
    async () => {
      const schema = await createScratchSchema(pg!);
      onTestFinished(() => schema.drop());
      const dir = join(await tempDir('pg-node-'), 'node');
      await initNode(dir, { databaseUrl: schema.url });
      const backup = await ostrom(['db', 'backup', '-d', dir]);
      expect(backup.code).toBe(1);
      expect(backup.stderr).toMatch(
        /^ostrom: the lease database is on PostgreSQL: back it up with pg_dump.*db rebuild/,
      );
      const restore = await ostrom(['db', 'restore', '-d', dir]);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain('use pg_dump and pg_restore');
      const backups = await ostrom(['db', 'backups', '-d', dir]);
      expect(backups.code).toBe(1);
      expect(backups.stderr).toContain('`ostrom db backups` is for a SQLite lease database');
      expect(backups.stderr).toContain('use pg_dump and pg_restore');
      const rebuild = await ostromJson<RebuildJson>(['db', 'rebuild', '-d', dir]);
      expect(rebuild).toMatchObject({
        restored: null,
        movedAside: [],
        cycle: { counters: { examined: 0 } },
      });
      // Another process crawls the database (a node on another machine): refused, naming it.
      const other = await openLeaseDb({ dialect: 'postgres', connectionString: schema.url });
      onTestFinished(() => other.close());
      expect(await other.claimCrawler('accounting', 'node-b.example-3457', 300)).toBe(true);
      const refused = await ostrom(['db', 'rebuild', '-d', dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^ostrom: cannot run the accounting crawler: process node-b\.example-3457 holds it \(until \S+Z unless it renews it; it does while it crawls\); one process crawls a database at a time\n$/,
      );
      await other.releaseCrawler('accounting', 'node-b.example-3457');

      // After a pg_restore, `--restored` holds deletion as any restore does (once a share is
      // there: an empty store has no lease to lose).
      const backend = await openNodeBackend(await loadNode(dir));
      await backend.createUpload(storageIndex('pg-restored'), 0, 3);
      await backend.writeUpload(storageIndex('pg-restored'), 0, 0, bytes(3));
      await backend.close();
      const restored = await ostromJson<RebuildJson & { deletionHeldUntil: number | null }>([
        'db',
        'rebuild',
        '--restored',
        '-d',
        dir,
      ]);
      expect(restored).toMatchObject({ restored: null, cycle: { counters: { adopted: 1 } } });
      expect(restored.deletionHeldUntil).toBeGreaterThan(Date.now() / 1000 + 44 * 86_400);
      expect(await other.getLastRestore()).toMatchObject({ reason: 'pg-restore', backup: null });
      // No reconciliation at start-up on PostgreSQL: one database, several processes.
      const running = await startNode(dir, { port: 0 });
      onTestFinished(() => running.close());
      expect(running.recovery).toBeUndefined();
      expect(running.crawler.backupsEnabled).toBe(false);
    },
  );

  it('`db rebuild --restored` is refused on SQLite, where rebuild restores a backup itself', async () => {
    const node = await nodeInMemory('disk');
    const result = await ostrom(['db', 'rebuild', '--restored', '-d', node.dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^ostrom: --restored is for PostgreSQL databases restored with pg_restore/,
    );
  });

  it('bad [crawler] values stop the CLI and the node with one message naming the key', async () => {
    const node = await nodeInMemory('disk');
    await configure(node.dir, 'allowed_fraction', '2');
    const result = await ostrom(['crawler', 'status', '-d', node.dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `ostrom: ${node.dir}/ostrom.toml: [crawler] allowed_fraction: expected a number greater than 0 and at most 1, got 2\n`,
    );
    await expect(node.start()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
