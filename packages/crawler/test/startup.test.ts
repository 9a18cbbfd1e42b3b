import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryBackend } from '@ostrom/backend';
import { openLeaseDb } from '@ostrom/leasedb';
import { manualClock, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  BackupError,
  makeBackup,
  prepareSqliteDatabase,
  readRecoveryMarker,
} from '../src/index.js';
import { bytes, STATE_KEY, storageIndex, storeOutOfBand } from './setup.js';

// prepareSqliteDatabase(): the whole start-up step a node runs before serving, on a memory store
// and a real SQLite file. The pieces (recoverSqliteFile, reconcileNow, recordRestore) have their
// own tests in recovery.test.ts; here, that they are put together in the right order.

const DAY = 86_400;

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string | undefined;
}

async function start() {
  const dir = await tempDir('crawler-startup-');
  const backend = createMemoryBackend();
  onTestFinished(() => backend.close());
  const clock = manualClock(1_800_000_000);
  const path = join(dir, 'leasedb.sqlite');
  const lines: LogLine[] = [];
  const logger = {
    info: (_: object, msg?: string) => lines.push({ level: 'info', msg }),
    warn: (_: object, msg?: string) => lines.push({ level: 'warn', msg }),
    error: (_: object, msg?: string) => lines.push({ level: 'error', msg }),
  };
  const prepare = async () => {
    const prepared = await prepareSqliteDatabase({
      path,
      // Durability is not what is tested here: 'normal' spares a flush per prefix.
      open: () => openLeaseDb({ dialect: 'sqlite', path, now: clock.now, synchronous: 'normal' }),
      backend,
      stateKey: STATE_KEY,
      leaseDurationSeconds: 31 * DAY,
      deletionGraceSeconds: 14 * DAY,
      processId: 'node-a',
      now: clock.now,
      logger,
    });
    onTestFinished(() => prepared.leaseDb.close());
    return prepared;
  };
  return { dir, path, backend, clock, lines, prepare };
}

describe('prepareSqliteDatabase()', () => {
  it('a new node: an empty database, reconciled once with its empty store, no deletion held; the next start does nothing', async () => {
    const s = await start();
    const first = await s.prepare();
    expect(first.recovery).toMatchObject({ reason: 'missing', deletionHeld: false });
    expect(first.recovery?.restored).toBeUndefined();
    expect(await first.leaseDb.getLastRestore()).toBeUndefined();
    expect(s.lines.map((l) => l.msg)).toContain('no database yet');
    expect(await readRecoveryMarker(s.path)).toBeUndefined();
    await first.leaseDb.close();

    const second = await s.prepare();
    expect(second.recovery).toBeUndefined();
  });

  it('a damaged file with a backup and shares in the store: moved aside, restored, reconciled, deletion held and said', async () => {
    const s = await start();
    const first = await s.prepare();
    await makeBackup({
      leaseDb: first.leaseDb,
      backend: s.backend,
      stateKey: STATE_KEY,
      now: s.clock.now,
    });
    await first.leaseDb.close();
    // A share stored after the backup, which the restored database does not know.
    await storeOutOfBand(s.backend, storageIndex('after'), 3, bytes(200));
    s.clock.advance(600);
    await writeFile(
      s.path,
      'not a database at all, but long enough to look like a file'.repeat(100),
    );

    const { leaseDb, recovery } = await s.prepare();
    expect(recovery).toMatchObject({ reason: 'damaged', deletionHeld: true });
    expect(recovery?.restored).toBeDefined();
    expect(recovery?.movedAside.length).toBeGreaterThan(0);
    expect(recovery?.cycle.counters).toMatchObject({ adopted: 1 });
    expect(await leaseDb.getShare(storageIndex('after'), 3)).toBeDefined();
    expect(await leaseDb.getLastRestore()).toMatchObject({ reason: 'damaged' });
    const levels = s.lines.map((l) => `${l.level}: ${l.msg}`);
    expect(levels).toContain('error: the database is damaged: moved it aside');
    expect(
      levels.some((l) => l.startsWith('warn: deletion of unleased shares is held until')),
    ).toBe(true);
    expect(await readRecoveryMarker(s.path)).toBeUndefined();
  });

  it('a file that cannot be read is BackupError UNREADABLE', async () => {
    const s = await start();
    await s.prepare().then((p) => p.leaseDb.close());
    await rm(s.path);
    await mkdir(s.path); // a directory where the file should be: unreadable as a file
    const error = await s.prepare().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).code).toBe('UNREADABLE');
  });
});
