import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageClient } from '@ostrom/protocol';
import { expect, it } from 'vitest';
import type { RunningNode } from '../src/server.js';
import { bytes, storageIndex } from './http-setup.js';
import { addAccount, createTestNode, type TestNode, upload } from './node-harness.js';
import {
  type BrowserSuite,
  DESKTOP,
  describeBrowser,
  expectNoSidewaysScroll,
  openPanel,
  type PanelTab,
  PHONE,
  POLL,
  saveScreenshot,
  screenshotDir,
  type Viewport,
} from './panel-harness.js';

// The operator panel (its browser-test contract) driven in Chromium against a whole node on disk:
// the selectors are the contract's `data-testid`s and `data-action`s, never CSS classes or
// wording, so a redesign that keeps the contract keeps these tests.

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Public keys (hex) for the accounts the CLI adds. */
const KEYS = {
  dave: 'd1'.repeat(32),
  bigdave: 'd2'.repeat(32),
  erin: 'e1'.repeat(32),
  frank: 'f1'.repeat(32),
} as const;
type Nickname = keyof typeof KEYS;

interface Account {
  readonly id: number;
  readonly nurl: string;
  readonly client: StorageClient;
}

async function startWith(
  ...nicknames: Nickname[]
): Promise<{ node: TestNode; running: RunningNode; accounts: Record<string, Account> }> {
  const node = await createTestNode('disk');
  const running = await node.start();
  const accounts: Record<string, Account> = {};
  for (const nickname of nicknames) {
    const { id, nurl } = await addAccount(node, running, KEYS[nickname], nickname);
    accounts[nickname] = { id, nurl, client: node.client(nurl) };
  }
  return { node, running, accounts };
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

let uploads = 0;
/** Uploads one new immutable share of `size` bytes with the account's NURL. */
async function uploadAs(account: Account, running: RunningNode, size: number): Promise<void> {
  uploads += 1;
  await upload(account.client, running, storageIndex(`panel-${uploads}`), 0, bytes(size, uploads));
}

/** Submits the account page's `form[data-action=<verb>]` and waits for the page it answers. */
async function act(panel: PanelTab, verb: string): Promise<void> {
  const form = panel.page.locator(`form[data-action="${verb}"]`);
  await form.locator('button[type="submit"]').click();
  await panel.page.waitForLoadState();
}

/** The panel's pages, in nav order, for the tours (the login page is seen logged out). */
function pages(accountId: number): [string, string][] {
  return [
    ['overview', '/'],
    ['accounts', '/accounts'],
    ['account', `/accounts/${accountId}`],
    ['invitations', '/invitations'],
    ['activity', '/activity'],
    ['crawler', '/crawler'],
    ['grid', '/grid'],
  ];
}

/** A node where dave stored shares in two hours (two usage snapshots), so no page is empty. */
async function furnishedNode() {
  const t = await startWith('dave', 'erin');
  const dave = must(t.accounts.dave, 'dave');
  await uploadAs(dave, t.running, 4000);
  const db = await t.node.openDb();
  await db.snapshotUsage(t.node.clock.now());
  t.node.clock.advance(HOUR);
  await uploadAs(dave, t.running, 9000);
  await db.snapshotUsage(t.node.clock.now());
  // An open invitation and a revoked one, so the invitations page has rows and a revoke button.
  await t.running.accountant.createInvitation({
    nickname: 'edgar',
    hardQuotaBytes: 10_000_000,
    expiresInSeconds: 7 * DAY,
    actor: 'carol',
  });
  const { invitation } = await t.running.accountant.createInvitation({
    expiresInSeconds: DAY,
    maxUses: 5,
    actor: 'carol',
  });
  await t.running.accountant.revokeInvitation(invitation.id, { actor: 'carol' });
  return { ...t, dave };
}

/**
 * Visits every page at `viewport` as "carol", checks none scrolls sideways on a phone and saves
 * a screenshot of each; returns both tabs (logged out, logged in) for the request check.
 */
async function tour(
  suite: BrowserSuite,
  running: RunningNode,
  accountId: number,
  viewport: Viewport,
  suffix: string,
): Promise<[loggedOut: PanelTab, loggedIn: PanelTab]> {
  const loggedOut = await openPanel(suite, running, { viewport });
  await loggedOut.goto('/login');
  await loggedOut.page.locator('form[data-testid="login-form"]').waitFor();
  if (viewport.width <= PHONE.width) await expectNoSidewaysScroll(loggedOut);
  await saveScreenshot(loggedOut.page, `panel-login${suffix}`);

  const panel = await openPanel(suite, running, { viewport });
  await panel.login('carol');
  for (const [name, path] of pages(accountId)) {
    await panel.goto(path);
    await panel.page.locator('h1').waitFor();
    await panel.page.locator('form[data-testid="logout"]').waitFor({ state: 'attached' });
    for (const nav of ['overview', 'accounts', 'invitations', 'activity', 'crawler', 'grid']) {
      await panel.page.locator(`nav a[data-testid="nav-${nav}"]`).waitFor({ state: 'attached' });
    }
    if (viewport.width <= PHONE.width) await expectNoSidewaysScroll(panel);
    await saveScreenshot(panel.page, `panel-${name}${suffix}`);
  }
  return [loggedOut, panel];
}

describeBrowser('operator panel in Chromium', (suite) => {
  it('without a session a page sends to /login?next=…; a wrong token is refused; the right one returns to next', async () => {
    const { running, accounts } = await startWith('dave');
    const dave = must(accounts.dave, 'dave');
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.goto(`/accounts/${dave.id}`);
    await page.waitForURL((url) => url.pathname === '/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe(`/accounts/${dave.id}`);

    const form = page.locator('form[data-testid="login-form"]');
    await form.locator('input[name="operator"]').fill('carol');
    await form.locator('input[name="token"]').fill(`${panel.token}x`);
    const refused = page.waitForResponse((r) => r.request().method() === 'POST');
    await form.locator('button[type="submit"]').click();
    expect((await refused).status()).toBe(401);
    await page.locator('[data-testid="flash-error"]').waitFor();

    await page.locator('form[data-testid="login-form"] input[name="operator"]').fill('carol');
    await page.locator('form[data-testid="login-form"] input[name="token"]').fill(panel.token);
    await page.locator('form[data-testid="login-form"] button[type="submit"]').click();
    await page.waitForURL((url) => url.pathname === `/accounts/${dave.id}`);
    await panel.expectText('h1', 'dave');
    const [cookie] = (await panel.context.cookies()).filter((c) => c.name === 'ostrom_panel');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('carol finds dave by nickname, freezes him (uploads refused), thaws him (uploads work) and the activity log says so', async () => {
    const { running, accounts } = await startWith('dave', 'bigdave', 'erin');
    const dave = must(accounts.dave, 'dave');
    await uploadAs(dave, running, 1200);
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');

    // Search: "dave" is in "bigdave" too, so the result may have two rows, never erin's.
    await panel.goto('/accounts');
    const filter = page.locator('form[data-testid="account-filter"]');
    await filter.locator('input[name="q"]').fill('dave');
    await filter.locator('[type="submit"]').click();
    await page.waitForURL((url) => url.searchParams.get('q') === 'dave');
    const rows = page.locator('table[data-testid="accounts-table"] tbody tr');
    const daveRow = page.locator(`tbody tr[data-account-id="${dave.id}"]`);
    await expect.poll(() => daveRow.count(), POLL).toBe(1);
    const erinRow = page.locator(`tbody tr[data-account-id="${accounts.erin?.id}"]`);
    expect(await erinRow.count()).toBe(0);
    expect(await rows.count()).toBeLessThanOrEqual(2);
    await daveRow.locator('a[data-testid="account-link"]').click();
    await page.waitForURL((url) => url.pathname === `/accounts/${dave.id}`);
    await panel.expectText('h1', 'dave');
    await panel.expectText('[data-testid="account-status"]', 'normal');
    expect(await page.locator('[data-testid="account-nurl"]').textContent()).toContain(
      String(dave.id),
    );

    // Freeze with a reason (the panel asks first: panel-lifecycle.test.ts reads what it says).
    await page.locator('details[data-testid="confirm-freeze"] summary').click();
    await page.locator('form[data-action="freeze"] input[name="reason"]').fill('over quota');
    await act(panel, 'freeze');
    await panel.expectText('[data-testid="account-status"]', 'frozen');
    await page.locator('[data-testid="flash"]').waitFor();
    expect(await page.locator('form[data-action="freeze"]').count()).toBe(0);
    await page.locator('form[data-action="thaw"]').waitFor();
    await panel.goto('/accounts?q=dave');
    await panel.expectText(
      `tbody tr[data-account-id="${dave.id}"] [data-testid="account-status"]`,
      'frozen',
    );
    // A frozen account may read but not store: the allocation is refused with 403.
    await expect(uploadAs(dave, running, 100)).rejects.toMatchObject({ status: 403 });

    // Thaw.
    await panel.goto(`/accounts/${dave.id}`);
    await act(panel, 'thaw');
    await panel.expectText('[data-testid="account-status"]', 'normal');
    await page.locator('[data-testid="flash"]').waitFor();
    await uploadAs(dave, running, 100);

    // The activity page: the freeze, by carol, and the digest line.
    await panel.goto('/activity');
    const events = page.locator('table[data-testid="events-table"] tbody tr');
    await events.first().waitFor();
    const logged = await events.evaluateAll((trs) =>
      trs.map((tr) => ({
        kind: tr.querySelector('[data-testid="event-kind"]')?.textContent?.trim(),
        actor: tr.querySelector('[data-testid="event-actor"]')?.textContent?.trim(),
      })),
    );
    expect(logged).toContainEqual({ kind: 'account-status-changed', actor: 'carol' });
    expect(
      logged.filter((e) => e.kind === 'account-status-changed' && e.actor === 'carol'),
    ).toHaveLength(2);
    const digest = (await page.locator('[data-testid="digest"] li').allTextContents()).map((l) =>
      l.trim(),
    );
    // The freeze happened this very second: the digest's "last 24 h" includes now.
    expect(digest).toContainEqual('carol froze dave: over quota');
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('a write refused for the quota shows on the account page, in the activity filter and on the overview', async () => {
    const { node, running, accounts } = await startWith('erin');
    const erin = must(accounts.erin, 'erin');
    await uploadAs(erin, running, 3000);
    const db = await node.openDb();
    await db.setAccountQuota(erin.id, { hardQuotaBytes: 4000, softQuotaBytes: null });
    for (let i = 0; i < 3; i++) {
      await expect(uploadAs(erin, running, 2000)).rejects.toMatchObject({ status: 403 });
    }
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');

    await panel.goto(`/accounts/${erin.id}`);
    const events = await page.locator('ul[data-testid="account-events"] li').allTextContents();
    // Three refusals in a minute: one event, the other two folded into the next one.
    expect(events.filter((e) => e.includes('refused'))).toEqual([
      expect.stringContaining('allocate refused: over its hard quota (2 kB)'),
    ]);

    await panel.goto('/activity');
    await page.locator('form[data-autosubmit] select[name="kind"]').selectOption('write-refused');
    await page.waitForURL((url) => url.searchParams.get('kind') === 'write-refused');
    const kinds = await page.locator('[data-testid="event-kind"]').allTextContents();
    expect(kinds.map((k) => k.trim())).toEqual(['write-refused']);

    await panel.goto('/');
    const alert = page.locator('[data-testid="alert"][data-alert="writes-refused"]');
    expect(await alert.textContent()).toContain('One account had writes refused in the last hour');
    expect(panel.foreignRequests()).toEqual([]);
  });

  it("quotas made plain: accounts sort by the share of the hard quota held, and an account's chart draws its quotas", async () => {
    const { node, running, accounts } = await startWith('dave', 'erin', 'frank');
    const db = await node.openDb();
    const quotas: [Nickname, number, number][] = [
      ['dave', 4000, 100_000], // 2000 of 100000: 2%
      ['erin', 4000, 5000], // 4000 of 5000: 80%
      ['frank', 4000, 10_000], // 4000 of 10000: 40%
    ];
    for (const [name, bytes, hard] of quotas) {
      const account = must(accounts[name], name);
      await uploadAs(account, running, name === 'dave' ? 2000 : bytes);
      await db.setAccountQuota(account.id, { hardQuotaBytes: hard, softQuotaBytes: hard / 2 });
    }
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto('/accounts');
    await panel.expectText('[data-testid="default-quotas"]', /^A new account gets a hard quota of/);
    await page.locator('a[data-sort="hardQuotaUse"]').click();
    await page.waitForURL((url) => url.searchParams.get('sort') === 'hardQuotaUse');
    // Ascending, then descending; accounts without a hard quota come last either way.
    const order = async () =>
      (await page.locator('a[data-testid="account-link"]').allTextContents()).map((t) => t.trim());
    expect((await order()).slice(0, 3)).toEqual(['dave', 'frank', 'erin']);
    await page.locator('a[data-sort="hardQuotaUse"]').click();
    await page.waitForURL((url) => url.searchParams.get('dir') === 'desc');
    expect((await order()).slice(0, 3)).toEqual(['erin', 'frank', 'dave']);
    expect(
      await page
        .locator(`tr[data-account-id="${accounts.erin?.id}"] [data-testid="quota-hard"]`)
        .textContent(),
    ).toContain('80% of hard 5 kB');
    expect(
      await page
        .locator(`tr[data-account-id="${accounts.erin?.id}"] [data-testid="quota-soft"]`)
        .textContent(),
    ).toContain('160% of soft 2.5 kB');

    await panel.goto(`/accounts/${accounts.erin?.id}`);
    const chart = page.locator('svg[data-testid="usage-chart"]');
    await chart.waitFor();
    expect(await chart.locator('line[data-testid="chart-quota-hard"]').count()).toBe(1);
    expect(await chart.locator('line[data-testid="chart-quota-soft"]').count()).toBe(1);
    // The hard quota's line is above the soft one's, and both within the chart.
    const y = async (kind: string) =>
      Number(await chart.locator(`line[data-testid="chart-quota-${kind}"]`).getAttribute('y1'));
    expect(await y('hard')).toBeLessThan(await y('soft'));
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('the crawler page shows the cycles, the schedule and the backups kept; "Back up now" makes one, by the operator', async () => {
    const { running } = await furnishedNode();
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto('/');
    await page.locator('nav a[data-testid="nav-crawler"]').click();
    await page.waitForURL((url) => url.pathname === '/crawler');
    // The start-up reconciliation was a cycle: it is in the history with its counters.
    const history = page.locator('table[data-testid="crawler-history"] tbody tr');
    expect(await history.count()).toBeGreaterThanOrEqual(1);
    expect(await history.first().locator('td').count()).toBeGreaterThan(3);
    expect(await page.locator('[data-testid="deletion-schedule"]').textContent()).toContain(
      'deleted 14 days after their last lease expired',
    );
    const kept = page.locator('ul[data-testid="backups"] li:not(.muted)');
    const before = await kept.count();

    await page.locator('button[data-testid="backup-now"]').click();
    await page.waitForURL((url) => url.pathname === '/crawler');
    await panel.expectText('[data-testid="flash"]', /^Backed up: leasedb\/backup-/);
    expect(await kept.count()).toBe(before + 1);

    await panel.goto('/activity?kind=backup-made');
    const actors = await page.locator('[data-testid="event-actor"]').allTextContents();
    expect(actors.map((a) => a.trim())).toContain('carol');
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('activity: the digest folds to its first lines, the account filter takes a name, and a filter keeps the scroll position', async () => {
    const { running, accounts } = await startWith('dave', 'bigdave', 'erin', 'frank');
    for (const name of ['dave', 'bigdave', 'erin', 'frank'] as const) {
      for (let i = 0; i < 3; i++) await uploadAs(must(accounts[name], name), running, 1000);
    }
    const panel = await openPanel(suite, running, { viewport: PHONE });
    const { page } = panel;
    await panel.login('carol');
    await panel.goto('/activity');
    // Four uploaders and four users: eight lines, five shown, the rest folded.
    expect(await page.locator('ul[data-testid="digest"] > li').count()).toBe(5);
    const more = page.locator('details[data-testid="digest-more"]');
    expect(await more.locator('summary').textContent()).toBe('3 more lines');
    expect(await more.getAttribute('open')).toBeNull();

    // A name: dave exactly (not bigdave), and then a name nobody has.
    const filter = page.locator('form[data-autosubmit]');
    await filter.locator('input[data-testid="activity-account"]').fill('dave');
    await filter.locator('button[type="submit"]').click();
    await page.waitForURL((url) => url.searchParams.get('account') === 'dave');
    const named = await page
      .locator('table[data-testid="events-table"] tbody tr td:nth-child(3)')
      .allTextContents();
    expect(named.length).toBeGreaterThan(0);
    expect(new Set(named.map((n) => n.trim()))).toEqual(new Set(['dave']));
    await filter.locator('input[data-testid="activity-account"]').fill('dav');
    await filter.locator('button[type="submit"]').click();
    await page.waitForURL((url) => url.searchParams.get('account') === 'dav');
    expect(await page.locator('[data-testid="account-filter-note"]').textContent()).toContain(
      'Several accounts match “dav”: bigdave, dave.',
    );
    await filter.locator('input[data-testid="activity-account"]').fill('zed');
    await filter.locator('button[type="submit"]').click();
    await page.waitForURL((url) => url.searchParams.get('account') === 'zed');
    await panel.expectText('[data-testid="account-filter-note"]', 'No account is named “zed”.');

    // Scrolled down, a filter applied: the page comes back where it was.
    await panel.goto('/activity');
    await page.evaluate('window.scrollTo(0, 200)');
    const y = await page.evaluate<number>('window.scrollY');
    expect(y).toBe(200);
    await page.locator('form[data-autosubmit] select[name="kind"]').selectOption('share-stored');
    await page.waitForURL((url) => url.searchParams.get('kind') === 'share-stored');
    await page.locator('table[data-testid="events-table"]').waitFor();
    // Twelve stored shares: the filtered page is still taller than the screen by more than 200.
    const room = await page.evaluate<number>(
      'document.documentElement.scrollHeight - window.innerHeight',
    );
    expect(room).toBeGreaterThanOrEqual(y);
    await expect.poll(() => page.evaluate<number>('window.scrollY'), POLL).toBe(y);
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('the delete button stays disabled until the exact nickname is typed; the server refuses a forced mismatch', async () => {
    const { running, accounts } = await startWith('erin');
    const erin = must(accounts.erin, 'erin');
    await uploadAs(erin, running, 700);
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto(`/accounts/${erin.id}`);

    const confirm = page.locator('form[data-action="delete"] [data-testid="delete-confirm"]');
    const button = page.locator('form[data-action="delete"] [data-testid="delete-button"]');
    expect(await button.isDisabled()).toBe(true);
    for (const wrong of ['eri', 'Erin', 'erinn']) {
      await confirm.fill(wrong);
      await expect.poll(() => button.isDisabled(), POLL).toBe(true);
    }

    // Past the page's JS: the server compares the nickname itself and changes nothing.
    await confirm.fill('eri');
    await button.evaluate((b) => b.removeAttribute('disabled'));
    await button.click();
    await page.locator('[data-testid="flash-error"]').waitFor();
    await panel.expectText('[data-testid="account-status"]', 'normal');
    await page.locator('[data-testid="account-nurl"]').waitFor();

    await page.locator('form[data-action="delete"] [data-testid="delete-confirm"]').fill('erin');
    await expect.poll(() => button.isDisabled(), POLL).toBe(false);
    await button.click();
    await panel.expectText('[data-testid="account-status"]', 'deleted');
    expect(await page.locator('[data-testid="account-nurl"]').count()).toBe(0);
    expect(panel.foreignRequests()).toEqual([]);
  });

  it("the usage chart plots a point per hour that frank's usage changed; month and year render", async () => {
    const { node, running, accounts } = await startWith('frank');
    const frank = must(accounts.frank, 'frank');
    const db = await node.openDb();
    for (const size of [1000, 8000, 3000, 20000, 0, 0]) {
      if (size > 0) await uploadAs(frank, running, size);
      await db.snapshotUsage(node.clock.now());
      node.clock.advance(HOUR);
    }
    const now = node.clock.now();
    const samples = await db.getUsageHistory(frank.id, { from: now - DAY });
    // Six hourly snapshots, four changes: the idle hours add no point; the line runs on to now.
    expect(samples.length).toBe(4);

    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto(`/accounts/${frank.id}`);
    const chart = page.locator('svg[data-testid="usage-chart"]');
    await chart.waitFor();
    const points = chart.locator('circle[data-testid="chart-point"]');
    await expect.poll(() => points.count(), POLL).toBe(samples.length);
    expect(await chart.locator('circle[data-testid="chart-point"] > title').count()).toBe(
      samples.length,
    );
    // A step line: two vertices per change after the first, and one more at the right edge.
    const line = await chart.locator('polyline[data-testid="chart-line"]').getAttribute('points');
    const vertices = (line ?? '').trim().split(/\s+/);
    expect(vertices).toHaveLength(2 * samples.length);
    const circles = await points.evaluateAll((all) => all.map((c) => Number(c.getAttribute('cx'))));
    expect(Number(vertices.at(-1)?.split(',')[0])).toBeGreaterThan(Math.max(...circles));

    for (const range of ['month', 'year'] as const) {
      await page.locator(`a[data-testid="range-${range}"]`).click();
      await page.waitForURL((url) => url.searchParams.get('range') === range);
      await page.locator('svg[data-testid="usage-chart"]').waitFor();
      await expect
        .poll(() => page.locator('circle[data-testid="chart-point"]').count(), POLL)
        .toBeGreaterThanOrEqual(1);
      expect(await page.locator('[data-testid="chart-empty"]').count()).toBe(0);
    }
    await page.locator('a[data-testid="range-day"]').click();
    await page.waitForURL((url) => url.searchParams.get('range') === 'day');
    await expect
      .poll(() => page.locator('circle[data-testid="chart-point"]').count(), POLL)
      .toBe(samples.length);
    expect(panel.foreignRequests()).toEqual([]);
  });

  it("the overview opens with the node's state and alerts, says who the node is, and copies its NURL", async () => {
    const { node, running, dave } = await furnishedNode();
    const panel = await openPanel(suite, running);
    await panel.login('carol');
    await panel.goto('/');
    const health = panel.page.locator('section[data-testid="health"]');
    expect(await health.getAttribute('data-state')).toBe('ok');
    // The health section comes before everything else on the page.
    const order = await panel.page.evaluate<string[]>(
      "[...document.querySelectorAll('main > *')].map((e) => e.dataset.testid || e.tagName)",
    );
    expect(order.slice(0, 3)).toEqual(['H1', 'health', 'identity']);

    // dave now holds more than his hard quota: the overview says so first.
    const db = await node.openDb();
    await db.setAccountQuota(dave.id, { hardQuotaBytes: 5000, softQuotaBytes: null });
    await panel.goto('/');
    expect(await health.getAttribute('data-state')).toBe('warning');
    const alert = panel.page.locator('[data-testid="alert"][data-alert="hard-quota"]');
    expect(await alert.textContent()).toContain('dave');
    expect(await alert.locator('a').getAttribute('href')).toBe('/accounts?near=1');

    expect(await panel.page.locator('[data-testid="node-name"]').textContent()).toMatch(
      /· Ostrom$/,
    );
    expect((await panel.page.locator('[data-testid="node-nurl"]').textContent())?.trim()).toBe(
      running.nurl,
    );
    expect(await panel.page.locator('[data-testid="servers-yaml"]').textContent()).toContain(
      `- "${running.nurl}"`,
    );
    await panel.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: panel.origin,
    });
    await panel.page.locator('button[data-testid="copy-nurl"]').click();
    await panel.expectText('button[data-testid="copy-nurl"]', 'Copied');
    expect(await panel.page.evaluate<string>('navigator.clipboard.readText()')).toBe(running.nurl);
    await saveScreenshot(panel.page, 'panel-overview-alerts');
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('on a phone: the accounts table shows its quota and last-seen columns, chart labels are readable, a long NURL wraps', async () => {
    const { node, running, dave } = await furnishedNode();
    const db = await node.openDb();
    await db.setAccountQuota(dave.id, { hardQuotaBytes: 200_000_000, softQuotaBytes: 100_000 });
    const panel = await openPanel(suite, running, { viewport: PHONE });
    await panel.login('carol');
    await panel.goto('/accounts');
    for (const column of ['hardQuotaUse', 'lastSeen', 'bytes']) {
      const box = await panel.page.locator(`th[data-testid="column-${column}"]`).boundingBox();
      expect(box, column).not.toBeNull();
      expect(box!.x + box!.width, `${column} is off-screen`).toBeLessThanOrEqual(PHONE.width);
    }
    await panel.page.locator('[data-testid="quota-hard"]').first().waitFor();
    await expectNoSidewaysScroll(panel);

    await panel.goto(`/accounts/${dave.id}`);
    const label = panel.page.locator('svg[data-testid="usage-chart"] text').first();
    const box = await label.boundingBox();
    // Once about 5 px tall; 9 px is the least that reads.
    expect(box!.height, 'chart label height').toBeGreaterThanOrEqual(9);

    // The Grid page's error lines carry NURLs, which have no break in them.
    await panel.goto('/grid');
    const nurl = `pb://${'x'.repeat(43)}@storage-${'n'.repeat(40)}.example.net:3457/${'s'.repeat(32)}#v=1`;
    await panel.page.evaluate(
      `document.querySelector('main').insertAdjacentHTML('beforeend', '<p>the server ${nurl} did not answer</p><ul><li>${nurl}: refused</li></ul>')`,
    );
    await expectNoSidewaysScroll(panel);
    await saveScreenshot(panel.page, 'panel-grid-long-nurl-phone');
  });

  it('carol issues an invitation from the panel: its code (with the node’s NURL) is shown once; she revokes it', async () => {
    const { running } = await startWith();
    const panel = await openPanel(suite, running);
    await panel.login('carol');
    await panel.page.locator('nav a[data-testid="nav-invitations"]').click();
    await panel.page.locator('table[data-testid="invitations-table"]').waitFor();
    await panel.page.locator('input[data-testid="invite-nickname"]').fill('edgar');
    await panel.page.locator('input[data-testid="invite-hard"]').fill('10 GB');
    await panel.page.locator('select[data-testid="invite-expires"]').selectOption(String(DAY));
    await panel.page.locator('input[data-testid="invite-uses"]').fill('2');
    await panel.page.locator('button[data-testid="invite-submit"]').click();
    await panel.expectText('[data-testid="flash"]', /^Invitation 1 is issued: 2 uses/);
    const code = (await panel.page.locator('[data-testid="invitation-code"]').textContent()) ?? '';
    expect(code).toContain(running.nurl);
    await panel.expectText('[data-testid="invitation-state"]', 'open');
    await panel.expectText('[data-testid="invitation-uses"]', '0/2');
    await saveScreenshot(panel.page, 'panel-invitation-issued');

    // Once: a reload shows the list without it.
    await panel.page.reload();
    await panel.page.locator('table[data-testid="invitations-table"]').waitFor();
    expect(await panel.page.locator('[data-testid="invitation-code"]').count()).toBe(0);
    expect(await panel.page.content()).not.toContain(code);

    await panel.page.locator('form[data-testid="revoke-invitation"] button').click();
    await panel.expectText('[data-testid="flash"]', /^Invitation 1 is revoked/);
    await panel.expectText('[data-testid="invitation-state"]', 'revoked');
    expect(await panel.page.locator('form[data-testid="revoke-invitation"]').count()).toBe(0);
    const [row] = await running.accountant.listInvitations();
    expect(row).toMatchObject({ nickname: 'edgar', hardQuotaBytes: 10_000_000_000, maxUses: 2 });
    expect(row!.revokedAt).not.toBeNull();
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('at 390×844 no page scrolls sideways (phone screenshots saved)', async () => {
    const { running, dave } = await furnishedNode();
    const tabs = await tour(suite, running, dave.id, PHONE, '-phone');
    for (const tab of tabs) expect(tab.foreignRequests()).toEqual([]);
  });

  it('every page, screenshotted at 1280×800, asks nothing of any origin but the admin listener', async () => {
    const { running, dave } = await furnishedNode();
    const [loggedOut, panel] = await tour(suite, running, dave.id, DESKTOP, '');
    for (const tab of [loggedOut, panel]) {
      expect(tab.foreignRequests()).toEqual([]);
      expect(tab.requests).toContain(`${tab.origin}/static/panel.css`);
    }
    // Every screenshot is a PNG file.
    for (const name of [
      'login',
      'overview',
      'accounts',
      'account',
      'invitations',
      'activity',
      'crawler',
      'grid',
    ]) {
      const png = await readFile(join(screenshotDir(), `panel-${name}.png`));
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
  });
});
