import type { KeyedLock } from '@ostrom/backend';
import type { Flushing } from './durable-fs.js';
import type { DiskLayout } from './layout.js';
import type { ShareCache } from './share-cache.js';

// What the parts of one disk backend share. createDiskBackend builds it once and hands it to
// each module; anything only one module needs stays in that module.

export interface DiskContext {
  readonly layout: DiskLayout;
  /** Largest share accepted. */
  readonly maxShareBytes: number;
  /** Whether data and directories are fsynced before a write is acknowledged; who hears of it. */
  readonly sync: Flushing;
  /** Writers of one share (chunks of an upload, a mutable rewrite) take turns; reads do not wait. */
  readonly lock: KeyedLock;
  /** Open handles and headers of complete shares, which a change to a share must drop. */
  readonly shares: ShareCache;
}

/** One share's key in the lock and among the uploads, and its name in messages. */
export function keyOf(storageIndex: string, shnum: number): string {
  return `${storageIndex}/${shnum}`;
}
