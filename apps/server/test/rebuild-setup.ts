import { join } from 'node:path';
import { memoryTempDir } from '@ostrom/test-fixtures';
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

/**
 * A node directory on a memory file system when the machine has one. A new node's first start,
 * every start after a loss or a restore and every `db rebuild` reconcile all 1,024 prefixes,
 * saving the crawler's position in a transaction of its own after each, and the node's SQLite
 * database syncs every commit (synchronous FULL): on a disk each such cycle waits for 1,024
 * fsyncs (a start that reconciled took 6-7 s on a loaded 2-core machine, 2 s in memory), most
 * of these suites' time. No test here can observe durability (nothing crashes the machine).
 */
export async function nodeDirInMemory(): Promise<string> {
  return join(await memoryTempDir('ostrom-rebuild-'), 'node');
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
