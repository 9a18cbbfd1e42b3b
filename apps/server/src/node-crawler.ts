import { statSync } from 'node:fs';
import type { ShareBackend } from '@ostrom/backend';
import {
  AccountingCrawler,
  type BackupInfo,
  type BackupReport,
  type CrawlerStatus,
  makeBackup,
  type PacingClock,
} from '@ostrom/crawler';
import type { LeaseDb } from '@ostrom/leasedb';
import type { LoadedNode } from './node-dir.js';
import { nodePath } from './node-dir.js';
import { crawlerSettings } from './recovery.js';

/** The subset of a (pino) logger the crawler service uses. */
export interface NodeCrawlerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Whether the SQLite file the node opened is still the one at its path. */
export type DatabaseFileState = 'ok' | 'missing' | 'replaced';

/** The crawler's status as a running node reports it (`GET /admin/v1/crawler`). */
export interface NodeCrawlerStatus extends CrawlerStatus {
  readonly background: {
    readonly enabled: boolean;
    /** The background crawl is on: crawling, or waiting for its turn. */
    readonly running: boolean;
    /** This process's id, under which it claims the crawler (`claim.holder` when it crawls). */
    readonly processId: string;
    /** Whether this process held the claim when it last asked: it crawls only then. */
    readonly holding: boolean;
    /** The error the last background cycle stopped on (it is retried), or null. */
    readonly lastError: string | null;
  };
  /** Null on PostgreSQL (pg_dump's job) or with `backup_interval = 0`. */
  readonly backups: {
    readonly intervalSeconds: number;
    readonly kept: number;
    /** The last backup this process made, or null. */
    readonly last: BackupInfo | null;
    readonly lastError: string | null;
  } | null;
  /** SQLite: whether the database file is still where the node opened it; null on PostgreSQL. */
  readonly databaseFile: DatabaseFileState | null;
}

export interface NodeCrawlerOptions {
  readonly node: LoadedNode;
  readonly leaseDb: LeaseDb;
  readonly backend: ShareBackend;
  /** The Accountant's `exclusive`, so the crawler and the storage service take turns. */
  readonly exclusive: <T>(storageIndex: string, fn: () => Promise<T>) => Promise<T>;
  /**
   * This process's `[cluster]` id: processes sharing the database elect the one that crawls by
   * a claim under it (default: one made up by the crawler).
   */
  readonly processId?: string;
  readonly logger?: NodeCrawlerLogger;
  /** Unix seconds (inject a clock in tests). */
  readonly now?: () => number;
  /** Pacing of the background crawl (inject in tests). */
  readonly clock?: PacingClock;
  /**
   * Runs `fn` every `ms` until the returned function is called (default an unref'd interval);
   * `fn` never rejects.
   */
  readonly every?: (fn: () => Promise<void>, ms: number) => () => void;
}

/** How often the node records every account's usage (the panel's charts). */
export const USAGE_SNAPSHOT_SECONDS = 3600;

/** Days of hourly usage samples kept; older ones are thinned to one a day (the year chart). */
export const USAGE_HOURLY_DAYS = 35;

/** The accounting crawler, the backups and the hourly usage snapshots of a running node. */
export interface NodeCrawler {
  readonly crawler: AccountingCrawler;
  /** Whether backups are made (SQLite and `backup_interval` > 0). */
  readonly backupsEnabled: boolean;
  /** Starts the background crawl (if enabled), the periodic backups and the usage snapshots. */
  start(): void;
  /** Stops them; a backup in progress finishes first. */
  stop(): Promise<void>;
  /** Backs the database up now, after any backup in progress. */
  backup(actor?: string): Promise<BackupReport>;
  /** SQLite: whether the database file is still the one opened (see {@link DatabaseFileState}). */
  databaseFile(): DatabaseFileState | null;
  status(): Promise<NodeCrawlerStatus>;
}

function defaultEvery(fn: () => Promise<void>, ms: number): () => void {
  const timer = setInterval(() => void fn(), ms);
  timer.unref();
  return () => clearInterval(timer);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Builds a node's crawler service from `[crawler]`: the background AccountingCrawler, and on
 * SQLite the periodic backups into the backend. Each scheduled backup first checks that the
 * database file is still the one the node opened: deleted or replaced behind the node's back,
 * the node goes on with the database it has open (SQLite keeps an unlinked file readable), logs
 * an error, and its backups keep capturing that database, so the next start restores it.
 */
export function createNodeCrawler(options: NodeCrawlerOptions): NodeCrawler {
  const { node, leaseDb, backend, logger } = options;
  const config = node.config.crawler;
  const crawler = new AccountingCrawler({
    leaseDb,
    backend,
    exclusive: options.exclusive,
    stateKey: node.stateKey,
    ...(options.processId === undefined ? {} : { processId: options.processId }),
    ...crawlerSettings(config),
    ...(options.now ? { now: options.now } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    onCycleError: (error) =>
      logger?.error({ err: error }, 'the crawler cycle failed; it is tried again later'),
  });
  const database = node.config.database;
  const sqlitePath = database.kind === 'sqlite' ? nodePath(node.dir, database.path) : undefined;
  const backupsEnabled = sqlitePath !== undefined && config.backupIntervalSeconds > 0;
  // The file's identity when the node opened it.
  const opened = sqlitePath === undefined ? undefined : statSync(sqlitePath);

  let cancel: (() => void) | undefined;
  let cancelSnapshots: (() => void) | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let last: BackupInfo | null = null;
  let lastError: string | null = null;
  let reportedFile: DatabaseFileState = 'ok';

  const databaseFile = (): DatabaseFileState | null => {
    if (sqlitePath === undefined || opened === undefined) return null;
    try {
      const now = statSync(sqlitePath);
      return now.ino === opened.ino && now.dev === opened.dev ? 'ok' : 'replaced';
    } catch {
      return 'missing';
    }
  };

  const backup = (actor = 'node'): Promise<BackupReport> => {
    const run = chain.then(async () => {
      try {
        const report = await makeBackup({
          leaseDb,
          backend,
          stateKey: node.stateKey,
          keep: config.backupsKept,
          actor,
          ...(options.now ? { now: options.now } : {}),
        });
        last = { name: report.name, createdAt: report.createdAt };
        lastError = null;
        logger?.info(
          {
            backup: report.name,
            databaseBytes: report.databaseBytes,
            compressedBytes: report.compressedBytes,
            pruned: report.pruned.length,
          },
          'backed up the lease database',
        );
        return report;
      } catch (error) {
        lastError = message(error);
        throw error;
      }
    });
    chain = run.catch(() => undefined);
    return run;
  };

  const scheduled = async () => {
    const file = databaseFile();
    if (file !== 'ok' && file !== reportedFile) {
      // At the next start a missing file is replaced by the newest backup; a replaced one is
      // sound, and used as it is: the backup is restored only if the operator asks for it.
      logger?.error(
        { database: sqlitePath, file },
        file === 'missing'
          ? 'the database file was deleted while the node runs: the node goes on with the database it has open and backs it up now; restart it to restore that backup'
          : `the database file was replaced while the node runs: the node goes on with the database it has open and backs it up now; at its next start it will use the file now at ${sqlitePath} instead, unless you put that backup back first (stop the node, then \`ostrom db restore\`)`,
      );
    }
    reportedFile = file ?? 'ok';
    await backup('node');
  };

  // Every process sharing the database takes them: a snapshot overwrites its hour's samples, so
  // a second one in the same hour costs reads and changes nothing.
  // One at a time, and stop() waits for the last, so none runs on a closed database. Samples
  // older than USAGE_HOURLY_DAYS are thinned to one a day, once a day and at start (the delete
  // scans the table).
  let snapshotting: Promise<void> = Promise.resolve();
  let prunedDay: number | undefined;
  const snapshot = () => {
    snapshotting = snapshotting.then(async () => {
      const at = options.now ? options.now() : Math.floor(Date.now() / 1000);
      try {
        await leaseDb.snapshotUsage(at);
        const day = Math.floor(at / 86_400);
        if (day !== prunedDay) {
          await leaseDb.pruneUsageHistory(at - USAGE_HOURLY_DAYS * 86_400);
          prunedDay = day;
        }
      } catch (error) {
        logger?.error({ err: error }, 'recording the hourly usage snapshot failed');
      }
    });
    return snapshotting;
  };

  return {
    crawler,
    backupsEnabled,
    start() {
      if (config.enabled) crawler.start();
      if (!cancelSnapshots) {
        void snapshot();
        cancelSnapshots = (options.every ?? defaultEvery)(snapshot, USAGE_SNAPSHOT_SECONDS * 1000);
      }
      if (backupsEnabled && !cancel) {
        cancel = (options.every ?? defaultEvery)(
          () =>
            scheduled().catch((error: unknown) =>
              logger?.error({ err: error }, 'backing up the lease database failed'),
            ),
          config.backupIntervalSeconds * 1000,
        );
      }
    },
    async stop() {
      cancel?.();
      cancel = undefined;
      cancelSnapshots?.();
      cancelSnapshots = undefined;
      await snapshotting;
      await crawler.stop();
      await chain;
    },
    backup,
    databaseFile,
    async status() {
      const status = await crawler.status();
      const error = crawler.lastError;
      return {
        ...status,
        background: {
          enabled: config.enabled,
          running: crawler.running,
          processId: crawler.processId,
          holding: crawler.holding,
          lastError: error === undefined ? null : message(error),
        },
        backups: backupsEnabled
          ? {
              intervalSeconds: config.backupIntervalSeconds,
              kept: config.backupsKept,
              last,
              lastError,
            }
          : null,
        databaseFile: databaseFile(),
      };
    },
  };
}
