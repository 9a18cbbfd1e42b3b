/**
 * Lease database benchmark: each figure of the kysely-based LeaseDb beside a baseline measured in
 * the same run with the raw driver (better-sqlite3 / pg) issuing the same SQL statements, on an
 * identically loaded database. Run with `pnpm --filter @ostrom/leasedb bench`.
 *
 * 1. add-or-renew: `addOrRenewLeases` one transaction per request, mostly renewals, some fresh
 *    adds by a second account;
 * 2. batched lease inserts: `addComingShares` (250 shnums per call, 4 calls = 1,000 leases per
 *    transaction), i.e. multi-row INSERTs into shares and leases;
 * 3. expiry of 100,000 leases with `expireLeases` (median of 5 rounds);
 * 4. latency of `getAccountUsage` with 1,000,000 shares in the database.
 *
 * PostgreSQL: OSTROM_TEST_POSTGRES_URL if set, else a throwaway cluster from @ostrom/test-fixtures
 * (which runs with fsync=off, so its commits cost no disk flush, unlike SQLite's synchronous=FULL).
 * OSTROM_BENCH_SCALE (default 1) scales every count and data size, for a quick smoke run.
 * Progress goes to stderr, result tables to stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScratchDatabase, seededRandom, startPostgres } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { DEFAULT_LEASE_POLICY, type Dialect, type LeaseDb, openLeaseDb } from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Sizes. SQLite commits wait for an fsync (synchronous=FULL), PostgreSQL ones for round trips, so
// the counts differ per dialect; both keep the whole run within a few minutes on 2 cores.

const SCALE = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
if (!(SCALE > 0)) throw new RangeError('OSTROM_BENCH_SCALE must be a positive number');
const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));

interface Sizes {
  readonly renewWarmup: number;
  readonly renewOps: number;
  readonly batchWarmup: number;
  readonly batches: number;
}

const SIZES: Record<Dialect, Sizes> = {
  sqlite: {
    renewWarmup: scaled(500),
    renewOps: scaled(5_000),
    batchWarmup: scaled(3),
    batches: scaled(40),
  },
  postgres: {
    renewWarmup: scaled(200),
    renewOps: scaled(2_000),
    batchWarmup: scaled(2),
    batches: scaled(20),
  },
};

/** Scenario 1: storage indexes that already have shares (1–3 each), leased by 100 accounts. */
const RENEW_INDEXES = scaled(20_000);
const RENEW_HOLDERS = 100;
/** Every tenth request is a second account adding leases where it holds none yet. */
const FRESH_EVERY = 10;
/** The measured requests run in this many blocks, alternating between the two paths. */
const RENEW_BLOCKS = 10;
/** Scenario 2: shares per addComingShares call and calls per transaction. */
const SHNUMS_PER_UPLOAD = 250;
const UPLOADS_PER_BATCH = 4;
/** Shares (one lease each) already there, so the planner sees tables of a working server. */
const BATCH_PRELOAD = scaled(20_000);
/** Scenario 3: leases that expire (each share also has a live lease that must survive). */
const EXPIRING_LEASES = scaled(100_000);
const EXPIRY_ROUNDS = 5;
/** Scenario 4: shares (one lease each) spread over this many accounts. */
const USAGE_SHARES = scaled(1_000_000);
const ACCOUNTS = 1_000;
const USAGE_READS = scaled(10_000);
// V8 is still tiering up the read path over the first few thousand calls (p99 > 1 ms on
// PostgreSQL until then, whatever the database holds), so the warm-up is generous.
const USAGE_WARMUP = scaled(5_000);

const DAY = 86_400;
/** What addOrRenewLeases and addComingShares use for a non-starter account. */
const LEASE_SECONDS = DEFAULT_LEASE_POLICY.leaseDurationSeconds;

/** The same clock as openLeaseDb's default: Unix seconds. */
function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

/** Runs `fn`, reporting on stderr how long it took (setup steps, not measurements). */
async function step<T>(message: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await fn();
  progress(`${message} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Deterministic data: the kysely and raw databases of a scenario must hold the same rows and see
// the same requests, so everything comes from a seeded generator.

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** A storage index's last base32 digit carries two padding bits, which must be zero. */
const LAST_DIGIT = 'aeimquy4';

/**
 * `count` distinct random storage indexes, sorted: real ones are random hashes, but loading them
 * in key order keeps the bulk load sequential (the order changes the load time, not the figures).
 */
function storageIndexes(count: number, seed: number): string[] {
  const next = seededRandom(seed);
  const seen = new Set<string>();
  while (seen.size < count) {
    let si = '';
    for (let i = 0; i < 25; i++) si += BASE32[Math.floor(next() * 32)];
    seen.add(si + LAST_DIGIT[Math.floor(next() * 8)]);
  }
  return [...seen].sort();
}

/** Fisher–Yates, seeded. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bulk loading through the raw driver. Rows are arrays in the order of the column list.

type PgType = 'text' | 'int4' | 'int8';
type Column = readonly [name: string, pgType: PgType];
type Row = readonly (string | number | null)[];

const SHARE_COLUMNS: readonly Column[] = [
  ['storage_index', 'text'],
  ['shnum', 'int4'],
  ['prefix', 'text'],
  ['sharetype', 'text'],
  ['state', 'text'],
  ['used_space', 'int8'],
  ['owner_account_id', 'int8'],
  ['created_at', 'int8'],
  ['updated_at', 'int8'],
  ['lease_expires_at', 'int8'],
];
const LEASE_COLUMNS: readonly Column[] = [
  ['storage_index', 'text'],
  ['shnum', 'int4'],
  ['account_id', 'int8'],
  ['renewed_at', 'int8'],
  ['expires_at', 'int8'],
  ['used_space', 'int8'],
];

interface Loader {
  /** Accounts (with their zero usage rows) through the API; their ids in order. */
  createAccounts(count: number): Promise<number[]>;
  /** Multi-row INSERTs in large transactions. */
  insert(table: string, columns: readonly Column[], rows: readonly Row[]): Promise<void>;
  run(sqlText: string): Promise<void>;
  query<T>(sqlText: string): Promise<T[]>;
  /** Makes the load visible to the planner / folds the WAL back, then disconnects. */
  close(): Promise<void>;
}

// Maintained totals recomputed from the loaded rows in one statement each (UPDATE ... FROM works
// on SQLite ≥ 3.33 and PostgreSQL), so the figures run against consistent usage counters.
const FIX_ACCOUNT_USAGE = `update account_usage set shares = agg.n, bytes = agg.b
  from (select account_id, count(*) as n, sum(used_space) as b from leases group by account_id) as agg
  where account_usage.account_id = agg.account_id`;
const FIX_SERVER_USAGE = `update server_usage set
  shares = (select count(*) from shares), bytes = (select coalesce(sum(used_space), 0) from shares)
  where id = 1`;

async function fixUsage(loader: Loader): Promise<void> {
  await loader.run('update account_usage set shares = 0, bytes = 0');
  await loader.run(FIX_ACCOUNT_USAGE);
  await loader.run(FIX_SERVER_USAGE);
}

/**
 * Creates `count` accounts through the API (one transaction), so that whatever columns and
 * events an account needs stay src's business; returns their ids in order.
 */
async function createAccountsVia(
  openKysely: () => Promise<LeaseDb>,
  count: number,
): Promise<number[]> {
  const db = await openKysely();
  try {
    return await db.transaction(async (tx) => {
      const ids: number[] = [];
      for (let i = 0; i < count; i++) {
        const publicKey = (i + 1).toString(16).padStart(64, '0');
        ids.push((await tx.createAccount({ publicKey, nickname: `bench-${i}` })).id);
      }
      return ids;
    });
  } finally {
    await db.close();
  }
}

function shareRow(
  si: string,
  shnum: number,
  used: number,
  owner: number,
  now: number,
  leaseExpires: number,
): Row {
  return [si, shnum, si.slice(0, 2), 'immutable', 'stable', used, owner, now, now, leaseExpires];
}

// ---------------------------------------------------------------------------------------------
// SQLite

/** The pragmas openLeaseDb sets (src/dialect.ts openSqlite), repeated here for the raw baseline. */
function openRawSqlite(path: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

const SQLITE_ROWS_PER_STATEMENT = 500;
const LOAD_ROWS_PER_TRANSACTION = 50_000;

/** Loads with a connection of its own; durability does not matter while loading. */
function sqliteLoader(path: string, openKysely: () => Promise<LeaseDb>): Loader {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -262144'); // 256 MiB, so building the 1M-row indexes stays in memory
  const statements = new Map<string, BetterSqlite3.Statement>();
  const insertStatement = (table: string, columns: readonly Column[], rows: number) => {
    const key = `${table}/${rows}`;
    let statement = statements.get(key);
    if (!statement) {
      const tuple = `(${columns.map(() => '?').join(', ')})`;
      statement = db.prepare(
        `insert into ${table} (${columns.map(([name]) => name).join(', ')}) values ${Array(rows).fill(tuple).join(', ')}`,
      );
      statements.set(key, statement);
    }
    return statement;
  };
  const insertSlice = db.transaction(
    (table: string, columns: readonly Column[], slice: readonly Row[]) => {
      for (let i = 0; i < slice.length; i += SQLITE_ROWS_PER_STATEMENT) {
        const chunk = slice.slice(i, i + SQLITE_ROWS_PER_STATEMENT);
        insertStatement(table, columns, chunk.length).run(chunk.flat());
      }
    },
  );
  return {
    createAccounts: (count) => createAccountsVia(openKysely, count),
    async insert(table, columns, rows) {
      for (let start = 0; start < rows.length; start += LOAD_ROWS_PER_TRANSACTION) {
        insertSlice(table, columns, rows.slice(start, start + LOAD_ROWS_PER_TRANSACTION));
      }
    },
    async run(sqlText) {
      db.prepare(sqlText).run();
    },
    async query<T>(sqlText: string) {
      return db.prepare(sqlText).all() as T[];
    },
    async close() {
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

interface Usage {
  readonly shares: number;
  readonly bytes: number;
}

interface Upload {
  readonly storageIndex: string;
  readonly accountId: number;
  readonly shares: readonly { readonly shnum: number; readonly usedBytes: number }[];
}

/** What each scenario asks of the raw baseline: the statements the LeaseDb method issues. */
interface RawDriver {
  /** addOrRenewLeases({ storageIndex, accountId }) in one transaction. */
  addOrRenew(storageIndex: string, accountId: number): Promise<{ added: number; renewed: number }>;
  /** addComingShares for each upload, all in one transaction; returns the leases inserted. */
  addComing(uploads: readonly Upload[]): Promise<number>;
  /** expireLeases(before): returns how many leases it deleted. */
  expire(before: number): Promise<number>;
  accountUsage(accountId: number): Promise<Usage | undefined>;
  close(): Promise<void>;
}

interface ShareRef {
  shnum: number;
  used_space: number;
}
interface RemovedLease {
  storage_index: string;
  shnum: number;
  account_id: number;
  expires_at: number;
  used_space: number;
}

/** src/context.ts releasedUsage: per-account negative deltas of deleted leases. */
function releasedUsage(
  rows: readonly RemovedLease[],
): Map<number, { shares: number; bytes: number }> {
  const deltas = new Map<number, { shares: number; bytes: number }>();
  for (const row of rows) {
    const delta = deltas.get(row.account_id) ?? { shares: 0, bytes: 0 };
    delta.shares -= 1;
    delta.bytes -= row.used_space;
    deltas.set(row.account_id, delta);
  }
  return deltas;
}

function placeholders(count: number, first = 1, dialect: Dialect = 'sqlite'): string {
  return Array.from({ length: count }, (_, i) =>
    dialect === 'sqlite' ? '?' : `$${first + i}`,
  ).join(', ');
}

function tuples(rows: number, width: number, dialect: Dialect): string {
  return Array.from(
    { length: rows },
    (_, r) => `(${placeholders(width, 1 + r * width, dialect)})`,
  ).join(', ');
}

// The statements below are the ones src/leases.ts, src/shares.ts and src/usage.ts send (through
// kysely's builder or its sql templates); checkParity compares them on every run.
const SQL = {
  account: 'select * from "accounts" where "id" = ?',
  /** src/leases.ts addOrRenewLeases only checks that the account exists. */
  accountExists: 'select id from accounts where id = ?',
  sharesOf: "select shnum, used_space from shares where storage_index = ? and state <> 'going'",
  renew:
    'update leases set renewed_at = ?, expires_at = case when expires_at < ? then ? else expires_at end where storage_index = ? and account_id = ? returning shnum',
  insertLeases: (rows: number, d: Dialect) =>
    `insert into "leases" ("storage_index", "shnum", "account_id", "renewed_at", "expires_at", "used_space", "renew_secret_hash", "cancel_secret_hash") values ${tuples(rows, 8, d)}`,
  addAccountUsage:
    'update "account_usage" set "shares" = "shares" + ?, "bytes" = "bytes" + ? where "account_id" = ?',
  addServerUsage:
    'update "server_usage" set "shares" = "shares" + ?, "bytes" = "bytes" + ? where "id" = ?',
  touchShares:
    "update shares set lease_expires_at = case when lease_expires_at is null or lease_expires_at < ? then ? else lease_expires_at end where storage_index = ? and state <> 'going'",
  existing: (count: number, d: Dialect) =>
    `select "shnum", "state" from "shares" where "storage_index" = ${d === 'sqlite' ? '?' : '$1'} and "shnum" in (${placeholders(count, 2, d)})`,
  lockUsage: 'select "shares", "bytes" from "account_usage" where "account_id" = ?',
  /** PostgreSQL's lockAccountUsage locks the row (src/context.ts). */
  lockUsageForUpdate:
    'select "shares", "bytes" from "account_usage" where "account_id" = ? for update',
  insertShares: (rows: number, d: Dialect) =>
    `insert into "shares" ("storage_index", "shnum", "prefix", "sharetype", "state", "used_space", "owner_account_id", "created_at", "updated_at", "lease_expires_at") values ${tuples(rows, 10, d)} returning *`,
  expire:
    'delete from "leases" where "expires_at" < ? returning "storage_index", "shnum", "account_id", "expires_at", "used_space"',
  /** src/events.ts appendEvents: one INSERT per 500 events. */
  insertEvents: (rows: number, d: Dialect) =>
    `insert into "events" ("at", "kind", "account_id", "actor", "storage_index", "shnum", "data") values ${tuples(rows, 7, d)}`,
  /** src/context.ts addUsageByAccount for several accounts: one CASE update per 500. */
  usageByAccount: (rows: number) => {
    const cases = Array.from({ length: rows }, () => 'when ? then ?').join(' ');
    return `update account_usage set shares = shares + case account_id ${cases} else 0 end, bytes = bytes + case account_id ${cases} else 0 end where account_id in (${Array.from({ length: rows }, () => '?').join(', ')})`;
  },
  /** PostgreSQL: src/context.ts lockAccountsInOrder. */
  lockAccounts: (rows: number) =>
    `select "account_id" from "account_usage" where "account_id" in (${Array.from({ length: rows }, () => '?').join(', ')}) order by "account_id" for update`,
  usage: 'select "shares", "bytes" from "account_usage" where "account_id" = ?',
  /** PostgreSQL: src/context.ts lockStorageIndex (keyed by schema and storage index). */
  lockIndex: "select pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || ?, 0))",
  /** PostgreSQL: src/events.ts appendEvent serialises event ids with commit order. */
  lockEvents: "select pg_advisory_xact_lock(hashtextextended(current_schema() || '/events', 0))",
} as const;

/** `?` → `$1, $2, ...` for pg; memoised, so the baseline does not rebuild SQL text per call. */
const numberedCache = new Map<string, string>();
function numbered(sqlText: string): string {
  let text = numberedCache.get(sqlText);
  if (text === undefined) {
    let n = 0;
    text = sqlText.replace(/\?/g, () => `$${++n}`);
    numberedCache.set(sqlText, text);
  }
  return text;
}

/** SQL whose text depends on a row count, built once per count. */
const countedCache = new Map<string, string>();
function counted(
  kind: 'insertLeases' | 'insertShares' | 'existing',
  rows: number,
  d: Dialect,
): string {
  const key = `${kind}/${rows}/${d}`;
  let text = countedCache.get(key);
  if (text === undefined) {
    text = SQL[kind](rows, d);
    countedCache.set(key, text);
  }
  return text;
}

function leaseParams(
  si: string,
  shares: readonly ShareRef[],
  accountId: number,
  now: number,
  expiresAt: number,
) {
  const params: (string | number | null)[] = [];
  for (const share of shares)
    params.push(si, share.shnum, accountId, now, expiresAt, share.used_space, null, null);
  return params;
}

function shareParams(upload: Upload, now: number, expiresAt: number) {
  const params: (string | number | null)[] = [];
  for (const share of upload.shares) {
    params.push(
      upload.storageIndex,
      share.shnum,
      upload.storageIndex.slice(0, 2),
      'immutable',
      'coming',
      share.usedBytes,
      upload.accountId,
      now,
      now,
      expiresAt,
    );
  }
  return params;
}

function expiryEvent(before: number, delta: { shares: number; bytes: number }): string {
  return JSON.stringify({ leases: -delta.shares, bytes: -delta.bytes, before });
}

const CHUNK = 500;

/**
 * What src/leases.ts expireLeases sends after its DELETE: the usage of several accounts in one
 * CASE update per 500 accounts (PostgreSQL locks them in order first; one account is a plain
 * update), then the event-log lock (PostgreSQL) and one INSERT per 500 events. SQL with `?`.
 */
function expiryStatements(
  deltas: ReadonlyMap<number, { shares: number; bytes: number }>,
  before: number,
  now: number,
  d: Dialect,
): { sql: string; params: (string | number | null)[] }[] {
  const ids = [...deltas.keys()].sort((a, b) => a - b);
  const out: { sql: string; params: (string | number | null)[] }[] = [];
  if (ids.length === 1) {
    const delta = deltas.get(ids[0]!)!;
    out.push({ sql: SQL.addAccountUsage, params: [delta.shares, delta.bytes, ids[0]!] });
  } else if (ids.length > 1) {
    if (d === 'postgres') out.push({ sql: SQL.lockAccounts(ids.length), params: ids });
    for (let start = 0; start < ids.length; start += CHUNK) {
      const chunk = ids.slice(start, start + CHUNK);
      const params: number[] = [];
      for (const id of chunk) params.push(id, deltas.get(id)!.shares);
      for (const id of chunk) params.push(id, deltas.get(id)!.bytes);
      params.push(...chunk);
      out.push({ sql: SQL.usageByAccount(chunk.length), params });
    }
  }
  if (ids.length === 0) return out;
  if (d === 'postgres') out.push({ sql: SQL.lockEvents, params: [] });
  const entries = [...deltas];
  for (let start = 0; start < entries.length; start += CHUNK) {
    const chunk = entries.slice(start, start + CHUNK);
    const params: (string | number | null)[] = [];
    for (const [accountId, delta] of chunk) {
      params.push(
        now,
        'leases-expired',
        accountId,
        'expiry',
        null,
        null,
        expiryEvent(before, delta),
      );
    }
    out.push({ sql: SQL.insertEvents(chunk.length, 'sqlite'), params });
  }
  return out;
}

/**
 * better-sqlite3 with prepared statements reused, each operation in db.transaction run as
 * BEGIN IMMEDIATE, as src/dialect.ts begins kysely's transactions.
 */
class RawSqlite implements RawDriver {
  readonly #db: BetterSqlite3.Database;
  readonly #byText = new Map<string, BetterSqlite3.Statement>();
  readonly #addOrRenew: (
    si: string,
    accountId: number,
    now: number,
  ) => { added: number; renewed: number };
  readonly #addComing: (uploads: readonly Upload[], now: number) => number;
  readonly #expire: (before: number, now: number) => number;

  constructor(path: string) {
    const db = openRawSqlite(path);
    this.#db = db;
    const account = db.prepare(SQL.account);
    const accountExists = db.prepare(SQL.accountExists);
    const sharesOf = db.prepare(SQL.sharesOf);
    const renew = db.prepare(SQL.renew);
    const addAccountUsage = db.prepare(SQL.addAccountUsage);
    const addServerUsage = db.prepare(SQL.addServerUsage);
    const touchShares = db.prepare(SQL.touchShares);
    const lockUsage = db.prepare(SQL.lockUsage);
    const expire = db.prepare(SQL.expire);

    this.#addOrRenew = db.transaction((si: string, accountId: number, now: number) => {
      if (!accountExists.get(accountId)) throw new Error(`no account ${accountId}`);
      const shares = sharesOf.all(si) as ShareRef[];
      if (shares.length === 0) return { added: 0, renewed: 0 };
      const expiresAt = now + LEASE_SECONDS;
      const renewed = renew.all(now, expiresAt, expiresAt, si, accountId) as { shnum: number }[];
      const renewedShnums = new Set(renewed.map((r) => r.shnum));
      const fresh = shares.filter((share) => !renewedShnums.has(share.shnum));
      if (fresh.length) {
        this.#statement(counted('insertLeases', fresh.length, 'sqlite')).run(
          leaseParams(si, fresh, accountId, now, expiresAt),
        );
        const bytes = fresh.reduce((sum, share) => sum + share.used_space, 0);
        addAccountUsage.run(fresh.length, bytes, accountId);
      }
      touchShares.run(expiresAt, expiresAt, si);
      return { added: fresh.length, renewed: renewed.length };
    }).immediate;

    this.#addComing = db.transaction((uploads: readonly Upload[], now: number) => {
      let inserted = 0;
      for (const upload of uploads) {
        const count = upload.shares.length;
        const total = upload.shares.reduce((sum, share) => sum + share.usedBytes, 0);
        const owner = account.get(upload.accountId) as
          | { hard_quota_bytes: number | null }
          | undefined;
        if (!owner) throw new Error(`no account ${upload.accountId}`);
        const clash = this.#statement(counted('existing', count, 'sqlite')).get(
          upload.storageIndex,
          ...upload.shares.map((share) => share.shnum),
        );
        if (clash) throw new Error(`share exists in ${upload.storageIndex}`);
        const usage = lockUsage.get(upload.accountId) as Usage | undefined;
        if (!usage) throw new Error(`no usage for ${upload.accountId}`);
        if (owner.hard_quota_bytes !== null && usage.bytes + total > owner.hard_quota_bytes)
          throw new Error('quota exceeded');
        const expiresAt = now + LEASE_SECONDS;
        this.#statement(counted('insertShares', count, 'sqlite')).all(
          shareParams(upload, now, expiresAt),
        );
        const refs = upload.shares.map((s) => ({ shnum: s.shnum, used_space: s.usedBytes }));
        this.#statement(counted('insertLeases', count, 'sqlite')).run(
          leaseParams(upload.storageIndex, refs, upload.accountId, now, expiresAt),
        );
        addAccountUsage.run(count, total, upload.accountId);
        addServerUsage.run(count, total, 1);
        inserted += count;
      }
      return inserted;
    }).immediate;

    this.#expire = db.transaction((before: number, now: number) => {
      const removed = expire.all(before) as RemovedLease[];
      const deltas = releasedUsage(removed);
      for (const statement of expiryStatements(deltas, before, now, 'sqlite')) {
        this.#statement(statement.sql).run(statement.params);
      }
      return removed.length;
    }).immediate;

    const usage = db.prepare(SQL.usage);
    this.accountUsage = async (accountId) => usage.get(accountId) as Usage | undefined;
  }

  /** Statements whose text depends on a row count, prepared once per count. */
  #statement(sqlText: string): BetterSqlite3.Statement {
    let statement = this.#byText.get(sqlText);
    if (!statement) {
      statement = this.#db.prepare(sqlText);
      this.#byText.set(sqlText, statement);
    }
    return statement;
  }

  async addOrRenew(storageIndex: string, accountId: number) {
    return this.#addOrRenew(storageIndex, accountId, nowSeconds());
  }
  async addComing(uploads: readonly Upload[]) {
    return this.#addComing(uploads, nowSeconds());
  }
  async expire(before: number) {
    return this.#expire(before, nowSeconds());
  }
  readonly accountUsage: (accountId: number) => Promise<Usage | undefined>;
  async close() {
    this.#db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** int8/numeric as numbers, as openLeaseDb's pool does, so both paths parse the same way. */
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700
      ? Number
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const PG_ROWS_PER_STATEMENT = 50_000;

/**
 * Loads with `insert ... select * from unnest($1::text[], ...)`: a multi-row insert binding one
 * array per column, far cheaper for pg to serialise than 10 parameters per row.
 */
async function postgresLoader(url: string, openKysely: () => Promise<LeaseDb>): Promise<Loader> {
  const pool = new pg.Pool({ connectionString: url, max: 1, types: PG_TYPES });
  return {
    createAccounts: (count) => createAccountsVia(openKysely, count),
    async insert(table, columns, rows) {
      for (let start = 0; start < rows.length; start += PG_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(start, start + PG_ROWS_PER_STATEMENT);
        const arrays = columns.map((_, c) => chunk.map((row) => row[c] ?? null));
        await pool.query(
          `insert into ${table} (${columns.map(([name]) => name).join(', ')}) select * from unnest(${columns
            .map(([, type], c) => `$${c + 1}::${type}[]`)
            .join(', ')})`,
          arrays,
        );
      }
    },
    async run(sqlText) {
      await pool.query(sqlText);
    },
    async query<T>(sqlText: string) {
      return (await pool.query(sqlText)).rows as T[];
    },
    async close() {
      // A server's tables are vacuumed and analysed by autovacuum; do it now so plans are settled.
      await pool.query('vacuum analyze');
      await pool.end();
    },
  };
}

/** pg parameterized queries (unnamed statements, as kysely's driver sends) on one pooled client. */
class RawPostgres implements RawDriver {
  readonly #pool: pg.Pool;
  readonly #client: pg.PoolClient;

  private constructor(pool: pg.Pool, client: pg.PoolClient) {
    this.#pool = pool;
    this.#client = client;
  }

  static async open(url: string): Promise<RawPostgres> {
    const pool = new pg.Pool({ connectionString: url, max: 1, types: PG_TYPES });
    return new RawPostgres(pool, await pool.connect());
  }

  async #rows<T>(sqlText: string, params: readonly unknown[]): Promise<T[]> {
    return (await this.#client.query(sqlText, params as unknown[])).rows as T[];
  }

  async #transaction<T>(fn: () => Promise<T>): Promise<T> {
    await this.#client.query('begin');
    try {
      const result = await fn();
      await this.#client.query('commit');
      return result;
    } catch (error) {
      await this.#client.query('rollback');
      throw error;
    }
  }

  addOrRenew(si: string, accountId: number) {
    return this.#transaction(async () => {
      await this.#rows(numbered(SQL.lockIndex), [si]);
      if ((await this.#rows(numbered(SQL.accountExists), [accountId])).length === 0)
        throw new Error(`no account ${accountId}`);
      const shares = await this.#rows<ShareRef>(numbered(SQL.sharesOf), [si]);
      if (shares.length === 0) return { added: 0, renewed: 0 };
      const now = nowSeconds();
      const expiresAt = now + LEASE_SECONDS;
      const renewed = await this.#rows<{ shnum: number }>(numbered(SQL.renew), [
        now,
        expiresAt,
        expiresAt,
        si,
        accountId,
      ]);
      const renewedShnums = new Set(renewed.map((r) => r.shnum));
      const fresh = shares.filter((share) => !renewedShnums.has(share.shnum));
      if (fresh.length) {
        await this.#rows(
          counted('insertLeases', fresh.length, 'postgres'),
          leaseParams(si, fresh, accountId, now, expiresAt),
        );
        const bytes = fresh.reduce((sum, share) => sum + share.used_space, 0);
        await this.#rows(numbered(SQL.addAccountUsage), [fresh.length, bytes, accountId]);
      }
      await this.#rows(numbered(SQL.touchShares), [expiresAt, expiresAt, si]);
      return { added: fresh.length, renewed: renewed.length };
    });
  }

  addComing(uploads: readonly Upload[]) {
    return this.#transaction(async () => {
      let inserted = 0;
      for (const upload of uploads) {
        const count = upload.shares.length;
        const total = upload.shares.reduce((sum, share) => sum + share.usedBytes, 0);
        await this.#rows(numbered(SQL.lockIndex), [upload.storageIndex]);
        const [owner] = await this.#rows<{ hard_quota_bytes: number | null }>(
          numbered(SQL.account),
          [upload.accountId],
        );
        if (!owner) throw new Error(`no account ${upload.accountId}`);
        const clash = await this.#rows(counted('existing', count, 'postgres'), [
          upload.storageIndex,
          ...upload.shares.map((share) => share.shnum),
        ]);
        if (clash.length) throw new Error(`share exists in ${upload.storageIndex}`);
        const [usage] = await this.#rows<Usage>(numbered(SQL.lockUsageForUpdate), [
          upload.accountId,
        ]);
        if (!usage) throw new Error(`no usage for ${upload.accountId}`);
        if (owner.hard_quota_bytes !== null && usage.bytes + total > owner.hard_quota_bytes)
          throw new Error('quota exceeded');
        const now = nowSeconds();
        const expiresAt = now + LEASE_SECONDS;
        await this.#rows(
          counted('insertShares', count, 'postgres'),
          shareParams(upload, now, expiresAt),
        );
        const refs = upload.shares.map((s) => ({ shnum: s.shnum, used_space: s.usedBytes }));
        await this.#rows(
          counted('insertLeases', count, 'postgres'),
          leaseParams(upload.storageIndex, refs, upload.accountId, now, expiresAt),
        );
        await this.#rows(numbered(SQL.addAccountUsage), [count, total, upload.accountId]);
        await this.#rows(numbered(SQL.addServerUsage), [count, total, 1]);
        inserted += count;
      }
      return inserted;
    });
  }

  expire(before: number) {
    return this.#transaction(async () => {
      const removed = await this.#rows<RemovedLease>(numbered(SQL.expire), [before]);
      const deltas = releasedUsage(removed);
      for (const statement of expiryStatements(deltas, before, nowSeconds(), 'postgres')) {
        await this.#rows(numbered(statement.sql), statement.params);
      }
      return removed.length;
    });
  }

  async accountUsage(accountId: number) {
    const [row] = await this.#rows<Usage>(numbered(SQL.usage), [accountId]);
    return row;
  }

  async close() {
    this.#client.release();
    await this.#pool.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Where the databases live: a fresh, migrated database per use, on either dialect.

interface Store {
  loader(): Promise<Loader>;
  openKysely(): Promise<LeaseDb>;
  openRaw(): Promise<RawDriver>;
  drop(): Promise<void>;
}

interface Backend {
  readonly dialect: Dialect;
  /** A new database with the lease schema (created by openLeaseDb's migration). */
  create(): Promise<Store>;
}

function sqliteBackend(dir: string): Backend {
  let counter = 0;
  return {
    dialect: 'sqlite',
    async create() {
      const path = join(dir, `leasedb-${++counter}.sqlite`);
      await (await openLeaseDb({ dialect: 'sqlite', path })).close();
      // synchronous left at openLeaseDb's default (FULL), like a server.
      const openKysely = () => openLeaseDb({ dialect: 'sqlite', path });
      return {
        loader: async () => sqliteLoader(path, openKysely),
        openKysely,
        openRaw: async () => new RawSqlite(path),
        async drop() {
          for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
        },
      };
    },
  };
}

function postgresBackend(adminUrl: string): Backend {
  return {
    dialect: 'postgres',
    async create() {
      const scratch = await createScratchDatabase(adminUrl);
      const forget = undoOnInterrupt(() => scratch.drop());
      await (await openLeaseDb({ dialect: 'postgres', connectionString: scratch.url })).close();
      const openKysely = () => openLeaseDb({ dialect: 'postgres', connectionString: scratch.url });
      return {
        loader: () => postgresLoader(scratch.url, openKysely),
        openKysely,
        openRaw: () => RawPostgres.open(scratch.url),
        async drop() {
          forget();
          await scratch.drop();
        },
      };
    },
  };
}

/** Two identically loaded databases: one measured through LeaseDb, the other through the driver. */
async function twin<T>(
  backend: Backend,
  load: (loader: Loader) => Promise<T>,
): Promise<{ kysely: Store; raw: Store; data: T }> {
  const stores: Store[] = [];
  try {
    const datas: T[] = [];
    for (let i = 0; i < 2; i++) {
      const store = await backend.create();
      stores.push(store);
      const loader = await store.loader();
      datas.push(await load(loader));
      await loader.close();
    }
    if (JSON.stringify(datas[0]) !== JSON.stringify(datas[1]))
      throw new Error('the two databases of a scenario were loaded differently');
    return { kysely: stores[0]!, raw: stores[1]!, data: datas[0]! };
  } catch (error) {
    for (const store of stores) await store.drop();
    throw error;
  }
}

async function assertConsistent(db: LeaseDb): Promise<void> {
  const mismatches = await db.checkUsage();
  if (mismatches.length)
    throw new Error(`bulk load left usage inconsistent: ${JSON.stringify(mismatches[0])}`);
}

// ---------------------------------------------------------------------------------------------
// Statement parity: a baseline is only one if it sends what src sends, and src keeps changing.
// Before measuring, each operation runs once on both paths (small twin databases) while the
// drivers record the SQL they are given; the two lists must match, ignoring placeholder style and
// the expiry kysely inlines in CASE ... THEN. Transaction control is compared too, lower-cased.

let recording: string[] | undefined;

/** Patches better-sqlite3's Statement and pg's Client to record SQL texts; returns the undo. */
function recordDriverStatements(): () => void {
  type Methods = Record<string, (...args: unknown[]) => unknown>;
  const probe = new BetterSqlite3(':memory:');
  const statement = Object.getPrototypeOf(probe.prepare('select 1')) as Methods;
  probe.close();
  const client = pg.Client.prototype as unknown as Methods;
  const undo: (() => void)[] = [];
  const patch = (
    target: Methods,
    method: string,
    textOf: (self: unknown, args: unknown[]) => string,
  ) => {
    const original = target[method]!;
    target[method] = function (this: unknown, ...args: unknown[]) {
      recording?.push(textOf(this, args));
      return original.apply(this, args);
    };
    undo.push(() => {
      target[method] = original;
    });
  };
  for (const method of ['run', 'get', 'all', 'iterate'])
    patch(statement, method, (self) => (self as { source: string }).source);
  patch(client, 'query', (_, args) =>
    typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text,
  );
  return () => {
    for (const step of undo) step();
  };
}

function normalise(sqlText: string): string {
  const text = sqlText.replace(/\s+/g, ' ').trim();
  if (/^(begin|commit|rollback|savepoint|release)\b/i.test(text)) return text.toLowerCase();
  return text.replace(/\$\d+/g, '?').replace(/\bthen -?\d+\b/g, 'then ?');
}

async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
  recording = [];
  try {
    await fn();
    return recording.map(normalise);
  } finally {
    recording = undefined;
  }
}

interface ParityData {
  readonly accounts: readonly number[];
  readonly indexes: readonly string[];
  readonly cutoff: number;
}

async function loadParity(loader: Loader, now: number): Promise<ParityData> {
  const accounts = await loader.createAccounts(3);
  const [a, b, c] = accounts as [number, number, number];
  const indexes = storageIndexes(4, 15);
  const [si0, si1] = indexes as [string, string];
  await loader.insert('shares', SHARE_COLUMNS, [
    shareRow(si0, 0, 1_000, a, now, now + DAY),
    shareRow(si0, 1, 2_000, a, now, now + DAY),
    shareRow(si1, 0, 3_000, a, now, now + DAY),
  ]);
  await loader.insert('leases', LEASE_COLUMNS, [
    [si0, 0, a, now, now + DAY, 1_000],
    [si0, 1, a, now, now + DAY, 2_000],
    [si1, 0, a, now, now + DAY, 3_000],
    [si0, 0, b, now - 2 * DAY, now - DAY, 1_000],
    [si1, 0, c, now - 2 * DAY, now - DAY, 3_000],
  ]);
  await fixUsage(loader);
  return { accounts, indexes, cutoff: now };
}

/** Runs each measured operation once on both paths; returns what differed (empty: parity). */
async function checkParity(
  backend: Backend,
): Promise<{ operations: number; mismatches: string[] }> {
  // One clock reading for both databases, or a second boundary between their loads would show.
  const now = nowSeconds();
  const { kysely, raw, data } = await twin(backend, (loader) => loadParity(loader, now));
  const db = await kysely.openKysely();
  const driver = await raw.openRaw();
  const undo = recordDriverStatements();
  try {
    const [a, b, c] = data.accounts as [number, number, number];
    const [si0, si1, si2, si3] = data.indexes as [string, string, string, string];
    const uploads: Upload[] = [
      {
        storageIndex: si2,
        accountId: a,
        shares: [0, 1, 2].map((shnum) => ({ shnum, usedBytes: 500 })),
      },
      {
        storageIndex: si3,
        accountId: b,
        shares: [0, 1].map((shnum) => ({ shnum, usedBytes: 700 })),
      },
    ];
    const operations: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        'add-or-renew (renewal)',
        () => db.addOrRenewLeases({ storageIndex: si0, accountId: a }),
        () => driver.addOrRenew(si0, a),
      ],
      [
        'add-or-renew (fresh lease)',
        () => db.addOrRenewLeases({ storageIndex: si1, accountId: b }),
        () => driver.addOrRenew(si1, b),
      ],
      [
        'batched inserts',
        () =>
          db.transaction(async (tx) => {
            for (const upload of uploads)
              await tx.addComingShares({ ...upload, sharetype: 'immutable' });
          }),
        () => driver.addComing(uploads),
      ],
      ['expiry', () => db.expireLeases(data.cutoff), () => driver.expire(data.cutoff)],
      ['usage read', () => db.getAccountUsage(c), () => driver.accountUsage(c)],
    ];
    const mismatches: string[] = [];
    for (const [name, kyselyOp, rawOp] of operations) {
      const sent = { kysely: await statementsOf(kyselyOp), raw: await statementsOf(rawOp) };
      const length = Math.max(sent.kysely.length, sent.raw.length);
      for (let i = 0; i < length; i++) {
        if (sent.kysely[i] !== sent.raw[i]) {
          mismatches.push(
            `${name}, statement ${i + 1}: kysely sent ${JSON.stringify(sent.kysely[i] ?? '(nothing)')}, raw sent ${JSON.stringify(sent.raw[i] ?? '(nothing)')}`,
          );
          break;
        }
      }
    }
    return { operations: operations.length, mismatches };
  } finally {
    undo();
    await db.close();
    await driver.close();
    await kysely.drop();
    await raw.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Results

interface Figure {
  readonly name: string;
  readonly kysely: number;
  readonly raw: number;
  readonly unit: string;
  /** Throughputs are better high, latencies low; the ratio is always kysely cost ÷ raw cost. */
  readonly higherIsBetter: boolean;
  readonly decimals: number;
  readonly target?: { readonly label: string; readonly met: boolean };
}

function ratioOf(figure: Figure): number {
  return figure.higherIsBetter ? figure.raw / figure.kysely : figure.kysely / figure.raw;
}

/** Lease operations must cost at most twice the raw driver's. */
function withinTwice(kysely: number, raw: number, higherIsBetter: boolean) {
  const ratio = higherIsBetter ? raw / kysely : kysely / raw;
  return { label: '≤ 2× raw', met: ratio <= 2 };
}

function format(value: number, decimals: number): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

function printTable(title: string, figures: readonly Figure[], parity: readonly string[]): void {
  const header = ['figure', 'ostrom (kysely)', 'raw driver', 'ratio', 'target'];
  const rows = figures.map((f) => [
    f.name,
    `${format(f.kysely, f.decimals)} ${f.unit}`,
    `${format(f.raw, f.decimals)} ${f.unit}`,
    `${ratioOf(f).toFixed(2)}×`,
    f.target ? `${f.target.label} ${f.target.met ? 'met' : 'MISSED'}` : '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join(' | ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
  console.log(
    'ratio = kysely time ÷ raw time for the same work (1.00× = as fast as raw; higher = slower)',
  );
  for (const line of parity) console.log(line);
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/**
 * Runs the two paths over the same items in alternating blocks (kysely first, then raw first, and
 * so on) and returns each path's total seconds. Other work may share the machine; alternating
 * spreads a slow stretch over both paths instead of charging it to whichever ran during it.
 */
async function alternate<T>(
  items: readonly T[],
  blocks: number,
  kyselyFn: (item: T) => Promise<unknown>,
  rawFn: (item: T) => Promise<unknown>,
): Promise<{ kysely: number; raw: number; cpu: { kysely: number; raw: number } }> {
  const total = { kysely: 0, raw: 0, cpu: { kysely: 0, raw: 0 } };
  const size = Math.ceil(items.length / blocks);
  for (let b = 0; b * size < items.length; b++) {
    const block = items.slice(b * size, (b + 1) * size);
    const order = b % 2 === 0 ? (['kysely', 'raw'] as const) : (['raw', 'kysely'] as const);
    for (const path of order) {
      const fn = path === 'kysely' ? kyselyFn : rawFn;
      const cpu = process.cpuUsage();
      const start = process.hrtime.bigint();
      for (const item of block) await fn(item);
      total[path] += seconds(start);
      const used = process.cpuUsage(cpu);
      total.cpu[path] += (used.user + used.system) / 1e6;
    }
  }
  return total;
}

/**
 * This process's CPU per item on each path: the layer's own cost, which a commit's fsync or a
 * round trip hides in the wall-clock figures (and which other load on the machine inflates).
 */
function cpuLine(name: string, cpu: { kysely: number; raw: number }, items: number): string {
  const us = (secondsOfCpu: number) => `${((secondsOfCpu / items) * 1e6).toFixed(0)} µs`;
  return `${name}: CPU of this process per item: kysely ${us(cpu.kysely)}, raw ${us(cpu.raw)}`;
}

// ---------------------------------------------------------------------------------------------
// 1. add-or-renew, one transaction per request

interface RenewData {
  readonly indexes: readonly string[];
  readonly holders: readonly number[];
  readonly newcomer: number;
}

async function loadRenew(loader: Loader, now: number): Promise<RenewData> {
  const accounts = await loader.createAccounts(RENEW_HOLDERS + 1);
  const holders = accounts.slice(0, RENEW_HOLDERS);
  const newcomer = accounts[RENEW_HOLDERS]!;
  const indexes = storageIndexes(RENEW_INDEXES, 1);
  const next = seededRandom(2);
  const shares: Row[] = [];
  const leases: Row[] = [];
  // Leases renewed 20 days ago, 11 days left: a renewal now always extends them.
  const expires = now + 11 * DAY;
  indexes.forEach((si, i) => {
    const holder = holders[i % RENEW_HOLDERS]!;
    for (let shnum = 0; shnum < 1 + (i % 3); shnum++) {
      const used = 10_000 + Math.floor(next() * 1_000_000);
      shares.push(shareRow(si, shnum, used, holder, now - 20 * DAY, expires));
      leases.push([si, shnum, holder, now - 20 * DAY, expires, used]);
    }
  });
  await loader.insert('shares', SHARE_COLUMNS, shares);
  await loader.insert('leases', LEASE_COLUMNS, leases);
  await fixUsage(loader);
  return { indexes, holders, newcomer };
}

/** The requests: mostly a holder renewing its index, every FRESH_EVERY-th a newcomer adding. */
function renewRequests(
  data: RenewData,
  count: number,
): { storageIndex: string; accountId: number }[] {
  const next = seededRandom(3);
  const freshOrder = shuffled(
    data.indexes.map((_, i) => i),
    4,
  );
  let fresh = 0;
  const requests: { storageIndex: string; accountId: number }[] = [];
  for (let k = 0; k < count; k++) {
    if (k % FRESH_EVERY === FRESH_EVERY - 1) {
      requests.push({
        storageIndex: data.indexes[freshOrder[fresh++]!]!,
        accountId: data.newcomer,
      });
    } else {
      const i = Math.floor(next() * data.indexes.length);
      requests.push({
        storageIndex: data.indexes[i]!,
        accountId: data.holders[i % RENEW_HOLDERS]!,
      });
    }
  }
  return requests;
}

async function benchRenew(backend: Backend, sizes: Sizes): Promise<Figure> {
  const now = nowSeconds(); // one reading, so both databases hold the same times
  const { kysely, raw, data } = await step(
    `add-or-renew: loading 2 × ${format(RENEW_INDEXES, 0)} storage indexes`,
    () => twin(backend, (loader) => loadRenew(loader, now)),
  );
  const db = await kysely.openKysely();
  const driver = await raw.openRaw();
  try {
    await assertConsistent(db);
    const requests = renewRequests(data, sizes.renewWarmup + sizes.renewOps);
    const warmup = requests.slice(0, sizes.renewWarmup);
    const measured = requests.slice(sizes.renewWarmup);
    const totals = { kysely: { added: 0, renewed: 0 }, raw: { added: 0, renewed: 0 } };
    const count = (path: 'kysely' | 'raw', result: { added: number; renewed: number }) => {
      totals[path].added += result.added;
      totals[path].renewed += result.renewed;
    };
    for (const r of warmup) await db.addOrRenewLeases(r);
    for (const r of warmup) await driver.addOrRenew(r.storageIndex, r.accountId);
    const time = await alternate(
      measured,
      RENEW_BLOCKS,
      async (r) => count('kysely', await db.addOrRenewLeases(r)),
      async (r) => count('raw', await driver.addOrRenew(r.storageIndex, r.accountId)),
    );
    // The baseline must have done the same work, not merely the same number of calls.
    if (JSON.stringify(totals.kysely) !== JSON.stringify(totals.raw))
      throw new Error(`add-or-renew diverged: ${JSON.stringify(totals)}`);
    await assertConsistent(db);
    progress(`add-or-renew: ${totals.kysely.renewed} leases renewed, ${totals.kysely.added} added`);
    progress(cpuLine('add-or-renew', time.cpu, measured.length));

    const k = sizes.renewOps / time.kysely;
    const r = sizes.renewOps / time.raw;
    return {
      name: `add-or-renew, 1 tx/request (${format(sizes.renewOps, 0)} req)`,
      kysely: k,
      raw: r,
      unit: 'req/s',
      higherIsBetter: true,
      decimals: 0,
      target: withinTwice(k, r, true),
    };
  } finally {
    await db.close();
    await driver.close();
    await kysely.drop();
    await raw.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. batched lease inserts: addComingShares with many shnums, several per transaction

function uploadBatches(accounts: readonly number[], batches: number): Upload[][] {
  const indexes = shuffled(storageIndexes(batches * UPLOADS_PER_BATCH, 5), 6);
  const next = seededRandom(7);
  const out: Upload[][] = [];
  for (let b = 0; b < batches; b++) {
    const batch: Upload[] = [];
    for (let u = 0; u < UPLOADS_PER_BATCH; u++) {
      const n = b * UPLOADS_PER_BATCH + u;
      batch.push({
        storageIndex: indexes[n]!,
        accountId: accounts[n % accounts.length]!,
        shares: Array.from({ length: SHNUMS_PER_UPLOAD }, (_, shnum) => ({
          shnum,
          usedBytes: 1_000 + Math.floor(next() * 100_000),
        })),
      });
    }
    out.push(batch);
  }
  return out;
}

/**
 * Ten uploading accounts and some shares already leased. Not an empty database: PostgreSQL that
 * has analysed empty tables plans the leases→shares foreign-key check as a sequential scan, and a
 * connection keeps that plan, so each insert would get slower as the table grows (until the next
 * ANALYZE); a server's database is not empty, and autovacuum re-analyses one that grows.
 */
async function loadBatches(loader: Loader, now: number): Promise<number[]> {
  const accounts = await loader.createAccounts(10);
  const next = seededRandom(13);
  const shares: Row[] = [];
  const leases: Row[] = [];
  storageIndexes(BATCH_PRELOAD, 14).forEach((si, i) => {
    const used = 1_000 + Math.floor(next() * 100_000);
    const owner = accounts[i % accounts.length]!;
    shares.push(shareRow(si, 0, used, owner, now - DAY, now + 30 * DAY));
    leases.push([si, 0, owner, now - DAY, now + 30 * DAY, used]);
  });
  await loader.insert('shares', SHARE_COLUMNS, shares);
  await loader.insert('leases', LEASE_COLUMNS, leases);
  await fixUsage(loader);
  return accounts;
}

async function benchBatches(backend: Backend, sizes: Sizes): Promise<Figure> {
  const now = nowSeconds(); // one reading, so both databases hold the same times
  const { kysely, raw, data } = await step(
    `batched inserts: loading 2 × ${format(BATCH_PRELOAD, 0)} shares`,
    () => twin(backend, (loader) => loadBatches(loader, now)),
  );
  const db = await kysely.openKysely();
  const driver = await raw.openRaw();
  try {
    const batches = uploadBatches(data, sizes.batchWarmup + sizes.batches);
    const warmup = batches.slice(0, sizes.batchWarmup);
    const measured = batches.slice(sizes.batchWarmup);
    const leases = measured.length * UPLOADS_PER_BATCH * SHNUMS_PER_UPLOAD;
    let inserted = 0;
    const kyselyBatch = (batch: readonly Upload[]) =>
      db.transaction(async (tx) => {
        for (const upload of batch) {
          inserted += (await tx.addComingShares({ ...upload, sharetype: 'immutable' })).length;
        }
      });
    const rawBatch = async (batch: readonly Upload[]) => {
      inserted -= await driver.addComing(batch);
    };
    for (const batch of warmup) await kyselyBatch(batch);
    for (const batch of warmup) await rawBatch(batch);
    const time = await alternate(measured, measured.length, kyselyBatch, rawBatch);
    // Both paths inserted the same number of shares (and leases): the sum cancels out.
    if (inserted !== 0) throw new Error('the batched-insert paths inserted different counts');
    await assertConsistent(db);
    progress(`batched inserts: ${format(leases, 0)} shares + leases per path`);
    progress(cpuLine('batched inserts (per lease)', time.cpu, leases));

    const k = leases / time.kysely;
    const r = leases / time.raw;
    return {
      name: `batched lease inserts (${format(leases, 0)} leases)`,
      kysely: k,
      raw: r,
      unit: 'leases/s',
      higherIsBetter: true,
      decimals: 0,
      target: withinTwice(k, r, true),
    };
  } finally {
    await db.close();
    await driver.close();
    await kysely.drop();
    await raw.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. expiry of 100,000 leases

interface ExpiryData {
  readonly cutoff: number;
  /** The expiring leases, re-inserted between rounds. */
  readonly expiring: readonly Row[];
}

async function loadExpiry(loader: Loader, now: number): Promise<ExpiryData> {
  const accounts = await loader.createAccounts(ACCOUNTS);
  const indexes = storageIndexes(EXPIRING_LEASES, 8);
  const next = seededRandom(9);
  const shares: Row[] = [];
  const expiring: Row[] = [];
  const live: Row[] = [];
  indexes.forEach((si, i) => {
    const used = 10_000 + Math.floor(next() * 1_000_000);
    const expiredAt = now - 1 - (i % DAY);
    // Each share: one lease that has expired, and one of another account that has 30 days left,
    // so the DELETE must pick half the rows of the table.
    shares.push(shareRow(si, 0, used, accounts[i % ACCOUNTS]!, now - 60 * DAY, now + 30 * DAY));
    expiring.push([si, 0, accounts[i % ACCOUNTS]!, expiredAt - LEASE_SECONDS, expiredAt, used]);
    live.push([si, 0, accounts[(i + ACCOUNTS / 2) % ACCOUNTS]!, now - DAY, now + 30 * DAY, used]);
  });
  await loader.insert('shares', SHARE_COLUMNS, shares);
  await loader.insert('leases', LEASE_COLUMNS, expiring);
  await loader.insert('leases', LEASE_COLUMNS, live);
  await fixUsage(loader);
  return { cutoff: now, expiring };
}

async function benchExpiry(backend: Backend): Promise<Figure> {
  const now = nowSeconds();
  const { kysely, raw, data } = await step(
    `expiry: loading 2 × ${format(EXPIRING_LEASES, 0)} shares with ${format(2 * EXPIRING_LEASES, 0)} leases`,
    () => twin(backend, (loader) => loadExpiry(loader, now)),
  );
  const db = await kysely.openKysely();
  const driver = await raw.openRaw();
  const kyselyLoader = await kysely.loader();
  const rawLoader = await raw.loader();
  try {
    await assertConsistent(db);
    const timings = { kysely: [] as number[], raw: [] as number[] };
    for (let round = 0; round < EXPIRY_ROUNDS; round++) {
      if (round > 0) {
        // Put the expired leases back (and their usage) so every round deletes the same rows.
        for (const loader of [kyselyLoader, rawLoader]) {
          await loader.insert('leases', LEASE_COLUMNS, data.expiring);
          await fixUsage(loader);
          if (backend.dialect === 'postgres') await loader.run('vacuum analyze leases');
        }
        await assertConsistent(db);
      }
      // Which path goes first alternates from round to round.
      const removed = { kysely: 0, raw: 0 };
      const order = round % 2 === 0 ? (['kysely', 'raw'] as const) : (['raw', 'kysely'] as const);
      for (const path of order) {
        const start = process.hrtime.bigint();
        removed[path] =
          path === 'kysely'
            ? (await db.expireLeases(data.cutoff)).length
            : await driver.expire(data.cutoff);
        timings[path].push(seconds(start) * 1000);
      }
      if (removed.kysely !== EXPIRING_LEASES || removed.raw !== EXPIRING_LEASES)
        throw new Error(`expiry removed ${removed.kysely} / ${removed.raw} leases`);
    }
    await assertConsistent(db);
    progress(
      `expiry rounds (ms): kysely ${timings.kysely.map((t) => t.toFixed(0)).join(', ')}; raw ${timings.raw.map((t) => t.toFixed(0)).join(', ')}`,
    );
    const k = median(timings.kysely);
    const r = median(timings.raw);
    return {
      name: `expire ${format(EXPIRING_LEASES, 0)} leases (median of ${EXPIRY_ROUNDS})`,
      kysely: k,
      raw: r,
      unit: 'ms',
      higherIsBetter: false,
      decimals: 0,
      target: withinTwice(k, r, false),
    };
  } finally {
    await db.close();
    await driver.close();
    await kyselyLoader.close();
    await rawLoader.close();
    await kysely.drop();
    await raw.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. account-usage read latency with 1,000,000 shares

async function loadUsage(loader: Loader): Promise<number[]> {
  const now = nowSeconds();
  const accounts = await loader.createAccounts(ACCOUNTS);
  const indexes = storageIndexes(USAGE_SHARES, 10);
  const next = seededRandom(11);
  const shares: Row[] = [];
  const leases: Row[] = [];
  indexes.forEach((si, i) => {
    const used = 10_000 + Math.floor(next() * 1_000_000);
    const holder = accounts[i % ACCOUNTS]!;
    shares.push(shareRow(si, 0, used, holder, now, now + 30 * DAY));
    leases.push([si, 0, holder, now, now + 30 * DAY, used]);
  });
  await loader.insert('shares', SHARE_COLUMNS, shares);
  await loader.insert('leases', LEASE_COLUMNS, leases);
  await fixUsage(loader);
  return accounts;
}

async function benchUsage(backend: Backend): Promise<Figure[]> {
  // Reads change nothing, so one database serves both paths.
  const store = await backend.create();
  try {
    const accounts = await step(
      `usage read: loading ${format(USAGE_SHARES, 0)} shares + leases over ${ACCOUNTS} accounts`,
      async () => {
        const loader = await store.loader();
        try {
          return await loadUsage(loader);
        } finally {
          await loader.close();
        }
      },
    );
    const db = await store.openKysely();
    const driver = await store.openRaw();
    try {
      const server = await db.getServerUsage();
      if (server.shares !== USAGE_SHARES) throw new Error(`loaded ${server.shares} shares`);
      const next = seededRandom(12);
      const ids = Array.from(
        { length: USAGE_WARMUP + USAGE_READS },
        () => accounts[Math.floor(next() * ACCOUNTS)]!,
      );
      for (const id of ids.slice(0, USAGE_WARMUP)) {
        const usage = await db.getAccountUsage(id);
        const rawUsage = await driver.accountUsage(id);
        if (!usage || usage.shares !== rawUsage?.shares) throw new Error(`usage of ${id} differs`);
      }
      // Alternate the two paths read by read, so that neither gets a quieter stretch of the run.
      const latencies = { kysely: [] as number[], raw: [] as number[] };
      for (const id of ids.slice(USAGE_WARMUP)) {
        let start = process.hrtime.bigint();
        await db.getAccountUsage(id);
        latencies.kysely.push(seconds(start) * 1000);
        start = process.hrtime.bigint();
        await driver.accountUsage(id);
        latencies.raw.push(seconds(start) * 1000);
      }
      const under1ms = (value: number) => ({ label: '< 1 ms', met: value < 1 });
      const k50 = median(latencies.kysely);
      const k99 = percentile(latencies.kysely, 99);
      return [
        {
          name: `usage read, median (${format(USAGE_READS, 0)} reads, ${format(server.shares, 0)} shares)`,
          kysely: k50,
          raw: median(latencies.raw),
          unit: 'ms',
          higherIsBetter: false,
          decimals: 3,
          target: under1ms(k50),
        },
        {
          name: 'usage read, p99',
          kysely: k99,
          raw: percentile(latencies.raw, 99),
          unit: 'ms',
          higherIsBetter: false,
          decimals: 3,
          target: under1ms(k99),
        },
      ];
    } finally {
      await db.close();
      await driver.close();
    }
  } finally {
    await store.drop();
  }
}

// ---------------------------------------------------------------------------------------------

const NOTES = [
  `add-or-renew: addOrRenewLeases({ storageIndex, accountId }) on indexes with 1–3 shares; 9 in ${FRESH_EVERY} renew the`,
  "  holder's leases, 1 in 10 is a second account adding fresh ones. Raw: the same statements in",
  '  one transaction (BEGIN IMMEDIATE on SQLite; advisory lock on PostgreSQL), prepared once / parameterized.',
  `batched lease inserts: db.transaction with ${UPLOADS_PER_BATCH} × addComingShares of ${SHNUMS_PER_UPLOAD} shnums each (a new index each),`,
  `  i.e. ${UPLOADS_PER_BATCH * SHNUMS_PER_UPLOAD} shares + ${UPLOADS_PER_BATCH * SHNUMS_PER_UPLOAD} leases per transaction in ${SHNUMS_PER_UPLOAD}-row INSERTs. Raw: the same statements`,
  '  (lock, account, existence check, usage lock, multi-row INSERTs, usage updates) in one transaction.',
  `expire: ${format(EXPIRING_LEASES, 0)} of ${format(2 * EXPIRING_LEASES, 0)} leases expired, ${ACCOUNTS} accounts; expireLeases(t) vs raw DELETE ... RETURNING`,
  '  + one CASE UPDATE of account usage per 500 accounts (PostgreSQL: after locking them in order),',
  '  then the event-log lock (PostgreSQL) and one INSERT per 500 leases-expired events, in one transaction.',
  `usage read: getAccountUsage(id) vs raw SELECT shares, bytes FROM account_usage, ${ACCOUNTS} accounts,`,
  '  random ids, the two paths alternating read by read after a warm-up.',
  'SQL texts: checked identical to what kysely sends, at the start of each run.',
];

async function runDialect(title: string, backend: Backend): Promise<void> {
  const sizes = SIZES[backend.dialect];
  process.stderr.write(`\n${title}\n`);
  const parity = await checkParity(backend);
  const parityLines = parity.mismatches.length
    ? [
        'WARNING: the raw baseline no longer sends what src sends; fix bench/ before trusting ratios:',
        ...parity.mismatches.map((m) => `  ${m}`),
      ]
    : [
        `statements: raw baseline checked identical to kysely's for all ${parity.operations} operations`,
      ];
  for (const line of parityLines) progress(line);
  const figures: Figure[] = [];
  figures.push(await benchRenew(backend, sizes));
  figures.push(await benchBatches(backend, sizes));
  figures.push(await benchExpiry(backend));
  figures.push(...(await benchUsage(backend)));
  printTable(title, figures, parityLines);
}

async function postgresVersion(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]!
      .server_version;
  } finally {
    await client.end();
  }
}

// What an interrupted run (Ctrl-C) must still undo, newest first: scratch databases, the
// throwaway server, the SQLite temp dir. Normal and failing runs undo them in finally blocks.
const interruptCleanups = new Set<() => unknown>();

function undoOnInterrupt(cleanup: () => unknown): () => void {
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (async () => {
      for (const cleanup of [...interruptCleanups].reverse()) {
        try {
          await cleanup();
        } catch {
          // keep undoing the rest
        }
      }
      process.exit(130);
    })();
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `@ostrom/leasedb benchmark — Node ${process.version}, ${availableParallelism()} CPUs, scale ${SCALE}`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'ostrom-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const forgetDir = undoOnInterrupt(removeDir);
  try {
    await runDialect(
      `SQLite (better-sqlite3, file in ${tmpdir()}, WAL, synchronous=FULL, foreign_keys=ON)`,
      sqliteBackend(dir),
    );
  } finally {
    forgetDir();
    removeDir();
  }

  let adminUrl = process.env.OSTROM_TEST_POSTGRES_URL;
  let stop: (() => Promise<void>) | undefined;
  if (!adminUrl) {
    try {
      const server = await startPostgres();
      adminUrl = server.url;
      stop = () => server.stop();
    } catch (error) {
      console.log(
        `\nPostgreSQL: could not start a server (${(error as Error).message}); SQLite only.`,
      );
    }
  }
  if (adminUrl) {
    const forgetServer = stop ? undoOnInterrupt(stop) : () => {};
    try {
      const version = await postgresVersion(adminUrl);
      const origin = stop ? 'throwaway cluster, fsync=off' : 'OSTROM_TEST_POSTGRES_URL';
      await runDialect(
        `PostgreSQL ${version} (pg, ${origin}, read committed)`,
        postgresBackend(adminUrl),
      );
    } finally {
      forgetServer();
      await stop?.();
    }
  }
  console.log('\nWhat each figure measures:');
  for (const note of NOTES) console.log(`  ${note}`);
  console.log(`\ntotal run time ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
