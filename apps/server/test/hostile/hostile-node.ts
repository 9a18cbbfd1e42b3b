import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createStorageClient,
  generateAccountKey,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import { freePort, suiteTempDir } from '@ostrom/test-fixtures';
import { expect, onTestFinished } from 'vitest';
import type { ConfigValues } from '../../src/config.js';
import { initNode, type LoadedNode, loadNode } from '../../src/node-dir.js';
import { configure } from '../node-harness.js';
import { runNodeProcess } from '../node-process.js';

// The hostile-client suite's node: a real `ostrom run` in a process of its own (SQLite + disk
// unless configured otherwise), so that its resident memory and open descriptors are its own and
// can be read from /proc while an attack runs, and so that an attack that blocks its event loop
// shows in another client's latency instead of stalling the test.

/** What every case checks while its attack runs (the bounds for a node under attack). */
export const BOUNDS = {
  /** The node's resident memory may grow by less than this. */
  rssGrowthBytes: 100 * 1024 * 1024,
  /** Open descriptors may exceed the baseline by less than this, plus what a bound admits. */
  extraDescriptors: 64,
  /** Another client's `GET /storage/v1/version` keeps its 99th percentile under this. */
  versionP99Ms: 250,
} as const;

export interface HostileNode {
  readonly dir: string;
  readonly pid: number;
  readonly port: number;
  /** The anonymous NURL. */
  readonly nurl: string;
  /** The node directory as the node loaded it (its tub id, secrets, configuration). */
  readonly loaded: LoadedNode;
  /** The admin listener's base URL (`http://127.0.0.1:PORT`), where the panel is too. */
  readonly adminUrl: string;
  /** The admin bearer token (also the panel's login token). */
  readonly adminToken: string;
  /** A pinned client for a NURL (default the anonymous one), closed after the test. */
  client(nurl?: string): StorageClient;
  /** The admin API: JSON in, JSON out; throws on a status other than `expected`. */
  admin<T = unknown>(method: string, path: string, body?: unknown, expected?: number): Promise<T>;
  /** A new active account (through the admin API) and its NURL. */
  addAccount(
    nickname: string,
    quota?: { hardBytes?: number },
  ): Promise<{ id: number; nurl: string }>;
  /** The node's resident set size in bytes, from /proc. */
  rssBytes(): number;
  /** The node's open file descriptors, from /proc. */
  openDescriptors(): number;
  /** Lines the node logged (JSON logs), parsed. */
  logged(): { level: number; msg?: string }[];
  stop(): Promise<void>;
}

/**
 * Starts a node in its own process and stops it when the test finishes. `settings` sets keys of
 * `ostrom.toml` that `init` writes commented out (`{ request_spool: '"1MiB"' }`).
 */
export async function startHostileNode(
  values: ConfigValues = {},
  settings: Record<string, string> = {},
): Promise<HostileNode> {
  const node = await launchHostileNode(values, settings);
  onTestFinished(node.stop);
  return node;
}

/**
 * The same node for a whole `describe` block (started in `beforeAll`): the caller stops it in
 * `afterAll`, which also removes its directory.
 */
export async function launchHostileNode(
  values: ConfigValues = {},
  settings: Record<string, string> = {},
): Promise<HostileNode> {
  const temp = await suiteTempDir('hostile-node-');
  const dir = temp.dir;
  const port = await freePort();
  let adminPort = await freePort();
  while (adminPort === port) adminPort = await freePort();
  await initNode(dir, { port, adminPort, ...values });
  for (const [key, value] of Object.entries(settings)) await configure(dir, key, value);
  const clients: StorageClient[] = [];
  const node = await runNodeProcess(dir).catch(async (error: unknown) => {
    await temp.remove();
    throw error;
  });
  const stop = async () => {
    for (const client of clients.splice(0)) client.close();
    await node.stop();
    await temp.remove();
  };
  const token = (await readFile(join(dir, 'private', 'admin-token'), 'utf8')).trim();
  const pid = node.pid;
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  const admin = async <T>(method: string, path: string, body?: unknown, expected = 200) => {
    const response = await fetch(`${adminUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status !== expected) {
      throw new Error(`admin ${method} ${path}: ${response.status} ${text}`);
    }
    return JSON.parse(text) as T;
  };

  return {
    dir,
    pid,
    port,
    nurl: node.nurl,
    loaded: await loadNode(dir),
    adminUrl,
    adminToken: token,
    client(nurl = node.nurl) {
      const client = createStorageClient({ nurl });
      clients.push(client);
      return client;
    },
    admin,
    async addAccount(nickname, quota = {}) {
      const { publicKey } = generateAccountKey();
      const created = await admin<{ id: number; nurl: string }>(
        'POST',
        '/admin/v1/accounts',
        { publicKey: Buffer.from(publicKey).toString('hex'), nickname, ...quota },
        201,
      );
      return { id: created.id, nurl: created.nurl };
    },
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
      if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
      return Number(kb) * 1024;
    },
    openDescriptors() {
      return readdirSync(`/proc/${pid}/fd`).length;
    },
    logged: node.logged,
    stop,
  };
}

/** What was measured while an attack ran. */
export interface AttackFigures {
  readonly baselineRssBytes: number;
  readonly peakRssBytes: number;
  readonly baselineDescriptors: number;
  readonly peakDescriptors: number;
  /** Latencies of another client's `GET /storage/v1/version`, in ms, in the order sent. */
  readonly versionMs: readonly number[];
  readonly versionP99Ms: number;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Runs `attack` against `node` while sampling its RSS and descriptors (every 20 ms) and while a
 * bystander client sends `GET /storage/v1/version` one after another; returns the attack's
 * result and the figures. The baseline is taken after the bystander's connection is open.
 */
export async function underAttack<T>(
  node: HostileNode,
  attack: () => Promise<T>,
): Promise<{ result: T; figures: AttackFigures }> {
  const bystander = node.client();
  await bystander.getVersion();
  const baselineRssBytes = node.rssBytes();
  const baselineDescriptors = node.openDescriptors();
  let peakRssBytes = baselineRssBytes;
  let peakDescriptors = baselineDescriptors;
  const sample = () => {
    try {
      peakRssBytes = Math.max(peakRssBytes, node.rssBytes());
      peakDescriptors = Math.max(peakDescriptors, node.openDescriptors());
    } catch {
      // the node exited: the case's own assertions say so
    }
  };
  const sampler = setInterval(sample, 20);
  const versionMs: number[] = [];
  let attacking = true;
  const polling = (async () => {
    while (attacking) {
      const started = performance.now();
      await bystander.getVersion();
      versionMs.push(performance.now() - started);
    }
  })();
  try {
    const result = await attack();
    return {
      result,
      figures: {
        baselineRssBytes,
        peakRssBytes,
        baselineDescriptors,
        peakDescriptors,
        versionMs,
        versionP99Ms: percentile(versionMs, 99),
      },
    };
  } finally {
    attacking = false;
    clearInterval(sampler);
    sample();
    await polling.catch(() => {});
  }
}

/**
 * Asserts the suite's bounds; `allowedDescriptors` is what the case's own bound admits. Prints
 * the figures first, one line per case, so that a run's output says how close each case came.
 */
export function expectBounded(figures: AttackFigures, allowedDescriptors = 0): void {
  const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
  console.info(
    `hostile figures: ${expect.getState().currentTestName}: RSS ${mb(figures.baselineRssBytes)} → ` +
      `${mb(figures.peakRssBytes)} MB, descriptors ${figures.baselineDescriptors} → ` +
      `${figures.peakDescriptors}, bystander /version ${figures.versionMs.length} answers, ` +
      `p99 ${figures.versionP99Ms.toFixed(1)} ms`,
  );
  expect(figures.versionMs.length, 'the bystander got answers').toBeGreaterThan(0);
  expect(figures.peakRssBytes - figures.baselineRssBytes).toBeLessThan(BOUNDS.rssGrowthBytes);
  expect(figures.peakDescriptors).toBeLessThan(
    figures.baselineDescriptors + BOUNDS.extraDescriptors + allowedDescriptors,
  );
  expect(figures.versionP99Ms).toBeLessThan(BOUNDS.versionP99Ms);
}

/** A random storage index (26 characters of base32). */
export function randomStorageIndex(): string {
  return storageIndexFromBytes(crypto.getRandomValues(new Uint8Array(16)));
}
