import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStorageClient } from '@ostrom/protocol';
import {
  createScratchSchema,
  freePort,
  postgresUrl,
  s3Endpoint,
  tempDir,
} from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { initNode } from '../src/node-dir.js';
import { startNode } from '../src/server.js';
import { ostrom } from './helpers.js';
import { configure } from './node-harness.js';

const APP = fileURLToPath(new URL('..', import.meta.url));
const pg = postgresUrl('@ostrom/server');
const s3 = s3Endpoint('@ostrom/server');

describe('startNode on SQLite + disk', () => {
  it('serves the storage API and the accounting extension, then closes', async () => {
    const dir = await tempDir();
    const node = await initNode(dir, { approval: 'manual' });
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    try {
      expect(running.nurl).toMatch(
        new RegExp(`@127\\.0\\.0\\.1:${running.port}/[a-z2-7]{32}#v=1$`),
      );
      expect(running.furl).toBe(
        `pb://${node.tubId}@tcp:127.0.0.1:1/${running.nurl.split('/')[3]!.replace('#v=1', '')}`,
      );
      const client = createStorageClient({ nurl: running.nurl });
      const version = await client.getVersion();
      expect(version.applicationVersion).toMatch(/^ostrom\//);
      client.close();

      // account request: pending (manual approval), approved while the client waits, then active.
      const keyFile = join(dir, 'client.key');
      const request = ['account', 'request', running.nurl];
      const pending = await ostrom([...request, '--key', keyFile, '--nickname', 'alice']);
      expect(pending.code).toBe(3);
      expect(pending.stdout).toMatch(/^pending: retry after /);
      let slept = 0;
      const active = await ostrom([...request, '--key', keyFile, '--wait'], {
        sleep: async () => {
          slept++;
          await running.accountant.approveAccount(2);
        },
      });
      expect(active.code).toBe(0);
      expect(slept).toBe(1);
      const nurl = active.stdout.trim();
      expect(nurl).toBe(running.nurlFor(2));

      const usage = await ostrom(['account', 'usage', nurl, '--json']);
      expect(JSON.parse(usage.stdout)).toMatchObject({ accountId: 2, nickname: 'alice', bytes: 0 });

      // The operator's commands work beside the running server (SQLite, second connection).
      expect((await ostrom(['accounts', 'freeze', '2', '-d', dir])).code).toBe(0);
      const again = await ostrom(['account', 'usage', nurl]);
      expect(again.stdout).toContain('frozen');
      const refusedKey = join(dir, 'other.key');
      await ostrom(['account', 'request', running.nurl, '--key', refusedKey]);
      expect((await ostrom(['accounts', 'disable', '3', '-d', dir])).code).toBe(0);
      const refused = await ostrom(['account', 'request', running.nurl, '--key', refusedKey]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/^refused: /);
    } finally {
      await running.close();
    }
    // The same identity after a restart: the same NURL.
    const restarted = await startNode(dir, { port: running.port, sweepIntervalSeconds: 0 });
    expect(restarted.nurl).toBe(running.nurl);
    await restarted.close();
  });

  it('an unreachable database is one clear error naming it', async () => {
    const dir = await tempDir();
    await initNode(dir, { databaseUrl: 'postgres://nobody@127.0.0.1:1/ostrom' });
    await expect(startNode(dir, { port: 0 })).rejects.toMatchObject({
      code: 'DATABASE_UNREACHABLE',
      message: expect.stringContaining('postgres://nobody@127.0.0.1:1/ostrom'),
    });
  });
});

describe.skipIf(!pg || !s3)('startNode on PostgreSQL + S3', () => {
  it('starts, serves version and closes', async () => {
    const schema = await createScratchSchema(pg!);
    const bucket = `ostrom-${randomBytes(6).toString('hex')}`;
    // moto creates a bucket for an unsigned path-style PUT.
    expect((await fetch(`${s3}/${bucket}`, { method: 'PUT' })).ok).toBe(true);
    const dir = await tempDir();
    await initNode(dir, { backend: 's3', s3: { bucket, endpoint: s3! }, databaseUrl: schema.url });
    await writeFile(
      join(dir, 'private/s3-credentials'),
      'access_key_id = "test"\nsecret_access_key = "test"\n',
      { mode: 0o600 },
    );
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    try {
      const client = createStorageClient({ nurl: running.nurl });
      expect((await client.getVersion()).applicationVersion).toMatch(/^ostrom\//);
      client.close();
      expect((await ostrom(['accounts', 'list', '-d', dir, '--json'])).code).toBe(0);
    } finally {
      await running.close();
      await schema.drop();
    }
  });

  it('a missing bucket is one clear error naming the endpoint', async () => {
    const dir = await tempDir();
    await initNode(dir, { backend: 's3', s3: { bucket: 'no-such-bucket-here', endpoint: s3! } });
    await expect(
      startNode(dir, { port: 0, env: { AWS_ACCESS_KEY_ID: 't', AWS_SECRET_ACCESS_KEY: 't' } }),
    ).rejects.toMatchObject({
      code: 'BACKEND_UNREACHABLE',
      message: expect.stringContaining(s3!),
    });
  });
});

describe('ostrom run (a child process)', () => {
  it('logs "listening", and exits 0 after SIGTERM', async () => {
    const dir = await tempDir();
    // Both ports checked free: the admin API's default, port + 1, may be anyone's.
    const port = await freePort();
    let adminPort = await freePort();
    while (adminPort === port) adminPort = await freePort();
    await initNode(dir, { port, adminPort });
    const child = spawn(
      process.execPath,
      ['--conditions=@ostrom/source', '--import', 'tsx', 'src/cli.ts', 'run', dir, '--json-logs'],
      { cwd: APP, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('"msg":"listening"')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before listening: ${stderr}`)));
    });
    const listening = JSON.parse(stdout.split('\n').find((l) => l.includes('"listening"'))!);
    expect(listening.nurl).toMatch(/^pb:\/\//);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"msg":"stopped"');
  }, 20_000);
});

describe('[storage] public_port', () => {
  it('copies of one node on other ports write the public port into every NURL, the CLI too', async () => {
    const dir = await tempDir();
    await initNode(dir);
    await configure(dir, 'public_port', '4443');
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    try {
      expect(running.port).not.toBe(4443);
      expect(running.nurl).toMatch(/@127\.0\.0\.1:4443\//);
      expect(running.nurlFor(2)).toMatch(/@127\.0\.0\.1:4443\//);
      expect(running.url).toBe('https://127.0.0.1:4443');
      // The listener itself is on its own port: a client that reaches it there is served.
      const client = createStorageClient({
        nurl: running.nurl.replace(':4443/', `:${running.port}/`),
      });
      expect((await client.getVersion()).applicationVersion).toMatch(/^ostrom\//);
      client.close();
    } finally {
      await running.close();
    }
    const printed = await ostrom(['nurl', '-d', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain(':4443/');
  });
});
