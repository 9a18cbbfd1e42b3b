import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A database (or schema) of its own on the run's PostgreSQL server, for one test or suite. */
export interface ScratchDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function scratchName(): string {
  return `ostrom_${randomBytes(6).toString('hex')}`;
}

/**
 * Creates an empty database `ostrom_<random>` on the server at `adminUrl`. Tests get a database
 * each rather than sharing one, so they can run in parallel and never see each other's rows.
 */
export async function createScratchDatabase(adminUrl: string): Promise<ScratchDatabase> {
  const name = scratchName();
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Creates an empty schema `ostrom_<random>` on the server at `adminUrl` and returns a URL whose
 * connections use it as their search path. Much cheaper than a database of its own (about 1 ms
 * against 150 ms for CREATE DATABASE), for suites that create one per test.
 */
export async function createScratchSchema(adminUrl: string): Promise<ScratchDatabase> {
  const name = scratchName();
  await adminQuery(adminUrl, `CREATE SCHEMA ${name}`);
  const url = new URL(adminUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(adminUrl, `DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}
