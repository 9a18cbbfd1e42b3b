import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ShareBackend } from '@ostrom/backend';
import type { PacingClock } from '@ostrom/crawler';
import type { LeaseDb } from '@ostrom/leasedb';
import { createStorageClient, deriveLeaseSecrets, type StorageClient } from '@ostrom/protocol';
import { type ManualClock, manualClock, memoryTempDir, s3Endpoint } from '@ostrom/test-fixtures';
import pino from 'pino';
import { describe, expect, onTestFinished } from 'vitest';
import type { ConfigValues } from '../src/config.js';
import { initNode, loadNode } from '../src/node-dir.js';
import {
  openNodeBackend,
  openNodeDatabase,
  type RunningNode,
  type StartOptions,
  startNode,
} from '../src/server.js';
import { ostromJson } from './helpers.js';

// Whole nodes for the crawler, backup, rebuild and adoption suites: a node directory started
// with `startNode` on the disk backend or on S3 (moto), with SQLite (backups are SQLite's), a
// clock the test moves, a background crawl paced by a clock that never lets it start a second
// cycle, and periodic backups fired by the test rather than a timer.

export const S3 = s3Endpoint('@ostrom/server crawler and backups on S3');

/** A timeout for tests that start S3 nodes: a full cycle lists 1,024 prefixes of the bucket. */
export const SLOW = 60_000;

export type Flavour = 'disk' | 's3';
export const FLAVOURS: readonly Flavour[] = ['disk', 's3'];

/** Declares a suite once per backend; the S3 one needs the S3 server. */
export function describeFlavours(title: string, body: (flavour: Flavour) => void): void {
  for (const flavour of FLAVOURS) {
    describe.skipIf(flavour === 's3' && !S3)(`${title} [${flavour} + SQLite]`, () => body(flavour));
  }
}

export interface Logged {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * Pacing for the background crawl: no time passes while it works, and its first rest (the
 * wait for the next cycle) lasts until the crawler is stopped. So it crawls exactly one cycle,
 * and `rested` resolves when that cycle is done.
 */
export interface HeldPacing extends PacingClock {
  readonly rested: Promise<void>;
}

export function heldPacing(): HeldPacing {
  let notify: () => void = () => undefined;
  const rested = new Promise<void>((resolve) => {
    notify = resolve;
  });
  return {
    rested,
    monotonicMs: () => 0,
    sleep: (_ms, signal) =>
      new Promise<void>((resolve) => {
        notify();
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      }),
  };
}

export { type SteppedPacing, steppedPacing } from '@ostrom/test-fixtures';

/** Periodic work the test fires by hand (the node's backup timer). */
export interface ManualTimer {
  readonly every: NonNullable<StartOptions['every']>;
  /** Runs every scheduled function once and waits for them. */
  fire(): Promise<void>;
  readonly scheduled: number;
}

export function manualTimer(): ManualTimer {
  const fns = new Set<() => Promise<void>>();
  return {
    every: (fn) => {
      fns.add(fn);
      return () => fns.delete(fn);
    },
    fire: async () => {
      await Promise.all([...fns].map((fn) => fn()));
    },
    get scheduled() {
      return fns.size;
    },
  };
}

export interface TestNode {
  readonly flavour: Flavour;
  readonly dir: string;
  readonly clock: ManualClock;
  readonly logged: Logged[];
  readonly timer: ManualTimer;
  /** The pacing of the last start's background crawl. */
  pacing: HeldPacing;
  /** Starts (or restarts) the node; closed after the test unless the test closed it. */
  start(options?: Partial<StartOptions>): Promise<RunningNode>;
  /** A second connection to the node's database (closed after the test). */
  openDb(): Promise<LeaseDb>;
  /** A second handle on the node's backend (closed after the test). */
  openBackend(): Promise<ShareBackend>;
  /** A pinned client (closed after the test). */
  client(nurl: string): StorageClient;
  /** The SQLite file. */
  readonly dbPath: string;
}

/** The test clock's start: after the Tahoe fixture was written, before its leases expire. */
export const T0 = 1_797_000_000;

export async function createTestNode(
  flavour: Flavour,
  values: ConfigValues = {},
  options: { dir?: string; init?: boolean } = {},
): Promise<TestNode> {
  // In memory: a new node's first start reconciles every prefix, a flush each (memoryTempDir).
  const dir = options.dir ?? join(await memoryTempDir('crawler-node-'), 'node');
  if (options.init === false) {
    // Made by the test, as it wants it.
  } else if (flavour === 'disk') {
    await initNode(dir, values);
  } else {
    const bucket = `ostrom-crawler-${randomBytes(6).toString('hex')}`;
    // moto creates a bucket for an unsigned path-style PUT.
    expect((await fetch(`${S3}/${bucket}`, { method: 'PUT' })).ok).toBe(true);
    await initNode(dir, { ...values, backend: 's3', s3: { bucket, endpoint: S3! } });
    await writeFile(
      join(dir, 'private/s3-credentials'),
      'access_key_id = "test"\nsecret_access_key = "test"\n',
      { mode: 0o600 },
    );
  }
  const clock = manualClock(T0);
  const logged: Logged[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        logged.push(JSON.parse(line) as Logged);
      },
    },
  );
  const closers: (() => unknown)[] = [];
  onTestFinished(async () => {
    for (const close of closers.reverse()) await close();
  });
  let last: RunningNode | undefined;
  const timer = manualTimer();
  const node: TestNode = {
    flavour,
    dir,
    clock,
    logged,
    timer,
    pacing: heldPacing(),
    dbPath: join(dir, 'leasedb.sqlite'),
    async start(overrides = {}) {
      node.pacing = heldPacing();
      const running = await startNode(dir, {
        port: 0,
        sweepIntervalSeconds: 0,
        logger,
        now: clock.now,
        crawlerClock: node.pacing,
        every: timer.every,
        ...overrides,
      });
      last = running;
      closers.push(() => running.close());
      return running;
    },
    async openDb() {
      const db = await openNodeDatabase(last?.node ?? (await loadNode(dir)), { now: clock.now });
      closers.push(() => db.close());
      return db;
    },
    async openBackend() {
      const backend = await openNodeBackend(last?.node ?? (await loadNode(dir)));
      closers.push(() => backend.close());
      return backend;
    },
    client(nurl) {
      const client = createStorageClient({ nurl });
      closers.push(() => client.close());
      return client;
    },
  };
  return node;
}

/** Adds a pre-approved account with the CLI and returns its id and its NURL on `running`. */
export async function addAccount(
  node: TestNode,
  running: RunningNode,
  publicKey: string,
  nickname: string,
): Promise<{ id: number; nurl: string }> {
  const { id } = await ostromJson<{ id: number }>([
    'accounts',
    'add',
    '--pubkey',
    publicKey,
    '--nickname',
    nickname,
    '-d',
    node.dir,
  ]);
  return { id, nurl: running.nurlFor(id) };
}

/** Allocates and uploads a whole immutable share in one PATCH, with Tahoe-derived secrets. */
export async function upload(
  client: StorageClient,
  running: RunningNode,
  si: string,
  shnum: number,
  data: Uint8Array,
  seed = 1,
): Promise<void> {
  const clientLeaseSecret = new Uint8Array(32).fill(seed);
  const uploadSecret = new Uint8Array(randomBytes(20));
  const allocated = await client.immutable.allocate(si, {
    ...deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId: running.node.tubId }),
    uploadSecret,
    shareNumbers: [shnum],
    allocatedSize: data.length,
  });
  expect(allocated.allocated).toEqual([shnum]);
  expect(await client.immutable.write(si, shnum, { uploadSecret, offset: 0, data })).toEqual({
    complete: true,
    required: [],
  });
}

/** The message of every log line at `level` or above (pino: 40 warn, 50 error). */
export function messages(logged: readonly Logged[], level = 30): string[] {
  return logged.filter((l) => l.level >= level).map((l) => l.msg);
}

/** Sets a key whose default `renderConfig` wrote commented out (`# key = ...`; the first one). */
export async function configure(dir: string, key: string, value: string): Promise<void> {
  const file = join(dir, 'ostrom.toml');
  const text = await readFile(file, 'utf8');
  const pattern = new RegExp(`^# ${key} = .*$`, 'm');
  if (!pattern.test(text)) throw new Error(`no "# ${key} =" line in ostrom.toml`);
  await writeFile(file, text.replace(pattern, `${key} = ${value}`));
}
