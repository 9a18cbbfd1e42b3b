import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  base32Encode,
  createStorageClient,
  generateAccountKey,
  parseNurl,
  signAccountRequest,
} from '@ostrom/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigValues } from '../src/config.js';
import { initNode } from '../src/node-dir.js';
import { type RunningNode, startNode } from '../src/server.js';
import { ostromJson } from './helpers.js';
import { bytes, secrets, storageIndex } from './http-setup.js';

interface AdminNode {
  readonly dir: string;
  readonly running: RunningNode;
  readonly token: string;
  call(
    method: string,
    path: string,
    init?: {
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
      token?: string | null;
    },
    // biome-ignore lint/suspicious/noExplicitAny: answers are read loosely; each test checks its fields
  ): Promise<{ status: number; headers: Headers; json: any }>;
}

async function startAdminNode(values: ConfigValues = {}): Promise<AdminNode> {
  // Not tempDir(): it cleans up after one test, and these nodes serve a whole describe block.
  const dir = await mkdtemp(join(tmpdir(), 'ostrom-admin-'));
  await initNode(dir, values);
  const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
  const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
  return {
    dir,
    running,
    token,
    async call(method, path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const bearer = init.token === undefined ? token : init.token;
      if (bearer !== null) headers.Authorization ??= `Bearer ${bearer}`;
      let body: string | undefined = init.raw;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers['Content-Type'] ??= 'application/json';
      } else if (method !== 'GET' && init.raw === undefined) {
        headers['Content-Type'] ??= 'application/json';
      }
      const res = await fetch(`${running.adminUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await res.text();
      const isJson = res.headers.get('content-type')?.startsWith('application/json');
      return { status: res.status, headers: res.headers, json: isJson ? JSON.parse(text) : text };
    },
  };
}

/**
 * POSTs each body to `path`, expecting a 400 whose error matches its reason; then a body cut off
 * mid-JSON, expecting a 400 about JSON.
 */
async function expectBadBodies(
  t: AdminNode,
  path: string,
  bad: readonly (readonly [unknown, RegExp])[],
) {
  for (const [body, reason] of bad) {
    const res = await t.call('POST', path, { body });
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(res.json.error, JSON.stringify(body)).toMatch(reason);
  }
  const notJson = await t.call('POST', path, {
    raw: '{"publicKey":',
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
  });
  expect(notJson.status).toBe(400);
  expect(notJson.json.error).toMatch(/JSON/);
}

function newKey(): string {
  return Buffer.from(generateAccountKey().publicKey).toString('hex');
}

/** Sends a signed account request through the storage API, as `ostrom account request` does. */
async function requestAccount(nurl: string, nickname: string) {
  const key = generateAccountKey();
  const client = createStorageClient({ nurl });
  try {
    return await client.accounting.requestAccount(
      signAccountRequest(
        {
          serverId: parseNurl(nurl).spkiHash,
          publicKey: key.publicKey,
          nickname,
          timestamp: Math.floor(Date.now() / 1000),
          nonce: new Uint8Array(randomBytes(16)),
        },
        key.privateKey,
      ),
    );
  } finally {
    client.close();
  }
}

describe('admin API: listener and token', () => {
  let t: AdminNode;
  beforeAll(async () => {
    t = await startAdminNode();
  });
  afterAll(async () => {
    await t?.running.close();
    if (t) await rm(t.dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 (plain HTTP) and keeps its token in private/, 0600', async () => {
    expect(t.running.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(t.running.adminUrl).not.toBe(`http://127.0.0.1:${t.running.port}`);
    expect(t.running.adminTokenPath).toBe(join(t.dir, 'private', 'admin-token'));
    expect(t.token).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(t.running.adminTokenPath)).mode & 0o777).toBe(0o600);
  });

  it('refuses a missing, wrong or non-Bearer token with 401, on every path', async () => {
    for (const [token, headers] of [
      [null, {}],
      ['0'.repeat(64), {}],
      [`${t.token}x`, {}],
      [t.token.slice(0, 63), {}],
      [null, { Authorization: `Basic ${t.token}` }],
      [null, { Authorization: `Bearer` }],
    ] as const) {
      // Other paths are the web panel's, which has a login of its own (panel-access.test.ts).
      for (const path of ['/admin/v1/health', '/admin/v1/accounts', '/metrics', '/admin/nowhere']) {
        const res = await t.call('GET', path, { token, headers });
        expect(res.status, `${path} ${token} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    const write = await t.call('POST', '/admin/v1/accounts/0/freeze', { token: null });
    expect(write.status).toBe(401);
    const ok = await t.call('GET', '/admin/v1/health');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({
      status: 'ok',
      database: 'ok',
      store: 'ok',
      checks: { database: { up: true }, store: { up: true } },
      accountingMode: 'enabled',
    });
    expect(ok.json.serverId).toBe(t.running.node.serverId);
    expect(ok.headers.get('cache-control')).toBe('no-store');
  });

  it('is not served on the storage listener', async () => {
    const client = createStorageClient({ nurl: t.running.nurl });
    try {
      for (const path of ['/admin/v1/health', '/metrics']) {
        const res = await client.raw({
          method: 'GET',
          path,
          headers: { Authorization: `Bearer ${t.token}` },
        });
        expect(res.status, path).toBe(404);
      }
    } finally {
      client.close();
    }
  });
});

describe('admin API: accounts', () => {
  let t: AdminNode;
  beforeAll(async () => {
    t = await startAdminNode({ approval: 'manual' });
  });
  afterAll(async () => {
    await t?.running.close();
    if (t) await rm(t.dir, { recursive: true, force: true });
  });

  it('adds an account (201 with its NURL), refusing bad bodies with 400/409/413/415', async () => {
    const publicKey = newKey();
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey, nickname: 'alice', hardBytes: '5GB', softBytes: 4_000_000_000 },
    });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({
      nickname: 'alice',
      status: 'normal',
      publicKey,
      hardQuotaBytes: 5_000_000_000,
      softQuotaBytes: 4_000_000_000,
    });
    expect(added.json.nurl).toBe(t.running.nurlFor(added.json.id));

    const again = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey, nickname: 'alice again' },
    });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatch(/exists/);

    await expectBadBodies(t, '/admin/v1/accounts', [
      [{ publicKey: 'abc', nickname: 'x' }, /publicKey/],
      [{ publicKey: newKey() }, /nickname/],
      [{ publicKey: newKey(), nickname: '' }, /nickname/],
      [{ publicKey: newKey(), nickname: 'x'.repeat(65) }, /nickname/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: 'lots' }, /hardBytes/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: -1 }, /hardBytes/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: 10, softBytes: 20 }, /soft/],
      [{ publicKey: newKey(), nickname: 'x', admin: true }, /unknown field "admin"/],
      [[1, 2], /./],
      ['text', /./],
    ]);
    const empty = await t.call('POST', '/admin/v1/accounts');
    expect(empty.status).toBe(400);

    // CSRF: what a form or a simple cross-site request can send is refused.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const res = await t.call('POST', '/admin/v1/accounts', {
        raw: JSON.stringify({ publicKey: newKey(), nickname: 'csrf' }),
        headers: { 'Content-Type': type },
      });
      expect(res.status, type).toBe(415);
    }
    const untyped = await t.call('POST', '/admin/v1/accounts/2/freeze', { raw: '' });
    expect(untyped.status).toBe(415);

    const huge = await t.call('POST', '/admin/v1/accounts', {
      raw: JSON.stringify({ publicKey: newKey(), nickname: 'x'.repeat(70_000) }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(huge.status).toBe(413);
  });

  it('lists accounts paged in the database, validating every parameter', async () => {
    for (const name of ['bob', 'carol', 'dave']) {
      const res = await t.call('POST', '/admin/v1/accounts', {
        body: { publicKey: newKey(), nickname: name },
      });
      expect(res.status).toBe(201);
    }
    const all = await t.call('GET', '/admin/v1/accounts?orderBy=nickname&direction=asc');
    expect(all.status).toBe(200);
    const names = all.json.accounts.map((a: { nickname: string }) => a.nickname);
    expect(names).toEqual([...names].sort());
    expect(all.json.total).toBe(all.json.accounts.length);
    expect(all.json.accounts[0].usage).toEqual({ shares: 0, bytes: 0 });

    const page = await t.call('GET', '/admin/v1/accounts?orderBy=id&limit=2&offset=2');
    expect(page.json).toMatchObject({ limit: 2, offset: 2, total: all.json.total });
    expect(page.json.accounts.map((a: { id: number }) => a.id)).toEqual([2, 3]);

    const search = await t.call('GET', '/admin/v1/accounts?search=CAR&status=normal');
    expect(search.json.accounts.map((a: { nickname: string }) => a.nickname)).toEqual(['carol']);
    expect(search.json.total).toBe(1);

    // Each malformed query is refused by the admin handler's own tests (@ostrom/http).
  });

  it('shows one account with usage, attributes and NURL; 404 unknown, 400 malformed', async () => {
    const shown = await t.call('GET', '/admin/v1/accounts/2');
    expect(shown.status).toBe(200);
    expect(shown.json).toMatchObject({
      id: 2,
      nickname: 'alice',
      usage: { shares: 0, bytes: 0 },
      attributes: {},
      nurl: t.running.nurlFor(2),
    });
    expect((await t.call('GET', '/admin/v1/accounts/9999')).status).toBe(404);
    for (const id of ['abc', '-1', '1.5', '%32', '99999999999999999999']) {
      expect((await t.call('GET', `/admin/v1/accounts/${id}`)).status, id).toBe(400);
    }
  });

  it('approves a pending account, recording the actor; a second approve is 409', async () => {
    const answer = await requestAccount(t.running.nurl, 'eve');
    expect(answer.status).toBe('pending');
    const pending = await t.call('GET', '/admin/v1/accounts?status=pending');
    expect(pending.json.total).toBe(1);
    const id: number = pending.json.accounts[0].id;
    const approved = await t.call('POST', `/admin/v1/accounts/${id}/approve`, {
      headers: { 'X-Ostrom-Actor': 'panel:olivia' },
    });
    expect(approved.status).toBe(200);
    expect(approved.json).toMatchObject({ id, status: 'normal' });
    const twice = await t.call('POST', `/admin/v1/accounts/${id}/approve`);
    expect(twice.status).toBe(409);
    expect(twice.json.error).toMatch(/not pending/);

    const events = await t.call(
      'GET',
      `/admin/v1/events?accountId=${id}&kinds=account-status-changed`,
    );
    expect(events.json.events.map((e: { actor: string }) => e.actor)).toEqual(['panel:olivia']);

    const badActor = await t.call('POST', `/admin/v1/accounts/${id}/freeze`, {
      headers: { 'X-Ostrom-Actor': 'x'.repeat(101) },
    });
    expect(badActor.status).toBe(400);
    expect((await t.call('POST', '/admin/v1/accounts/9999/approve')).status).toBe(404);
    expect((await t.call('POST', '/admin/v1/accounts/x/approve')).status).toBe(400);
    for (const body of [{ reason: 7 }, { why: 'spam' }, { reason: 'x'.repeat(201) }]) {
      const bad = await t.call('POST', `/admin/v1/accounts/${id}/freeze`, { body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
    expect((await t.call('GET', `/admin/v1/accounts/${id}`)).json.status).toBe('normal');
    const frozen = await t.call('POST', `/admin/v1/accounts/${id}/freeze`, {
      body: { reason: 'spam' },
    });
    expect(frozen.json).toMatchObject({ id, status: 'frozen' });
    const [why] = (
      await t.call('GET', `/admin/v1/events?accountId=${id}&kinds=account-status-changed`)
    ).json.events.slice(-1);
    expect(why.data).toEqual({ from: 'normal', to: 'frozen', reason: 'spam' });
  });

  it('refuses a pending request with a reason (disabled, the key answered refused), and renames accounts', async () => {
    const answer = await requestAccount(t.running.nurl, 'mallory');
    expect(answer.status).toBe('pending');
    const id: number = (await t.call('GET', '/admin/v1/accounts?status=pending')).json.accounts[0]
      .id;
    const refused = await t.call('POST', `/admin/v1/accounts/${id}/refuse`, {
      body: { reason: 'unknown to us' },
      headers: { 'X-Ostrom-Actor': 'panel:olivia' },
    });
    expect(refused.status).toBe(200);
    expect(refused.json).toMatchObject({ id, status: 'disabled' });
    expect((await t.call('GET', `/admin/v1/accounts/${id}`)).json.attributes).toHaveProperty(
      'request-refused-at',
    );
    expect((await t.call('POST', `/admin/v1/accounts/${id}/refuse`)).status).toBe(409);
    expect((await t.call('POST', '/admin/v1/accounts/9999/refuse')).status).toBe(404);

    const renamed = await t.call('PUT', `/admin/v1/accounts/${id}/nickname`, {
      body: { nickname: 'mallory (refused)' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.json).toMatchObject({ id, nickname: 'mallory (refused)' });
    for (const body of [{}, { nickname: '' }, { nickname: 'a\nb' }, { nickname: 5 }, null]) {
      const bad = await t.call('PUT', `/admin/v1/accounts/${id}/nickname`, { body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
    const builtIn = await t.call('PUT', '/admin/v1/accounts/0/nickname', {
      body: { nickname: 'guests' },
    });
    expect(builtIn.status).toBe(409);
    expect((await t.call('GET', '/admin/v1/accounts/0')).json.nickname).toBe('anonymous');
  });

  it("GET /traffic: the node's or one account's uploads, reads and bytes by the hour; bad ranges are 400", async () => {
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: newKey(), nickname: 'tess' },
    });
    const id: number = added.json.id;
    const client = createStorageClient({ nurl: added.json.nurl });
    try {
      const si = storageIndex('traffic-1');
      const s = secrets('traffic-1');
      await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 700 });
      await client.immutable.write(si, 0, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: bytes(700),
      });
      expect((await client.immutable.read(si, 0)).length).toBe(700);
    } finally {
      client.close();
    }
    const mine = await t.call('GET', `/admin/v1/traffic?account=${id}`);
    expect(mine.status).toBe(200);
    expect(mine.json.totals).toEqual({ uploads: 1, reads: 1, bytesIn: 700, bytesOut: 700 });
    expect(mine.json.hours).toHaveLength(1);
    expect(mine.json.hours[0].hour % 3600).toBe(0);
    const node = await t.call('GET', '/admin/v1/traffic');
    expect(node.json.accountId).toBeNull();
    expect(node.json.totals.uploads).toBeGreaterThanOrEqual(1);
    const past = await t.call(
      'GET',
      `/admin/v1/traffic?account=${id}&since=2020-01-01&until=2020-01-02`,
    );
    expect(past.json).toMatchObject({ hours: [], totals: { uploads: 0 } });
    for (const query of [
      'account=x',
      'account=999999',
      'since=200&until=100',
      'since=0&until=40000000',
      'since=yesterday',
      'hour=1',
    ]) {
      const res = await t.call('GET', `/admin/v1/traffic?${query}`);
      expect(res.status, query).toBe(query === 'account=999999' ? 404 : 400);
    }
  });

  it('freeze makes the account unable to allocate over the storage protocol; thaw restores it', async () => {
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: newKey(), nickname: 'frank' },
    });
    const id: number = added.json.id;
    const client = createStorageClient({ nurl: added.json.nurl });
    const allocate = (seed: string) =>
      client.immutable.allocate(storageIndex(seed), {
        ...secrets(seed),
        shareNumbers: [0],
        allocatedSize: 100,
      });
    try {
      const frozen = await t.call('POST', `/admin/v1/accounts/${id}/freeze`);
      expect(frozen.status).toBe(200);
      expect(frozen.json.status).toBe('frozen');
      await expect(allocate('admin-frozen')).rejects.toMatchObject({ status: 403 });

      const thawed = await t.call('POST', `/admin/v1/accounts/${id}/thaw`, { body: {} });
      expect(thawed.json.status).toBe('normal');
      const result = await allocate('admin-thawed');
      expect([...result.allocated]).toEqual([0]);

      expect((await t.call('POST', `/admin/v1/accounts/${id}/disable`)).json.status).toBe(
        'disabled',
      );
      await expect(allocate('admin-disabled')).rejects.toMatchObject({ status: 403 });
      const deleted = await t.call('POST', `/admin/v1/accounts/${id}/delete`);
      expect(deleted.json.status).toBe('deleted');
      const shown = await t.call('GET', `/admin/v1/accounts/${id}`);
      expect(shown.json.nurl).toBeNull();
      expect(shown.json.attributes['deleted-at']).toMatch(/^\d+$/);
      expect((await t.call('GET', `/admin/v1/nurl?account=${id}`)).status).toBe(409);
    } finally {
      client.close();
    }
    // The built-in accounts cannot be deleted.
    const anonymous = await t.call('POST', '/admin/v1/accounts/0/delete');
    expect(anonymous.status).toBe(409);
  });

  it('sets quotas (sizes, null for none, one side kept), refusing bad ones', async () => {
    const set = await t.call('PUT', '/admin/v1/accounts/2/quota', {
      body: { hardBytes: '1MiB', softBytes: 1000 },
    });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ hardQuotaBytes: 1_048_576, softQuotaBytes: 1000 });
    const soft = await t.call('PUT', '/admin/v1/accounts/2/quota', { body: { softBytes: null } });
    expect(soft.json).toMatchObject({ hardQuotaBytes: 1_048_576, softQuotaBytes: null });
    const none = await t.call('PUT', '/admin/v1/accounts/2/quota', { body: { hardBytes: 'none' } });
    expect(none.json.hardQuotaBytes).toBeNull();

    for (const body of [
      {},
      { hardBytes: 10, softBytes: 11 },
      { hardBytes: 1.5 },
      { hardBytes: true },
      { hard: 10 },
    ]) {
      const res = await t.call('PUT', '/admin/v1/accounts/2/quota', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    await t.call('PUT', '/admin/v1/accounts/2/quota', { body: { hardBytes: 100 } });
    const tooSoft = await t.call('PUT', '/admin/v1/accounts/2/quota', { body: { softBytes: 200 } });
    expect(tooSoft.status).toBe(400);
    const unknown = await t.call('PUT', '/admin/v1/accounts/9999/quota', {
      body: { hardBytes: 1 },
    });
    expect(unknown.status).toBe(404);
    const typed = await t.call('PUT', '/admin/v1/accounts/2/quota', {
      raw: '{"hardBytes":1}',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(typed.status).toBe(415);
  });

  // POST /admin/v1/accounts/import, as `ostrom accounts import`.
  const importList = (text: string, headers: Record<string, string> = {}) =>
    t.call('POST', '/admin/v1/accounts/import', { body: { text }, headers });
  const accountCount = async (): Promise<number> =>
    (await t.call('GET', '/admin/v1/accounts?limit=1')).json.total;
  const eventCount = async (): Promise<number> =>
    (await t.call('GET', '/admin/v1/events?limit=10000')).json.events.length;

  it('adds each new key as an active account with its NURL, reporting keys it already has', async () => {
    const [alice, bob, carol] = [newKey(), newKey(), newKey()];
    const bobBase32 = base32Encode(Buffer.from(bob, 'hex'));
    const first = await importList(
      `# allow-list\r\n${alice.toUpperCase()} alice\r\n\n  ${bobBase32}   bob smith  # the builder\n`,
      { 'X-Ostrom-Actor': 'panel:olivia' },
    );
    expect(first.status).toBe(200);
    expect(first.json.existing).toEqual([]);
    expect(first.json.added).toHaveLength(2);
    expect(first.json.added[0]).toMatchObject({
      nickname: 'alice',
      publicKey: alice,
      status: 'normal',
    });
    expect(first.json.added[1]).toMatchObject({ nickname: 'bob smith', publicKey: bob });
    for (const account of first.json.added) {
      expect(account.nurl).toBe(t.running.nurlFor(account.id));
    }
    const created = await t.call(
      'GET',
      '/admin/v1/events?kinds=account-created&order=desc&limit=2',
    );
    expect(created.json.events.map((e: { actor: string }) => e.actor)).toEqual([
      'panel:olivia',
      'panel:olivia',
    ]);

    // The list grown by a line: only the new key is added; the others stay as they are.
    const second = await importList(`${alice} alice renamed\n${bob} bob\n${carol} carol\n`);
    expect(second.status).toBe(200);
    expect(second.json.added.map((a: { nickname: string }) => a.nickname)).toEqual(['carol']);
    expect(second.json.existing.map((a: { nickname: string }) => a.nickname)).toEqual([
      'alice',
      'bob smith',
    ]);
    // An empty list is a no-op.
    expect((await importList('# nobody yet\n')).json).toEqual({ added: [], existing: [] });

    // The CLI reads the same list the same way, on the same node while it runs.
    const file = join(t.dir, 'storage-accounts.txt');
    await writeFile(file, `${alice} alice\n${bobBase32} bob\n${carol} carol\n`);
    const cli = await ostromJson<{ added: unknown[]; existing: { id: number }[] }>([
      'accounts',
      'import',
      file,
      '-d',
      t.dir,
    ]);
    expect(cli.added).toEqual([]);
    expect(cli.existing.map((a) => a.id)).toEqual([
      first.json.added[0].id,
      first.json.added[1].id,
      second.json.added[0].id,
    ]);
  });

  it('refuses a list with any bad line with 400 naming each line, and adds nothing', async () => {
    const good = newKey();
    const key = newKey();
    const accounts = await accountCount();
    const events = await eventCount();
    const cases: [string, { line: number; problem: RegExp }[]][] = [
      [
        `${good} gina\njustonetoken\n`,
        [{ line: 2, problem: /expected "<public key> <nickname>"/ }],
      ],
      [`${good} gina\n\nxyz harry\n`, [{ line: 3, problem: /public key must be 64 hex digits/ }]],
      [
        `${good} gina\n${'0'.repeat(63)} ivan\n`,
        [{ line: 2, problem: /public key must be 64 hex digits or 52 base32/ }],
      ],
      [`${good} ${'j'.repeat(65)}\n`, [{ line: 1, problem: /nickname must be 1–64 characters/ }]],
      [`${good} ja\u0001ne\n`, [{ line: 1, problem: /without control characters/ }]],
      [
        `${key} kim\n${good} gina\n${key.toUpperCase()} kim again # twice\n`,
        [{ line: 3, problem: /^the same key as line 1$/ }],
      ],
      [
        `bad\n${good} gina\n# fine\nworse line\n${good} gina\n`,
        [
          { line: 1, problem: /expected/ },
          { line: 4, problem: /public key/ },
          { line: 5, problem: /same key as line 2/ },
        ],
      ],
    ];
    for (const [text, lines] of cases) {
      const res = await importList(text);
      expect(res.status, text).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.json.lines, text).toHaveLength(lines.length);
      lines.forEach(({ line, problem }, i) => {
        expect(res.json.lines[i].line, text).toBe(line);
        expect(res.json.lines[i].problem, text).toMatch(problem);
        expect(res.json.error, text).toContain(`line ${line}: `);
      });
      expect(res.json.error, text).toMatch(/^text, line /);
    }
    // More bad lines than the message shows: `lines` has the first 100, `badLines` counts all.
    const many = await importList(Array.from({ length: 8 }, (_, i) => `bad${i}`).join('\n'));
    expect(many.json.error).toMatch(/line 5: .*; and 3 more bad lines$/);
    expect(many.json.lines.map((l: { line: number }) => l.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(many.json.badLines).toBe(8);
    const flood = await importList('x\n'.repeat(50_000));
    expect(flood.status).toBe(400);
    expect(flood.json.badLines).toBe(50_000);
    expect(flood.json.lines).toHaveLength(100);
    expect(flood.json.lines.at(-1)).toEqual({
      line: 100,
      problem: 'expected "<public key> <nickname>"',
    });

    expect(await accountCount()).toBe(accounts);
    expect(await eventCount()).toBe(events);
    const shown = await t.call('GET', '/admin/v1/accounts?search=gina');
    expect(shown.json.total).toBe(0);
  });

  it('refuses a malformed body (400), a body past 1 MiB (413) and a non-JSON type (415)', async () => {
    const accounts = await accountCount();
    const key = newKey();
    await expectBadBodies(t, '/admin/v1/accounts/import', [
      [{}, /text/],
      [{ text: 5 }, /text/],
      [{ text: [`${key} lena`] }, /text/],
      [{ text: `${key} lena`, quota: '5GB' }, /unknown field "quota"/],
      ['text', /./],
      [null, /./],
    ]);
    const query = await t.call('POST', '/admin/v1/accounts/import?dryRun=1', {
      body: { text: `${key} lena` },
    });
    expect(query.status).toBe(400);
    expect(query.json.error).toMatch(/dryRun/);

    const huge = await t.call('POST', '/admin/v1/accounts/import', {
      body: { text: `${key} lena\n#${'x'.repeat(1024 * 1024)}\n` },
    });
    expect(huge.status).toBe(413);
    expect(huge.json.error).toMatch(/at most 1048576 bytes/);
    const typed = await t.call('POST', '/admin/v1/accounts/import', {
      raw: JSON.stringify({ text: `${key} lena` }),
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(typed.status).toBe(415);
    expect(await accountCount()).toBe(accounts);

    // Past the 64 KiB of other bodies but within 1 MiB is fine.
    const long = await importList(`# ${'x'.repeat(100_000)}\n${key} lena\n`);
    expect(long.status).toBe(200);
    expect(long.json.added.map((a: { nickname: string }) => a.nickname)).toEqual(['lena']);
    expect((await t.call('GET', '/admin/v1/accounts/import')).status).toBe(400);
    expect((await t.call('PUT', '/admin/v1/accounts/import', { body: {} })).status).toBe(405);
  });

  it('POST /admin/v1/accounts takes a key in base32 too, as `ostrom accounts add` does', async () => {
    const key = newKey();
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: base32Encode(Buffer.from(key, 'hex')), nickname: 'mona' },
    });
    expect(added.status).toBe(201);
    expect(added.json.publicKey).toBe(key);
    const bad = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: base32Encode(Buffer.from(key, 'hex')).slice(1), nickname: 'mona' },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('publicKey must be 64 hex digits or 52 base32 characters');
  });
});

describe('admin API: usage, events, digest, nurl', () => {
  let t: AdminNode;
  beforeAll(async () => {
    t = await startAdminNode();
  });
  afterAll(async () => {
    await t?.running.close();
    if (t) await rm(t.dir, { recursive: true, force: true });
  });

  it('reports usage for the server and each account, or one account', async () => {
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: newKey(), nickname: 'gina' },
    });
    const client = createStorageClient({ nurl: added.json.nurl });
    try {
      const si = storageIndex('admin-usage');
      const s = secrets('admin-usage');
      await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 300 });
      await client.immutable.write(si, 0, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: new Uint8Array(300),
      });
    } finally {
      client.close();
    }
    const usage = await t.call('GET', '/admin/v1/usage');
    expect(usage.status).toBe(200);
    expect(usage.json.server).toEqual({ shares: 1, bytes: 300 });
    expect(usage.json.accounts[0]).toMatchObject({
      id: added.json.id,
      nickname: 'gina',
      shares: 1,
      bytes: 300,
    });
    const one = await t.call('GET', `/admin/v1/usage?account=${added.json.id}`);
    expect(one.json).toMatchObject({ accountId: added.json.id, shares: 1, bytes: 300 });
    expect((await t.call('GET', '/admin/v1/usage?account=9999')).status).toBe(404);
    expect((await t.call('GET', '/admin/v1/usage?account=me')).status).toBe(400);
    expect((await t.call('GET', '/admin/v1/usage?limit=0')).status).toBe(400);
  });

  it('lists events with filters and follows the log by afterId', async () => {
    const all = await t.call('GET', '/admin/v1/events');
    expect(all.status).toBe(200);
    const kinds = all.json.events.map((e: { kind: string }) => e.kind);
    expect(kinds).toContain('account-created');
    expect(kinds).toContain('share-stored');
    const stored = await t.call('GET', '/admin/v1/events?kinds=share-stored,quota-warning');
    expect(stored.json.events.every((e: { kind: string }) => e.kind === 'share-stored')).toBe(true);
    const lastId: number = all.json.lastId;
    const after = await t.call('GET', `/admin/v1/events?afterId=${lastId}`);
    expect(after.json).toEqual({ events: [], lastId: null });
    const newest = await t.call('GET', '/admin/v1/events?order=desc&limit=1');
    expect(newest.json.events[0].id).toBe(lastId);
    const before = await t.call('GET', `/admin/v1/events?order=desc&limit=2&beforeId=${lastId}`);
    expect(before.json.events.map((e: { id: number }) => e.id)).toEqual(
      all.json.events
        .slice(-3, -1)
        .map((e: { id: number }) => e.id)
        .reverse(),
    );
    const now = Math.floor(Date.now() / 1000);
    const future = await t.call('GET', `/admin/v1/events?since=${now + 3600}`);
    expect(future.json.events).toEqual([]);
    const iso = await t.call('GET', '/admin/v1/events?since=2000-01-01T00:00:00Z&until=2000-01-02');
    expect(iso.json.events).toEqual([]);
    for (const query of [
      'kinds=share-stored,nonsense',
      'since=yesterday',
      'until=-5',
      'accountId=x',
      'afterId=1e3',
      'beforeId=-1',
      'limit=100000',
      'order=sideways',
    ]) {
      expect((await t.call('GET', `/admin/v1/events?${query}`)).status, query).toBe(400);
    }
  });

  it('builds the digest of a period', async () => {
    const digest = await t.call('GET', '/admin/v1/digest');
    expect(digest.status).toBe(200);
    expect(digest.json.until - digest.json.since).toBe(86_400);
    expect(digest.json.lines.join('\n')).toMatch(/gina/);
    expect(digest.json.accounts[0]).toMatchObject({ nickname: 'gina', usageBytes: 300 });
    const old = await t.call('GET', '/admin/v1/digest?since=0&until=86400');
    expect(old.json).toMatchObject({ since: 0, until: 86_400 });
    expect((await t.call('GET', '/admin/v1/digest?since=100&until=50')).status).toBe(400);
    expect((await t.call('GET', '/admin/v1/digest?since=soon')).status).toBe(400);
  });

  it('gives the anonymous NURL or an account’s, refusing the starter account', async () => {
    const anonymous = await t.call('GET', '/admin/v1/nurl');
    expect(anonymous.json).toEqual({
      accountId: 0,
      nurl: t.running.nurl,
      serverId: t.running.node.serverId,
      furl: t.running.furl,
    });
    const gina = await t.call('GET', '/admin/v1/nurl?account=2');
    expect(gina.json.nurl).toBe(t.running.nurlFor(2));
    expect((await t.call('GET', '/admin/v1/nurl?account=1')).status).toBe(409);
    expect((await t.call('GET', '/admin/v1/nurl?account=404')).status).toBe(404);
    expect((await t.call('GET', '/admin/v1/nurl?account=two')).status).toBe(400);
  });
});
