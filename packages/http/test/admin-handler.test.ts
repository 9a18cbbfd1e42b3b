import { DependencyHealth } from '@ostrom/accountant';
import { EVENT_KINDS } from '@ostrom/leasedb';
import { describe, expect, it } from 'vitest';
import { ADMIN_ACTOR, MAX_ADMIN_BODY_BYTES } from '../src/admin/handler.js';
import { newKey, requestAccount, startAdminServer } from './admin-setup.js';

describe('createAdminHandler: access and routing', () => {
  it('refuses a request that authorize refuses with 401 and WWW-Authenticate, on every path', async () => {
    const t = await startAdminServer();
    for (const token of [null, 'b'.repeat(64), 'a'.repeat(63)]) {
      for (const path of [
        '/admin/v1/health',
        '/admin/v1/accounts',
        '/metrics',
        '/admin/none',
        '/x',
      ]) {
        const res = await t.call('GET', path, { token });
        expect(res.status, `${path} ${token}`).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    const basic = await t.call('GET', '/admin/v1/health', {
      token: null,
      headers: { Authorization: `Basic ${'a'.repeat(64)}` },
    });
    expect(basic.status).toBe(401);
    expect((await t.call('GET', '/admin/v1/health')).status).toBe(200);
  });

  it('asks authorize, whatever check it makes', async () => {
    const asked: (string | undefined)[] = [];
    const t = await startAdminServer({
      authorize: (req) => {
        asked.push(req.headers['x-operator'] as string | undefined);
        return req.headers['x-operator'] === 'ops';
      },
    });
    expect((await t.call('GET', '/admin/v1/health', { token: null })).status).toBe(401);
    const res = await t.call('GET', '/admin/v1/health', {
      token: null,
      headers: { 'X-Operator': 'ops' },
    });
    expect(res.status).toBe(200);
    expect(asked).toEqual([undefined, 'ops']);
  });

  it('hands every path outside /admin and /metrics to the fallback, without authorize', async () => {
    const t = await startAdminServer({
      fallback: (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`panel ${req.url}`);
      },
    });
    const page = await t.call('GET', '/accounts?x=1', { token: null });
    expect([page.status, page.json]).toEqual([200, 'panel /accounts?x=1']);
    expect((await t.call('GET', '/administrator', { token: null })).json).toBe(
      'panel /administrator',
    );
    for (const path of ['/admin', '/admin/v1/health', '/admin?x', '/metrics']) {
      expect((await t.call('GET', path, { token: null })).status, path).toBe(401);
    }
  });

  it('answers 404 for unknown paths, 405 with Allow, 400 for a GET body or a repeated parameter, 415 for a write not in JSON', async () => {
    const t = await startAdminServer();
    expect((await t.call('GET', '/admin/v1/nothing')).status).toBe(404);
    expect((await t.call('GET', '/admin/v2/health')).status).toBe(404);
    const wrong = await t.call('DELETE', '/admin/v1/accounts/0');
    expect([wrong.status, wrong.headers.allow]).toEqual([405, 'GET']);
    const post = await t.call('POST', '/admin/v1/accounts/0/quota', { body: { hardBytes: 1 } });
    expect([post.status, post.headers.allow]).toEqual([405, 'PUT']);
    const getBody = await t.call('GET', '/admin/v1/health', { raw: '{}' });
    expect([getBody.status, getBody.headers.connection]).toEqual([400, 'close']);
    // The query is read from an object without a prototype: its names are unknown ones too.
    for (const path of ['/admin/v1/health', '/admin/v1/accounts', '/admin/v1/events']) {
      for (const key of ['x', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
        const res = await t.call('GET', `${path}?${key}=1`);
        expect([res.status, res.json.error], `${path}?${key}`).toEqual([
          400,
          `unknown query parameter "${key}"`,
        ]);
      }
    }
    const twice = await t.call('GET', '/admin/v1/accounts?limit=1&limit=2');
    expect([twice.status, twice.json.error]).toEqual([400, 'query parameter "limit" given twice']);
    const typed = await t.call('POST', '/admin/v1/accounts/0/freeze', {
      raw: '{}',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(typed.status).toBe(415);
  });

  it('records X-Ostrom-Actor as the actor, ADMIN_ACTOR without it, and refuses a bad one', async () => {
    const t = await startAdminServer({ approval: 'manual' });
    const a = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: newKey(), nickname: 'ann' },
    });
    const b = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: newKey(), nickname: 'bea' },
      headers: { 'X-Ostrom-Actor': 'ops team' },
    });
    expect([a.status, b.status]).toEqual([201, 201]);
    const events = (await t.call('GET', '/admin/v1/events?kinds=account-created')).json.events;
    expect(events.map((e: { actor: string }) => e.actor)).toEqual([ADMIN_ACTOR, 'ops team']);
    for (const actor of ['', 'x'.repeat(101), 'tab\there']) {
      const res = await t.call('POST', '/admin/v1/accounts/1/freeze', {
        body: {},
        headers: { 'X-Ostrom-Actor': actor },
      });
      expect(res.status, JSON.stringify(actor)).toBe(400);
    }
  });

  it(`refuses a body past MAX_ADMIN_BODY_BYTES with 413 and one that is not JSON with 400`, async () => {
    const t = await startAdminServer();
    const huge = await t.call('POST', '/admin/v1/accounts', {
      raw: `{"nickname":"${'x'.repeat(MAX_ADMIN_BODY_BYTES)}"}`,
      headers: { 'Content-Type': 'application/json' },
    });
    expect(huge.status).toBe(413);
    const cut = await t.call('POST', '/admin/v1/accounts', {
      raw: '{"publicKey":',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect([cut.status, cut.json.error]).toEqual([400, 'the body is not valid JSON']);
  });
});

describe('createAdminHandler: what the embedder gives', () => {
  it('health reads the database itself without a monitor, and answers 503 with Retry-After when the monitor says a service is down', async () => {
    const plain = await startAdminServer({ version: '9.9.9' });
    const ok = await plain.call('GET', '/admin/v1/health');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ status: 'ok', database: 'ok', version: '9.9.9' });
    expect(ok.json).not.toHaveProperty('store');
    expect(ok.headers['cache-control']).toBe('no-store');

    const health = new DependencyHealth({
      probes: {
        database: async () => undefined,
        store: async () => {
          throw new Error('the bucket is gone');
        },
      },
      recheckMs: 0,
    });
    const monitored = await startAdminServer({ health });
    const down = await monitored.call('GET', '/admin/v1/health');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(down.json).toMatchObject({
      status: 'unavailable',
      database: 'ok',
      store: 'unavailable',
    });
    health.close();
  });

  it('serves the crawler and GSD status providers and the metrics as given, 404 without them', async () => {
    const bare = await startAdminServer();
    for (const path of ['/admin/v1/crawler', '/admin/v1/gsd', '/metrics']) {
      expect((await bare.call('GET', path)).status, path).toBe(404);
    }
    const t = await startAdminServer({
      crawlerStatus: async () => ({ cycle: 7 }),
      gsdStatus: () => ({ published: true }),
      metrics: { scrape: async () => 'ostrom_up 1\n', contentType: 'text/plain; version=0.0.4' },
    });
    expect((await t.call('GET', '/admin/v1/crawler')).json).toEqual({ cycle: 7 });
    expect((await t.call('GET', '/admin/v1/gsd')).json).toEqual({ published: true });
    const metrics = await t.call('GET', '/metrics');
    expect([metrics.status, metrics.json]).toEqual([200, 'ostrom_up 1\n']);
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect((await t.call('GET', '/metrics?x=1')).status).toBe(400);
  });

  it('gives an account’s NURL with the server id and the fURL given, refusing the starter account with 409', async () => {
    const t = await startAdminServer({ furl: 'pb://example@tcp:127.0.0.1:1/storage' });
    const anonymous = await t.call('GET', '/admin/v1/nurl');
    expect(anonymous.json).toEqual({
      accountId: 0,
      nurl: t.nurl(0),
      serverId: expect.any(String),
      furl: 'pb://example@tcp:127.0.0.1:1/storage',
    });
    expect((await t.call('GET', '/admin/v1/nurl?account=1')).status).toBe(409);
    expect((await t.call('GET', '/admin/v1/nurl?account=99')).status).toBe(404);
    expect((await t.call('GET', '/admin/v1/nurl?account=x')).status).toBe(400);
  });
});

describe('createAdminHandler: accounts', () => {
  it('adds an account (201 with its NURL), refusing each bad field with 400 naming it and a second add of the key with 409', async () => {
    const t = await startAdminServer();
    const key = newKey();
    const added = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: key, nickname: 'ann', hardBytes: '1MiB', softBytes: 1000 },
    });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({
      nickname: 'ann',
      status: 'normal',
      hardQuotaBytes: 1_048_576,
      softQuotaBytes: 1000,
      nurl: t.nurl(added.json.id),
    });
    const again = await t.call('POST', '/admin/v1/accounts', {
      body: { publicKey: key, nickname: 'x' },
    });
    expect(again.status).toBe(409);
    for (const [body, field] of [
      [{ publicKey: 'abc', nickname: 'x' }, /^publicKey/],
      [{ publicKey: 5, nickname: 'x' }, /^publicKey/],
      [{ publicKey: newKey() }, /^nickname/],
      [{ publicKey: newKey(), nickname: '' }, /^nickname/],
      [{ publicKey: newKey(), nickname: 'x'.repeat(65) }, /^nickname/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: 'lots' }, /^hardBytes/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: -1 }, /^hardBytes/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: true }, /^hardBytes/],
      [{ publicKey: newKey(), nickname: 'x', hardBytes: 10, softBytes: 20 }, /^softBytes/],
      [{ publicKey: newKey(), nickname: 'x', admin: true }, /^unknown field "admin"$/],
      [{ publicKey: newKey(), nickname: 'x', toString: 1 }, /^unknown field "toString"$/],
      [JSON.parse('{"nickname":"x","__proto__":{"admin":true}}'), /^unknown field "__proto__"$/],
      // An unknown field is named before what its misspelling leaves missing.
      [{ publicKey: newKey(), nicknam: 'x' }, /^unknown field "nicknam"$/],
      [[1, 2], /array/],
      [null, /null/],
      ['text', /string/],
    ] as const) {
      const res = await t.call('POST', '/admin/v1/accounts', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error, JSON.stringify(body)).toMatch(field);
    }
    const empty = await t.call('POST', '/admin/v1/accounts', {
      raw: '',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(empty.status).toBe(400);
  });

  it('lists accounts paged, validating every parameter', async () => {
    const t = await startAdminServer();
    for (const nickname of ['bob', 'carol', 'dave']) {
      await t.call('POST', '/admin/v1/accounts', { body: { publicKey: newKey(), nickname } });
    }
    const page = await t.call(
      'GET',
      '/admin/v1/accounts?orderBy=nickname&direction=desc&limit=2&offset=1',
    );
    expect(page.status).toBe(200);
    expect(page.json).toMatchObject({ limit: 2, offset: 1 });
    expect(page.json.accounts.map((a: { nickname: string }) => a.nickname).slice(0, 2)).toEqual([
      'dave',
      'carol',
    ]);
    const search = await t.call('GET', '/admin/v1/accounts?search=CAR&status=normal');
    expect(search.json.accounts.map((a: { nickname: string }) => a.nickname)).toEqual(['carol']);
    for (const query of [
      'status=sleeping',
      'orderBy=password',
      'direction=up',
      'limit=0',
      'limit=10001',
      'limit=-1',
      'limit=1.5',
      'offset=x',
      'search=',
      `search=${'x'.repeat(201)}`,
      'colour=red',
      'limit=1&limit=2',
    ]) {
      const res = await t.call('GET', `/admin/v1/accounts?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json.error, query).toMatch(
        new RegExp(
          `^(unknown query parameter "colour"|query parameter "limit" given twice|${query.split('=')[0]})`,
        ),
      );
    }
  });

  it('approves, refuses with a reason, renames, freezes and sets quotas; a state that forbids it is 409, an unknown account 404', async () => {
    const t = await startAdminServer({ approval: 'manual' });
    const ann = { id: await requestAccount(t, 'ann') };
    const bea = { id: await requestAccount(t, 'bea') };
    expect((await t.call('GET', `/admin/v1/accounts/${ann.id}`)).json.status).toBe('pending');

    const approved = await t.call('POST', `/admin/v1/accounts/${ann.id}/approve`);
    expect([approved.status, approved.json.status]).toEqual([200, 'normal']);
    expect((await t.call('POST', `/admin/v1/accounts/${ann.id}/approve`)).status).toBe(409);
    const refused = await t.call('POST', `/admin/v1/accounts/${bea.id}/refuse`, {
      body: { reason: 'unknown to us' },
    });
    expect([refused.status, refused.json.status]).toEqual([200, 'disabled']);
    const renamed = await t.call('PUT', `/admin/v1/accounts/${ann.id}/nickname`, {
      body: { nickname: 'anna' },
    });
    expect(renamed.json.nickname).toBe('anna');
    const frozen = await t.call('POST', `/admin/v1/accounts/${ann.id}/freeze`, {
      body: { reason: 'audit' },
    });
    expect(frozen.json.status).toBe('frozen');
    expect((await t.call('POST', `/admin/v1/accounts/${ann.id}/thaw`)).json.status).toBe('normal');

    const quota = await t.call('PUT', `/admin/v1/accounts/${ann.id}/quota`, {
      body: { hardBytes: 100 },
    });
    expect(quota.json).toMatchObject({ hardQuotaBytes: 100, softQuotaBytes: null });
    for (const body of [{}, { softBytes: 200 }, { hardBytes: 1.5 }, { hard: 10 }]) {
      const res = await t.call('PUT', `/admin/v1/accounts/${ann.id}/quota`, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const none = await t.call('PUT', `/admin/v1/accounts/${ann.id}/quota`, {
      body: { hardBytes: 'none' },
    });
    expect(none.json.hardQuotaBytes).toBeNull();

    const missing = [
      await t.call('GET', '/admin/v1/accounts/999'),
      await t.call('POST', '/admin/v1/accounts/999/freeze'),
      await t.call('PUT', '/admin/v1/accounts/999/quota', { body: { hardBytes: 1 } }),
      await t.call('GET', '/admin/v1/usage?account=999'),
      await t.call('GET', '/admin/v1/traffic?account=999'),
    ];
    expect(missing.map((res) => res.status)).toEqual([404, 404, 404, 404, 404]);
    expect((await t.call('GET', '/admin/v1/accounts/1x')).status).toBe(400);
    // The built-in anonymous account cannot be deleted: the accountant's INVALID_OPERATION, a 409.
    expect((await t.call('POST', '/admin/v1/accounts/0/delete')).status).toBe(409);
  });

  it('imports a list, adding new keys and reporting known ones; a list with a bad line is a 400 naming each line, and adds nothing', async () => {
    const t = await startAdminServer();
    const known = newKey();
    await t.call('POST', '/admin/v1/accounts', { body: { publicKey: known, nickname: 'known' } });
    const fresh = newKey();
    const imported = await t.call('POST', '/admin/v1/accounts/import', {
      body: { text: `${fresh} lena\n${known} known\n` },
    });
    expect(imported.status).toBe(200);
    expect(imported.json.added).toMatchObject([{ nickname: 'lena', nurl: expect.any(String) }]);
    expect(imported.json.existing).toHaveLength(1);

    const before = (await t.call('GET', '/admin/v1/accounts')).json.total;
    const bad = await t.call('POST', '/admin/v1/accounts/import', {
      body: { text: `${newKey()} mia\nnot-a-key nina\n` },
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ badLines: 1, lines: [expect.any(Object)] });
    expect((await t.call('GET', '/admin/v1/accounts')).json.total).toBe(before);
  });
});

describe('createAdminHandler: refusals', () => {
  it('words a refusal as the API always has, naming the field or parameter first', async () => {
    const t = await startAdminServer();
    const key = newKey();
    const cases: readonly (readonly [string, string, unknown, string])[] = [
      ['POST', '/admin/v1/accounts', { nickname: 'x' }, 'publicKey is required'],
      [
        'POST',
        '/admin/v1/accounts',
        { publicKey: 5, nickname: 'x' },
        'publicKey must be 64 hex digits or 52 base32 characters',
      ],
      [
        'POST',
        '/admin/v1/accounts',
        { publicKey: key, nickname: '' },
        'nickname must be 1–64 characters without control characters',
      ],
      [
        'POST',
        '/admin/v1/accounts',
        { publicKey: key, nickname: 'x', hardBytes: true },
        'hardBytes: expected bytes, a size such as "5GB", or null for none',
      ],
      ['POST', '/admin/v1/accounts', [1], 'expected a JSON object, not an array'],
      ['POST', '/admin/v1/accounts/import', { text: null }, 'text: expected a string, not null'],
      ['PUT', '/admin/v1/accounts/1/quota', {}, 'give hardBytes, softBytes or both'],
      ['GET', '/admin/v1/accounts?limit=0', undefined, 'limit must be at least 1'],
      ['GET', '/admin/v1/accounts?limit=10001', undefined, 'limit must be at most 10000'],
      ['GET', '/admin/v1/accounts?offset=1.5', undefined, 'offset must be a non-negative integer'],
      ['GET', '/admin/v1/accounts?search=', undefined, 'search must not be empty'],
      [
        'GET',
        `/admin/v1/accounts?search=${'x'.repeat(201)}`,
        undefined,
        'search must be at most 200 characters',
      ],
      ['GET', '/admin/v1/accounts?direction=up', undefined, 'direction must be one of asc, desc'],
      [
        'GET',
        '/admin/v1/events?since=2026-13-45',
        undefined,
        'since must be Unix seconds or an ISO date',
      ],
      [
        'GET',
        '/admin/v1/events?kinds=account-created,nonsense',
        undefined,
        `kinds must be a comma-separated list of ${EVENT_KINDS.join(', ')}`,
      ],
    ];
    for (const [method, path, body, reason] of cases) {
      const res = await t.call(method, path, body === undefined ? {} : { body });
      expect([res.status, res.json.error], `${method} ${path} ${JSON.stringify(body)}`).toEqual([
        400,
        reason,
      ]);
    }
  });
});

describe('createAdminHandler: reports', () => {
  it('reports usage, events, the digest and traffic of a period, refusing periods out of order or too long', async () => {
    const t = await startAdminServer();
    await t.call('POST', '/admin/v1/accounts', { body: { publicKey: newKey(), nickname: 'ann' } });
    expect((await t.call('GET', '/admin/v1/usage')).status).toBe(200);
    expect((await t.call('GET', '/admin/v1/usage?account=1')).status).toBe(200);
    const events = await t.call('GET', '/admin/v1/events?kinds=account-created&order=desc&limit=5');
    expect(events.json.lastId).toBe(events.json.events.at(-1).id);
    expect((await t.call('GET', '/admin/v1/events?kinds=nonsense')).status).toBe(400);
    expect((await t.call('GET', '/admin/v1/events?since=yesterday')).status).toBe(400);
    expect((await t.call('GET', '/admin/v1/events?since=2026-01-01')).status).toBe(200);

    const now = t.clock.now();
    const digest = await t.call('GET', `/admin/v1/digest?since=${now - 3600}&until=${now}`);
    expect(digest.status).toBe(200);
    const traffic = await t.call('GET', '/admin/v1/traffic?account=1');
    expect(traffic.json).toMatchObject({
      accountId: 1,
      until: now,
      totals: { uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0 },
    });
    for (const path of ['/admin/v1/digest', '/admin/v1/traffic']) {
      const backwards = await t.call('GET', `${path}?since=${now}&until=${now - 1}`);
      expect([backwards.status, backwards.json.error]).toEqual([
        400,
        'since must not be after until',
      ]);
    }
    expect((await t.call('GET', `/admin/v1/traffic?since=${now - 401 * 86_400}`)).status).toBe(400);
  });
});
