import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, memoryTempDir } from '@ostrom/test-fixtures';
import type { ConfigValues } from '../src/config.js';
import { initNode } from '../src/node-dir.js';
import type { RunningNode, StartOptions } from '../src/server.js';
import { ostrom } from './helpers.js';
import { configure, createTestNode, type TestNode } from './node-harness.js';

// Several whole nodes on loopback for the grid service directory suites: each a node directory
// initialised on a free port of its own (so the NURL the CLI computes from the config is the one
// the node serves: `startNode` is given that same port), on disk and SQLite, the crawler off,
// with the harness's clock and manual timer (the node's periodic GSD check runs when the test
// fires it, never on a real timer).

/** `ostrom grid servers --json`, as the tests read it. */
export interface ServersJson {
  seqnum: number;
  fromSavedState: boolean;
  changes: {
    added: string[];
    removed: string[];
    updated: { petname: string; changed: string[] }[];
  };
  servers: {
    petname: string;
    reachable: boolean;
    announcement: { nickname: string; nurls: string[]; serverId: string };
  }[];
  problems: { nurl?: string; code: string; problem: string }[];
}

/** `changes` when the client saw none. */
export const NO_CHANGE = { added: [], removed: [], updated: [] };

/** `ostrom grid servers --state STATE --json` (exit 0 required), with what it said on stderr. */
export async function gridServers(state: string): Promise<ServersJson & { stderr: string }> {
  const result = await ostrom(['grid', 'servers', '--state', state, '--json']);
  if (result.code !== 0) throw new Error(`grid servers exited ${result.code}: ${result.stderr}`);
  return { ...(JSON.parse(result.stdout) as ServersJson), stderr: result.stderr };
}

export interface GridNode {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  readonly test: TestNode;
  /** The last start's running node (undefined before the first start). */
  running: RunningNode | undefined;
  /** Starts (or restarts) the node on its port. */
  start(options?: Partial<StartOptions>): Promise<RunningNode>;
  /** Stops it (its port refuses connections until the next start). */
  stop(): Promise<void>;
  /** `ostrom ARGS -d DIR` in this process. */
  cli(args: string[]): ReturnType<typeof ostrom>;
  /** Sets a `[gsd]` (or other) key that the rendered config has commented out. */
  configure(key: string, value: string): Promise<void>;
  /** Sets a key that the config sets already (the first `key = ` line). */
  set(key: string, value: string): Promise<void>;
}

export async function gridNodes(count: number, values: ConfigValues = {}): Promise<GridNode[]> {
  const root = await memoryTempDir('gsd-grid-');
  const nodes: GridNode[] = [];
  for (let i = 0; i < count; i++) {
    const name = `node-${String.fromCharCode(97 + i)}`;
    const dir = join(root, name);
    const port = await freePort();
    await initNode(dir, { nickname: name, port, crawlerEnabled: false, ...values });
    const test = await createTestNode('disk', {}, { dir, init: false });
    const node: GridNode = {
      name,
      dir,
      port,
      test,
      running: undefined,
      async start(options = {}) {
        node.running = await test.start({ port, ...options });
        return node.running;
      },
      async stop() {
        await node.running?.close();
      },
      cli: (args) => ostrom([...args, '-d', dir], { now: test.clock.now }),
      configure: (key, value) => configure(dir, key, value),
      async set(key, value) {
        const file = join(dir, 'ostrom.toml');
        const text = await readFile(file, 'utf8');
        const pattern = new RegExp(`^${key} = .*$`, 'm');
        if (!pattern.test(text)) throw new Error(`no "${key} =" line in ostrom.toml`);
        await writeFile(file, text.replace(pattern, `${key} = ${value}`));
      },
    };
    nodes.push(node);
  }
  return nodes;
}

/**
 * Three nodes in one grid: a directory made on the first (`ostrom gsd create`), `[gsd]
 * introduction` set on all three, each started and its announcement published, and all three
 * listed by the operator; then every node checks once more, so that each announcement is on every
 * server. Returns the nodes (running), the introduction text and the announcement readcaps.
 */
export async function threeNodeGrid(
  options: {
    /** Called with the nodes before any starts: settings of their own (`configure`). */
    before?: (nodes: readonly GridNode[]) => Promise<void>;
    /**
     * Read each announcement from its own node too (`add-announcement --from`): needed when the
     * directory's servers are in mode required, which hold only listed announcements.
     */
    fromEachNode?: boolean;
  } = {},
): Promise<{
  nodes: GridNode[];
  introduction: string;
  readcaps: string[];
}> {
  const nodes = await gridNodes(3);
  await options.before?.(nodes);
  const [a] = nodes as [GridNode];
  await a.start();
  const created = await a.cli(['gsd', 'create', '--json']);
  if (created.code !== 0) throw new Error(`gsd create: ${created.stderr}`);
  const { introduction } = JSON.parse(created.stdout) as { introduction: string };
  for (const n of nodes) await n.configure('introduction', JSON.stringify(introduction));
  await a.stop();
  for (const n of nodes) await n.start();
  for (const n of nodes) await n.running!.gsd.check();
  const readcaps: string[] = [];
  for (const n of nodes) {
    const shown = await n.cli(['gsd', 'announcement', '--json']);
    const { readcap, published } = JSON.parse(shown.stdout) as {
      readcap: string;
      published: boolean;
    };
    if (!published) throw new Error(`${n.name}: announcement not published`);
    readcaps.push(readcap);
    const from = options.fromEachNode ? ['--from', n.running!.nurl] : [];
    const added = await a.cli(['gsd', 'add-announcement', readcap, ...from]);
    if (added.code !== 0) throw new Error(`add-announcement ${n.name}: ${added.stderr}`);
  }
  for (const n of nodes) await n.running!.gsd.check();
  return { nodes, introduction, readcaps };
}

/**
 * One node in a grid of its own: a directory made on it, `[gsd] introduction` set, restarted,
 * its announcement published and listed. Returns the running node and the introduction text.
 */
export async function oneNodeGrid(
  values: ConfigValues = {},
): Promise<{ node: GridNode; introduction: string }> {
  const [node] = (await gridNodes(1, values)) as [GridNode];
  await node.start();
  const created = await node.cli(['gsd', 'create', '--json']);
  if (created.code !== 0) throw new Error(`gsd create: ${created.stderr}`);
  const { introduction } = JSON.parse(created.stdout) as { introduction: string };
  await node.configure('introduction', JSON.stringify(introduction));
  await node.stop();
  await node.start();
  await node.running!.gsd.check();
  const { readcap } = JSON.parse((await node.cli(['gsd', 'announcement', '--json'])).stdout) as {
    readcap: string;
  };
  const added = await node.cli(['gsd', 'add-announcement', readcap]);
  if (added.code !== 0) throw new Error(`add-announcement: ${added.stderr}`);
  return { node, introduction };
}

/** A Tahoe-LAFS client's node directory, as `tahoe create-client` leaves one (a tahoe.cfg). */
export async function tahoeClientDir(home: string): Promise<string> {
  const dir = join(home, 'tahoe');
  await mkdir(join(dir, 'private'), { recursive: true });
  await writeFile(join(dir, 'tahoe.cfg'), '[client]\n');
  return dir;
}
