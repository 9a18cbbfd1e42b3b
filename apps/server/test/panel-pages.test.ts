import { type InvitationView, invitationView } from '@ostrom/http';
import type { AccountWithUsage, ActivityEvent, InvitationRow } from '@ostrom/leasedb';
import { describe, expect, it } from 'vitest';
import {
  trafficBuckets,
  trafficChart,
  trafficTotals,
  usageChart,
  withCurrentLevel,
} from '../src/panel/chart.js';
import {
  type AccountsQuery,
  accountPage,
  accountsPage,
  describeEvent,
  invitationsPage,
  PAGE_SIZE,
} from '../src/panel/pages.js';

// What the panel's pages say, rendered without a server: each case is something a page once
// showed wrong (a quota audit trail that read "none" for every change, "51–50 of 32", quota
// fields filled with rounded sizes, a chart an hour behind, one bar for two quotas).

const NOW = 1_800_000_000;
const MB = 1_000_000;

function account(change: Partial<AccountWithUsage> = {}): AccountWithUsage {
  return {
    id: 7,
    publicKey: 'ab'.repeat(32),
    nickname: 'dave',
    status: 'normal',
    hardQuotaBytes: null,
    softQuotaBytes: null,
    createdAt: NOW - 86_400,
    lastSeenAt: NOW - 60,
    usage: { shares: 3, bytes: 49 * MB },
    ...change,
  };
}

function event(kind: ActivityEvent['kind'], data: Record<string, unknown>): ActivityEvent {
  return {
    id: 1,
    at: NOW,
    kind,
    accountId: 7,
    actor: 'carol',
    storageIndex: null,
    shnum: null,
    data,
  };
}

const QUERY: AccountsQuery = { q: '', status: '', near: false, sort: 'id', dir: 'asc', page: 1 };

describe('the pages say what is true', () => {
  it('a quota change says each quota from what to what', () => {
    expect(
      describeEvent(
        event('account-quota-changed', {
          from: { hardQuotaBytes: null, softQuotaBytes: 8000 * MB },
          to: { hardQuotaBytes: 10_000 * MB, softQuotaBytes: 8000 * MB },
        }),
      ),
    ).toBe('quota: hard none → 10 GB, soft 8 GB (unchanged)');
    expect(
      describeEvent(
        event('account-quota-changed', {
          from: { hardQuotaBytes: 200 * MB, softQuotaBytes: 100 * MB },
          to: { hardQuotaBytes: null, softQuotaBytes: null },
        }),
      ),
    ).toBe('quota: hard 200 MB → none, soft 100 MB → none');
  });

  it('the pager says where a page is: past the end, or nothing at all, never "51–50 of 32"', () => {
    const place = (page: number, rows: number, total: number) =>
      /data-testid="pager-place">([^<]*)</.exec(
        accountsPage(
          { ...QUERY, page },
          Array.from({ length: rows }, (_, i) => account({ id: i + 2 })),
          total,
          NOW,
        ).toString(),
      )![1];
    expect(place(1, 32, 32)).toBe('1–32 of 32');
    expect(place(2, 10, PAGE_SIZE + 10)).toBe('51–60 of 60');
    expect(place(2, 0, 32)).toBe('Page 2 is past the last (1) of 32 accounts');
    expect(place(1, 0, 0)).toBe('No account');
    // Past the end, the way back leads to the last page.
    expect(accountsPage({ ...QUERY, page: 9 }, [], 32, NOW).toString()).toContain(
      'href="/accounts">← last page',
    );
  });

  /** An account page's data with nothing but `a` to show. */
  const pageData = (a: ReturnType<typeof account>) => ({
    account: a,
    nurl: null,
    deletedAt: null,
    refusedAt: null,
    statusChange: null,
    range: 'day',
    ranges: ['day'],
    chart: usageChart([], NOW - 86_400, NOW, 'x'),
    traffic: trafficChart([], NOW - 86_400, NOW, 'x'),
    events: [],
    invitations: { invitedBy: null, invited: [], invitationBudget: null },
    csrf: 'token',
    now: NOW,
  });

  it('an account page shows the chain of invitations: who invited it, whom it invited, its budget', () => {
    const page = accountPage({
      ...pageData(account({})),
      invitations: {
        invitedBy: { kind: 'account', accountId: 7, nickname: 'dave <script>' },
        invited: [12, 13],
        invitationBudget: 3,
      },
      csrf: 'token',
      now: NOW,
    }).toString();
    expect(page).toContain('invited by <a href="/accounts/7">dave &lt;script&gt;</a>');
    expect(page).toContain(
      '<a href="/accounts/12">account 12</a>, <a href="/accounts/13">account 13</a>',
    );
    expect(page).toContain('may invite 3 in all (2 so far)');
  });

  it('the quota form holds each quota exactly, so a field left alone changes nothing', () => {
    const page = accountPage({
      ...pageData(account({ hardQuotaBytes: 123_456_789, softQuotaBytes: 5 * 1024 ** 3 })),
    }).toString();
    expect(page).toMatch(/name="hard" value="123456789 B"/);
    expect(page).toMatch(/name="soft" value="5 GiB"/);
    expect(page).toMatch(/name="hard-shown" value="123456789 B"/);
  });

  it('hard and soft quotas each have their bar', () => {
    const page = accountsPage(
      QUERY,
      [
        account({
          hardQuotaBytes: 200 * MB,
          softQuotaBytes: 100 * MB,
          usage: { shares: 1, bytes: 50 * MB },
        }),
      ],
      1,
      NOW,
    ).toString();
    expect(page).toContain('25% of hard 200 MB');
    expect(page).toContain('50% of soft 100 MB');
    const hardOnly = accountsPage(QUERY, [account({ hardQuotaBytes: 40 * MB })], 1, NOW).toString();
    expect(hardOnly).toContain('123% of hard 40 MB');
    expect(hardOnly).toMatch(/class="bar over"/);
  });

  it("a chart's last point is the level in force now, even before the hour's snapshot", () => {
    const current = { shares: 3, bytes: 49 * MB };
    // No snapshot yet: one point, now, at the current level (not "no usage recorded").
    const fresh = usageChart(withCurrentLevel([], NOW, current), NOW - 86_400, NOW, 'x').toString();
    expect(fresh).not.toContain('chart-empty');
    expect(fresh).toContain('49 MB in 3 shares');
    // The last snapshot is older than the uploads since: now's level is added after it.
    const older = [{ at: NOW - 3600, shares: 0, bytes: 0 }];
    expect(withCurrentLevel(older, NOW, current)).toEqual([...older, { at: NOW, ...current }]);
    // Already current: nothing added.
    const same = [{ at: NOW - 3600, ...current }];
    expect(withCurrentLevel(same, NOW, current)).toEqual(same);
  });

  it("an account's chart draws its quotas, scaled to hold them", () => {
    const points = [{ at: NOW - 3600, shares: 1, bytes: 50 * MB }];
    const chart = usageChart(points, NOW - 86_400, NOW, 'x', {
      hardQuotaBytes: 200 * MB,
      softQuotaBytes: 100 * MB,
    }).toString();
    expect(chart).toContain('data-testid="chart-quota-hard"');
    expect(chart).toContain('hard quota 200 MB');
    expect(chart).toContain('soft quota 100 MB');
    // The axis reaches the hard quota, not just the usage.
    expect(chart).toMatch(/text-anchor="end">200 MB</);
    expect(usageChart(points, NOW - 86_400, NOW, 'x').toString()).not.toContain('chart-quota');
  });

  it('the accounts page says what quotas a new account gets, and sorts by the share of the hard quota held', () => {
    const page = accountsPage(QUERY, [account()], 1, NOW, {
      defaults: { hardQuotaBytes: 10_000 * MB, softQuotaBytes: null },
      pending: 0,
      csrf: null,
    });
    expect(page.toString()).toContain(
      'A new account gets a hard quota of 10 GB and a soft quota of none',
    );
    expect(page.toString()).toContain('data-sort="hardQuotaUse"');
  });

  it('traffic sums hourly samples into whole buckets, a quiet one a zero; the chart titles each bucket and says when there was none', () => {
    const HOUR = 3600;
    const to = 1_800_003_600; // an hour boundary
    const from = to - 24 * HOUR;
    const sample = (hour: number, n: number) => ({
      hour,
      uploads: n,
      reads: 2 * n,
      bytesIn: 1000 * n,
      bytesOut: 3000 * n,
    });
    const hourly = trafficBuckets(
      [sample(from - HOUR, 99), sample(from, 1), sample(to - HOUR, 2), sample(to, 99)],
      from,
      to,
      HOUR,
    );
    expect(hourly).toHaveLength(24);
    // The hour before the range and the one after it are not counted; an hour is its own bucket.
    expect(hourly[0]).toEqual({ at: from, uploads: 1, reads: 2, bytesIn: 1000, bytesOut: 3000 });
    expect(hourly[1]).toEqual({ at: from + HOUR, uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0 });
    expect(hourly[23]).toMatchObject({ uploads: 2, bytesOut: 6000 });
    expect(trafficTotals(hourly)).toEqual({ uploads: 3, reads: 6, bytesIn: 3000, bytesOut: 9000 });
    // A day's bucket sums its 24 hours.
    const daily = trafficBuckets(
      Array.from({ length: 48 }, (_, i) => sample(from + i * HOUR, 1)),
      from,
      from + 2 * 86_400,
      86_400,
    );
    expect(daily.map((b) => b.uploads)).toEqual([24, 24]);

    const chart = trafficChart(hourly, from, to, 'Traffic').toString();
    expect(chart.match(/data-testid="traffic-bucket"/g)).toHaveLength(24);
    expect(chart).toContain('1 uploads, 2 reads, 1 kB in, 3 kB out');
    // The scale is the largest bar: 6 kB out in the last hour.
    expect(chart).toMatch(/text-anchor="end">6 kB</);
    expect(trafficChart(trafficBuckets([], from, to, HOUR), from, to, 'x').toString()).toContain(
      'No uploads or reads in this range.',
    );
  });
});

function invitation(change: Partial<InvitationRow> = {}): InvitationView {
  return invitationView(
    {
      id: 3,
      secretHash: 'f'.repeat(64),
      nickname: 'edgar',
      hardQuotaBytes: 10_000 * MB,
      softQuotaBytes: null,
      maxUses: 2,
      uses: 1,
      createdAt: NOW - 3600,
      expiresAt: NOW + 86_400,
      revokedAt: null,
      createdBy: 'carol',
      lastUsedAt: NOW - 60,
      ...change,
    },
    NOW,
  );
}

describe('the invitations page', () => {
  const rows = [
    invitation({ id: 4 }),
    invitation({ id: 3, uses: 2 }),
    invitation({ id: 2, expiresAt: NOW }),
    invitation({ id: 1, revokedAt: NOW - 10, nickname: null, hardQuotaBytes: null }),
  ];
  const render = (change: Partial<Parameters<typeof invitationsPage>[0]> = {}) =>
    invitationsPage({
      invitations: rows,
      issued: null,
      maxUses: 1_000_000,
      csrf: 'token',
      now: NOW,
      ...change,
    }).toString();

  it('lists each with its state, uses of its maximum, expiry, quota and issuer; a revoke button for open ones only', () => {
    const page = render();
    const states = [...page.matchAll(/data-testid="invitation-state">(\w+)</g)].map((m) => m[1]);
    expect(states).toEqual(['open', 'spent', 'expired', 'revoked']);
    expect(page).toContain('data-testid="invitation-uses">1/2<');
    expect(page).toContain('hard 10 GB, soft none');
    expect(page).toContain('carol <span class="muted">2027-01-15 07:00 UTC</span>');
    expect(page.match(/action="\/invitations\/\d+\/revoke"/g)).toEqual([
      'action="/invitations/4/revoke"',
    ]);
    expect(page).toContain('name="csrf" value="token"');
    // The row with no nickname takes the one its person asks for; no hash is ever rendered.
    expect(page).toContain('as asked');
    expect(page).not.toContain('f'.repeat(64));
  });

  it('shows an issued code with a copy button, and folds the form away while it does', () => {
    const code = 'oi1-abcdefghijklmnopqrstuvwxyz-abcdef,pb://x@h:1/y#v=1';
    const page = render({ issued: { id: 4, code } });
    expect(page).toContain(`data-testid="invitation-code">${code}<`);
    expect(page).toContain('data-copy="invitation-code"');
    expect(page).not.toMatch(/data-testid="issue-invitation" open/);
    expect(render()).not.toContain('data-testid="issued-invitation"');
    expect(render()).toMatch(/data-testid="issue-invitation" open/);
  });

  it('escapes nicknames and issuers, says when there is none, and has no forms without a session token', () => {
    const page = render({
      invitations: [invitation({ nickname: '<b>x</b>', createdBy: '<i>y</i>' })],
    });
    expect(page).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(page).toContain('&lt;i&gt;y&lt;/i&gt;');
    expect(render({ invitations: [] })).toContain('No invitation issued yet.');
    const readOnly = render({ csrf: null });
    expect(readOnly).not.toContain('<form');
  });
});
