import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BackendError, createMemoryBackend, type ShareBackend } from '@ostrom/backend';
import { createDiskBackend } from '@ostrom/backend-disk';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import {
  createScratchSchema,
  type ManualClock,
  manualClock,
  postgresUrl,
  tempDir,
} from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  BackupError,
  backupName,
  DEFAULT_BACKUPS_KEPT,
  listBackups,
  makeBackup,
  parseBackupName,
  readBackup,
  restoreBackup,
  restoreLatestBackup,
} from '../src/index.js';

const STATE_KEY = new Uint8Array(32).fill(5);
const OTHER_KEY = new Uint8Array(32).fill(6);
const SQLITE_HEADER = 'SQLite format 3\0';
const PUBKEY = 'ab'.repeat(32);

interface Setup {
  readonly clock: ManualClock;
  readonly db: LeaseDb;
  readonly backend: ShareBackend;
  readonly dir: string;
}

async function setup(kind: 'memory' | 'disk'): Promise<Setup> {
  const clock = manualClock(1_800_000_000);
  const dir = await tempDir('crawler-backup-');
  const db = await openLeaseDb({
    dialect: 'sqlite',
    path: join(dir, 'leasedb.sqlite'),
    synchronous: 'normal',
    now: clock.now,
  });
  const backend =
    kind === 'memory'
      ? createMemoryBackend()
      : await createDiskBackend({ root: join(dir, 'store'), fsync: false });
  onTestFinished(async () => {
    await db.close();
    await backend.close();
  });
  return { clock, db, backend, dir };
}

/** Opens a restored database file and returns the nicknames of its accounts. */
async function nicknamesIn(path: string): Promise<string[]> {
  const db = await openLeaseDb({ dialect: 'sqlite', path, migrate: false });
  try {
    return (await db.listAccounts({ limit: 100 })).accounts.map((a) => a.nickname);
  } finally {
    await db.close();
  }
}

describe('backup names', () => {
  it('backupName(t) sorts by time and parseBackupName reads it back', () => {
    expect(backupName(1_800_000_000)).toBe('leasedb/backup-001800000000.sqlite.gz');
    const names = [5, 1_000_000_000, 60, 1_800_000_000].map(backupName);
    expect([...names].sort().map(parseBackupName)).toEqual([5, 60, 1_000_000_000, 1_800_000_000]);
    expect(parseBackupName('leasedb/backup-1800000000.sqlite.gz')).toBeUndefined();
    expect(parseBackupName('owners/aa/x/0')).toBeUndefined();
    expect(() => backupName(-1)).toThrow(RangeError);
    expect(() => backupName(1.5)).toThrow(RangeError);
  });
});

describe.each(['memory', 'disk'] as const)('backups on the %s backend', (kind) => {
  it('makeBackup() stores a sealed, compressed snapshot and logs backup-made', async () => {
    const { db, backend, dir } = await setup(kind);
    await db.createAccount({ publicKey: PUBKEY, nickname: 'alice' });
    const report = await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: () => 1234 });
    expect(report).toMatchObject({ name: backupName(1234), createdAt: 1234, pruned: [] });
    expect(await listBackups(backend)).toEqual([{ name: backupName(1234), createdAt: 1234 }]);

    // Sealed with the state key: another key does not open it.
    await expect(backend.getBlob(report.name, OTHER_KEY)).rejects.toMatchObject({
      code: 'CORRUPT',
    });
    const stored = (await backend.getBlob(report.name, STATE_KEY))!;
    expect(stored.length).toBe(report.compressedBytes);
    const database = gunzipSync(stored);
    expect(database.length).toBe(report.databaseBytes);
    expect(report.compressedBytes).toBeLessThan(report.databaseBytes);
    expect(database.subarray(0, 16).toString('latin1')).toBe(SQLITE_HEADER);

    const [event] = await db.listEvents({ kinds: ['backup-made'] });
    expect(event).toMatchObject({
      actor: 'node',
      data: { name: report.name, databaseBytes: report.databaseBytes, pruned: 0 },
    });

    const target = join(dir, 'restored.sqlite');
    const restored = await restoreLatestBackup({ backend, stateKey: STATE_KEY, path: target });
    expect(restored).toEqual({ restored: { name: report.name, createdAt: 1234 }, skipped: [] });
    expect(await nicknamesIn(target)).toEqual(['anonymous', 'starter', 'alice']);
  });

  it(`makeBackup() keeps the newest ${DEFAULT_BACKUPS_KEPT} by default, or keep`, async () => {
    const { clock, db, backend } = await setup(kind);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(3600);
      const report = await makeBackup({
        leaseDb: db,
        backend,
        stateKey: STATE_KEY,
        keep: 3,
        now: clock.now,
      });
      made.push(report.name);
      expect(report.pruned).toEqual(i < 3 ? [] : [made[i - 3]]);
    }
    expect((await listBackups(backend)).map((b) => b.name)).toEqual(made.slice(2).reverse());
    // Other blobs are not backups, are never pruned, and are not listed.
    await backend.putBlob('leasedb/notes.txt', new Uint8Array([1]), STATE_KEY);
    clock.advance(3600);
    await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, keep: 1, now: clock.now });
    expect(await listBackups(backend)).toHaveLength(1);
    expect(await backend.listBlobs('leasedb/')).toContain('leasedb/notes.txt');

    for (let i = 0; i < DEFAULT_BACKUPS_KEPT + 1; i++) {
      clock.advance(3600);
      await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: clock.now });
    }
    expect(await listBackups(backend)).toHaveLength(DEFAULT_BACKUPS_KEPT);
  });

  it('restoreLatestBackup() passes over backups that do not open, decompress or check, newest first', async () => {
    const { clock, db, backend, dir } = await setup(kind);
    await db.createAccount({ publicKey: PUBKEY, nickname: 'good' });
    const good = await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: clock.now });
    const at = (n: number) => backupName(clock.now() + n);
    await backend.putBlob(at(1), gzipSync(Buffer.from('not a database')), STATE_KEY);
    await backend.putBlob(at(2), new TextEncoder().encode('not gzip'), STATE_KEY);
    await backend.putBlob(
      at(3),
      gzipSync(gunzipSync((await backend.getBlob(good.name, STATE_KEY))!)),
      OTHER_KEY,
    );

    const target = join(dir, 'target.sqlite');
    const report = await restoreLatestBackup({ backend, stateKey: STATE_KEY, path: target });
    expect(report.restored).toEqual({ name: good.name, createdAt: good.createdAt });
    expect(report.skipped.map((s) => s.name)).toEqual([at(3), at(2), at(1)]);
    expect(report.skipped[0]!.reason).toContain('decrypt');
    expect(report.skipped[1]!.reason).toContain('gzip');
    expect(report.skipped[2]!.reason).toContain('SQLite');
    expect(await nicknamesIn(target)).toContain('good');

    // Named, a bad one is refused and leaves the database as it was.
    for (const [name, code] of [
      [at(3), 'UNUSABLE'],
      [at(1), 'UNUSABLE'],
      [at(9), 'NOT_FOUND'],
      ['leasedb/nothing', 'NOT_FOUND'],
    ] as const) {
      const error = await restoreBackup({ backend, stateKey: STATE_KEY, path: target, name }).catch(
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(BackupError);
      expect((error as BackupError).code, name).toBe(code);
    }
    expect(await nicknamesIn(target)).toContain('good');
  });

  it('restoreLatestBackup() with no usable backup restores nothing and leaves the file alone', async () => {
    const { db, backend, dir } = await setup(kind);
    const target = join(dir, 'untouched.sqlite');
    await writeFile(target, 'left alone');
    expect(await restoreLatestBackup({ backend, stateKey: STATE_KEY, path: target })).toEqual({
      restored: undefined,
      skipped: [],
    });
    await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: () => 10 });
    // Another node's key opens none of them.
    const report = await restoreLatestBackup({ backend, stateKey: OTHER_KEY, path: target });
    expect(report.restored).toBeUndefined();
    expect(report.skipped).toEqual([
      { name: backupName(10), reason: expect.stringContaining('state key') },
    ]);
    expect(await readFile(target, 'utf8')).toBe('left alone');
  });
});

describe('backups and failures', () => {
  it('a store that cannot be reached fails the restore instead of picking an older backup', async () => {
    const { db, backend, dir } = await setup('memory');
    await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: () => 10 });
    await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, now: () => 20 });
    const failing: ShareBackend = Object.create(backend, {
      getBlob: {
        value: async () => {
          throw new BackendError('UNAVAILABLE', 'the store is down');
        },
      },
    });
    await expect(
      restoreLatestBackup({ backend: failing, stateKey: STATE_KEY, path: join(dir, 'x.sqlite') }),
    ).rejects.toMatchObject({ name: 'BackendError', code: 'UNAVAILABLE' });
  });

  it('readBackup() refuses names that are not backups; bad options are TypeError/RangeError', async () => {
    const { db, backend } = await setup('memory');
    await expect(readBackup(backend, STATE_KEY, 'owners/aa/b/0')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(readBackup(backend, new Uint8Array(3), backupName(1))).rejects.toThrow(TypeError);
    await expect(
      makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY, keep: 0 }),
    ).rejects.toThrow(RangeError);
  });

  const pg = postgresUrl('@ostrom/crawler backups on PostgreSQL');
  it.skipIf(!pg)('makeBackup() on PostgreSQL is UNSUPPORTED (pg_dump backs it up)', async () => {
    const scratch = await createScratchSchema(pg!);
    onTestFinished(() => scratch.drop());
    const db = await openLeaseDb({ dialect: 'postgres', connectionString: scratch.url });
    onTestFinished(() => db.close());
    const backend = createMemoryBackend();
    const error = await makeBackup({ leaseDb: db, backend, stateKey: STATE_KEY }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe('UNSUPPORTED');
    expect(await backend.listBlobs()).toEqual([]);
  });
});
