import { statSync } from 'node:fs';
import { type BackupInfo, type BackupReport, DEFAULT_BACKUPS_KEPT, makeBackup } from './backup.js';
import { AccountingCrawler, type CrawlerStatus } from './crawler.js';
import type { CrawlerOptions } from './options.js';

/** The subset of a (pino) logger the node's crawler uses. */
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
  /** Null on PostgreSQL (pg_dump's job) or with no backups (`backupIntervalSeconds` 0). */
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

/**
 * Options of {@link createNodeCrawler}: the background crawler's (see {@link CrawlerOptions}),
 * and the schedule of backups.
 */
export interface NodeCrawlerOptions
  extends Omit<CrawlerOptions, 'stateKey' | 'exclusive' | 'onCycleError'> {
  /** The node's state key (32 bytes): it opens the owner records and seals the backups. */
  readonly stateKey: Uint8Array;
  /** The Accountant's `exclusive`, so the crawler and the storage service take turns. */
  readonly exclusive: <T>(storageIndex: string, fn: () => Promise<T>) => Promise<T>;
  /** Whether the background crawl runs (default true); backups and usage snapshots run regardless. */
  readonly backgroundCrawl?: boolean;
  /**
   * The SQLite file `leaseDb` was opened from: it is backed up, and each scheduled backup checks
   * that it is still the file opened. Undefined (PostgreSQL): no backups, pg_dump's job.
   */
  readonly databasePath?: string;
  /** Seconds between backups (default {@link DEFAULT_BACKUP_INTERVAL_SECONDS}); 0: none. */
  readonly backupIntervalSeconds?: number;
  /** Backups kept in the store (default {@link DEFAULT_BACKUPS_KEPT}). */
  readonly backupsKept?: number;
  readonly logger?: NodeCrawlerLogger;
  /**
   * Runs `fn` every `ms` until the returned function is called (default an unref'd interval);
   * `fn` never rejects.
   */
  readonly every?: (fn: () => Promise<void>, ms: number) => () => void;
}

/** How often a node backs its SQLite lease database up, by default: hourly. */
export const DEFAULT_BACKUP_INTERVAL_SECONDS = 3600;

/** How often the node records every account's usage (the panel's charts). */
export const USAGE_SNAPSHOT_SECONDS = 3600;

/** Days of hourly usage samples kept; older ones are thinned to one a day (the year chart). */
export const USAGE_HOURLY_DAYS = 35;

/** The accounting crawler, the backups and the hourly usage snapshots of a running node. */
export interface NodeCrawler {
  readonly crawler: AccountingCrawler;
  /** Whether backups are made (SQLite and `backupIntervalSeconds` > 0). */
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
 * Builds a node's crawler service: the background AccountingCrawler, the hourly usage
 * snapshots, and on SQLite (`databasePath`) the periodic backups into the backend. Each
 * scheduled backup first checks that the database file is still the one the node opened: deleted
 * or replaced behind the node's back, the node goes on with the database it has open (SQLite
 * keeps an unlinked file readable), logs an error, and its backups keep capturing that database,
 * so the next start restores it. Options are checked at once (TypeError, RangeError).
 */
export function createNodeCrawler(options: NodeCrawlerOptions): NodeCrawler {
  const {
    backgroundCrawl = true,
    databasePath,
    backupIntervalSeconds = DEFAULT_BACKUP_INTERVAL_SECONDS,
    backupsKept = DEFAULT_BACKUPS_KEPT,
    logger,
    every = defaultEvery,
    ...crawlerOptions
  } = options;
  const { leaseDb, backend, stateKey } = options;
  if (!Number.isFinite(backupIntervalSeconds) || backupIntervalSeconds < 0) {
    throw new RangeError('backupIntervalSeconds must be a number of seconds ≥ 0');
  }
  if (!Number.isSafeInteger(backupsKept) || backupsKept < 1) {
    throw new RangeError('backupsKept must be an integer ≥ 1');
  }
  const crawler = new AccountingCrawler({
    ...crawlerOptions,
    onCycleError: (error) =>
      logger?.error({ err: error }, 'the crawler cycle failed; it is tried again later'),
  });
  const backupsEnabled = databasePath !== undefined && backupIntervalSeconds > 0;
  // The file's identity when the node opened it.
  const opened = databasePath === undefined ? undefined : statSync(databasePath);

  let cancel: (() => void) | undefined;
  let cancelSnapshots: (() => void) | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let last: BackupInfo | null = null;
  let lastError: string | null = null;
  let reportedFile: DatabaseFileState = 'ok';

  const databaseFile = (): DatabaseFileState | null => {
    if (databasePath === undefined || opened === undefined) return null;
    try {
      const now = statSync(databasePath);
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
          stateKey,
          keep: backupsKept,
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
        { database: databasePath, file },
        file === 'missing'
          ? 'the database file was deleted while the node runs: the node goes on with the database it has open and backs it up now; restart it to restore that backup'
          : `the database file was replaced while the node runs: the node goes on with the database it has open and backs it up now; at its next start it will use the file now at ${databasePath} instead, unless you put that backup back first (stop the node, then \`ostrom db restore\`)`,
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
      if (backgroundCrawl) crawler.start();
      if (!cancelSnapshots) {
        void snapshot();
        cancelSnapshots = every(snapshot, USAGE_SNAPSHOT_SECONDS * 1000);
      }
      if (backupsEnabled && !cancel) {
        cancel = every(
          () =>
            scheduled().catch((error: unknown) =>
              logger?.error({ err: error }, 'backing up the lease database failed'),
            ),
          backupIntervalSeconds * 1000,
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
          enabled: backgroundCrawl,
          running: crawler.running,
          processId: crawler.processId,
          holding: crawler.holding,
          lastError: error === undefined ? null : message(error),
        },
        backups: backupsEnabled
          ? { intervalSeconds: backupIntervalSeconds, kept: backupsKept, last, lastError }
          : null,
        databaseFile: databaseFile(),
      };
    },
  };
}
