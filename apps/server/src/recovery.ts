import { deletionHoldSeconds, type ReconcileOptions } from '@ostrom/crawler';
import type { OstromConfig } from './config.js';
import type { LoadedNode } from './node-dir.js';

// The node's side of recovering a lost lease database (`ostrom db`): the recovery itself is
// @ostrom/crawler's (`packages/crawler/src/recovery.ts`, `startup.ts`); here the node's config
// becomes its options.

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
