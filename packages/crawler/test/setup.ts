import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Accountant } from '@ostrom/accountant';
import { createMemoryBackend, type ShareBackend } from '@ostrom/backend';
import { createDiskBackend } from '@ostrom/backend-disk';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import {
  createScratchSchema,
  type ManualClock,
  manualClock,
  postgresUrl,
  tempDir,
} from '@ostrom/test-fixtures';
import { base32 } from '@scure/base';
import { describe, onTestFinished } from 'vitest';
import { AccountingCrawler, type CrawlerOptions, type PacingClock } from '../src/index.js';

const pgAdminUrl = postgresUrl('@ostrom/crawler on PostgreSQL');

export interface Matrix {
  readonly dialect: 'sqlite' | 'postgres';
  readonly backend: 'memory' | 'disk';
}

export const MATRIX: readonly Matrix[] = [
  { dialect: 'sqlite', backend: 'disk' },
  { dialect: 'postgres', backend: 'disk' },
  { dialect: 'sqlite', backend: 'memory' },
];

export const STATE_KEY = new Uint8Array(32).fill(11);

/** Pacing time that moves only when told to; sleeps are recorded and return at once. */
export interface FakePacing extends PacingClock {
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[];
  advance(ms: number): void;
}

export function fakePacing(): FakePacing {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    advance: (ms) => {
      now += ms;
    },
    monotonicMs: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

export { type SteppedPacing, steppedPacing } from '@ostrom/test-fixtures';

export interface World {
  readonly matrix: Matrix;
  readonly clock: ManualClock;
  readonly pacing: FakePacing;
  readonly db: LeaseDb;
  readonly backend: ShareBackend;
  /** The storage service, writing owner records, as the node runs it. */
  readonly accountant: Accountant;
  /** A crawler on this world, sharing the accountant's lock (options override the defaults). */
  crawler(options?: Partial<CrawlerOptions>): AccountingCrawler;
  /** Where the disk backend keeps its files (disk cells only). */
  readonly root: string | undefined;
  /** The SQLite file (SQLite cells only). */
  readonly sqlitePath: string | undefined;
  /**
   * The database as another process sees it: on PostgreSQL a connection pool of its own; on
   * SQLite the same connection (two connections of one process wait for each other's write
   * lock by blocking its event loop; two processes serialise at BEGIN IMMEDIATE instead).
   */
  anotherConnection(): Promise<LeaseDb>;
}

export async function makeWorld(
  matrix: Matrix,
  options: { backendFactory?: (inner: ShareBackend) => ShareBackend } = {},
): Promise<World> {
  const clock = manualClock(1_800_000_000);
  const pacing = fakePacing();
  let db: LeaseDb;
  let sqlitePath: string | undefined;
  let postgresUrl: string | undefined;
  if (matrix.dialect === 'sqlite') {
    sqlitePath = join(await tempDir('crawler-db-'), 'leasedb.sqlite');
    db = await openLeaseDb({
      dialect: 'sqlite',
      path: sqlitePath,
      synchronous: 'normal',
      now: clock.now,
    });
  } else {
    const scratch = await createScratchSchema(pgAdminUrl!);
    onTestFinished(() => scratch.drop());
    postgresUrl = scratch.url;
    db = await openLeaseDb({ dialect: 'postgres', connectionString: scratch.url, now: clock.now });
  }
  const root = matrix.backend === 'disk' ? await tempDir('crawler-disk-') : undefined;
  const inner =
    root === undefined ? createMemoryBackend() : await createDiskBackend({ root, fsync: false });
  const backend = options.backendFactory ? options.backendFactory(inner) : inner;
  const accountant = new Accountant({
    leaseDb: db,
    backend,
    serverSecret: new Uint8Array(32).fill(7),
    serverId: 'v0-test-server',
    stateKey: STATE_KEY,
    processId: 'node-1',
    now: clock.now,
  });
  await accountant.start({ intervalSeconds: 0 });
  const crawlers: AccountingCrawler[] = [];
  const others: LeaseDb[] = [];
  onTestFinished(async () => {
    for (const crawler of crawlers) await crawler.stop();
    await accountant.stop();
    for (const other of others) await other.close();
    await db.close();
    await inner.close();
  });
  return {
    matrix,
    clock,
    pacing,
    db,
    backend,
    accountant,
    root,
    sqlitePath,
    async anotherConnection() {
      if (postgresUrl === undefined) return db;
      const other = await openLeaseDb({
        dialect: 'postgres',
        connectionString: postgresUrl,
        now: clock.now,
      });
      others.push(other);
      return other;
    },
    crawler(overrides = {}) {
      const crawler = new AccountingCrawler({
        leaseDb: db,
        backend,
        exclusive: (si, fn) => accountant.exclusive(si, fn),
        stateKey: STATE_KEY,
        now: clock.now,
        clock: pacing,
        ...overrides,
      });
      crawlers.push(crawler);
      return crawler;
    },
  };
}

/** Declares a suite once per matrix cell (or those `cells` keeps); PostgreSQL cells need a server. */
export function describeMatrix(
  title: string,
  body: (matrix: Matrix) => void,
  cells: (matrix: Matrix) => boolean = () => true,
): void {
  for (const matrix of MATRIX.filter(cells)) {
    describe.skipIf(matrix.dialect === 'postgres' && pgAdminUrl === undefined)(
      `${title} [${matrix.dialect}/${matrix.backend}]`,
      () => body(matrix),
    );
  }
}

export function storageIndex(seed: number | string): string {
  const digest = createHash('sha256').update(`si:${seed}`).digest().subarray(0, 16);
  return base32.encode(digest).toLowerCase().replace(/=+$/, '');
}

export function secrets(seed: number | string) {
  const hash = (tag: string) =>
    new Uint8Array(createHash('sha256').update(`${tag}:${seed}`).digest());
  return {
    renewSecret: hash('renew'),
    cancelSecret: hash('cancel'),
    uploadSecret: hash('upload').subarray(0, 20),
    writeEnabler: hash('we'),
  };
}

export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17) & 0xff;
  return out;
}

export function randomKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** Stores a complete immutable share straight into the backend, behind the database's back. */
export async function storeOutOfBand(
  backend: ShareBackend,
  storageIndex: string,
  shnum: number,
  data: Uint8Array,
  leases: Parameters<ShareBackend['createUpload']>[3] = {},
): Promise<void> {
  await backend.createUpload(storageIndex, shnum, data.length, leases);
  await backend.writeUpload(storageIndex, shnum, 0, data);
}

/** Uploads a whole immutable share through the storage service as `accountId`. */
export async function upload(
  world: World,
  accountId: number,
  storageIndex: string,
  shnum: number,
  data: Uint8Array,
): Promise<void> {
  const account = world.accountant.account(accountId);
  const s = secrets(`${storageIndex}/${accountId}`);
  const { allocated } = await account.allocate(storageIndex, {
    ...s,
    shareNumbers: [shnum],
    allocatedSize: data.length,
  });
  if (!allocated.includes(shnum)) throw new Error(`share ${shnum} was not allocated`);
  await account.writeUpload(storageIndex, shnum, s.uploadSecret, 0, data);
}
