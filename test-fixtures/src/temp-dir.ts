import { constants } from 'node:fs';
import { access, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A fresh directory under the OS temp dir, removed when the current test finishes. */
export async function tempDir(prefix = 'ostrom-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A fresh directory for a whole suite; call the returned function (in afterAll) to remove it. */
export async function suiteTempDir(
  prefix = 'ostrom-suite-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Linux's memory file system; elsewhere the OS temp dir is used. */
const MEMORY_FS = '/dev/shm';

/**
 * Free space the memory file system must have to be used: a test node holds a few MB (its
 * database, WAL and backups), but a container's /dev/shm may be as small as 64 MB and shared.
 */
const MEMORY_FS_MIN_FREE_BYTES = 256 * 2 ** 20;

async function memoryBackedBase(): Promise<string> {
  try {
    await access(MEMORY_FS, constants.W_OK);
    const { bavail, bsize } = await statfs(MEMORY_FS);
    return bavail * bsize >= MEMORY_FS_MIN_FREE_BYTES ? MEMORY_FS : tmpdir();
  } catch {
    return tmpdir();
  }
}

/**
 * Like {@link tempDir}, on a memory file system when the machine has one with room. For whole
 * nodes: a node's first start, every start after a loss and every rebuild reconcile all 1,024
 * prefixes, each committed with a flush of its own (SQLite `synchronous = FULL`); on a shared
 * disk that is seconds a start. Only for tests that cannot observe durability (nothing in a test
 * crashes the machine; a killed process leaves its writes in the page cache either way).
 */
export async function memoryTempDir(prefix = 'ostrom-test-'): Promise<string> {
  const dir = await mkdtemp(join(await memoryBackedBase(), prefix));
  onTestFinished(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}
