export {
  type AccountRecordProblem,
  type AccountRecordsOptions,
  type AccountRestoreReport,
  restoreAccounts,
  syncAccountRecords,
} from './accounts.js';
export {
  BACKUP_BLOB_PREFIX,
  BACKUP_ERROR_CODES,
  BackupError,
  type BackupErrorCode,
  type BackupInfo,
  type BackupReport,
  backupName,
  DEFAULT_BACKUPS_KEPT,
  listBackups,
  type MakeBackupOptions,
  makeBackup,
  parseBackupName,
  type RestoreOptions,
  type RestoreReport,
  readBackup,
  restoreBackup,
  restoreLatestBackup,
} from './backup.js';
export { COUNTER_NAMES, type CounterName, type Counters } from './counters.js';
export {
  AccountingCrawler,
  CrawlerClaimedError,
  type CrawlerProgress,
  type CrawlerStatus,
  type CycleReport,
  readCrawlerStatus,
} from './crawler.js';
export { type DeletionHold, deletionHold, deletionHoldSeconds } from './deletion.js';
export {
  createNodeCrawler,
  type DatabaseFileState,
  DEFAULT_BACKUP_INTERVAL_SECONDS,
  type NodeCrawler,
  type NodeCrawlerLogger,
  type NodeCrawlerOptions,
  type NodeCrawlerStatus,
  USAGE_HOURLY_DAYS,
  USAGE_SNAPSHOT_SECONDS,
} from './node-crawler.js';
export {
  type CrawlerOptions,
  DEFAULT_DELETION_GRACE_SECONDS,
  type PacingClock,
} from './options.js';
export { PREFIXES } from './prefixes.js';
export {
  beginRecovery,
  type DatabaseReplacement,
  describeRestore,
  dropClaimOfBackup,
  everReconciled,
  type FileRecovery,
  finishRecovery,
  moveAside,
  RECOVERY_REASONS,
  type ReconcileOptions,
  type ReconcileReport,
  type RecoverFileOptions,
  type RecoveryMarker,
  type RecoveryReason,
  type ReplaceDatabaseOptions,
  type RestoreRecord,
  readRecoveryMarker,
  reconcileNow,
  recordRestore,
  recoverSqliteFile,
  recoveryMarkerPath,
  replaceDatabase,
} from './recovery.js';
export {
  type PrepareSqliteOptions,
  prepareSqliteDatabase,
  type StartupRecovery,
} from './startup.js';
