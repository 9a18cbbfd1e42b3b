import type { ShareBackend } from '@ostrom/backend';
import {
  BackupError,
  deletionHoldSeconds,
  type FileRecovery,
  type ReconcileOptions,
  recoverSqliteFile,
} from '@ostrom/crawler';
import type { OstromConfig } from './config.js';
import { NodeError } from './errors.js';
import type { LoadedNode } from './node-dir.js';

// The node's side of recovering a lost SQLite lease database: the recovery itself (the marker,
// moving aside, restoring the newest usable backup, the reconciliation) is @ostrom/crawler's
// (`packages/crawler/src/recovery.ts`); here the node's config becomes its options, and its
// errors the node's.

/**
 * `recoverSqliteFile` of the node's database at `path`. A file that cannot be read at all
 * (BackupError `UNREADABLE`) is NodeError `DATABASE_UNREACHABLE`, as any database the node
 * cannot reach at start-up.
 */
export async function recoverNodeDatabase(
  node: LoadedNode,
  path: string,
  backend: ShareBackend,
  at: number,
): Promise<FileRecovery | undefined> {
  try {
    return await recoverSqliteFile({ path, backend, stateKey: node.stateKey, at });
  } catch (error) {
    if (error instanceof BackupError && error.code === 'UNREADABLE') {
      throw new NodeError('DATABASE_UNREACHABLE', error.message, { cause: error.cause });
    }
    throw error;
  }
}

/** What `reconcileNow` takes from the node: its state key and `[crawler] deletion_grace`. */
export function reconcileOptions(
  node: LoadedNode,
): Pick<ReconcileOptions, 'stateKey' | 'deletionGraceSeconds'> {
  return {
    stateKey: node.stateKey,
    deletionGraceSeconds: node.config.crawler.deletionGraceSeconds,
  };
}

/** How long after a restore the node's crawler deletes nothing (see `deletionHoldSeconds`). */
export function deletionHoldFor(config: Pick<OstromConfig, 'leases' | 'crawler'>): number {
  return deletionHoldSeconds(config.leases.durationSeconds, config.crawler.deletionGraceSeconds);
}
