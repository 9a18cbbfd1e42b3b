import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { BackendError, type ShareBackend } from '@ostrom/backend';
import { type LeaseDb, LeaseDbError, restoreSqliteBackup } from '@ostrom/leasedb';

// Backups of the lease database live in the backend's state blobs, beside the shares they
// describe: `leasedb/backup-<Unix seconds, 12 digits>.sqlite.gz`, so that names sort by time. A
// backup is SQLite's own snapshot of the whole database (`LeaseDb.backup()`), gzip-compressed,
// then sealed by the backend with the node's state key (AES-256-GCM with the name as associated
// data: a blob renamed, altered or sealed under another key fails to open).
//
// SQLite only. A PostgreSQL database is backed up with pg_dump, by its operator, as any other
// PostgreSQL database; and a node loses nothing it cannot get back without one: the crawler
// rebuilds shares and leases from the store, and owner records bring back every account that
// stored a share (`ostrom db rebuild`).

/** Where backups are kept among the state blobs. */
export const BACKUP_BLOB_PREFIX = 'leasedb/';

/** How many backups are kept by default: a day of hourly ones. */
export const DEFAULT_BACKUPS_KEPT = 24;

const NAME = /^leasedb\/backup-(\d{12})\.sqlite\.gz$/;

/** Every code a {@link BackupError} can carry. */
export const BACKUP_ERROR_CODES = [
  /** Backups exist for SQLite lease databases only (PostgreSQL: pg_dump). */
  'UNSUPPORTED',
  /** No backup of that name. */
  'NOT_FOUND',
  /** The backup does not decrypt with this state key, does not decompress, or is no lease database. */
  'UNUSABLE',
  /**
   * Start-up recovery cannot read the database file at all (permissions, not a file, a lock):
   * a reason to stop, not to replace it (see `recoverSqliteFile`).
   */
  'UNREADABLE',
] as const;

export type BackupErrorCode = (typeof BACKUP_ERROR_CODES)[number];

/**
 * An operational failure of a backup, a restore or a recovery; the store's or database's error
 * is `cause`.
 */
export class BackupError extends Error {
  override readonly name = 'BackupError';
  readonly code: BackupErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: BackupErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}

/** One backup in the store. */
export interface BackupInfo {
  /** The blob name, e.g. `leasedb/backup-001800000000.sqlite.gz`. */
  readonly name: string;
  /** Unix seconds: when the snapshot was taken. */
  readonly createdAt: number;
}

/** What {@link makeBackup} did. */
export interface BackupReport extends BackupInfo {
  /** Size of the database snapshot. */
  readonly databaseBytes: number;
  /** Size of the stored blob (compressed, before sealing). */
  readonly compressedBytes: number;
  /** Older backups deleted to keep `keep`. */
  readonly pruned: readonly string[];
  /** Older backups that could not be deleted (tried again after the next backup). */
  readonly pruneFailed: readonly string[];
}

/** What a restore did: the backup restored (if any) and those passed over, newest first. */
export interface RestoreReport {
  readonly restored: BackupInfo | undefined;
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
}

export interface MakeBackupOptions {
  readonly leaseDb: LeaseDb;
  readonly backend: ShareBackend;
  /** The node's state key (32 bytes): the backend seals the blob with it. */
  readonly stateKey: Uint8Array;
  /** Backups kept, this one included (default {@link DEFAULT_BACKUPS_KEPT}). */
  readonly keep?: number;
  /** Who asked, for the activity log (default `node`). */
  readonly actor?: string;
  /** Unix seconds (inject a clock in tests). */
  readonly now?: () => number;
}

export interface RestoreOptions {
  readonly backend: ShareBackend;
  readonly stateKey: Uint8Array;
  /** The SQLite database file to replace; it must not be open. */
  readonly path: string;
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

function checkStateKey(stateKey: unknown): void {
  if (!(stateKey instanceof Uint8Array) || stateKey.length !== 32) {
    throw new TypeError('stateKey must be 32 bytes');
  }
}

/** The blob name of a backup taken at `createdAt` (Unix seconds). */
export function backupName(createdAt: number): string {
  if (!Number.isSafeInteger(createdAt) || createdAt < 0 || createdAt >= 1e12) {
    throw new RangeError('createdAt must be Unix seconds');
  }
  return `${BACKUP_BLOB_PREFIX}backup-${String(createdAt).padStart(12, '0')}.sqlite.gz`;
}

/** The time a backup's blob name says, or undefined for another blob. */
export function parseBackupName(name: string): number | undefined {
  const match = NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The backups in the store, newest first (other blobs under `leasedb/` are ignored). */
export async function listBackups(backend: ShareBackend): Promise<BackupInfo[]> {
  const backups: BackupInfo[] = [];
  for (const name of await backend.listBlobs(BACKUP_BLOB_PREFIX)) {
    const createdAt = parseBackupName(name);
    if (createdAt !== undefined) backups.push({ name, createdAt });
  }
  return backups.sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * Backs up a SQLite lease database into the backend: a consistent snapshot taken while the
 * database is in use, compressed, sealed with the state key; then deletes all but the newest
 * `keep` backups and logs a `backup-made` event. BackupError `UNSUPPORTED` on PostgreSQL.
 */
export async function makeBackup(options: MakeBackupOptions): Promise<BackupReport> {
  const { leaseDb, backend, stateKey } = options;
  checkStateKey(stateKey);
  const keep = options.keep ?? DEFAULT_BACKUPS_KEPT;
  if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError('keep must be an integer ≥ 1');
  if (leaseDb.dialect !== 'sqlite') {
    throw new BackupError(
      'UNSUPPORTED',
      'the lease database is on PostgreSQL: back it up with pg_dump; without a backup, `ostrom db rebuild` recovers shares, leases and owners from the store',
    );
  }
  const createdAt = (options.now ?? (() => Math.floor(Date.now() / 1000)))();
  const name = backupName(createdAt);
  const snapshot = await leaseDb.backup();
  const compressed = await gzipAsync(snapshot);
  await backend.putBlob(name, compressed, stateKey);

  const pruned: string[] = [];
  const pruneFailed: string[] = [];
  for (const old of (await listBackups(backend)).slice(keep)) {
    try {
      await backend.deleteBlob(old.name);
      pruned.push(old.name);
    } catch {
      pruneFailed.push(old.name);
    }
  }
  await leaseDb.appendEvent({
    kind: 'backup-made',
    actor: options.actor ?? 'node',
    data: {
      name,
      databaseBytes: snapshot.length,
      compressedBytes: compressed.length,
      pruned: pruned.length,
    },
  });
  return {
    name,
    createdAt,
    databaseBytes: snapshot.length,
    compressedBytes: compressed.length,
    pruned,
    pruneFailed,
  };
}

/**
 * A backup's database bytes: opened with the state key and decompressed. BackupError
 * `NOT_FOUND` when there is no such blob, `UNUSABLE` when it does not open or decompress.
 */
export async function readBackup(
  backend: ShareBackend,
  stateKey: Uint8Array,
  name: string,
): Promise<Uint8Array> {
  checkStateKey(stateKey);
  if (parseBackupName(name) === undefined) {
    throw new BackupError('NOT_FOUND', `${name} is not the name of a lease database backup`, {
      details: { name },
    });
  }
  let sealed: Uint8Array | undefined;
  try {
    sealed = await backend.getBlob(name, stateKey);
  } catch (error) {
    if (error instanceof BackendError && error.code === 'CORRUPT') {
      throw new BackupError(
        'UNUSABLE',
        `${name} does not decrypt with this node's state key (another node's, or altered)`,
        { cause: error, details: { name } },
      );
    }
    throw error;
  }
  if (sealed === undefined) {
    throw new BackupError('NOT_FOUND', `no backup ${name}`, { details: { name } });
  }
  try {
    return new Uint8Array(await gunzipAsync(sealed));
  } catch (error) {
    throw new BackupError('UNUSABLE', `${name} is not gzip-compressed`, {
      cause: error,
      details: { name },
    });
  }
}

/**
 * Replaces the SQLite database at `path` with the backup `name`, after checking that it is an
 * intact lease database; the file is switched by a rename (see `restoreSqliteBackup`).
 * BackupError `NOT_FOUND` or `UNUSABLE`, and the database is left as it was.
 */
export async function restoreBackup(
  options: RestoreOptions & { readonly name: string },
): Promise<BackupInfo> {
  const bytes = await readBackup(options.backend, options.stateKey, options.name);
  try {
    restoreSqliteBackup(options.path, bytes);
  } catch (error) {
    if (error instanceof LeaseDbError && error.code === 'INVALID_BACKUP') {
      throw new BackupError('UNUSABLE', `${options.name}: ${error.message}`, {
        cause: error,
        details: { name: options.name },
      });
    }
    throw error;
  }
  return { name: options.name, createdAt: parseBackupName(options.name)! };
}

/**
 * Restores the newest backup that opens, decompresses and is an intact lease database, passing
 * over (and reporting) those that are not; `restored` is undefined when none is usable or there
 * is none, and the file at `path` is then left as it was. A store that cannot be reached throws:
 * an outage must not make an older backup win over the newest.
 */
export async function restoreLatestBackup(options: RestoreOptions): Promise<RestoreReport> {
  checkStateKey(options.stateKey);
  const skipped: { name: string; reason: string }[] = [];
  for (const backup of await listBackups(options.backend)) {
    try {
      return { restored: await restoreBackup({ ...options, name: backup.name }), skipped };
    } catch (error) {
      if (!(error instanceof BackupError)) throw error;
      skipped.push({ name: backup.name, reason: error.message });
    }
  }
  return { restored: undefined, skipped };
}
