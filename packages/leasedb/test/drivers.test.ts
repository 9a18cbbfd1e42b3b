import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { expect, it } from 'vitest';
import { missingDriver, NOT_BUILT, postgresDriver, sqliteDriver } from '../src/drivers.js';
import { type LeaseDbOptions, openLeaseDb } from '../src/index.js';
import { describeEachDialect } from './setup.js';

// The drivers are optional peers loaded on first use: present, they load once; absent or not
// compiled, the error says which package to install or build, and how.

it('loads each installed driver once, on first use', () => {
  expect(sqliteDriver()).toBe(sqliteDriver());
  expect(typeof sqliteDriver()).toBe('function');
  expect(postgresDriver()).toBe(postgresDriver());
  expect(typeof postgresDriver().Pool).toBe('function');
});

it('a missing or uncompiled driver is named with what to run', () => {
  const cause = Object.assign(new Error("Cannot find module 'pg'"), { code: 'MODULE_NOT_FOUND' });
  const error = missingDriver('pg', 'A PostgreSQL lease database', cause);
  expect(error.message).toBe(
    'A PostgreSQL lease database needs the pg package, an optional peer dependency of @ostrom/leasedb: install it beside it (`npm install pg` or `pnpm add pg`)',
  );
  expect(error.cause).toBe(cause);
  expect(NOT_BUILT).toContain('pnpm approve-builds');
  expect(NOT_BUILT).toContain('npm rebuild better-sqlite3');
});

// As kysely's dialects take a driver: an application may hand over the driver it loaded itself.
describeEachDialect('a driver passed in', (dialect) => {
  it('is the one that opens the database, and the database works through it', async () => {
    const { connection } = await dialect.location();
    let opened = 0;
    const driver =
      connection.dialect === 'sqlite'
        ? class CountingDatabase extends BetterSqlite3 {
            constructor(...args: ConstructorParameters<typeof BetterSqlite3>) {
              super(...args);
              opened++;
            }
          }
        : {
            types: pg.types,
            Pool: class CountingPool extends pg.Pool {
              constructor(config?: pg.PoolConfig) {
                super(config);
                opened++;
              }
            },
          };
    const db = await openLeaseDb({ ...connection, driver } as LeaseDbOptions);
    try {
      expect(opened).toBeGreaterThan(0);
      const account = await db.createAccount({ publicKey: 'cd'.repeat(32), nickname: 'dora' });
      expect((await db.getAccount(account.id))?.nickname).toBe('dora');
    } finally {
      await db.close();
    }
  });
});
