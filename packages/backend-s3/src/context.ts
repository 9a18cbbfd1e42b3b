import type { KeyedLock } from '@ostrom/backend';
import type { S3Layout } from './layout.js';
import type { ObjectStore } from './object-store.js';

// What the parts of one S3 backend share. createS3Backend builds it once and hands it to each
// module; anything only one module needs stays in that module.

export interface S3Context {
  /** The bucket, through the share listing's watch, which drops a stale read-ahead. */
  readonly store: ObjectStore;
  readonly layout: S3Layout;
  /** Largest share accepted. */
  readonly maxShareBytes: number;
  /** Writers of one share (chunks of an upload, a mutable write, a delete) take turns. */
  readonly lock: KeyedLock;
}

/** One share's key in the lock and among the uploads. */
export function keyOf(storageIndex: string, shnum: number): string {
  return `${storageIndex}/${shnum}`;
}

/** One share as messages name it. */
export function shareName(storageIndex: string, shnum: number): string {
  return `share ${storageIndex}/${shnum}`;
}
