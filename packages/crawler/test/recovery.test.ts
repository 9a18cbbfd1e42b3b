import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryBackend, type ShareBackend } from '@ostrom/backend';
import { ANONYMOUS_ACCOUNT_ID, LeaseDbError, openLeaseDb } from '@ostrom/leasedb';
import { type ManualClock, manualClock, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  BackupError,
  type BackupInfo,
  backupName,
  beginRecovery,
  CrawlerClaimedError,
  describeRestore,
  dropClaimOfBackup,
  everReconciled,
  finishRecovery,
  makeBackup,
  moveAside,
  readRecoveryMarker,
  reconcileNow,
  recordRestore,
  recoverSqliteFile,
  recoveryMarkerPath,
  replaceDatabase,
} from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  STATE_KEY,
  storageIndex,
  storeOutOfBand,
  upload,
} from './setup.js';

// Start-up recovery of a SQLite lease database, piece by piece and without a node: what is done
// to the file before it is opened (moved aside, replaced by the newest usable backup, the
// marker), and the reconciliation and the restore's record that follow. The reference server's
// tests run the whole of it inside a node.

const DAY = 86_400;

interface Files {
  readonly clock: ManualClock;
  readonly dir: string;
  /** Where the lease database lives (not made yet). */
  readonly path: string;
  readonly backend: ShareBackend;
}

async function files(): Promise<Files> {
  const dir = await tempDir('crawler-recovery-');
  const backend = createMemoryBackend();
  onTestFinished(() => backend.close());
  return { clock: manualClock(1_800_000_000), dir, path: join(dir, 'leasedb.sqlite'), backend };
}

/** Makes a lease database at `path` holding one account, `nickname`, and closes it. */
async function leaseDatabase(path: string, nickname: string): Promise<void> {
  const db = await openLeaseDb({ dialect: 'sqlite', path, synchronous: 'normal' });
  try {
    await db.createAccount({ publicKey: 'ab'.repeat(32), nickname });
  } finally {
    await db.close();
  }
}

/** Backs up into the store a lease database holding one account, `nickname`, taken at `at`. */
async function backupOf(f: Files, nickname: string, at: number): Promise<BackupInfo> {
  const path = join(f.dir, `source-${at}.sqlite`);
  await leaseDatabase(path, nickname);
  const db = await openLeaseDb({ dialect: 'sqlite', path, migrate: false });
  try {
    const report = await makeBackup({
      leaseDb: db,
      backend: f.backend,
      stateKey: STATE_KEY,
      now: () => at,
    });
    return { name: report.name, createdAt: report.createdAt };
  } finally {
    await db.close();
  }
}

/** The nicknames of the accounts in the database at `path`. */
async function nicknamesIn(path: string): Promise<string[]> {
  const db = await openLeaseDb({ dialect: 'sqlite', path, migrate: false });
  try {
    return (await db.listAccounts({ limit: 100 })).accounts.map((a) => a.nickname);
  } finally {
    await db.close();
  }
}

/** The names in the database's directory that are not the sources of the backups. */
async function filesBeside(f: Files): Promise<string[]> {
  return (await readdir(f.dir)).filter((name) => !name.startsWith('source-')).sort();
}

describe('recoverSqliteFile()', () => {
  it('a sound file and no marker: undefined, and nothing changes', async () => {
    const f = await files();
    await leaseDatabase(f.path, 'alice');
    await backupOf(f, 'older', f.clock.now() - 60);
    const before = await readFile(f.path);
    const recovery = await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at: f.clock.now() });
    expect(recovery).toBeUndefined();
    expect(await readFile(f.path)).toEqual(before);
    // Nothing moved aside, no marker (a read-only look may leave SQLite's -wal and -shm).
    const left = (await filesBeside(f)).filter((name) => !/-(wal|shm)$/.test(name));
    expect(left).toEqual(['leasedb.sqlite']);
    expect(await nicknamesIn(f.path)).toContain('alice');
  });

  it('a missing file and no backup: left free for an empty database; a -wal left without it is moved aside, never replayed', async () => {
    const f = await files();
    await writeFile(`${f.path}-wal`, 'the log of a database that is gone');
    const at = f.clock.now();
    const recovery = await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at });
    expect(recovery).toEqual({
      reason: 'missing',
      restored: undefined,
      skipped: [],
      movedAside: [`${f.path}.orphaned-${at}-wal`],
    });
    expect(existsSync(f.path)).toBe(false);
    expect(await readFile(`${f.path}.orphaned-${at}-wal`, 'utf8')).toBe(
      'the log of a database that is gone',
    );
    // Until the reconciliation finishes, the next start knows one was under way.
    expect(await readRecoveryMarker(f.path)).toEqual({ reason: 'missing', backup: null });
  });

  it('a missing file: the newest backup that opens is put in place, those that do not passed over', async () => {
    const f = await files();
    await backupOf(f, 'older', f.clock.now() - 120);
    const newer = await backupOf(f, 'newer', f.clock.now() - 60);
    // The newest, sealed with another node's key.
    const foreign = backupName(f.clock.now() - 30);
    await f.backend.putBlob(foreign, new Uint8Array(100), new Uint8Array(32).fill(1));

    const recovery = await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at: f.clock.now() });
    expect(recovery).toMatchObject({ reason: 'missing', restored: newer, movedAside: [] });
    expect(recovery?.skipped).toEqual([
      { name: foreign, reason: expect.stringContaining('state key') },
    ]);
    expect(await nicknamesIn(f.path)).toContain('newer');
    expect(await readRecoveryMarker(f.path)).toEqual({ reason: 'missing', backup: newer });
    // The staging copy is gone.
    expect(await filesBeside(f)).toEqual(['leasedb.sqlite', 'leasedb.sqlite.recovering']);
  });

  it('a damaged file is moved aside as it was, never deleted, and the newest backup restored', async () => {
    const f = await files();
    const backup = await backupOf(f, 'backed-up', f.clock.now() - 60);
    await leaseDatabase(f.path, 'alice');
    const garbled = Buffer.from(await readFile(f.path));
    garbled.write('this is not SQLite', 0, 'latin1');
    await writeFile(f.path, garbled);

    const at = f.clock.now();
    const recovery = await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at });
    expect(recovery).toMatchObject({
      reason: 'damaged',
      restored: backup,
      skipped: [],
      movedAside: [`${f.path}.damaged-${at}`],
    });
    expect(recovery?.damage).toContain('SQLITE_NOTADB');
    expect(await readFile(`${f.path}.damaged-${at}`)).toEqual(garbled);
    expect(await nicknamesIn(f.path)).toContain('backed-up');
  });

  it('a recovery that did not finish: interrupted, with what its marker says, and nothing moved', async () => {
    const f = await files();
    const backup = await backupOf(f, 'backed-up', f.clock.now() - 60);
    await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at: f.clock.now() });
    // Crashed before the reconciliation: the file in place is sound, the marker still there.
    f.clock.advance(60);
    const again = await recoverSqliteFile({ ...f, stateKey: STATE_KEY, at: f.clock.now() });
    expect(again).toEqual({
      reason: 'interrupted',
      restored: undefined,
      skipped: [],
      movedAside: [],
      marker: { reason: 'missing', backup },
    });
    await finishRecovery(f.path);
    expect(await recoverSqliteFile({ ...f, stateKey: STATE_KEY })).toBeUndefined();
  });

  it('a file that cannot be read at all is BackupError UNREADABLE, and nothing changes', async () => {
    const f = await files();
    await backupOf(f, 'backed-up', f.clock.now() - 60);
    await mkdir(f.path);
    const before = await filesBeside(f);
    const error = await recoverSqliteFile({ ...f, stateKey: STATE_KEY }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe('UNREADABLE');
    expect((error as BackupError).cause).toBeInstanceOf(LeaseDbError);
    expect(await filesBeside(f)).toEqual(before);
  });
});

describe('the recovery marker', () => {
  it('readRecoveryMarker(path) reads what beginRecovery() wrote; finishRecovery() removes it; torn or odd: unknown', async () => {
    const f = await files();
    expect(await readRecoveryMarker(f.path)).toBeUndefined();
    await beginRecovery(f.path, 'never-reconciled', f.clock.now());
    expect(recoveryMarkerPath(f.path)).toBe(`${f.path}.recovering`);
    expect(await readRecoveryMarker(f.path)).toEqual({ reason: 'never-reconciled', backup: null });
    await finishRecovery(f.path);
    expect(existsSync(recoveryMarkerPath(f.path))).toBe(false);
    await finishRecovery(f.path); // none: nothing to do

    for (const [text, reason] of [
      ['{"reason":"miss', 'unknown'],
      ['{"reason":"Not A Reason!"}', 'unknown'],
      ['{"reason":"rebuild","backup":{"name":7}}', 'rebuild'],
    ] as const) {
      await writeFile(recoveryMarkerPath(f.path), text);
      expect(await readRecoveryMarker(f.path), text).toEqual({ reason, backup: null });
    }
  });
});

describe('moveAside() and replaceDatabase()', () => {
  it('moveAside(path) takes the -wal and -shm along and never overwrites: a name taken gets -2', async () => {
    const f = await files();
    expect(await moveAside(f.path, 'replaced', 100)).toEqual([]);
    for (const suffix of ['', '-wal', '-shm']) await writeFile(f.path + suffix, `first${suffix}`);
    expect(await moveAside(f.path, 'replaced', 100)).toEqual([
      `${f.path}.replaced-100`,
      `${f.path}.replaced-100-wal`,
      `${f.path}.replaced-100-shm`,
    ]);
    await writeFile(f.path, 'second');
    expect(await moveAside(f.path, 'replaced', 100)).toEqual([`${f.path}.replaced-100-2`]);
    expect(await readFile(`${f.path}.replaced-100`, 'utf8')).toBe('first');
    expect(await readFile(`${f.path}.replaced-100-wal`, 'utf8')).toBe('first-wal');
    expect(await readFile(`${f.path}.replaced-100-2`, 'utf8')).toBe('second');
  });

  it('replaceDatabase({ requireBackup }) with no usable backup throws NOT_FOUND and changes nothing', async () => {
    const f = await files();
    await leaseDatabase(f.path, 'alice');
    const before = await filesBeside(f);
    const options = { ...f, stateKey: STATE_KEY, label: 'replaced', reason: 'restore' };
    await expect(replaceDatabase({ ...options, requireBackup: true })).rejects.toMatchObject({
      name: 'BackupError',
      code: 'NOT_FOUND',
      message: 'the store holds no backup of the lease database',
    });
    const foreign = backupName(f.clock.now());
    await f.backend.putBlob(foreign, new Uint8Array(100), new Uint8Array(32).fill(1));
    await expect(replaceDatabase({ ...options, requireBackup: true })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/^no usable backup: leasedb\/backup-\d+\.sqlite\.gz: /),
    });
    await expect(replaceDatabase({ ...options, from: backupName(5) })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await filesBeside(f)).toEqual(before);
    expect(await nicknamesIn(f.path)).toContain('alice');
  });

  it('replaceDatabase({ from }) moves the database aside, puts that backup in place and marks the restore', async () => {
    const f = await files();
    const chosen = await backupOf(f, 'chosen', f.clock.now() - 120);
    await backupOf(f, 'newest', f.clock.now() - 60);
    await leaseDatabase(f.path, 'alice');
    const at = f.clock.now();
    const replaced = await replaceDatabase({
      ...f,
      stateKey: STATE_KEY,
      label: 'replaced',
      reason: 'restore',
      at,
      from: chosen.name,
    });
    expect(replaced).toEqual({
      restored: chosen,
      skipped: [],
      movedAside: [`${f.path}.replaced-${at}`],
    });
    expect(await nicknamesIn(f.path)).toContain('chosen');
    expect(await nicknamesIn(`${f.path}.replaced-${at}`)).toContain('alice');
    expect(await readRecoveryMarker(f.path)).toEqual({ reason: 'restore', backup: chosen });
    expect(describeRestore(replaced)).toBe(
      `restored the backup ${chosen.name} of ${new Date(chosen.createdAt * 1000).toISOString()}`,
    );
    expect(describeRestore({ restored: undefined, skipped: [{ name: 'b', reason: 'r' }] })).toBe(
      'no usable backup: starting from an empty database (passed over 1 unusable: b: r)',
    );
  });
});

describeMatrix('reconcileNow()', (matrix) => {
  it('adopts the shares the database does not know, counts the unleased ones and deletes nothing', async () => {
    const world = await makeWorld(matrix);
    const kept = storageIndex('kept');
    const behind = storageIndex('behind');
    await upload(world, ANONYMOUS_ACCOUNT_ID, kept, 0, bytes(100)); // leased for 31 days
    await storeOutOfBand(world.backend, behind, 1, bytes(200));
    expect(await everReconciled(world.db)).toBe(false);

    // Long after the lease and the grace: a crawl would delete `kept`.
    world.clock.advance(60 * DAY);
    const report = await reconcileNow({
      leaseDb: world.db,
      backend: world.backend,
      stateKey: STATE_KEY,
      exclusive: (si, fn) => world.accountant.exclusive(si, fn),
      processId: 'node-1',
      now: world.clock.now,
    });
    expect(report.counters).toMatchObject({
      examined: 2,
      adopted: 1,
      expired: 1,
      unleased: 1,
      deleted: 0,
    });
    expect(report.accounts.problems).toEqual([]);
    expect((await world.db.getShare(kept, 0))?.state).toBe('stable');
    expect((await world.db.getShare(behind, 1))?.state).toBe('stable');
    expect(await everReconciled(world.db)).toBe(true);
    // It gave the claim up.
    expect(await world.db.getCrawlerClaim('accounting')).toBeUndefined();

    // The restore's record holds deletion from now; none when the store held no share.
    expect(
      await recordRestore(world.db, {
        reason: 'rebuild',
        backup: null,
        at: world.clock.now(),
        actor: 'cli',
        cycle: { ...report, counters: { ...report.counters, examined: 0 } },
      }),
    ).toBe(false);
    expect(await world.db.getLastRestore()).toBeUndefined();
    expect(
      await recordRestore(world.db, {
        reason: 'rebuild',
        backup: { name: backupName(1_799_000_000), createdAt: 1_799_000_000 },
        at: world.clock.now(),
        actor: 'cli',
        cycle: report,
      }),
    ).toBe(true);
    expect(await world.db.getLastRestore()).toEqual({
      at: world.clock.now(),
      reason: 'rebuild',
      backup: backupName(1_799_000_000),
      backupCreatedAt: 1_799_000_000,
      actor: 'cli',
    });
  });

  it('is refused while another live process holds the claim: dropClaimOfBackup() gives up the one a backup brought back', async () => {
    const world = await makeWorld(matrix);
    // The claim of the process that crawled when the backup was taken.
    expect(await world.db.claimCrawler('accounting', 'node-gone', 300)).toBe(true);
    const options = {
      leaseDb: world.db,
      backend: world.backend,
      stateKey: STATE_KEY,
      processId: 'node-new',
      now: world.clock.now,
    };
    const refused = await reconcileNow(options).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CrawlerClaimedError);
    expect((refused as CrawlerClaimedError).holder).toBe('node-gone');
    await dropClaimOfBackup(world.db);
    expect((await reconcileNow(options)).counters.examined).toBe(0);
    await dropClaimOfBackup(world.db); // none held: nothing to do
  });
});

it('a lost database comes back whole: the newest backup, then the shares and accounts stored since', async () => {
  const world = await makeWorld({ dialect: 'sqlite', backend: 'disk' });
  const before = storageIndex('before');
  const since = storageIndex('since');
  const alice = await world.accountant.addAccount({
    publicKey: new Uint8Array(32).fill(3),
    nickname: 'alice',
  });
  await upload(world, alice.id, before, 0, bytes(300, 1));
  const backup = await makeBackup({
    leaseDb: world.db,
    backend: world.backend,
    stateKey: STATE_KEY,
    now: world.clock.now,
  });
  world.clock.advance(600);
  const bob = await world.accountant.addAccount({
    publicKey: new Uint8Array(32).fill(4),
    nickname: 'bob',
  });
  await upload(world, bob.id, since, 2, bytes(400, 2));

  // The node's database is gone; the next start restores it in place before opening it.
  const path = join(await tempDir('crawler-lost-'), 'leasedb.sqlite');
  const at = world.clock.now();
  const recovery = await recoverSqliteFile({ path, backend: world.backend, stateKey: STATE_KEY });
  expect(recovery).toMatchObject({
    reason: 'missing',
    restored: { name: backup.name, createdAt: backup.createdAt },
  });
  const db = await openLeaseDb({ dialect: 'sqlite', path, now: world.clock.now });
  onTestFinished(() => db.close());
  const cycle = await reconcileNow({
    leaseDb: db,
    backend: world.backend,
    stateKey: STATE_KEY,
    now: world.clock.now,
  });
  expect(cycle.counters).toMatchObject({ examined: 2, adopted: 1 });
  expect(cycle.accounts.created).toEqual([bob.id]);
  expect((await db.getShare(before, 0))?.ownerAccountId).toBe(alice.id);
  expect((await db.getShare(since, 2))?.ownerAccountId).toBe(bob.id);
  expect(
    await recordRestore(db, {
      reason: 'missing',
      backup: recovery!.restored,
      at,
      actor: 'node',
      cycle,
    }),
  ).toBe(true);
  await finishRecovery(path);
  expect(await readRecoveryMarker(path)).toBeUndefined();
  expect(await db.getLastRestore()).toMatchObject({ reason: 'missing', backup: backup.name });
});
