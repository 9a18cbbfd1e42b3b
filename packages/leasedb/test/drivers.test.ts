import { expect, it } from 'vitest';
import { missingDriver, NOT_BUILT, postgresDriver, sqliteDriver } from '../src/drivers.js';

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
