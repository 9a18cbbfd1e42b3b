import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LeaseDb } from '@ostrom/leasedb';
import { invitationSecretHash, parseInvitation } from '@ostrom/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNode, loadNode } from '../src/node-dir.js';
import { openNodeDatabase, type RunningNode, startNode } from '../src/server.js';

// The panel over real sockets, without a browser: who gets in, what a request without a session
// or a form token gets, that bad input is refused with a page saying why, and that the public
// listener never serves it. Browser tests (panel-browser.test.ts) cover the pages as used.

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

interface Panel {
  readonly base: string;
  readonly token: string;
  get(path: string, cookie?: string): Promise<Answer>;
  post(path: string, form: Record<string, string>, cookie?: string, type?: string): Promise<Answer>;
  /** Logs in as `operator`; the session cookie and the form token of its pages. */
  login(operator?: string): Promise<{ cookie: string; csrf: string }>;
}

function panelOf(running: RunningNode, token: string): Panel {
  const base = running.adminUrl!;
  const answer = async (res: Response): Promise<Answer> => ({
    status: res.status,
    headers: res.headers,
    text: await res.text(),
  });
  const panel: Panel = {
    base,
    token,
    get: async (path, cookie) =>
      answer(await fetch(base + path, { redirect: 'manual', headers: cookie ? { cookie } : {} })),
    post: async (path, form, cookie, type = 'application/x-www-form-urlencoded') =>
      answer(
        await fetch(base + path, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': type, ...(cookie ? { cookie } : {}) },
          body: new URLSearchParams(form).toString(),
        }),
      ),
    async login(operator = 'carol') {
      const res = await panel.post('/login', { operator, token, next: '/' });
      expect(res.status).toBe(303);
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      const home = await panel.get('/', cookie);
      expect(home.status).toBe(200);
      const csrf = /name="csrf" value="([^"]+)"/.exec(home.text)![1]!;
      return { cookie, csrf };
    },
  };
  return panel;
}

/** A raw request, for the headers fetch will not let a caller set (Host). */
function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('panel access', () => {
  let dir: string;
  let running: RunningNode;
  let db: LeaseDb;
  let panel: Panel;
  let daveId: number;

  beforeAll(async () => {
    // Not tempDir(): it cleans up after one test, and this node serves the whole block.
    dir = await mkdtemp(join(tmpdir(), 'ostrom-panel-'));
    await initNode(dir);
    running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    db = await openNodeDatabase(await loadNode(dir));
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    panel = panelOf(running, token);
    const account = await running.accountant.addAccount({
      publicKey: 'ab'.repeat(32),
      nickname: 'dave',
    });
    daveId = account.id;
  });
  afterAll(async () => {
    await db?.close();
    await running?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const daveStatus = async () => (await db.getAccount(daveId))!.status;

  it('sends a browser without a session to the login page, keeping where it was going', async () => {
    for (const path of [
      '/',
      '/accounts?q=da',
      `/accounts/${daveId}`,
      '/invitations',
      '/activity',
      '/crawler',
      '/grid',
    ]) {
      const res = await panel.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const login = await panel.get('/login');
    expect(login.status).toBe(200);
    expect(login.text).toContain('data-testid="login-form"');
  });

  it('refuses a wrong token and a missing name, and logs in with the token', async () => {
    const wrong = await panel.post('/login', { operator: 'carol', token: 'not-it', next: '/' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(wrong.text).toContain('not this node’s admin token');
    const nameless = await panel.post('/login', { operator: ' ', token: panel.token });
    expect(nameless.status).toBe(401);
    expect(nameless.text).toContain('Give your name');

    const res = await panel.post('/login', {
      operator: 'carol',
      token: panel.token,
      next: '/accounts?q=da',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/accounts?q=da');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^ostrom_panel=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
  });

  it('never redirects a login to another site', async () => {
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      const res = await panel.post('/login', { operator: 'carol', token: panel.token, next });
      expect(res.headers.get('location'), next).toBe('/');
    }
  });

  it('refuses actions without a session, and without the form token, changing nothing', async () => {
    const anonymous = await panel.post(`/accounts/${daveId}/freeze`, { csrf: 'x' });
    expect(anonymous.status).toBe(401);
    const { cookie, csrf } = await panel.login();
    const forged = await panel.post(`/accounts/${daveId}/freeze`, { csrf: `${csrf}x` }, cookie);
    expect(forged.status).toBe(403);
    expect(forged.text).toContain('stale or not from the panel');
    const missing = await panel.post(`/accounts/${daveId}/freeze`, {}, cookie);
    expect(missing.status).toBe(403);
    expect(await daveStatus()).toBe('normal');
    const events = await db.listEvents({
      accountId: daveId,
      kinds: ['account-status-changed'],
    });
    expect(events).toEqual([]);
  });

  it('records the logged-in operator as the actor of an action, with its reason', async () => {
    const { cookie, csrf } = await panel.login('erin');
    expect((await panel.get('/activity', cookie)).text).not.toContain('froze');
    const res = await panel.post(
      `/accounts/${daveId}/freeze`,
      { csrf, reason: 'over quota' },
      cookie,
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/accounts/${daveId}`);
    expect(await daveStatus()).toBe('frozen');
    const [event] = await db.listEvents({
      accountId: daveId,
      kinds: ['account-status-changed'],
      order: 'desc',
      limit: 1,
    });
    expect(event).toMatchObject({
      actor: 'erin',
      data: { from: 'normal', to: 'frozen', reason: 'over quota' },
    });
    const page = await panel.get(`/accounts/${daveId}`, cookie);
    expect(page.text).toContain('data-testid="flash"');
    expect(page.text).toContain('dave is now frozen');
    // In the digest at once, though it happened this very second and a digest was built before.
    expect((await panel.get('/activity', cookie)).text).toContain('erin froze dave: over quota');
    // The flash is shown once.
    expect((await panel.get(`/accounts/${daveId}`, cookie)).text).not.toContain(
      'data-testid="flash"',
    );
    await panel.post(`/accounts/${daveId}/thaw`, { csrf }, cookie);
    expect(await daveStatus()).toBe('normal');
  });

  it('answers bad input with a 4xx page saying why, never a 500', async () => {
    const { cookie, csrf } = await panel.login();
    const cases: [Promise<Answer>, number, string][] = [
      [panel.get('/accounts?sort=password', cookie), 400, 'sort must be one of'],
      [panel.get('/accounts?page=0', cookie), 400, 'page must be'],
      [panel.get('/accounts?status=gone', cookie), 400, 'status must be one of'],
      [panel.get('/accounts/999999', cookie), 404, 'there is no account 999999'],
      [panel.get('/activity?kind=nope', cookie), 400, 'kind must be one of'],
      [panel.get('/activity?account=%01', cookie), 400, 'account must be an id or a nickname'],
      [panel.get(`/activity?account=${'x'.repeat(65)}`, cookie), 400, 'account must be an id'],
      [panel.get(`/accounts/${daveId}?range=decade`, cookie), 400, 'range must be one of'],
      [panel.get('/no-such-page', cookie), 404, 'no such page'],
      [panel.post(`/accounts/${daveId}/explode`, { csrf }, cookie), 404, 'no such action'],
      [
        panel.post(`/accounts/${daveId}/freeze`, { csrf }, cookie, 'application/json'),
        415,
        'x-www-form-urlencoded',
      ],
      [
        panel.post(`/accounts/${daveId}/freeze`, { csrf, pad: 'x'.repeat(20_000) }, cookie),
        413,
        'at most',
      ],
    ];
    for (const [pending, status, text] of cases) {
      const res = await pending;
      expect(res.status, text).toBe(status);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.text).toContain(text);
    }
    const twice = await fetch(`${panel.base}/accounts/${daveId}/freeze`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: `csrf=${csrf}&csrf=${csrf}`,
    });
    expect(twice.status).toBe(400);
    expect(await daveStatus()).toBe('normal');
  });

  it('shows a refused action on the page and changes nothing: bad quota, wrong confirmation', async () => {
    const { cookie, csrf } = await panel.login();
    const before = await db.getAccount(daveId);
    const cases: [string, Record<string, string>, string][] = [
      ['quota', { hard: 'lots', soft: '' }, 'is not a size'],
      ['quota', { hard: '1 GB', soft: '2 GB' }, 'must not exceed'],
      ['delete', { confirm: 'Dave' }, 'Type the nickname “dave” exactly'],
      ['delete', { confirm: '' }, 'Nothing was deleted'],
      ['approve', {}, 'is not pending'],
      ['freeze', { reason: 'x'.repeat(201) }, 'at most 200 characters'],
    ];
    for (const [verb, form, text] of cases) {
      const res = await panel.post(`/accounts/${daveId}/${verb}`, { csrf, ...form }, cookie);
      expect(res.status, verb).toBe(303);
      const page = await panel.get(`/accounts/${daveId}`, cookie);
      expect(page.text, verb).toContain('data-testid="flash-error"');
      expect(page.text, verb).toContain(text);
    }
    expect(await db.getAccount(daveId)).toEqual(before);

    const quota = await panel.post(
      `/accounts/${daveId}/quota`,
      { csrf, hard: '2 GB', soft: '500MiB' },
      cookie,
    );
    expect(quota.status).toBe(303);
    expect(await db.getAccount(daveId)).toMatchObject({
      hardQuotaBytes: 2_000_000_000,
      softQuotaBytes: 500 * 1024 * 1024,
    });
  });

  it('account lifecycle actions need a session and the form token; each records the operator and refuses bad input, changing nothing', async () => {
    const actions: [string, Record<string, string>][] = [
      ['/accounts/add', { key: 'c1'.repeat(32), nickname: 'ghost' }],
      ['/accounts/import', { list: `${'c2'.repeat(32)} ghost2` }],
      ['/accounts/bulk', { action: 'quota', hard: '1 GB', [`account-${daveId}`]: '1' }],
      [`/accounts/${daveId}/rename`, { nickname: 'ghost3' }],
      [`/accounts/${daveId}/refuse`, {}],
      [`/accounts/${daveId}/disable`, {}],
    ];
    const { cookie, csrf } = await panel.login('olivia');
    const before = await db.listAccounts({ limit: 1000 });
    for (const [path, form] of actions) {
      expect((await panel.post(path, { csrf: 'x', ...form })).status, path).toBe(401);
      expect((await panel.post(path, { csrf: `${csrf}x`, ...form }, cookie)).status, path).toBe(
        403,
      );
    }
    expect(await db.listAccounts({ limit: 1000 })).toEqual(before);

    // Refusals: shown on the page the form came from, nothing changed.
    const refusals: [string, Record<string, string>, string, string][] = [
      ['/accounts/add', { key: 'nokey', nickname: 'x' }, '/accounts', 'A public key is'],
      ['/accounts/add', { key: 'c3'.repeat(32), nickname: '' }, '/accounts', 'A nickname is'],
      [
        '/accounts/add',
        { key: 'c3'.repeat(32), nickname: 'x', hard: '1 kB', soft: '2 kB' },
        '/accounts',
        'must not exceed',
      ],
      [
        '/accounts/add',
        { key: 'ab'.repeat(32), nickname: 'dave again' },
        `/accounts/${daveId}`,
        'has an account already: dave',
      ],
      [
        '/accounts/import',
        { list: `${'c4'.repeat(32)} ok\nnot-a-key bad\n` },
        '/accounts',
        'line 2: the public key must be',
      ],
      ['/accounts/import', { list: '# only a comment' }, '/accounts', 'names no key'],
      ['/accounts/bulk', { action: 'quota', hard: '1 GB' }, '/accounts', 'Select accounts'],
      [
        '/accounts/bulk',
        { action: 'quota', [`account-${daveId}`]: '1' },
        '/accounts',
        'Give a hard quota',
      ],
      [
        '/accounts/bulk',
        { action: 'quota', hard: 'lots', [`account-${daveId}`]: '1' },
        '/accounts',
        'is not a size',
      ],
      [
        '/accounts/bulk',
        {
          action: 'quota',
          hard: '1 kB',
          soft: '2 kB',
          [`account-${daveId}`]: '1',
          'account-0': '1',
        },
        '/accounts',
        'would exceed the hard quota of dave, anonymous',
      ],
      [
        '/accounts/bulk',
        { action: 'approve', [`account-${daveId}`]: '1' },
        '/accounts',
        'None of the selected accounts is pending',
      ],
      [
        '/accounts/bulk',
        { action: 'quota', hard: '1 GB', 'account-999999': '1' },
        '/accounts',
        'A selected account is gone',
      ],
      [
        '/accounts/bulk',
        {
          action: 'quota',
          hard: '1 GB',
          ...Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`account-${i}`, '1'])),
        },
        '/accounts',
        'at most 200 accounts',
      ],
      [
        `/accounts/${daveId}/rename`,
        { nickname: 'a\u0001b' },
        `/accounts/${daveId}`,
        'A nickname is',
      ],
      ['/accounts/0/rename', { nickname: 'guests' }, '/accounts/0', 'cannot be renamed'],
      [`/accounts/${daveId}/refuse`, {}, `/accounts/${daveId}`, 'is not pending'],
      ['/accounts/1/disable', {}, '/accounts/1', 'The starter account serves no client'],
    ];
    for (const [path, form, back, text] of refusals) {
      const res = await panel.post(path, { csrf, ...form }, cookie);
      expect(res.status, `${path} ${text}`).toBe(303);
      expect(res.headers.get('location'), text).toBe(back);
      const page = await panel.get(back, cookie);
      expect(page.text, text).toContain('data-testid="flash-error"');
      expect(page.text, text).toContain(text);
    }
    expect(await db.listAccounts({ limit: 1000 })).toEqual(before);
    const badAction = await panel.post(
      '/accounts/bulk',
      { csrf, action: 'explode', [`account-${daveId}`]: '1' },
      cookie,
    );
    expect(badAction.status).toBe(400);
    const huge = await panel.post(
      '/accounts/import',
      { csrf, list: 'x'.repeat(2 * 1024 * 1024 + 1) },
      cookie,
    );
    expect(huge.status).toBe(413);

    // Done: each by olivia.
    const added = await panel.post(
      '/accounts/add',
      { csrf, key: 'c5'.repeat(32), nickname: 'gail', hard: '3 MB' },
      cookie,
    );
    const gail = (await db.getAccountByPublicKey('c5'.repeat(32)))!;
    expect(added.headers.get('location')).toBe(`/accounts/${gail.id}`);
    expect(gail).toMatchObject({ nickname: 'gail', status: 'normal', hardQuotaBytes: 3_000_000 });
    await panel.post(
      '/accounts/import',
      { csrf, list: `${'c5'.repeat(32)} gail\n${'c6'.repeat(32)} hal # new\n` },
      cookie,
    );
    expect((await panel.get('/accounts', cookie)).text).toContain(
      'Imported: 1 added (hal); 1 had an account already and were left as they are (gail).',
    );
    const hal = (await db.getAccountByPublicKey('c6'.repeat(32)))!;
    await panel.post(`/accounts/${hal.id}/rename`, { csrf, nickname: 'hal 9000' }, cookie);
    const pending = await db.createAccount({
      publicKey: 'c7'.repeat(32),
      nickname: 'ivy',
      status: 'pending',
    });
    const pending2 = await db.createAccount({
      publicKey: 'c8'.repeat(32),
      nickname: 'jo',
      status: 'pending',
    });
    await panel.post(`/accounts/${pending.id}/refuse`, { csrf, reason: 'unknown' }, cookie);
    await panel.post(
      '/accounts/bulk',
      {
        csrf,
        action: 'approve',
        back: '/accounts?status=pending',
        [`account-${pending2.id}`]: '1',
        [`account-${hal.id}`]: '1',
      },
      cookie,
    );
    expect((await panel.get('/accounts', cookie)).text).toContain(
      'Approved: jo. 1 selected was not pending and is as before.',
    );
    const bulkQuota = await panel.post(
      '/accounts/bulk',
      {
        csrf,
        action: 'quota',
        soft: '1 MB',
        back: '/accounts?q=a',
        [`account-${gail.id}`]: '1',
        [`account-${hal.id}`]: '1',
      },
      cookie,
    );
    expect(bulkQuota.headers.get('location')).toBe('/accounts?q=a');
    expect(await db.getAccount(gail.id)).toMatchObject({
      hardQuotaBytes: 3_000_000,
      softQuotaBytes: 1_000_000,
      nickname: 'gail',
    });
    expect(await db.getAccount(hal.id)).toMatchObject({
      softQuotaBytes: 1_000_000,
      nickname: 'hal 9000',
      status: 'normal',
    });
    expect(await db.getAccount(pending.id)).toMatchObject({ status: 'disabled' });
    expect(await db.getAccount(pending2.id)).toMatchObject({ status: 'normal' });
    const ours = await db.listEvents({ since: 0, limit: 1000 });
    const byOlivia = ours.filter((e) => e.actor === 'olivia').map((e) => [e.kind, e.accountId]);
    expect(byOlivia).toEqual([
      ['account-created', gail.id],
      ['account-created', hal.id],
      ['account-nickname-changed', hal.id],
      ['account-status-changed', pending.id],
      ['account-status-changed', pending2.id],
      ['account-quota-changed', gail.id],
      ['account-quota-changed', hal.id],
    ]);
    // A back address off the panel is not followed.
    const offsite = await panel.post(
      '/accounts/bulk',
      { csrf, action: 'quota', soft: '1 MB', back: '//evil.example/', [`account-${gail.id}`]: '1' },
      cookie,
    );
    expect(offsite.headers.get('location')).toBe('/accounts');
  });

  it('a quota field left as shown keeps its exact quota; a hard quota below usage is set and said', async () => {
    const { cookie, csrf } = await panel.login();
    const erin = await running.accountant.addAccount({
      publicKey: 'e7'.repeat(32),
      nickname: 'erin',
      hardQuotaBytes: 123_456_789,
      softQuotaBytes: 100_000_000,
    });
    const form = async () => {
      const page = await panel.get(`/accounts/${erin.id}`, cookie);
      const value = (name: string) =>
        new RegExp(`name="${name}" value="([^"]*)"`).exec(page.text)![1]!;
      return {
        hard: value('hard'),
        soft: value('soft'),
        'hard-shown': value('hard-shown'),
        'soft-shown': value('soft-shown'),
      };
    };
    // Only the soft quota changed: the hard one stays to the byte.
    const shown = await form();
    expect(shown.hard).toBe('123456789 B');
    await panel.post(`/accounts/${erin.id}/quota`, { csrf, ...shown, soft: '50 MB' }, cookie);
    expect(await db.getAccount(erin.id)).toMatchObject({
      hardQuotaBytes: 123_456_789,
      softQuotaBytes: 50_000_000,
    });
    // A hard quota below what it holds: set (it stops growth), and the page says so.
    const si = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
    const secret = (n: number) => new Uint8Array(32).fill(n);
    const erinAccount = running.accountant.account(erin.id);
    await erinAccount.allocate(si, {
      renewSecret: secret(1),
      cancelSecret: secret(2),
      uploadSecret: secret(3).subarray(0, 20),
      shareNumbers: [0],
      allocatedSize: 3000,
    });
    await erinAccount.writeUpload(si, 0, secret(3).subarray(0, 20), 0, new Uint8Array(3000));
    await panel.post(
      `/accounts/${erin.id}/quota`,
      { csrf, ...(await form()), hard: '2 kB', soft: '' },
      cookie,
    );
    expect(await db.getAccount(erin.id)).toMatchObject({
      hardQuotaBytes: 2000,
      softQuotaBytes: null,
    });
    const page = await panel.get(`/accounts/${erin.id}`, cookie);
    expect(page.text).toContain('It holds 3 kB, more than its hard quota of 2 kB');
    // The audit trail says from what to what.
    expect(page.text).toContain('quota: hard 123 MB → 2 kB, soft 50 MB → none');
    // Out of the way of the tests after this one (which count accounts near their quota).
    await db.setAccountQuota(erin.id, { hardQuotaBytes: null, softQuotaBytes: null });
  });

  it('shows the node on the overview, filters accounts near a quota and the log by kind, approves and disables', async () => {
    const { cookie, csrf } = await panel.login('erin');
    const pending = await db.createAccount({
      publicKey: 'ef'.repeat(32),
      nickname: 'gina',
      status: 'pending',
      softQuotaBytes: 0,
    });
    const overview = await panel.get('/', cookie);
    const card = (name: string) =>
      new RegExp(`data-testid="card-${name}">([\\s\\S]*?)</section>`).exec(overview.text)![1]!;
    expect(card('accounts')).toMatch(/pending<\/a>: 1</);
    expect(card('space')).toMatch(/available/);
    expect(card('crawler')).toMatch(/cycle \d+, \d+ of 1024 prefixes/);
    // A soft quota of 0: gina is at 100% of it, the only one near a quota.
    expect(card('quota')).toContain(`/accounts/${pending.id}">gina<`);
    const near = await panel.get('/accounts?near=1', cookie);
    expect([...near.text.matchAll(/data-account-id="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([
      pending.id,
    ]);
    const pendingOnly = await panel.get('/accounts?status=pending', cookie);
    expect(pendingOnly.text).toContain('1–1 of 1');

    await panel.post(`/accounts/${pending.id}/approve`, { csrf }, cookie);
    expect((await db.getAccount(pending.id))!.status).toBe('normal');
    await panel.post(`/accounts/${pending.id}/disable`, { csrf, reason: 'spam' }, cookie);
    expect((await db.getAccount(pending.id))!.status).toBe('disabled');
    const log = await panel.get(
      `/activity?kind=account-status-changed&account=${pending.id}`,
      cookie,
    );
    const kinds = [...log.text.matchAll(/data-testid="event-kind">([^<]+)</g)].map((m) => m[1]);
    expect(kinds).toEqual(['account-status-changed', 'account-status-changed']);
    expect(log.text).toContain('status normal → disabled: spam');
    expect(log.text).toContain('status pending → normal');
  });

  it('"Back up now" needs a session and the form token, and records who asked', async () => {
    const backups = async () => db.listEvents({ kinds: ['backup-made'] });
    const before = (await backups()).length;
    expect((await panel.post('/crawler/backup', {})).status).toBe(401);
    const { cookie, csrf } = await panel.login('erin');
    expect((await panel.post('/crawler/backup', { csrf: 'stale' }, cookie)).status).toBe(403);
    expect((await backups()).length).toBe(before);
    const done = await panel.post('/crawler/backup', { csrf }, cookie);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/crawler');
    const made = await backups();
    expect(made.length).toBe(before + 1);
    expect(made.at(-1)?.actor).toBe('erin');
    const page = await panel.get('/crawler', cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-testid="flash"');
    expect(page.text).toContain('Backed up: leasedb/backup-');
  });

  it('invitations: issuing and revoking need a session and the form token; the code is shown once; bad input is said and issues nothing', async () => {
    const listed = () => db.listInvitations();
    const before = (await listed()).length;
    expect((await panel.get('/invitations')).status).toBe(303);
    expect((await panel.post('/invitations/issue', { csrf: 'x', uses: '1' })).status).toBe(401);
    const { cookie, csrf } = await panel.login('erin');
    const form = { nickname: 'edgar', hard: '10 GB', soft: '', expires: '86400', uses: '2' };
    expect(
      (await panel.post('/invitations/issue', { ...form, csrf: 'stale' }, cookie)).status,
    ).toBe(403);
    expect((await listed()).length).toBe(before);

    const issued = await panel.post('/invitations/issue', { ...form, csrf }, cookie);
    expect(issued.status).toBe(303);
    expect(issued.headers.get('location')).toBe('/invitations');
    const [row] = await listed();
    expect(row).toMatchObject({
      nickname: 'edgar',
      hardQuotaBytes: 10_000_000_000,
      softQuotaBytes: null,
      maxUses: 2,
      createdBy: 'erin',
    });
    expect(row!.expiresAt - row!.createdAt).toBe(86_400);
    const page = await panel.get('/invitations', cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`Invitation ${row!.id} is issued`);
    const code = /data-testid="invitation-code">([^<]+)</.exec(page.text)![1]!;
    const parsed = parseInvitation(code);
    expect(parsed.nurl).toBe(running.nurl);
    expect(invitationSecretHash(parsed.secret)).toBe(row!.secretHash);
    expect(page.text).not.toContain(row!.secretHash);
    expect(page.text).toContain(`action="/invitations/${row!.id}/revoke"`);
    // Shown once: the next page has the list, not the code.
    const again = await panel.get('/invitations', cookie);
    expect(again.text).not.toContain('data-testid="invitation-code"');
    expect(again.text).not.toContain(code);
    expect(again.text).toContain('data-testid="invitation-state">open<');

    const refusals: [Record<string, string>, string][] = [
      [{ ...form, uses: '0' }, 'Uses must be a whole number from 1 to'],
      [{ ...form, uses: '-1' }, 'Uses must be a whole number from 1 to'],
      [{ ...form, expires: '0' }, 'Valid for must be a whole number from 1 to'],
      [{ ...form, hard: 'lots' }, 'is not a size'],
      [{ ...form, hard: '1 MB', soft: '2 MB' }, 'The soft quota must not exceed the hard quota'],
      [{ ...form, nickname: 'a'.repeat(65) }, 'A nickname is'],
    ];
    for (const [fields, reason] of refusals) {
      const res = await panel.post('/invitations/issue', { ...fields, csrf }, cookie);
      expect(res.status, JSON.stringify(fields)).toBe(303);
      const shown = await panel.get('/invitations', cookie);
      expect(shown.text, JSON.stringify(fields)).toContain('data-testid="flash-error"');
      expect(shown.text, JSON.stringify(fields)).toContain(reason);
    }
    expect((await listed()).length).toBe(before + 1);

    expect((await panel.post(`/invitations/${row!.id}/revoke`, { csrf: 'x' }, cookie)).status).toBe(
      403,
    );
    expect((await listed())[0]!.revokedAt).toBeNull();
    const revoked = await panel.post(`/invitations/${row!.id}/revoke`, { csrf }, cookie);
    expect([revoked.status, revoked.headers.get('location')]).toEqual([303, '/invitations']);
    const [after] = await listed();
    expect(after!.revokedAt).not.toBeNull();
    const events = await db.listEvents({ kinds: ['invitation-revoked'] });
    expect(events.at(-1)?.actor).toBe('erin');
    const list = await panel.get('/invitations', cookie);
    expect(list.text).toContain(`Invitation ${row!.id} is revoked`);
    expect(list.text).toContain('data-testid="invitation-state">revoked<');
    expect(list.text).not.toContain(`action="/invitations/${row!.id}/revoke"`);
    const unknown = await panel.post('/invitations/99999/revoke', { csrf }, cookie);
    expect(unknown.status).toBe(303);
    expect((await panel.get('/invitations', cookie)).text).toContain('data-testid="flash-error"');
  });

  it('the activity filter takes a nickname: one account, several to pick from, or nobody', async () => {
    const { cookie } = await panel.login();
    const byName = await panel.get('/activity?account=dave', cookie);
    expect(byName.status).toBe(200);
    expect(byName.text).toContain('value="dave"');
    expect(byName.text).not.toContain('account-filter-note');
    const nobody = await panel.get('/activity?account=-1', cookie);
    expect(nobody.status).toBe(200);
    expect(nobody.text).toContain('No account is named “-1”.');
    expect(nobody.text).toContain('No event matches.');
  });

  it('escapes what accounts name themselves', async () => {
    const { cookie } = await panel.login();
    await running.accountant.addAccount({
      publicKey: 'cd'.repeat(32),
      nickname: '<img src=x onerror=alert(1)>',
    });
    const page = await panel.get('/accounts', cookie);
    expect(page.text).not.toContain('<img src=x');
    expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('answers to local host names only (a DNS-rebinding page gets nothing)', async () => {
    const port = new URL(panel.base).port;
    expect(await rawGet(`${panel.base}/login`, { host: `evil.example:${port}` })).toBe(421);
    expect(await rawGet(`${panel.base}/login`, { host: `localhost:${port}` })).toBe(200);
  });

  it('leaves the admin API to its bearer token: a panel cookie does not open it', async () => {
    const { cookie } = await panel.login();
    const res = await fetch(`${panel.base}/admin/v1/accounts`, { headers: { cookie } });
    expect(res.status).toBe(401);
  });

  it('logs out: the cookie no longer opens a page', async () => {
    const { cookie, csrf } = await panel.login();
    const out = await panel.post('/logout', { csrf }, cookie);
    expect(out.status).toBe(303);
    expect((await panel.get('/', cookie)).status).toBe(303);
  });

  it('pages 10,000 accounts in the database: 50 rows a page, in the order asked', async () => {
    await db.transaction(async (tx) => {
      for (let i = 0; i < 10_000; i++) {
        await tx.createAccount({
          publicKey: (i + 1).toString(16).padStart(64, '0'),
          nickname: `bulk-${String(i).padStart(5, '0')}`,
        });
      }
    });
    const { cookie } = await panel.login();
    const rows = (text: string) =>
      [...text.matchAll(/data-testid="account-link" href="\/accounts\/\d+">([^<]+)</g)].map(
        (m) => m[1],
      );
    const first = await panel.get('/accounts?q=bulk-&sort=nickname&dir=desc', cookie);
    expect(first.status).toBe(200);
    expect(rows(first.text)).toEqual(
      Array.from({ length: 50 }, (_, i) => `bulk-${String(9999 - i).padStart(5, '0')}`),
    );
    expect(first.text).toContain('1–50 of 10,000');
    // Only the page travels: a page of 50 rows, not 10,000.
    expect(first.text.length).toBeLessThan(60_000);
    const last = await panel.get('/accounts?q=bulk-&sort=nickname&dir=desc&page=200', cookie);
    expect(rows(last.text).at(-1)).toBe('bulk-00000');
    expect(last.text).toContain('9,951–10,000 of 10,000');
    expect(last.text).not.toContain('rel="next"');
    const beyond = await panel.get('/accounts?q=bulk-&page=201', cookie);
    expect(rows(beyond.text)).toEqual([]);
  });

  it('is not served on the public storage listener', async () => {
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          `${running.url.replace(running.node.config.storage.publicHostname, '127.0.0.1')}${path}`,
          { rejectUnauthorized: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/', '/login', '/accounts', '/activity', '/grid', '/static/panel.js']) {
      expect(await get(path), path).toBe(404);
    }
  });
});
