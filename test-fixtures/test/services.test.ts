import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CHROMIUM_ARGS,
  chromiumLaunchOptions,
  createScratchDatabase,
  createScratchSchema,
  findChromium,
  postgresUrl,
  s3Endpoint,
  tempDir,
} from '../src/index.js';

const pgUrl = postgresUrl('test-fixtures: PostgreSQL harness');
const s3 = s3Endpoint('test-fixtures: S3 harness');

describe.skipIf(!pgUrl)('PostgreSQL harness', () => {
  it('serves a loopback PostgreSQL 15+ server', async () => {
    const client = new pg.Client({ connectionString: pgUrl! });
    await client.connect();
    const { rows } = await client.query<{ v: string }>(
      "SELECT current_setting('server_version_num') AS v",
    );
    await client.end();
    expect(Number(rows[0]?.v)).toBeGreaterThanOrEqual(150000);
  });

  it('createScratchDatabase() gives each caller an empty database and drops it', async () => {
    const a = await createScratchDatabase(pgUrl!);
    const b = await createScratchDatabase(pgUrl!);
    expect(a.name).not.toBe(b.name);
    const client = new pg.Client({ connectionString: a.url });
    await client.connect();
    await client.query('CREATE TABLE t (x int)');
    await client.end();
    await a.drop();
    await b.drop();
    const admin = new pg.Client({ connectionString: pgUrl! });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      a.name,
    ]);
    await admin.end();
    expect(rowCount).toBe(0);
  });
});

describe.skipIf(!pgUrl)('PostgreSQL scratch schemas', () => {
  it('createScratchSchema() gives a URL whose unqualified tables live in the new schema', async () => {
    const scratch = await createScratchSchema(pgUrl!);
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    await client.query('CREATE TABLE t (x int)');
    const { rows } = await client.query<{ s: string }>(
      "SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 't'",
    );
    await client.end();
    expect(rows.map((r) => r.s)).toEqual([scratch.name]);
    await scratch.drop();
    const admin = new pg.Client({ connectionString: pgUrl! });
    await admin.connect();
    const gone = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [scratch.name]);
    await admin.end();
    expect(gone.rowCount).toBe(0);
  });
});

describe.skipIf(!s3)('S3 harness', () => {
  // Object reads and writes are exercised through the AWS SDK by @ostrom/backend-s3's suite;
  // here it is enough that the server speaks S3's bucket API on its loopback port.
  it('serves an S3 API: a created bucket is listed', async () => {
    const bucket = `harness-${Date.now()}`;
    expect((await fetch(`${s3}/${bucket}`, { method: 'PUT' })).status).toBe(200);
    const list = await (await fetch(`${s3}/`)).text();
    expect(list).toContain(`<Name>${bucket}</Name>`);
  });
});

describe('tempDir()', () => {
  let seen = '';
  it('creates a directory for the test', async () => {
    seen = await tempDir();
    expect(existsSync(seen)).toBe(true);
  });
  it('removed the previous test directory when that test finished', () => {
    expect(seen).not.toBe('');
    expect(existsSync(seen)).toBe(false);
  });
});

describe('Chromium lookup', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('findChromium() takes OSTROM_CHROMIUM when it is executable, and nothing when it is not', async () => {
    const dir = await tempDir();
    const fake = join(dir, 'my-chromium');
    await writeFile(fake, '#!/bin/sh\n');
    vi.stubEnv('OSTROM_CHROMIUM', fake);
    expect(findChromium()).toBeUndefined();
    await chmod(fake, 0o755);
    expect(findChromium()).toBe(fake);
  });

  it('chromiumLaunchOptions() skips outside CI and throws under CI when there is none', async () => {
    vi.stubEnv('OSTROM_CHROMIUM', join(await tempDir(), 'missing'));
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(chromiumLaunchOptions('a browser suite')).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('chromium is not available'));
    vi.stubEnv('CI', 'true');
    expect(() => chromiumLaunchOptions('a browser suite')).toThrow(/required under CI/);
  });

  it('chromiumLaunchOptions() gives the binary, the flags and headless', async () => {
    const dir = await tempDir();
    const fake = join(dir, 'chromium');
    await writeFile(fake, '#!/bin/sh\n', { mode: 0o755 });
    vi.stubEnv('OSTROM_CHROMIUM', fake);
    expect(chromiumLaunchOptions('a browser suite')).toEqual({
      executablePath: fake,
      args: [...CHROMIUM_ARGS],
      headless: true,
    });
  });
});
