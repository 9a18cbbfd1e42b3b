import { join } from 'node:path';
import { createScratchSchema, postgresUrl, tempDir } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { describe, onTestFinished } from 'vitest';
import {
  type ConnectionOptions,
  type Dialect,
  type LeaseDb,
  type LeaseDbOptions,
  openLeaseDb,
} from '../src/index.js';

export { type ManualClock, manualClock } from '@ostrom/test-fixtures';

export type OpenOptions = Partial<Pick<LeaseDbOptions, 'now' | 'policy' | 'migrate'>>;

/** A fresh database location: open connections to it, or go behind the API with raw SQL. */
export interface Location {
  /** Where it is, to connect by other means (an older schema's migrations). */
  readonly connection: ConnectionOptions;
  open(options?: OpenOptions): Promise<LeaseDb>;
  /** Runs SQL through the raw driver (to simulate damage the API would never cause). */
  exec(sqlText: string): Promise<void>;
}

/** One dialect of the matrix: how to get a fresh, empty lease database on it. */
export interface TestDialect {
  readonly name: Dialect;
  /** A new empty database (migrated), closed and removed when the test finishes. */
  open(options?: OpenOptions): Promise<LeaseDb>;
  /** A fresh empty location, removed when the test finishes. */
  location(): Promise<Location>;
}

const pgAdminUrl = postgresUrl('@ostrom/leasedb on PostgreSQL');

async function sqliteLocation(): Promise<Location> {
  const path = join(await tempDir('leasedb-'), 'leasedb.sqlite');
  return {
    connection: { dialect: 'sqlite', path },
    async open(options: OpenOptions = {}) {
      const db = await openLeaseDb({ dialect: 'sqlite', path, ...options });
      onTestFinished(() => db.close());
      return db;
    },
    async exec(sqlText) {
      const raw = new BetterSqlite3(path);
      try {
        raw.exec(sqlText);
      } finally {
        raw.close();
      }
    },
  };
}

async function postgresLocation(): Promise<Location> {
  const scratch = await createScratchSchema(pgAdminUrl!);
  const opened: LeaseDb[] = [];
  onTestFinished(async () => {
    for (const db of opened) await db.close();
    await scratch.drop();
  });
  return {
    connection: { dialect: 'postgres', connectionString: scratch.url },
    async open(options: OpenOptions = {}) {
      const db = await openLeaseDb({
        dialect: 'postgres',
        connectionString: scratch.url,
        ...options,
      });
      opened.push(db);
      return db;
    },
    async exec(sqlText) {
      const client = new pg.Client({ connectionString: scratch.url });
      await client.connect();
      try {
        await client.query(sqlText);
      } finally {
        await client.end();
      }
    },
  };
}

export const DIALECTS: readonly (TestDialect & { available: boolean })[] = [
  {
    name: 'sqlite',
    available: true,
    location: sqliteLocation,
    open: async (options) => (await sqliteLocation()).open(options),
  },
  {
    name: 'postgres',
    available: pgAdminUrl !== undefined,
    location: postgresLocation,
    open: async (options) => (await postgresLocation()).open(options),
  },
];

/** Declares the same suite once per dialect, like kysely's own tests. */
export function describeEachDialect(title: string, body: (dialect: TestDialect) => void): void {
  for (const dialect of DIALECTS) {
    describe.skipIf(!dialect.available)(`${title} [${dialect.name}]`, () => body(dialect));
  }
}

/** Storage indexes that are valid (canonical base32, 26 characters), distinct per seed. */
export function storageIndex(seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = '';
  let x = seed * 2654435761 + 12345;
  for (let i = 0; i < 25; i++) {
    out += alphabet[Math.abs(x) % 32];
    x = Math.floor(x / 32) + seed * 7 + i;
  }
  return `${out}a`;
}

/** A distinct fake Ed25519 public key (32 bytes) per seed. */
export function publicKey(seed: number): Uint8Array {
  const key = new Uint8Array(32);
  new DataView(key.buffer).setUint32(0, seed);
  key[31] = 0xed;
  return key;
}
