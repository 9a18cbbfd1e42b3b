import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../src/dialect.js';
import {
  type ConnectionOptions,
  type Dialect,
  LeaseDbError,
  type LeaseDbOptions,
  leaseDbMigrations,
  type SqliteOptions,
} from '../src/index.js';
import { describeEachDialect } from './setup.js';

// Several processes opening one fresh database at the same moment, as a node creating its
// database while an operator runs `ostrom usage` beside it: every one of them must open it, and
// the schema must come out once, as one process alone would have made it.

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const PROGRAM = 'test/programs/open-lease-db.ts';
const PROCESSES = 8;
const ROUNDS = 6;
/** Rounds of opening without migrating: each costs some milliseconds. */
const OPEN_ROUNDS = 100;

/** One child running the program: give it a database, read its answer. */
class Opener {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #lines: string[] = [];
  #waiting: { resolve(line: string): void; reject(error: Error): void } | undefined;
  #stderr = '';
  #exited: Error | undefined;

  constructor() {
    this.#child = spawn(
      process.execPath,
      ['--conditions=@ostrom/source', '--import', 'tsx', PROGRAM],
      { cwd: PACKAGE, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.#child.stderr.on('data', (chunk) => {
      this.#stderr += chunk;
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting.resolve(line);
      else this.#lines.push(line);
    });
    this.#child.on('exit', (code) => {
      this.#exited = new Error(`the opener exited (${code}): ${this.#stderr}`);
      this.#waiting?.reject(this.#exited);
      this.#waiting = undefined;
    });
  }

  /** The next line the child prints. */
  next(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  /** Asks the child to open the database at `connection` (migrating it unless told not to). */
  open(options: ConnectionOptions & Pick<LeaseDbOptions, 'migrate'>): void {
    this.#child.stdin.write(`${JSON.stringify(options)}\n`);
  }

  /** Ends the child's input, and resolves with its exit code. */
  async close(): Promise<number | null> {
    if (this.#exited) return this.#child.exitCode;
    const exited = new Promise<number | null>((resolve) =>
      this.#child.on('exit', (code) => resolve(code)),
    );
    this.#child.stdin.end();
    return await exited;
  }
}

/** What the migrations left: the migrations recorded, the built-in accounts, the usage row. */
async function schemaOf(connection: ConnectionOptions) {
  const { db, ...rest } = connect(connection);
  try {
    const migrations = await sql<{ name: string }>`
      select name from kysely_migration order by name`.execute(db);
    const accounts = await sql<{ id: number }>`select id from accounts order by id`.execute(db);
    const serverUsage = await sql<{ id: number }>`select id from server_usage`.execute(db);
    return {
      migrations: migrations.rows.map((r) => r.name),
      accounts: accounts.rows.map((r) => Number(r.id)),
      serverUsage: serverUsage.rows.map((r) => Number(r.id)),
    };
  } finally {
    await db.destroy();
    if (rest.dialect === 'postgres') await rest.lockPool.end();
  }
}

/** Migrates a fresh location up to, not including, migration `next`, as an older version did. */
async function migrateBefore(connection: ConnectionOptions, next: string): Promise<void> {
  const { db, ...rest } = connect(connection);
  try {
    const schema =
      rest.dialect === 'postgres'
        ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]
            ?.schema
        : undefined;
    const older = Object.fromEntries(
      Object.entries(leaseDbMigrations(rest.dialect)).filter(([name]) => name < next),
    );
    const result = await new Migrator({
      db,
      provider: { getMigrations: async () => older },
      ...(schema ? { migrationTableSchema: schema } : {}),
    }).migrateToLatest();
    if (result.error) throw result.error;
  } finally {
    await db.destroy();
    if (rest.dialect === 'postgres') await rest.lockPool.end();
  }
}

/** The migrations recorded as run, and whether the table 0003 makes is there. */
async function progressOf(connection: ConnectionOptions) {
  const { db, ...rest } = connect(connection);
  try {
    const migrations = await sql<{ name: string }>`
      select name from kysely_migration order by name`.execute(db);
    const serverProcesses = await sql`select count(*) from server_processes`.execute(db).then(
      () => true,
      () => false,
    );
    return { migrations: migrations.rows.map((r) => r.name), serverProcesses };
  } finally {
    await db.destroy();
    if (rest.dialect === 'postgres') await rest.lockPool.end();
  }
}

function expectedSchema(dialect: Dialect) {
  return {
    migrations: Object.keys(leaseDbMigrations(dialect)).sort(),
    accounts: [0, 1],
    serverUsage: [1],
  };
}

// Started once for both dialects: starting eight processes costs far more than the rounds.
let openers: Opener[] = [];
beforeAll(async () => {
  openers = Array.from({ length: PROCESSES }, () => new Opener());
  for (const opener of openers) expect(await opener.next()).toBe('ready');
}, 60_000);
afterAll(async () => {
  const codes = await Promise.all(openers.map((opener) => opener.close()));
  expect(codes).toEqual(openers.map(() => 0));
});

describeEachDialect('concurrent first use', (dialect) => {
  it(`${PROCESSES} processes opening one fresh database at once all open it, and migrate it once`, async () => {
    const failures: unknown[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const location = await dialect.location();
      for (const opener of openers) opener.open(location.connection);
      const answers = await Promise.all(openers.map(async (o) => JSON.parse(await o.next())));
      failures.push(...answers.filter((a) => !a.ok).map((a) => ({ round, ...a })));
      expect(await schemaOf(location.connection)).toEqual(expectedSchema(dialect.name));
    }
    expect(failures).toEqual([]);
  }, 120_000);

  // On a new SQLite file the first opener switches it to WAL, which needs the file to itself;
  // openers switching at once were refused at once ("database is locked"), not made to wait.
  it.runIf(dialect.name === 'sqlite')(
    `${PROCESSES} processes opening one new SQLite file at once all put it in WAL mode`,
    async () => {
      const failures: unknown[] = [];
      for (let round = 0; round < OPEN_ROUNDS; round++) {
        const location = await dialect.location();
        for (const opener of openers) opener.open({ ...location.connection, migrate: false });
        const answers = await Promise.all(openers.map(async (o) => JSON.parse(await o.next())));
        failures.push(...answers.filter((a) => !a.ok).map((a) => ({ round, ...a })));
        const raw = new BetterSqlite3((location.connection as SqliteOptions).path);
        try {
          expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
        } finally {
          raw.close();
        }
      }
      expect(failures).toEqual([]);
    },
    120_000,
  );

  it('a migration run that fails is undone whole, so the next opener starts from where it was', async () => {
    const location = await dialect.location();
    await migrateBefore(location.connection, '0003_server_processes');
    // 0003 would succeed, then 0004 fails on a table already there under its name.
    await location.exec('create table crawler_claims (name text)');
    const before = await progressOf(location.connection);
    expect(before).toEqual({
      migrations: ['0001_initial_schema', '0002_account_request_nonces'],
      serverProcesses: false,
    });
    const failed = await location.open().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(LeaseDbError);
    expect((failed as LeaseDbError).code).toBe('MIGRATION_FAILED');
    expect(await progressOf(location.connection)).toEqual(before);
    await location.exec('drop table crawler_claims');
    await (await location.open()).close();
    expect(await schemaOf(location.connection)).toEqual(expectedSchema(dialect.name));
  });
});
