import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createScratchSchema,
  freePort,
  postgresUrl,
  s3Endpoint,
  tempDir,
} from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { loadNode } from '../src/node-dir.js';
import { openNodeDatabase } from '../src/server.js';
import { ostrom, ostromJson } from './helpers.js';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const KEY_C = 'c'.repeat(64);

interface AccountJson {
  id: number;
  nickname: string;
  status: string;
  hardQuotaBytes: number | null;
  softQuotaBytes: number | null;
  usage?: { shares: number; bytes: number };
}

async function initialised(): Promise<string> {
  const dir = join(await tempDir(), 'node');
  const result = await ostrom(['init', dir, '--port', '4123', '--nickname', 'test-node']);
  expect(result.code).toBe(0);
  return dir;
}

describe('ostrom init', () => {
  it('prints the server id, NURL, fURL and a servers.yaml block', async () => {
    const dir = join(await tempDir(), 'node');
    const out = await ostromJson<{
      serverId: string;
      nurl: string;
      furl: string;
      serversYaml: string;
    }>(['init', dir, '--port', '4123', '--hostname', 'storage.example.net']);
    expect(out.nurl).toMatch(
      /^pb:\/\/[A-Za-z0-9_-]{43}@storage\.example\.net:4123\/[a-z2-7]{32}#v=1$/,
    );
    expect(out.furl).toMatch(/^pb:\/\/[a-z2-7]{32}@tcp:127\.0\.0\.1:1\/[a-z2-7]{32}$/);
    expect(out.serversYaml).toContain(`  ${out.serverId}:\n`);
    // Tahoe reads it with a YAML 1.1 parser: every string value is quoted.
    expect(out.serversYaml).toContain(`anonymous-storage-FURL: "${out.furl}"`);
    expect(out.serversYaml).toContain(`- "${out.nurl}"`);
    expect(out.serversYaml).toContain(`permutation-seed-base32: "${out.serverId.slice(3)}"`);
    // The human form carries the same block.
    const again = await ostrom(['init', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ostrom: .*already a node\n$/);
  });

  it('bad arguments exit 2 with one line', async () => {
    const dir = await tempDir();
    for (const args of [
      ['init', dir, '--port', 'abc'],
      ['init', dir, '--backend', 'ftp'],
      ['init', dir, '--s3-bucket', 'b'],
      ['init', dir, '--backend', 's3'],
      ['accounts', 'show', 'x', '-d', dir],
      ['accounts', 'set-quota', '2', '--hard', 'lots', '-d', dir],
      ['frobnicate'],
    ]) {
      const result = await ostrom(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.split('\n')[0]).toMatch(/error|ostrom:/);
    }
  });

  it('--help exits 0 and lists the commands', async () => {
    const result = await ostrom(['--help']);
    expect(result.code).toBe(0);
    for (const name of [
      'init',
      'run',
      'accounts',
      'usage',
      'nurl',
      'events',
      'account',
      'crawler',
      'db',
    ]) {
      expect(result.stdout).toContain(name);
    }
    expect((await ostrom(['accounts', 'set-quota', '--help'])).stdout).toContain('--hard');
    const db = (await ostrom(['db', '--help'])).stdout;
    for (const name of ['backup', 'backups', 'restore', 'rebuild']) expect(db).toContain(name);
    expect((await ostrom(['init', '--help'])).stdout).toContain('--adopt');
  });
});

const pg = postgresUrl('@ostrom/server init checks');
const s3 = s3Endpoint('@ostrom/server init checks');

describe.skipIf(!pg || !s3)('ostrom init with a bucket and a PostgreSQL server', () => {
  const bucket = async () => {
    const name = `ostrom-init-${randomBytes(4).toString('hex')}`;
    // moto creates a bucket for an unsigned path-style PUT.
    expect((await fetch(`${s3}/${name}`, { method: 'PUT' })).ok).toBe(true);
    return name;
  };
  const credentialsOf = async (dir: string) => ({
    text: await readFile(join(dir, 'private/s3-credentials'), 'utf8'),
    mode: (await stat(join(dir, 'private/s3-credentials'))).mode & 0o777,
  });

  it('writes the credentials of the environment, checks both services, then says how to start it', async () => {
    const dir = join(await tempDir(), 'node');
    const schema = await createScratchSchema(pg!);
    try {
      const name = await bucket();
      const result = await ostrom(
        [
          'init',
          dir,
          '--backend',
          's3',
          '--s3-bucket',
          name,
          '--s3-endpoint',
          s3!,
          '--database',
          schema.url,
        ],
        { env: { AWS_ACCESS_KEY_ID: 'id-from-env', AWS_SECRET_ACCESS_KEY: 'secret "from" env' } },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('Wrote the S3 credentials of AWS_ACCESS_KEY_ID');
      expect(result.stdout).toContain(`Start it with: ostrom run ${dir}`);
      const written = await credentialsOf(dir);
      expect(written.mode).toBe(0o600);
      // The file reads back as the node reads it (a quote in the secret survives).
      expect(written.text).toContain('access_key_id = "id-from-env"');
      expect(written.text).toContain('secret_access_key = "secret \\"from\\" env"');
      const started = await ostrom(['accounts', 'list', '-d', dir], {
        env: {},
      });
      expect(started.code, started.stderr).toBe(0);
    } finally {
      await schema.drop();
    }
  });

  it('asks for the credentials on a terminal when the environment has none', async () => {
    const dir = join(await tempDir(), 'node');
    const name = await bucket();
    const asked: string[] = [];
    const answers = ['asked-id', 'asked-secret'];
    const result = await ostromJson<{ s3CredentialsFrom: string; problems: string[] }>(
      ['init', dir, '--backend', 's3', '--s3-bucket', name, '--s3-endpoint', s3!],
      {
        ask: async (question, { secret }) => {
          asked.push(`${question}${secret ? ' (secret)' : ''}`);
          return answers.shift()!;
        },
      },
    );
    expect(asked).toEqual(['S3 access key id: ', 'S3 secret access key:  (secret)']);
    expect(result).toMatchObject({ s3CredentialsFrom: 'terminal', problems: [] });
    expect((await credentialsOf(dir)).text).toBe(
      'access_key_id = "asked-id"\nsecret_access_key = "asked-secret"\n',
    );
  });

  it('a missing bucket, missing credentials or an unreachable database: exit 1, each said, no "start it with"', async () => {
    const dir = join(await tempDir(), 'node');
    const closed = await freePort();
    const result = await ostrom([
      'init',
      dir,
      '--backend',
      's3',
      '--s3-bucket',
      `ostrom-none-${randomBytes(4).toString('hex')}`,
      '--s3-endpoint',
      s3!,
      '--database',
      `postgres://ostrom@127.0.0.1:${closed}/ostrom`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('It cannot start yet:');
    expect(result.stdout).toMatch(/- \[backend\] kind = "s3" needs credentials/);
    expect(result.stdout).toMatch(/- cannot reach the database postgres:\/\/ostrom@127\.0\.0\.1/);
    expect(result.stdout).not.toContain('Start it with');
    expect(result.stdout).toContain(`then start it with: ostrom run ${dir}`);
    // The directory is kept, to be fixed.
    expect((await stat(join(dir, 'ostrom.toml'))).isFile()).toBe(true);

    const other = join(await tempDir(), 'node');
    const noBucket = await ostrom(
      ['init', other, '--backend', 's3', '--s3-bucket', 'ostrom-none-at-all', '--s3-endpoint', s3!],
      { env: { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' } },
    );
    expect(noBucket.code).toBe(1);
    expect(noBucket.stdout).toMatch(/- cannot reach the bucket ostrom-none-at-all at http/);
  });
});

describe('operator commands on an initialised node', () => {
  it('accounts add, list, show, freeze, thaw, disable, delete, set-quota', async () => {
    const dir = await initialised();
    const d = ['-d', dir];
    const added = await ostromJson<AccountJson & { nurl: string }>([
      'accounts',
      'add',
      '--pubkey',
      KEY_A,
      '--nickname',
      'alice',
      ...d,
    ]);
    expect(added).toMatchObject({ id: 2, nickname: 'alice', status: 'normal' });
    expect(added.nurl).toMatch(/\/2-[a-z2-7]{32}#v=1$/);

    const list = await ostromJson<AccountJson[]>(['accounts', 'list', ...d]);
    expect(list.map((a) => a.nickname)).toEqual(['anonymous', 'starter', 'alice']);
    expect((await ostrom(['accounts', 'list', ...d])).stdout).toContain('alice');

    for (const [command, status] of [
      ['freeze', 'frozen'],
      ['thaw', 'normal'],
      ['disable', 'disabled'],
      ['thaw', 'normal'],
    ] as const) {
      const result = await ostrom(['accounts', command, '2', ...d]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`account 2 (alice): ${status}\n`);
    }

    const quota = await ostromJson<AccountJson>([
      'accounts',
      'set-quota',
      '2',
      '--hard',
      '5GB',
      '--soft',
      '512MiB',
      ...d,
    ]);
    expect(quota).toMatchObject({ hardQuotaBytes: 5e9, softQuotaBytes: 512 * 1024 ** 2 });
    const softOnly = await ostromJson<AccountJson>([
      'accounts',
      'set-quota',
      '2',
      '--soft',
      'none',
      ...d,
    ]);
    expect(softOnly).toMatchObject({ hardQuotaBytes: 5e9, softQuotaBytes: null });
    const tooHigh = await ostrom(['accounts', 'set-quota', '2', '--soft', '6GB', ...d]);
    expect(tooHigh.code).toBe(2);

    const shown = await ostromJson<AccountJson & { nurl: string }>(['accounts', 'show', '2', ...d]);
    expect(shown).toMatchObject({ id: 2, status: 'normal', usage: { shares: 0, bytes: 0 } });
    expect(shown.nurl).toBe(added.nurl);
    expect((await ostrom(['accounts', 'show', '2', ...d])).stdout).toContain('5 GB');
    // Round sizes keep their zeros (200 MB was once printed "2 MB").
    const set = await ostrom(['accounts', 'set-quota', '2', '--hard', '200MB', ...d]);
    expect(set.stdout).toContain('200 MB');
    expect(set.stderr).toBe('');
    expect((await ostrom(['accounts', 'show', '2', ...d])).stdout).toMatch(
      /hard quota\s*│?\s*200 MB/,
    );
    // A hard quota below what the account holds is set, and said.
    const db = await openNodeDatabase(await loadNode(dir));
    try {
      await db.addComingShares({
        storageIndex: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
        sharetype: 'immutable',
        accountId: 2,
        shares: [{ shnum: 0, usedBytes: 3000 }],
      });
      await db.markStable('aaaaaaaaaaaaaaaaaaaaaaaaaa', 0, 3000);
    } finally {
      await db.close();
    }
    const below = await ostrom([
      'accounts',
      'set-quota',
      '2',
      '--hard',
      '2kB',
      '--soft',
      'none',
      ...d,
    ]);
    expect(below.code).toBe(0);
    expect(below.stderr).toBe(
      'ostrom: warning: account 2 holds 3 kB, more than its hard quota of 2 kB: it can store nothing more until it holds less (nothing it holds is deleted)\n',
    );

    expect(
      (await ostrom(['accounts', 'freeze', '2', '--reason', 'too many uploads', ...d])).stdout,
    ).toBe('account 2 (alice): frozen\n');
    expect((await ostrom(['accounts', 'rename', '2', 'alice2', ...d])).stdout).toBe(
      'account 2 is now alice2\n',
    );
    const badName = await ostrom(['accounts', 'rename', '2', 'a\u0007b', ...d]);
    expect(badName.code).toBe(2);
    const refuseActive = await ostrom(['accounts', 'refuse', '2', ...d]);
    expect(refuseActive.code).toBe(1);
    expect(refuseActive.stderr).toContain('not pending');
    const renamed = await ostromJson<{ nickname: string; status: string }>([
      'accounts',
      'show',
      '2',
      '--json',
      ...d,
    ]);
    expect(renamed).toMatchObject({ nickname: 'alice2', status: 'frozen' });
    expect((await ostrom(['accounts', 'delete', '2', ...d])).stdout).toBe(
      'account 2 (alice2): deleted\n',
    );
    const approve = await ostrom(['accounts', 'approve', '2', ...d]);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toContain('not pending');
    expect((await ostrom(['accounts', 'show', '99', ...d])).code).toBe(1);
    expect((await ostrom(['accounts', 'delete', '0', ...d])).code).toBe(1);
  });

  it('accounts import adds each key once and reports the rest', async () => {
    const dir = await initialised();
    const file = join(dir, 'storage-accounts.txt');
    await writeFile(file, `# allow-list\n${KEY_A} alice\n\n${KEY_B} bob smith  # the builder\n`);
    const first = await ostromJson<{ added: AccountJson[]; existing: AccountJson[] }>([
      'accounts',
      'import',
      file,
      '-d',
      dir,
    ]);
    expect(first.added.map((a) => a.nickname)).toEqual(['alice', 'bob smith']);
    await writeFile(file, `${KEY_A} alice\n${KEY_C} carol\n`);
    const second = await ostrom(['accounts', 'import', file, '-d', dir]);
    expect(second.stdout).toContain('1 added, 1 already present');

    await writeFile(file, `${KEY_A} alice\nnot-a-key dave\n`);
    const bad = await ostrom(['accounts', 'import', file, '-d', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('line 2');

    // A key listed twice is a mistake in the list: nothing is added, even the new key first.
    const KEY_D = 'd'.repeat(64);
    await writeFile(file, `${KEY_D} dave\n${KEY_B} bob\n${KEY_D} dave again\n`);
    const twice = await ostrom(['accounts', 'import', file, '-d', dir]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toBe(`ostrom: ${file}, line 3: the same key as line 1\n`);
    const list = await ostromJson<AccountJson[]>(['accounts', 'list', '-d', dir]);
    expect(list.map((a) => a.nickname)).not.toContain('dave');
  });

  it('usage, nurl and events', async () => {
    const dir = await initialised();
    const d = ['-d', dir];
    await ostrom(['accounts', 'add', '--pubkey', KEY_A, '--nickname', 'alice', ...d]);
    await ostrom(['accounts', 'freeze', '2', ...d]);

    const usage = await ostromJson<{
      server: { shares: number; bytes: number };
      accounts: unknown[];
      totalAccounts: number;
    }>(['usage', ...d]);
    expect(usage.server).toEqual({ shares: 0, bytes: 0 });
    expect(usage.accounts).toHaveLength(3);
    expect(usage.totalAccounts).toBe(3);
    // The same rows as GET /admin/v1/usage.
    expect(usage.accounts).toContainEqual({
      id: 2,
      nickname: 'alice',
      status: 'frozen',
      shares: 0,
      bytes: 0,
      hardQuotaBytes: null,
      softQuotaBytes: null,
    });
    expect(await ostromJson(['usage', '2', ...d])).toMatchObject({
      accountId: 2,
      status: 'frozen',
      bytes: 0,
    });
    expect((await ostrom(['usage', ...d])).stdout).toContain('server: 0 shares, 0 B');

    const nurl = await ostrom(['nurl', ...d]);
    expect(nurl.stdout).toMatch(/^pb:\/\/[A-Za-z0-9_-]{43}@127\.0\.0\.1:4123\/[a-z2-7]{32}#v=1\n$/);
    const alice = await ostromJson<{ nurl: string; serverId: string }>([
      'nurl',
      '--account',
      '2',
      ...d,
    ]);
    expect(alice.nurl).toMatch(/:4123\/2-[a-z2-7]{32}#v=1$/);
    expect(alice.serverId).toMatch(/^v0-/);
    expect((await ostrom(['nurl', '--account', '1', ...d])).code).toBe(1);

    const events = await ostromJson<{ kind: string; actor: string | null }[]>(['events', ...d]);
    expect(events.map((e) => e.kind)).toEqual(['account-created', 'account-status-changed']);
    expect(events.every((e) => e.actor === 'cli')).toBe(true);
    expect(await ostromJson(['events', '--limit', '1', ...d])).toHaveLength(1);
    expect(await ostromJson(['events', '--since', '1h', ...d])).toHaveLength(2);
    expect(await ostromJson(['events', '--since', '2999-01-01', ...d])).toHaveLength(0);
    expect((await ostrom(['events', '--since', 'whenever', ...d])).code).toBe(2);
    expect((await ostrom(['events', ...d])).stdout).toContain('account-status-changed');
  });

  it('a missing node is one clear error', async () => {
    const dir = await tempDir();
    const result = await ostrom(['accounts', 'list', '-d', join(dir, 'nope')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ostrom: .*not an Ostrom node.*\n$/);
  });
});
