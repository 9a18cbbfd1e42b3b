import { copyFile, rename, rm } from 'node:fs/promises';
import type { ShareBackend } from '@ostrom/backend';
import { steppedPacing } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  backupName,
  createNodeCrawler,
  listBackups,
  type NodeCrawlerLogger,
  type NodeCrawlerOptions,
  USAGE_SNAPSHOT_SECONDS,
} from '../src/index.js';
import { makeWorld, STATE_KEY, type World } from './setup.js';

// The crawler as a node runs it, without the node: the background crawl, the backups on their
// schedule (and what they do when the database file is deleted or replaced behind the node), and
// the hourly usage snapshots. Timers are fired by the test; no real time passes.

const DAY = 86_400;
/** Backups every ten minutes here, so that their timer is told from the snapshots' (hourly). */
const BACKUP_MS = 600_000;
const SNAPSHOT_MS = USAGE_SNAPSHOT_SECONDS * 1000;

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: object;
  readonly msg: string | undefined;
}

/** Periodic work the test fires by hand, by its interval. */
function manualTimer() {
  const scheduled = new Map<() => Promise<void>, number>();
  return {
    every: (fn: () => Promise<void>, ms: number) => {
      scheduled.set(fn, ms);
      return () => {
        scheduled.delete(fn);
      };
    },
    /** The intervals of what is scheduled, in ms. */
    intervals: () => [...scheduled.values()].sort((a, b) => a - b),
    /** Runs what is scheduled every `ms` once, and waits for it. */
    fire: async (ms: number) => {
      const due = [...scheduled].filter(([, every]) => every === ms).map(([fn]) => fn());
      await Promise.all(due);
    },
  };
}

/** A node's crawler over the world's SQLite database, background crawl off unless asked. */
function nodeCrawler(world: World, overrides: Partial<NodeCrawlerOptions> = {}) {
  const timer = manualTimer();
  const logged: Logged[] = [];
  const logger: NodeCrawlerLogger = {
    info: (obj, msg) => logged.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
  };
  const service = createNodeCrawler({
    leaseDb: world.db,
    backend: world.backend,
    stateKey: STATE_KEY,
    exclusive: (si, fn) => world.accountant.exclusive(si, fn),
    processId: 'node-1',
    databasePath: world.sqlitePath!,
    backupIntervalSeconds: BACKUP_MS / 1000,
    backupsKept: 2,
    backgroundCrawl: false,
    now: world.clock.now,
    clock: world.pacing,
    logger,
    every: timer.every,
    ...overrides,
  });
  // Registered after the world's: run before it closes the database.
  onTestFinished(() => service.stop());
  return { service, timer, logged };
}

const errors = (logged: Logged[]) => logged.filter((l) => l.level === 'error').map((l) => l.msg);

const SQLITE = { dialect: 'sqlite', backend: 'memory' } as const;

describe('createNodeCrawler()', () => {
  it('start() takes the usage snapshot of the hour, thins samples older than 35 days, and schedules the snapshots and backups; stop() ends them', async () => {
    const world = await makeWorld(SQLITE);
    const today = Math.floor(world.clock.now() / DAY) * DAY;
    const old = today - 40 * DAY;
    for (const hour of [1, 2, 3]) await world.db.snapshotUsage(old + hour * 3600);
    const { service, timer } = nodeCrawler(world);
    expect(service.backupsEnabled).toBe(true);
    service.start();
    service.start(); // once is enough
    expect(timer.intervals()).toEqual([BACKUP_MS, SNAPSHOT_MS]);
    await service.stop(); // waits for the snapshot
    expect(timer.intervals()).toEqual([]);
    expect((await world.db.getServerUsageHistory()).map((s) => s.at)).toEqual([
      old + 3 * 3600, // the old day's last
      Math.floor(world.clock.now() / 3600) * 3600,
    ]);
  });

  it('each scheduled backup is made, logged and reported; the newest backupsKept stay', async () => {
    const world = await makeWorld(SQLITE);
    const { service, timer, logged } = nodeCrawler(world);
    service.start();
    expect(await service.status()).toMatchObject({
      background: { enabled: false, running: false, processId: 'node-1', lastError: null },
      backups: { intervalSeconds: 600, kept: 2, last: null, lastError: null },
      databaseFile: 'ok',
    });
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      world.clock.advance(600);
      await timer.fire(BACKUP_MS);
      made.push(backupName(world.clock.now()));
    }
    expect((await listBackups(world.backend)).map((b) => b.name)).toEqual(made.slice(1).reverse());
    expect((await service.status()).backups?.last).toEqual({
      name: made[2],
      createdAt: world.clock.now(),
    });
    expect(logged.filter((l) => l.msg === 'backed up the lease database')).toHaveLength(3);
    // On demand, after any in progress, under the actor asked for.
    world.clock.advance(1);
    const [, asked] = await Promise.all([timer.fire(BACKUP_MS), service.backup('shutdown')]);
    expect(asked.name).toBe(backupName(world.clock.now()));
    const events = await world.db.listEvents({ kinds: ['backup-made'] });
    expect(events.map((e) => e.actor).sort()).toEqual(['node', 'node', 'node', 'node', 'shutdown']);
  });

  it('a failed backup is logged and reported; the next one clears it', async () => {
    let failing = false;
    const world = await makeWorld(SQLITE, {
      backendFactory: (inner): ShareBackend =>
        Object.create(inner, {
          putBlob: {
            value: async (...args: Parameters<ShareBackend['putBlob']>) => {
              if (failing) throw new Error('the store is away');
              return inner.putBlob(...args);
            },
          },
        }),
    });
    const { service, timer, logged } = nodeCrawler(world);
    service.start();
    failing = true;
    await timer.fire(BACKUP_MS);
    expect(errors(logged)).toEqual(['backing up the lease database failed']);
    expect((await service.status()).backups?.lastError).toBe('the store is away');
    await expect(service.backup('cli')).rejects.toThrow('the store is away');
    failing = false;
    await timer.fire(BACKUP_MS);
    expect((await service.status()).backups).toMatchObject({
      lastError: null,
      last: { name: backupName(world.clock.now()) },
    });
  });

  it('a database file deleted behind the node: it goes on, says so once, and backs up the database it has open', async () => {
    const world = await makeWorld(SQLITE);
    const { service, timer, logged } = nodeCrawler(world);
    service.start();
    await rm(world.sqlitePath!);
    expect(service.databaseFile()).toBe('missing');
    await timer.fire(BACKUP_MS);
    world.clock.advance(600);
    await timer.fire(BACKUP_MS);
    expect(errors(logged)).toEqual([
      'the database file was deleted while the node runs: the node goes on with the database it has open and backs it up now; restart it to restore that backup',
    ]);
    expect(await listBackups(world.backend)).toHaveLength(2);
    expect((await service.status()).databaseFile).toBe('missing');
  });

  it('a database file replaced behind the node: the log says the next start uses the new file', async () => {
    const world = await makeWorld(SQLITE);
    const { service, timer, logged } = nodeCrawler(world);
    service.start();
    const path = world.sqlitePath!;
    await copyFile(path, `${path}.copy`);
    await rename(`${path}.copy`, path);
    await timer.fire(BACKUP_MS);
    expect(service.databaseFile()).toBe('replaced');
    const [message] = errors(logged);
    expect(message).toContain('the database file was replaced while the node runs');
    expect(message).toContain(`at its next start it will use the file now at ${path} instead`);
    expect(await listBackups(world.backend)).toHaveLength(1);
  });

  it('without a database file (PostgreSQL) or with backupIntervalSeconds 0: no backups, only the snapshots', async () => {
    const world = await makeWorld(SQLITE);
    for (const overrides of [{ databasePath: undefined }, { backupIntervalSeconds: 0 }]) {
      const { service, timer } = nodeCrawler(world, overrides);
      expect(service.backupsEnabled).toBe(false);
      service.start();
      expect(timer.intervals()).toEqual([SNAPSHOT_MS]);
      const status = await service.status();
      expect(status.backups).toBeNull();
      expect(status.databaseFile).toBe('databasePath' in overrides ? null : 'ok');
      await service.stop();
    }
  });

  it('the background crawl runs when asked, under the process id, and the status says so', async () => {
    const world = await makeWorld(SQLITE);
    const pacing = steppedPacing();
    const { service } = nodeCrawler(world, { backgroundCrawl: true, clock: pacing });
    service.start();
    await pacing.asleep(); // the first cycle done, it waits out the minimum cycle
    const status = await service.status();
    expect(status.background).toEqual({
      enabled: true,
      running: true,
      processId: 'node-1',
      holding: true,
      lastError: null,
    });
    expect(status.claim).toMatchObject({ holder: 'node-1', live: true });
    expect(status.history).toHaveLength(1);
    await service.stop();
    expect((await service.status()).background).toMatchObject({ running: false });
    expect((await service.status()).claim).toBeNull();
  });

  it('bad options are RangeError at once', async () => {
    const world = await makeWorld(SQLITE);
    for (const overrides of [
      { backupIntervalSeconds: -1 },
      { backupIntervalSeconds: Number.NaN },
      { backupsKept: 0 },
      { backupsKept: 1.5 },
      { allowedFraction: 2 },
    ]) {
      expect(() => nodeCrawler(world, overrides), JSON.stringify(overrides)).toThrow(RangeError);
    }
  });
});
