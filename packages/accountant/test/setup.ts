import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
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
import { Accountant, type AccountantOptions } from '../src/index.js';

export { type ManualClock, manualClock } from '@ostrom/test-fixtures';

const pgAdminUrl = postgresUrl('@ostrom/accountant on PostgreSQL');

/** One cell of the matrix: a database dialect and a backend kind. */
export interface Matrix {
  readonly dialect: 'sqlite' | 'postgres';
  readonly backend: 'memory' | 'disk';
}

export const MATRIX: readonly Matrix[] = [
  { dialect: 'sqlite', backend: 'memory' },
  { dialect: 'sqlite', backend: 'disk' },
  { dialect: 'postgres', backend: 'memory' },
  { dialect: 'postgres', backend: 'disk' },
];

export interface World {
  readonly clock: ManualClock;
  readonly db: LeaseDb;
  readonly backend: ShareBackend;
  readonly accountant: Accountant;
  /** The same database and backend, served by a new Accountant (a restart). */
  restart(options?: Partial<AccountantOptions>): Promise<Accountant>;
}

export type WorldOptions = Partial<Omit<AccountantOptions, 'leaseDb' | 'backend' | 'now'>> & {
  readonly backendFactory?: (inner: ShareBackend) => ShareBackend;
  readonly availableBytes?: number;
};

export const SERVER_ID = 'v0-test-server';
export const SERVER_SECRET = new Uint8Array(32).fill(7);
/** The node's state key: every world writes owner records with it. */
export const STATE_KEY = new Uint8Array(32).fill(11);

async function openDb(matrix: Matrix, now: () => number): Promise<LeaseDb> {
  if (matrix.dialect === 'sqlite') {
    const path = join(await tempDir('accountant-db-'), 'leasedb.sqlite');
    return await openLeaseDb({ dialect: 'sqlite', path, synchronous: 'normal', now });
  }
  const scratch = await createScratchSchema(pgAdminUrl!);
  const db = await openLeaseDb({ dialect: 'postgres', connectionString: scratch.url, now });
  onTestFinished(() => scratch.drop());
  return db;
}

async function openBackend(matrix: Matrix, availableBytes?: number): Promise<ShareBackend> {
  const backend =
    matrix.backend === 'memory'
      ? createMemoryBackend()
      : await createDiskBackend({ root: await tempDir('accountant-disk-'), fsync: false });
  if (availableBytes === undefined) return backend;
  // A store of a known size, so space rules can be tested without filling a disk.
  return Object.assign(Object.create(backend) as ShareBackend, {
    availableSpace: async () => availableBytes,
  });
}

/** A started Accountant over a fresh database and backend, torn down after the test. */
export async function makeWorld(matrix: Matrix, options: WorldOptions = {}): Promise<World> {
  const clock = manualClock();
  const db = await openDb(matrix, clock.now);
  const inner = await openBackend(matrix, options.availableBytes);
  const backend = options.backendFactory ? options.backendFactory(inner) : inner;
  const running: Accountant[] = [];
  async function start(extra: Partial<AccountantOptions> = {}) {
    const accountant = new Accountant({
      serverSecret: SERVER_SECRET,
      serverId: SERVER_ID,
      stateKey: STATE_KEY,
      ...options,
      ...extra,
      leaseDb: db,
      backend,
      now: clock.now,
    });
    await accountant.start({ intervalSeconds: 0 });
    running.push(accountant);
    return accountant;
  }
  const accountant = await start();
  onTestFinished(async () => {
    for (const a of running) await a.stop();
    await db.close();
    await inner.close();
  });
  return { clock, db, backend, accountant, restart: start };
}

/**
 * Declares a suite once per (dialect, backend) cell, or per cell `cells` keeps; PostgreSQL cells
 * skip without a server (and fail under CI, from the harness).
 */
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

/** A valid storage index derived from a seed (16 bytes, canonical base32). */
export function storageIndex(seed: number | string): string {
  const bytes = createHash('sha256').update(`si:${seed}`).digest().subarray(0, 16);
  return base32.encode(bytes).toLowerCase().replace(/=+$/, '');
}

/** Lease secrets as one Tahoe client would send for one file (32 bytes each). */
export function secrets(seed: number | string) {
  const hash = (tag: string) => createHash('sha256').update(`${tag}:${seed}`).digest();
  return {
    renewSecret: new Uint8Array(hash('renew')),
    cancelSecret: new Uint8Array(hash('cancel')),
    uploadSecret: new Uint8Array(hash('upload').subarray(0, 20)),
    writeEnabler: new Uint8Array(hash('we')),
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
