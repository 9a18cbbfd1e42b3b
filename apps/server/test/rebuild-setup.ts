import { constants } from 'node:fs';
import { access, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { ConfigValues } from '../src/config.js';
import { configure, createTestNode, type Flavour, type TestNode } from './node-harness.js';

// Nodes for the rebuild suites (rebuild.test.ts, rebuild-commands.test.ts).

/** What `ostrom db rebuild --json` prints. */
export interface RebuildJson {
  restored: { name: string; createdAt: number } | null;
  skipped: { name: string; reason: string }[];
  movedAside: string[];
  cycle: { counters: Record<string, number> };
}

/** Linux's memory file system; elsewhere the OS temp dir is used. */
const MEMORY_FS = '/dev/shm';

/**
 * Free space the memory file system must have to be used: a node here holds a few MB (its
 * database, WAL and backups), but a container's /dev/shm may be as small as 64 MB and shared.
 */
const MEMORY_FS_MIN_FREE_BYTES = 256 * 2 ** 20;

/** The memory file system, when there is one with room; else the OS temp dir. */
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
 * A node directory on a memory file system when the machine has one. A new node's first start,
 * every start after a loss or a restore and every `db rebuild` reconcile all 1,024 prefixes,
 * saving the crawler's position in a transaction of its own after each, and the node's SQLite
 * database syncs every commit (synchronous FULL): on a disk each such cycle waits for 1,024
 * fsyncs (a start that reconciled took 6-7 s on a loaded 2-core machine, 2 s in memory), most
 * of these suites' time. No test here can observe durability (nothing crashes the machine).
 */
export async function nodeDirInMemory(): Promise<string> {
  const dir = await mkdtemp(join(await memoryBackedBase(), 'ostrom-rebuild-'));
  onTestFinished(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return join(dir, 'node');
}

/** A test node (see `createTestNode`) whose directory is on a memory file system. */
export async function nodeInMemory(flavour: Flavour, values: ConfigValues = {}): Promise<TestNode> {
  return await createTestNode(flavour, values, { dir: await nodeDirInMemory() });
}

/** A node without automatic backups or a background crawl: the test decides when each runs. */
export async function nodeWithoutAutomaticBackups(flavour: Flavour): Promise<TestNode> {
  const node = await nodeInMemory(flavour, { crawlerEnabled: false });
  await configure(node.dir, 'backup_interval', '0');
  return node;
}
