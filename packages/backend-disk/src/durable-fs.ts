import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FdFile } from './fd-file.js';
import { mkdir, rename, rmdir } from './fs-calls.js';
import { errnoOf } from './fs-errors.js';

// The few file operations whose order makes writes crash-safe: data reaches the disk before the
// name that makes it visible, and the name before the call returns.

/** One completed flush: a file's data (and size) or a directory's entries are on the disk. */
export interface DiskFlush {
  readonly path: string;
  readonly kind: 'file' | 'directory';
}

/** Whether writes are flushed before they are acknowledged, and who hears of each flush. */
export interface Flushing {
  readonly enabled: boolean;
  readonly onFlush: ((flush: DiskFlush) => void) | undefined;
}

/** fsyncs an open file (no-op when flushing is off), then reports it. */
export async function flushFile(
  handle: { sync(): Promise<void> },
  path: string,
  flushing: Flushing,
): Promise<void> {
  if (!flushing.enabled) return;
  await handle.sync();
  flushing.onFlush?.({ path, kind: 'file' });
}

/** fsyncs a file or directory by path (no-op when flushing is off), then reports it. */
export async function syncPath(
  path: string,
  kind: DiskFlush['kind'],
  flushing: Flushing,
): Promise<void> {
  if (!flushing.enabled) return;
  const handle = await FdFile.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  flushing.onFlush?.({ path, kind });
}

/**
 * Makes `dir`, then runs `fn`, which creates an entry in it. Emptied share directories are
 * pruned (as Tahoe does), so another share of the same index may remove `dir` (or a parent the
 * mkdir made) before `fn` runs: on ENOENT the directory is made again and `fn` retried. With
 * `made`, a directory in it is taken to exist (no mkdir) until `fn` finds it missing.
 */
export async function inDirectory<T>(
  dir: string,
  fn: () => Promise<T>,
  made?: Set<string>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      // The mkdir too: a prune may remove a parent it has just made before it makes the next.
      if (!made?.has(dir)) {
        await mkdir(dir, { recursive: true });
        made?.add(dir);
      }
      return await fn();
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT' || attempt === 5) throw error;
      made?.delete(dir);
    }
  }
}

/**
 * The temporary directories made by this process: each write would otherwise begin with a mkdir
 * of one that exists (two file-system calls of a small upload's thirty-five). Only the backends'
 * few temporary directories are kept; one removed meanwhile is made again on ENOENT.
 */
const madeTempDirs = new Set<string>();

/** Renames `from` over `to` (creating `to`'s directory), then syncs the directory entry. */
export async function publish(from: string, to: string, flushing: Flushing): Promise<void> {
  await inDirectory(dirname(to), () => rename(from, to));
  await syncPath(dirname(to), 'directory', flushing);
}

/**
 * Writes `parts` to a temporary file beside nothing visible, syncs it, and renames it to `path`:
 * readers see the old file or the whole new one, never a torn one.
 */
export async function writeFileAtomically(
  path: string,
  parts: readonly { offset: number; bytes: Uint8Array }[],
  size: number,
  tempDir: string,
  flushing: Flushing,
): Promise<void> {
  const temp = join(tempDir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    const handle = await inDirectory(tempDir, () => FdFile.open(temp, 'wx'), madeTempDirs);
    try {
      // Parts that end short of `size` leave the rest to a truncate (it reads as zeros).
      if (parts.every((part) => part.offset + part.bytes.length < size)) {
        await handle.truncate(size);
      }
      for (const part of parts) await writeAll(handle, part.bytes, part.offset);
      // Reported under the name it is about to take: that is the file a reader will find.
      await flushFile(handle, path, flushing);
    } finally {
      await handle.close();
    }
    await publish(temp, path, flushing);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes every byte of `bytes` at `position` (fs writes may be partial). */
export async function writeAll(
  handle: {
    write(
      buffer: Uint8Array,
      offset: number,
      length: number,
      position: number,
    ): Promise<{ bytesWritten: number }>;
  },
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.length - written,
      position + written,
    );
    written += bytesWritten;
  }
}

/** Removes `dir` and then its parent if they are empty, stopping at `stopAt`. */
export async function pruneEmptyDirs(dir: string, stopAt: string): Promise<void> {
  let current = dir;
  while (current.startsWith(stopAt) && current !== stopAt) {
    try {
      await rmdir(current);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') return;
      throw error;
    }
    current = dirname(current);
  }
}
