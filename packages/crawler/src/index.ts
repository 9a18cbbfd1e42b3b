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
  type CrawlerOptions,
  DEFAULT_DELETION_GRACE_SECONDS,
  type PacingClock,
} from './options.js';
export { PREFIXES } from './prefixes.js';
