import type { ShareBackend } from '@ostrom/backend';
import type { LeaseDb } from '@ostrom/leasedb';
import type { CrawlerProgress, CycleReport } from './crawler.js';
import { deletionHoldSeconds } from './deletion.js';
import type { NodeCrawlerLogger } from './node-crawler.js';
import {
  beginRecovery,
  describeRestore,
  dropClaimOfBackup,
  everReconciled,
  type FileRecovery,
  finishRecovery,
  type RecoveryReason,
  reconcileNow,
  recordRestore,
  recoverSqliteFile,
} from './recovery.js';

/** What {@link prepareSqliteDatabase} did to the database before the node served. */
export interface StartupRecovery extends Omit<FileRecovery, 'reason'> {
  readonly reason: RecoveryReason;
  /** The full reconciliation with the store that ran before any request was served. */
  readonly cycle: CycleReport;
  /**
   * Whether the restore was recorded, holding deletion for a lease duration and the grace (not
   * when the store held no share: no lease can have been lost then).
   */
  readonly deletionHeld: boolean;
}

export interface PrepareSqliteOptions {
  /** The SQLite file of the lease database. */
  readonly path: string;
  /** Opens the lease database at `path` (called once the file is in place). */
  readonly open: () => Promise<LeaseDb>;
  /** The store holding the shares and the database's backups. */
  readonly backend: ShareBackend;
  /** Unseals backups and owner records (the node's state key). */
  readonly stateKey: Uint8Array;
  readonly leaseDurationSeconds: number;
  readonly deletionGraceSeconds: number;
  /**
   * The process the reconciliation claims the crawler as: the same at every start, so that the
   * claim of a start that crashed is its own.
   */
  readonly processId: string;
  /** Unix seconds (default: the system clock). */
  readonly now?: () => number;
  readonly logger?: NodeCrawlerLogger;
}

/**
 * A SQLite lease database before a node serves: a missing or damaged file is replaced by the
 * newest usable backup (or an empty database), the damaged one moved aside; then, if that
 * happened, a recovery was interrupted, or the database was never reconciled (a new node, one
 * adopting a Tahoe directory), one full reconciliation with the store runs, and the restore is
 * recorded so that the crawler holds deletion for a lease duration and its grace (the leases
 * renewed since the backup are unknown; nothing is held when the store is empty). A crash
 * anywhere makes the next start do it again. A file that cannot be read at all is BackupError
 * `UNREADABLE` (from `recoverSqliteFile`). PostgreSQL has no such step: one database shared by several processes cannot
 * be told lost from new (rebuild it explicitly).
 */
export async function prepareSqliteDatabase(
  options: PrepareSqliteOptions,
): Promise<{ leaseDb: LeaseDb; recovery: StartupRecovery | undefined }> {
  const { path, backend, logger } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const file = await recoverSqliteFile({ path, backend, stateKey: options.stateKey, at: now() });
  logFileRecovery(path, file, logger);
  const leaseDb = await options.open();
  try {
    const reason: RecoveryReason | undefined =
      file?.reason ?? ((await everReconciled(leaseDb)) ? undefined : 'never-reconciled');
    if (reason === undefined) return { leaseDb, recovery: undefined };
    if (!file) await beginRecovery(path, reason, now());
    const backup = file?.restored ?? file?.marker?.backup ?? null;
    if (backup) await dropClaimOfBackup(leaseDb);
    logger?.info({ reason }, 'reconciling the database with the store before serving');
    const cycle = await reconcileNow({
      leaseDb,
      backend,
      stateKey: options.stateKey,
      deletionGraceSeconds: options.deletionGraceSeconds,
      processId: options.processId,
      ...(options.now ? { now: options.now } : {}),
      ...(logger ? { onProgress: progressLogger(logger, reason) } : {}),
    });
    const deletionHeld = await recordRestore(leaseDb, {
      reason: reason === 'interrupted' ? (file?.marker?.reason ?? reason) : reason,
      backup,
      at: now(),
      actor: 'node',
      cycle,
    });
    await finishRecovery(path);
    logger?.info({ reason, counters: cycle.counters }, 'the database agrees with the store');
    if (deletionHeld) {
      const hold = deletionHoldSeconds(options.leaseDurationSeconds, options.deletionGraceSeconds);
      const until = now() + hold;
      logger?.warn(
        { reason, deletionHeldUntil: until },
        `deletion of unleased shares is held until ${new Date(until * 1000).toISOString()}: the leases renewed after ${backup ? `the backup ${backup.name}` : 'the database was lost'} are unknown, and their clients have a lease duration and the deletion grace to renew them again`,
      );
    }
    return {
      leaseDb,
      recovery: {
        reason,
        movedAside: file?.movedAside ?? [],
        restored: file?.restored,
        skipped: file?.skipped ?? [],
        ...(file?.damage === undefined ? {} : { damage: file.damage }),
        ...(file?.marker === undefined ? {} : { marker: file.marker }),
        cycle,
        deletionHeld,
      },
    };
  } catch (error) {
    await leaseDb.close().catch(() => undefined);
    throw error;
  }
}

/** One line for what happened to the file: damaged, missing, an interrupted recovery, restored. */
function logFileRecovery(
  path: string,
  file: FileRecovery | undefined,
  logger: NodeCrawlerLogger | undefined,
): void {
  if (!file || !logger) return;
  if (file.reason === 'damaged') {
    logger.error(
      { database: path, damage: file.damage, movedAside: file.movedAside },
      'the database is damaged: moved it aside',
    );
  } else if (file.reason === 'missing') {
    // No database and no backup of one: a new node (or one that never made a backup).
    const fresh = !file.restored && file.skipped.length === 0 && file.movedAside.length === 0;
    logger[fresh ? 'info' : 'warn'](
      { database: path, movedAside: file.movedAside },
      fresh ? 'no database yet' : 'the database is missing',
    );
  } else {
    const explicit = file.marker?.reason === 'restore' || file.marker?.reason === 'rebuild';
    logger.warn(
      { database: path, interrupted: file.marker?.reason, backup: file.marker?.backup?.name },
      `finishing an interrupted ${explicit ? `${file.marker?.reason} (\`ostrom db ${file.marker?.reason}\`)` : 'recovery'} of the database`,
    );
    return;
  }
  logger[file.skipped.length > 0 ? 'warn' : 'info'](
    { database: path, restored: file.restored?.name ?? null, skipped: file.skipped },
    describeRestore(file),
  );
}

/** Progress of a reconciliation as log lines: one per tenth of the prefixes. */
function progressLogger(
  logger: NodeCrawlerLogger,
  reason: RecoveryReason,
): (progress: CrawlerProgress) => void {
  let logged = 0;
  return (progress) => {
    const tenth = Math.floor((progress.prefixesDone * 10) / progress.prefixesTotal);
    if (tenth <= logged) return;
    logged = tenth;
    const { examined, adopted, vanished, deadUploads, corrupt } = progress.counters;
    logger.info(
      {
        reason,
        percent: tenth * 10,
        prefixesDone: progress.prefixesDone,
        prefixesTotal: progress.prefixesTotal,
        examined,
        adopted,
        vanished,
        deadUploads,
        corrupt,
      },
      'reconciling the database with the store',
    );
  };
}
