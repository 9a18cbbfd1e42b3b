import { closeSync, fsyncSync, openSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { inspectSqliteFile, type LeaseDb, type SqliteFileCondition } from '@ostrom/leasedb';
import { type AccountRestoreReport, restoreAccounts } from './accounts.js';
import {
  BackupError,
  type BackupInfo,
  type RestoreOptions,
  type RestoreReport,
  restoreBackup,
  restoreLatestBackup,
} from './backup.js';
import { AccountingCrawler, type CrawlerProgress, type CycleReport } from './crawler.js';
import type { CrawlerOptions } from './options.js';

// Recovering a lost SQLite lease database (docs/ARCHITECTURE.md, "Recovering a lost database"). At
// start-up, a database file that is missing or damaged is replaced by the newest backup that opens
// (or by an empty database), and one full reconciliation with the store runs before any request is
// served: shares newer than the backup are adopted with the owner records kept beside them, and
// rows of shares deleted since are removed. A damaged file is moved aside, never deleted. A marker
// file beside the database says a recovery is under way, so that a crash in the middle of one makes
// the next start finish it. Once reconciled, the restore is recorded in the database, and the
// crawler holds deletion for a lease duration and its grace period: leases renewed after the backup
// are not in it.

/** Why a node reconciles its database before serving. */
export const RECOVERY_REASONS = [
  /** The database file was missing. */
  'missing',
  /** The database file could not be opened or failed SQLite's check; it was moved aside. */
  'damaged',
  /** A recovery, restore or rebuild was interrupted, or a restore awaits its reconciliation. */
  'interrupted',
  /** The database was never reconciled with the store (e.g. a node adopting a Tahoe directory). */
  'never-reconciled',
] as const;
export type RecoveryReason = (typeof RECOVERY_REASONS)[number];

/** What {@link replaceDatabase} did: the backup put in place, those passed over, the files moved aside. */
export interface DatabaseReplacement extends RestoreReport {
  /** Where the files that were in the way went (the database and its -wal and -shm). */
  readonly movedAside: readonly string[];
}

/** What {@link recoverSqliteFile} did to the database file before it was opened. */
export interface FileRecovery extends DatabaseReplacement {
  readonly reason: Exclude<RecoveryReason, 'never-reconciled'>;
  /** Why the file was judged damaged. */
  readonly damage?: string;
  /** `interrupted`: what the marker says of the recovery, restore or rebuild left unfinished. */
  readonly marker?: RecoveryMarker;
}

/** What the marker beside a database says: why the recovery began, and the backup it put in place. */
export interface RecoveryMarker {
  readonly reason: string;
  /** The backup restored, when the marker says (markers of older versions do not). */
  readonly backup: BackupInfo | null;
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** The marker beside a database that says a recovery of it is under way. */
export function recoveryMarkerPath(path: string): string {
  return `${path}.recovering`;
}

async function writeMarker(
  path: string,
  reason: string,
  at: number,
  backup: BackupInfo | null,
): Promise<void> {
  await writeFile(recoveryMarkerPath(path), `${JSON.stringify({ reason, at, backup })}\n`);
  syncDir(dirname(path));
}

/**
 * Writes the marker before a reconciliation that is not a restore (a database never reconciled),
 * so that a crash before {@link finishRecovery} makes the next start reconcile again.
 */
export async function beginRecovery(
  path: string,
  reason: string,
  at: number = unixNow(),
): Promise<void> {
  await writeMarker(path, reason, at, null);
}

/** Removes the marker once the reconciliation it asked for has finished. */
export async function finishRecovery(path: string): Promise<void> {
  await rm(recoveryMarkerPath(path), { force: true });
  syncDir(dirname(path));
}

/** What the marker says, for logs and the restore's record; undefined when there is none. */
export async function readRecoveryMarker(path: string): Promise<RecoveryMarker | undefined> {
  let text: string;
  try {
    text = await readFile(recoveryMarkerPath(path), 'utf8');
  } catch {
    return undefined;
  }
  let parsed: { reason?: unknown; backup?: { name?: unknown; createdAt?: unknown } | null };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Torn or garbled: a recovery is still under way, for a reason no longer known.
    return { reason: 'unknown', backup: null };
  }
  const reason =
    typeof parsed.reason === 'string' && /^[a-z][a-z0-9-]{0,31}$/.test(parsed.reason)
      ? parsed.reason
      : 'unknown';
  const b = parsed.backup;
  const backup =
    b && typeof b.name === 'string' && typeof b.createdAt === 'number'
      ? { name: b.name, createdAt: b.createdAt }
      : null;
  return { reason, backup };
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Renames the database file and its `-wal` and `-shm` (those that exist) to
 * `<path>.<label>-<at>[-n]` (with the same suffixes, so SQLite opens the copy with its log), and
 * returns the new names. Nothing is ever deleted.
 */
export async function moveAside(path: string, label: string, at: number): Promise<string[]> {
  const present: string[] = [];
  for (const suffix of ['', '-wal', '-shm']) {
    if (await exists(path + suffix)) present.push(suffix);
  }
  if (present.length === 0) return [];
  let base = `${path}.${label}-${at}`;
  for (let n = 2; (await exists(base)) || (await exists(`${base}-wal`)); n++) {
    base = `${path}.${label}-${at}-${n}`;
  }
  const moved: string[] = [];
  for (const suffix of present) {
    await rename(path + suffix, base + suffix);
    moved.push(base + suffix);
  }
  syncDir(dirname(path));
  return moved;
}

export interface ReplaceDatabaseOptions extends RestoreOptions {
  /** Names what is moved aside: `<path>.<label>-<at>` (`replaced`, `damaged`, `orphaned`). */
  readonly label: string;
  /** Why, for the marker (`restore`, `rebuild`, `missing`...): 1–32 of a-z, 0-9 and -. */
  readonly reason: string;
  /** Unix seconds, for the marker and the names moved aside (default now). */
  readonly at?: number;
  /** This backup (its blob name) rather than the newest that opens. */
  readonly from?: string;
  /** Change nothing and throw BackupError `NOT_FOUND` when no backup is usable. */
  readonly requireBackup?: boolean;
}

/**
 * Puts a backup in the place of the database at `path`: the backup (`from`, or the newest that
 * opens) is first restored beside it and checked, so that nothing changes when none is usable;
 * then the recovery marker is written, whatever is at `path` is moved aside (`label`), and the
 * backup renamed into place. With no usable backup and no `from`, `path` is left free, for an
 * empty database (unless `requireBackup`). The marker stays until {@link finishRecovery}.
 * BackupError `NOT_FOUND` or `UNUSABLE` for a `from` that is missing or does not open.
 */
export async function replaceDatabase(
  options: ReplaceDatabaseOptions,
): Promise<DatabaseReplacement> {
  const { path, backend, stateKey } = options;
  const at = options.at ?? unixNow();
  const staging = `${path}.restoring`;
  await rm(staging, { force: true });
  let restored: BackupInfo | undefined;
  let skipped: RestoreReport['skipped'] = [];
  try {
    if (options.from !== undefined) {
      restored = await restoreBackup({ backend, stateKey, path: staging, name: options.from });
    } else {
      ({ restored, skipped } = await restoreLatestBackup({ backend, stateKey, path: staging }));
    }
    if (!restored && options.requireBackup) {
      throw new BackupError(
        'NOT_FOUND',
        skipped.length === 0
          ? 'the store holds no backup of the lease database'
          : `no usable backup: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
      );
    }
    await writeMarker(path, options.reason, at, restored ?? null);
    const movedAside = await moveAside(path, options.label, at);
    if (restored) {
      await rename(staging, path);
      syncDir(dirname(path));
    }
    return { restored, skipped, movedAside };
  } finally {
    await rm(staging, { force: true });
  }
}

/**
 * Looks at the database file without changing it (`inspectSqliteFile` of the lease database
 * package). BackupError `UNREADABLE` when the file cannot be read at all.
 */
function inspect(path: string): SqliteFileCondition {
  try {
    return inspectSqliteFile(path);
  } catch (error) {
    throw new BackupError('UNREADABLE', (error as Error).message, {
      cause: error,
      details: { path },
    });
  }
}

/** Options of {@link recoverSqliteFile}. */
export interface RecoverFileOptions extends RestoreOptions {
  /** Unix seconds, for the marker and the names moved aside (default now). */
  readonly at?: number;
}

/**
 * Before the database is opened at start-up: a missing or damaged file is replaced by the newest
 * usable backup (or left for an empty database), the damaged one moved aside; a recovery that
 * was under way is reported as interrupted. Undefined when the file is sound and no recovery
 * was pending. The caller reconciles ({@link reconcileNow}), records the restore
 * ({@link recordRestore}), then calls {@link finishRecovery}. BackupError `UNREADABLE` when
 * the file cannot be read at all (permissions, a lock): nothing is changed then.
 */
export async function recoverSqliteFile(
  options: RecoverFileOptions,
): Promise<FileRecovery | undefined> {
  const { path } = options;
  const condition = inspect(path);
  if (condition.state === 'sound') {
    const marker = await readRecoveryMarker(path);
    if (!marker) return undefined;
    return { reason: 'interrupted', movedAside: [], restored: undefined, skipped: [], marker };
  }
  const reason = condition.state;
  // A -wal left without its database belongs to that database: moved aside too ("orphaned"),
  // never replayed into a new one.
  const replaced = await replaceDatabase({
    path,
    backend: options.backend,
    stateKey: options.stateKey,
    label: reason === 'damaged' ? 'damaged' : 'orphaned',
    reason,
    ...(options.at === undefined ? {} : { at: options.at }),
  });
  return {
    reason,
    ...(condition.state === 'damaged' ? { damage: condition.reason } : {}),
    ...replaced,
  };
}

/** Whether a full reconciliation has ever finished on this database. */
export async function everReconciled(leaseDb: LeaseDb): Promise<boolean> {
  return (await leaseDb.listCrawlerCycles('accounting')).length > 0;
}

/** Options of {@link reconcileNow}: the crawler's that bear on one cycle run at once. */
export interface ReconcileOptions
  extends Pick<
    CrawlerOptions,
    | 'leaseDb'
    | 'backend'
    | 'exclusive'
    | 'processId'
    | 'claimTtlSeconds'
    | 'deletionGraceSeconds'
    | 'processTimeoutSeconds'
    | 'historyLength'
    | 'now'
  > {
  /** The node's state key (32 bytes): it opens the account and owner records. */
  readonly stateKey: Uint8Array;
  /** Told after each prefix. */
  readonly onProgress?: (progress: CrawlerProgress) => void;
}

/** What {@link reconcileNow} did: the cycle, and the accounts brought back from their records. */
export interface ReconcileReport extends CycleReport {
  readonly accounts: AccountRestoreReport;
}

/**
 * One full reconciliation of the database with the store, as fast as it goes, under the
 * crawler's claim for `processId` (CrawlerClaimedError when another live process holds it).
 * First the accounts come back from their records in the store (`restoreAccounts`): each with
 * the id its NURL names and its recorded status, quotas, nickname and attributes, those the
 * database lacks included, and the id sequence moved past every recorded id; then the shares,
 * whose owner records name those accounts. It
 * deletes nothing: leases renewed after the backup it may start from are not in it, so shares
 * that look unleased are only counted (`unleased`). The background crawl would delete them at its
 * first cycle (their grace counts from the expiry the database shows, long past), so the caller
 * records the restore ({@link recordRestore}) and the crawler holds deletion from then (see
 * `deletionHoldSeconds`).
 */
export async function reconcileNow(options: ReconcileOptions): Promise<ReconcileReport> {
  const { onProgress, ...crawlerOptions } = options;
  const accounts = await restoreAccounts({
    leaseDb: options.leaseDb,
    backend: options.backend,
    stateKey: options.stateKey,
  });
  const crawler = new AccountingCrawler({ ...crawlerOptions, deleteUnleased: false });
  const cycle = await crawler.runOnce(onProgress ? { onProgress } : {});
  return { ...cycle, accounts };
}

/**
 * Gives up the crawler claim a database put back from a backup holds: it is the claim of the
 * process that crawled when the backup was taken, and would keep the reconciliation of the
 * restored database waiting (or refused) for up to its time-to-live after a crash.
 */
export async function dropClaimOfBackup(leaseDb: LeaseDb): Promise<void> {
  const claim = await leaseDb.getCrawlerClaim('accounting');
  if (claim) await leaseDb.releaseCrawler('accounting', claim.holder);
}

/** A restore, as {@link recordRestore} records it. */
export interface RestoreRecord {
  /** Why (`restore`, `rebuild`, `missing`, `damaged`, `pg-restore`...). */
  readonly reason: string;
  /** The backup restored; null or undefined: the database started empty, or was rebuilt as it was. */
  readonly backup: BackupInfo | null | undefined;
  /** Unix seconds: the deletion hold counts from then. */
  readonly at: number;
  /** Who, for the activity log (`node`, `cli`). */
  readonly actor: string;
  /** The reconciliation that followed, if one did. */
  readonly cycle?: CycleReport;
}

/**
 * Records in the database that it was restored (from `backup`, or started empty) or otherwise
 * rebuilt from the store at `at`: the crawler then holds deletion (see `deletionHoldSeconds`),
 * since the leases renewed after the backup (any lease, without one) are unknown to it. A
 * reconciliation that found no share at all needs no hold (a share stored later comes with its
 * lease), and records nothing: false.
 */
export async function recordRestore(leaseDb: LeaseDb, restore: RestoreRecord): Promise<boolean> {
  if (restore.cycle && restore.cycle.counters.examined === 0) return false;
  await leaseDb.recordRestore({
    reason: restore.reason,
    backup: restore.backup?.name ?? null,
    backupCreatedAt: restore.backup?.createdAt ?? null,
    actor: restore.actor,
    at: restore.at,
  });
  return true;
}

/** A one-line summary of a restore, for logs and the CLI. */
export function describeRestore(recovery: RestoreReport): string {
  const passed =
    recovery.skipped.length === 0
      ? ''
      : ` (passed over ${recovery.skipped.length} unusable: ${recovery.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`;
  return recovery.restored
    ? `restored the backup ${recovery.restored.name} of ${new Date(recovery.restored.createdAt * 1000).toISOString()}${passed}`
    : `no usable backup: starting from an empty database${passed}`;
}
