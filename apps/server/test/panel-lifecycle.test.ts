import { randomBytes } from 'node:crypto';
import {
  createStorageClient,
  generateAccountKey,
  parseNurl,
  signAccountRequest,
} from '@ostrom/protocol';
import { expect, it } from 'vitest';
import type { RunningNode } from '../src/server.js';
import { bytes, storageIndex } from './http-setup.js';
import { addAccount, createTestNode, upload } from './node-harness.js';
import {
  describeBrowser,
  expectNoSidewaysScroll,
  openPanel,
  type PanelTab,
  PHONE,
  POLL,
  saveScreenshot,
} from './panel-harness.js';

// An account's life in the panel, in Chromium against a whole node: added by key or from a
// list, requested and then approved or refused, renamed, given quotas several at a time, frozen
// and disabled after the panel asked first, and the built-in accounts explained and guarded.
// Selectors are the panel's data-testid and data-action contract. Its own file (and browser), so
// it runs beside panel-browser.test.ts.

const KEY = { dave: 'd1'.repeat(32), erin: 'e1'.repeat(32), frank: 'f1'.repeat(32) } as const;

/** Asks `running` for an account with a new key, as `ostrom account request` does. */
async function requestAccount(
  running: RunningNode,
  now: number,
  nickname: string,
  key = generateAccountKey(),
) {
  const client = createStorageClient({ nurl: running.nurl });
  try {
    const answer = await client.accounting.requestAccount(
      signAccountRequest(
        {
          serverId: parseNurl(running.nurl).spkiHash,
          publicKey: key.publicKey,
          nickname,
          timestamp: now,
          nonce: new Uint8Array(randomBytes(16)),
        },
        key.privateKey,
      ),
    );
    return { answer, key };
  } finally {
    client.close();
  }
}

/** Submits the form `form[data-action=<verb>]` and waits for the page it answers. */
async function act(panel: PanelTab, verb: string): Promise<void> {
  await panel.page.locator(`form[data-action="${verb}"] button[type="submit"]`).click();
  await panel.page.waitForLoadState();
}

/** Opens the confirmation of `verb` and returns what it says the action will do. */
async function openConfirmation(panel: PanelTab, verb: string): Promise<string> {
  const details = panel.page.locator(`details[data-testid="confirm-${verb}"]`);
  // Closed, the action's button is not there to press.
  expect(await details.locator('button[type="submit"]').isVisible()).toBe(false);
  await details.locator('summary').click();
  await details.locator('button[type="submit"]').waitFor();
  return ((await details.locator('p').textContent()) ?? '').trim();
}

describeBrowser('account lifecycle in the panel, in Chromium', (suite) => {
  it('carol adds a key (its NURL works at once), imports a list from a file, and renames an account', async () => {
    const node = await createTestNode('disk');
    const running = await node.start();
    await addAccount(node, running, KEY.dave, 'dave');
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto('/accounts');

    // Add one key, with a hard quota of its own.
    const add = page.locator('details[data-testid="add-account"]');
    await add.locator('summary').click();
    await add.locator('[data-testid="add-key"]').fill(KEY.erin);
    await add.locator('[data-testid="add-nickname"]').fill('erin');
    await add.locator('input[name="hard"]').fill('5 MB');
    await add.locator('[data-testid="add-submit"]').click();
    await page.waitForURL((url) => /^\/accounts\/\d+$/.test(url.pathname));
    await panel.expectText('h1', 'erin');
    await panel.expectText('[data-testid="account-status"]', 'normal');
    expect(await page.locator('[data-testid="flash"]').textContent()).toContain(
      'erin is added and active',
    );
    expect(await page.locator('[data-testid="quota-hard"]').textContent()).toContain(
      'of hard 5 MB',
    );
    const nurl = ((await page.locator('[data-testid="account-nurl"]').textContent()) ?? '').trim();
    // The NURL shown is the one to hand over: with it, erin stores a share.
    await upload(node.client(nurl), running, storageIndex('erin-1'), 0, bytes(1000));

    // Import a list from a file: one key known already, one new, a comment.
    await panel.goto('/accounts');
    const list = page.locator('details[data-testid="import-accounts"]');
    await list.locator('summary').click();
    await list.locator('[data-testid="import-file"]').setInputFiles({
      name: 'storage-accounts.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(`# our friends\n${KEY.dave} dave\n${KEY.frank} frank smith\n`),
    });
    await expect
      .poll(() => list.locator('[data-testid="import-list"]').inputValue(), POLL)
      .toContain('frank smith');
    await list.locator('[data-testid="import-submit"]').click();
    await page.waitForURL((url) => url.pathname === '/accounts');
    await panel.expectText(
      '[data-testid="flash"]',
      'Imported: 1 added (frank smith); 1 had an account already and were left as they are (dave).',
    );
    // A list with a bad line adds nothing, and says which line.
    await list.locator('summary').click();
    await list
      .locator('[data-testid="import-list"]')
      .fill(`${'a1'.repeat(32)} gus\nnot-a-key hal\n`);
    await list.locator('[data-testid="import-submit"]').click();
    await page.locator('[data-testid="flash-error"]').waitFor();
    expect(await page.locator('[data-testid="flash-error"]').textContent()).toContain('line 2');
    expect(await page.locator('table[data-testid="accounts-table"]').textContent()).not.toContain(
      'gus',
    );

    // Rename frank.
    await page.locator('a[data-testid="account-link"]', { hasText: 'frank smith' }).click();
    await panel.expectText('h1', 'frank smith');
    await page.locator('[data-testid="rename-input"]').fill('frank');
    await act(panel, 'rename');
    await panel.expectText('h1', 'frank');
    await panel.expectText('[data-testid="flash"]', 'frank smith is now frank.');
    expect(await page.locator('[data-testid="account-events"]').textContent()).toContain(
      'renamed frank smith → frank',
    );
    expect(panel.foreignRequests()).toEqual([]);
  });

  it('requests wait on the overview; carol refuses one (disabled, its key answered refused, then admitted after all) and approves the others at once, then sets their quotas together', async () => {
    const node = await createTestNode('disk', { approval: 'manual' });
    const running = await node.start();
    const mallory = await requestAccount(running, node.clock.now(), 'mallory');
    const gus = await requestAccount(running, node.clock.now(), 'gus');
    const hal = await requestAccount(running, node.clock.now(), 'hal');
    for (const r of [mallory, gus, hal]) expect(r.answer.status).toBe('pending');
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');

    // The overview says requests wait, and leads to them.
    await panel.goto('/');
    const alert = page.locator('[data-alert="requests-pending"]');
    await expect.poll(() => alert.textContent(), POLL).toContain('3 account requests wait');
    await alert.locator('a').click();
    await page.waitForURL((url) => url.searchParams.get('status') === 'pending');

    // Refuse mallory, after reading what refusing does.
    await page.locator('a[data-testid="account-link"]', { hasText: 'mallory' }).click();
    await panel.expectText('h1', 'mallory');
    expect(await openConfirmation(panel, 'refuse')).toContain(
      'its key is answered “refused” if it asks again',
    );
    await page.locator('form[data-action="refuse"] input[name="reason"]').fill('nobody knows her');
    await act(panel, 'refuse');
    await panel.expectText('[data-testid="account-status"]', 'disabled');
    expect(await page.locator('[data-testid="status-story"]').textContent()).toMatch(
      /request refused \d{4}-\d\d-\d\d \d\d:\d\d UTC by carol: nobody knows her/,
    );
    // Asking again queues nothing: the client is told it was refused.
    const again = await requestAccount(running, node.clock.now(), 'mallory', mallory.key);
    expect(again.answer).toMatchObject({
      status: 'refused',
      reason: "the operator refused this key's request for an account",
    });
    // Admitted after all.
    await act(panel, 'enable');
    await panel.expectText('[data-testid="account-status"]', 'normal');
    expect(
      (await requestAccount(running, node.clock.now(), 'mallory', mallory.key)).answer.status,
    ).toBe('active');

    // Approve gus and hal together from the list of pending requests.
    await panel.goto('/accounts?status=pending');
    await page.locator('[data-testid="select-all"]').check();
    expect(await page.locator('[data-testid="select-account"]:checked').count()).toBe(2);
    await page.locator('[data-testid="bulk-approve"]').click();
    await panel.expectText('[data-testid="flash"]', 'Approved: gus, hal.');
    // The list it came from, now empty.
    expect(new URL(page.url()).searchParams.get('status')).toBe('pending');
    expect(await page.locator('[data-testid="pending-note"]').count()).toBe(0);
    expect((await requestAccount(running, node.clock.now(), 'gus', gus.key)).answer.status).toBe(
      'active',
    );

    // Quotas for gus and hal at once: a soft quota above a hard one changes nobody's.
    await panel.goto('/accounts?status=normal');
    for (const name of ['gus', 'hal']) {
      await page
        .locator('tbody tr', { hasText: name })
        .locator('[data-testid="select-account"]')
        .check();
    }
    await page.locator('[data-testid="bulk-hard"]').fill('1 MB');
    await page.locator('[data-testid="bulk-soft"]').fill('2 MB');
    await page.locator('[data-testid="bulk-quota"]').click();
    await page.locator('[data-testid="flash-error"]').waitFor();
    expect(await page.locator('[data-testid="flash-error"]').textContent()).toContain(
      'would exceed the hard quota of gus, hal. Nothing changed.',
    );
    for (const name of ['gus', 'hal']) {
      await page
        .locator('tbody tr', { hasText: name })
        .locator('[data-testid="select-account"]')
        .check();
    }
    await page.locator('[data-testid="bulk-hard"]').fill('10 MB');
    await page.locator('[data-testid="bulk-soft"]').fill('8 MB');
    await page.locator('[data-testid="bulk-quota"]').click();
    await panel.expectText('[data-testid="flash"]', 'The quota of 2 accounts is set.');
    for (const name of ['gus', 'hal']) {
      const row = page.locator('tbody tr', { hasText: name });
      expect(await row.locator('[data-testid="quota-hard"]').textContent()).toContain(
        'of hard 10 MB',
      );
      expect(await row.locator('[data-testid="quota-soft"]').textContent()).toContain(
        'of soft 8 MB',
      );
    }
    // mallory was not selected: her quota is the default (none).
    expect(
      await page
        .locator('tbody tr', { hasText: 'mallory' })
        .locator('[data-testid="quota-hard"]')
        .count(),
    ).toBe(0);
    await saveScreenshot(page, 'panel-accounts-bulk');
  });

  it('freeze and disable ask first, then say since when, by whom and why; the built-in accounts are explained and guarded', async () => {
    const node = await createTestNode('disk');
    const running = await node.start();
    const dave = await addAccount(node, running, KEY.dave, 'dave');
    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');

    await panel.goto(`/accounts/${dave.id}`);
    expect(await page.locator('[data-testid="status-story"]').textContent()).toContain(
      'normal since it was created',
    );
    expect(await openConfirmation(panel, 'freeze')).toContain(
      'dave may still read what it stored, but can no longer upload',
    );
    await page.locator('form[data-action="freeze"] input[name="reason"]').fill('spam uploads');
    // The button inside names whom it freezes.
    expect(await page.locator('form[data-action="freeze"] button').textContent()).toBe(
      'Freeze dave',
    );
    await act(panel, 'freeze');
    await panel.expectText('[data-testid="account-status"]', 'frozen');
    expect(await page.locator('[data-testid="status-story"]').textContent()).toMatch(
      /^frozen since \d{4}-\d\d-\d\d \d\d:\d\d UTC by carol: spam uploads$/,
    );
    await expect(
      upload(node.client(dave.nurl), running, storageIndex('dave-1'), 0, bytes(100)),
    ).rejects.toMatchObject({ status: 403 });

    expect(await openConfirmation(panel, 'disable')).toContain('dave can neither read nor write');
    await act(panel, 'disable');
    await panel.expectText('[data-testid="account-status"]', 'disabled');
    expect(await page.locator('[data-testid="status-story"]').textContent()).toMatch(
      /^disabled since .* UTC by carol$/,
    );
    await act(panel, 'enable');
    await panel.expectText('[data-testid="account-status"]', 'normal');

    // The anonymous account: explained; freezing it is said to touch every client without an
    // account; it has no rename or delete.
    await panel.goto('/accounts/0');
    expect(await page.locator('[data-testid="built-in-note"]').textContent()).toContain(
      'every client that uses the node’s plain NURL',
    );
    expect(await openConfirmation(panel, 'freeze')).toContain('Every client without an account');
    expect(await page.locator('form[data-action="rename"]').count()).toBe(0);
    expect(await page.locator('form[data-action="delete"]').count()).toBe(0);
    await page.setViewportSize(PHONE);
    await expectNoSidewaysScroll(panel);
    await saveScreenshot(page, 'panel-account-anonymous-phone');

    // The starter account: explained; nothing to do to it but read.
    await panel.goto('/accounts/1');
    expect(await page.locator('[data-testid="built-in-note"]').textContent()).toContain(
      'No client can use it',
    );
    for (const verb of ['freeze', 'disable', 'quota', 'rename', 'delete']) {
      expect(await page.locator(`form[data-action="${verb}"]`).count(), verb).toBe(0);
    }
    // A forced freeze (the form's own token, posted by hand) is refused on the page.
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const forced = await page.request.post('/accounts/1/freeze', {
      form: { csrf },
      maxRedirects: 0,
    });
    expect(forced.status()).toBe(303);
    await panel.goto('/accounts/1');
    await panel.expectText(
      '[data-testid="flash-error"]',
      'The starter account serves no client; its status stays.',
    );
    await panel.expectText('[data-testid="account-status"]', 'normal');

    // On a phone, the accounts page with its forms open does not scroll sideways.
    await panel.goto('/accounts');
    await page.locator('details[data-testid="add-account"] summary').click();
    await page.locator('details[data-testid="import-accounts"] summary').click();
    await expectNoSidewaysScroll(panel);
    await saveScreenshot(page, 'panel-accounts-forms-phone');
  });

  it('traffic over time: the overview and each account page show the uploads, reads and bytes in and out, hour by hour', async () => {
    const node = await createTestNode('disk');
    const running = await node.start();
    const dave = await addAccount(node, running, KEY.dave, 'dave');
    const erin = await addAccount(node, running, KEY.erin, 'erin');
    const client = node.client(dave.nurl);
    // Two uploads this hour, then an hour later one read of each.
    await upload(client, running, storageIndex('t-1'), 0, bytes(3000, 1));
    await upload(client, running, storageIndex('t-2'), 0, bytes(5000, 2));
    node.clock.advance(3600);
    expect((await client.immutable.read(storageIndex('t-1'), 0)).length).toBe(3000);
    expect((await client.immutable.read(storageIndex('t-2'), 0)).length).toBe(5000);

    const panel = await openPanel(suite, running);
    const { page } = panel;
    await panel.login('carol');
    await panel.goto('/');
    // Counted in memory a moment ago, on the page at once.
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 24 hours: 2 uploads, 2 reads, 8 kB in, 8 kB out.',
    );
    const titles = await page
      .locator('svg[data-testid="traffic-chart"] [data-testid="traffic-bucket"] title')
      .allTextContents();
    expect(titles).toHaveLength(24);
    expect(titles.filter((t) => !t.includes('0 uploads, 0 reads'))).toEqual([
      expect.stringMatching(/UTC: 2 uploads, 0 reads, 8 kB in, 0 B out$/),
      expect.stringMatching(/UTC: 0 uploads, 2 reads, 0 B in, 8 kB out$/),
    ]);

    await panel.goto(`/accounts/${dave.id}`);
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 24 hours: 2 uploads, 2 reads, 8 kB in, 8 kB out.',
    );
    await page.locator('a[data-testid="range-month"]').click();
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 30 days (one point a day): 2 uploads, 2 reads, 8 kB in, 8 kB out.',
    );
    expect(
      await page.locator('svg[data-testid="traffic-chart"] [data-testid="traffic-bucket"]').count(),
    ).toBe(30);
    await panel.goto(`/accounts/${erin.id}`);
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 24 hours: 0 uploads, 0 reads, 0 B in, 0 B out.',
    );
    await page.locator('[data-testid="traffic-empty"]').waitFor();

    // A day later the hours have left the day's chart, and stay in the month's.
    node.clock.advance(25 * 3600);
    await panel.login('carol'); // the session has lapsed with the day
    await panel.goto(`/accounts/${dave.id}`);
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 24 hours: 0 uploads, 0 reads, 0 B in, 0 B out.',
    );
    await panel.goto(`/accounts/${dave.id}?range=month`);
    await panel.expectText(
      '[data-testid="traffic-totals"]',
      'Last 30 days (one point a day): 2 uploads, 2 reads, 8 kB in, 8 kB out.',
    );
    await page.setViewportSize(PHONE);
    await expectNoSidewaysScroll(panel);
    await saveScreenshot(page, 'panel-account-traffic-phone');
  });
});
