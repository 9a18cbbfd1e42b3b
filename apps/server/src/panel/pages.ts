import {
  type AccountInvitations,
  type Digest,
  formatSize,
  formatSizeExact,
  PUBLIC_KEY_FORMS,
} from '@ostrom/accountant';
import type { BackupInfo, NodeCrawlerStatus } from '@ostrom/crawler';
import { COUNTER_NAMES } from '@ostrom/crawler';
import type { InvitationView } from '@ostrom/http';
import {
  ACCOUNT_STATUSES,
  type AccountStatus,
  type AccountWithUsage,
  type ActivityEvent,
  ANONYMOUS_ACCOUNT_ID,
  EVENT_KINDS,
  type ShareState,
  STARTER_ACCOUNT_ID,
  type TrafficCounts,
  type Usage,
} from '@ostrom/leasedb';
import type { NodeGsdStatus } from '../node-gsd.js';
import type { Alert } from './alerts.js';
import { type Html, html, raw } from './html.js';

// Every page of the panel, rendered from data the routes (panel.ts) gathered. Nothing here
// reads the database: what a page shows is what its route fetched, page by page.

/** What every page's frame needs. */
export interface Frame {
  readonly title: string;
  /** The nav entry to mark current. */
  readonly section:
    | 'overview'
    | 'accounts'
    | 'invitations'
    | 'activity'
    | 'crawler'
    | 'grid'
    | null;
  /** Null on the login page. */
  readonly session: { readonly operator: string; readonly csrf: string } | null;
  readonly flash?: { readonly error: boolean; readonly text: string } | undefined;
  readonly serverId: string;
  /** The node's nickname, shown in the header (null: none known). */
  readonly nickname?: string | null;
}

/** Who the node is: the header and the overview's "This node" say it. */
export interface NodeIdentity {
  readonly nickname: string;
  readonly version: string;
  /** When this process started (Unix seconds). */
  readonly startedAt: number;
  /** The anonymous NURL, for clients and for servers.yaml. */
  readonly nurl: string;
  /** The block a Tahoe-LAFS client puts in its private/servers.yaml to use this node. */
  readonly serversYaml: string;
}

const NAV = [
  ['overview', '/', 'Overview'],
  ['accounts', '/accounts', 'Accounts'],
  ['invitations', '/invitations', 'Invitations'],
  ['activity', '/activity', 'Activity'],
  ['crawler', '/crawler', 'Crawler'],
  ['grid', '/grid', 'Grid'],
] as const;

export function page(frame: Frame, body: Html): Html {
  const s = frame.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · Ostrom</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/panel.css">
<script src="/static/panel.js" defer></script>
</head>
<body>
<header>
  <span class="brand" title="${frame.serverId}" data-testid="node-name">${frame.nickname ? `${frame.nickname} · Ostrom` : 'Ostrom node'}</span>
  ${
    s &&
    html`<nav>${NAV.map(
      ([key, href, label]) =>
        html`<a href="${href}" data-testid="nav-${key}" ${frame.section === key ? raw('aria-current="page"') : ''}>${label}</a>`,
    )}</nav>
  <span class="muted hide-narrow">${s.operator}</span>
  <form method="post" action="/logout" data-testid="logout">${csrfField(s.csrf)}<button type="submit">Log out</button></form>`
  }
</header>
<main>
${
  frame.flash &&
  html`<div class="flash${frame.flash.error ? ' error' : ''}" role="status" data-testid="${frame.flash.error ? 'flash-error' : 'flash'}">${frame.flash.text}</div>`
}
${body}
</main>
</body>
</html>`;
}

export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

// ----------------------------------------------------------------------------- small parts

/** A point in time for people: `2026-12-05 14:03 UTC`. */
export function when(at: number | null): string {
  if (at === null) return '—';
  const iso = new Date(at * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** How long ago, roughly: `just now`, `5 min ago`, `3 h ago`, `12 days ago`. */
export function ago(at: number | null, now: number): string {
  if (at === null) return 'never';
  const s = now - at;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 2 * 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} days ago`;
}

/** A duration for people: `45 s`, `12 min`, `3 h 20 min`, `14 days`. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds >= 2 * 86_400) return `${Math.round(seconds / 86_400)} days`;
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return m === 0 || h >= 24 ? `${h} h` : `${h} h ${m} min`;
}

const number = (n: number) => n.toLocaleString('en-US');

function statusBadge(status: AccountStatus): Html {
  return html`<span class="status status-${status}" data-testid="account-status">${status}</span>`;
}

/** One quota's bar: the usage as a share of it, "over" past it, "warn" from 80%. */
function oneQuotaBar(kind: 'hard' | 'soft', bytes: number, quota: number): Html {
  const ratio = quota === 0 ? (bytes === 0 ? 0 : 1) : bytes / quota;
  const level = ratio >= 1 ? ' over' : ratio >= 0.8 ? ' warn' : '';
  const percent = Math.round(ratio * 100);
  const text = `${percent}% of ${kind} ${formatSize(quota)}`;
  return html`<div class="quota" data-testid="quota-${kind}"><span class="bar${level}" title="${text}"><span style="width:${Math.min(100, percent)}%"></span></span>${text}</div>`;
}

/** The usage against each quota the account has: the hard one and the soft one, each its bar. */
function quotaBar(account: AccountWithUsage): Html {
  const { hardQuotaBytes: hard, softQuotaBytes: soft } = account;
  if (hard === null && soft === null) return html`<span class="muted">no quota</span>`;
  return html`${hard !== null && oneQuotaBar('hard', account.usage.bytes, hard)}${soft !== null && oneQuotaBar('soft', account.usage.bytes, soft)}`;
}

/** The first 16 hex digits of a key: enough to tell keys apart at a glance. */
function fingerprint(publicKey: string | null): string {
  return publicKey === null ? '—' : `${publicKey.slice(0, 16)}…`;
}

// ----------------------------------------------------------------------------- login

export function loginPage(next: string): Html {
  return html`<div class="login"><h1>Log in</h1>
<form method="post" action="/login" data-testid="login-form">
  <input type="hidden" name="next" value="${next}">
  <label class="stack">Your name (recorded with every action)
    <input name="operator" autocomplete="username" required maxlength="64"></label>
  <label class="stack">Admin token (the node's private/admin-token)
    <input name="token" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form></div>`;
}

// ----------------------------------------------------------------------------- overview

export interface OverviewData {
  readonly now: number;
  readonly stored: Usage;
  readonly availableSpace: number | null;
  readonly shares: Record<ShareState, Usage>;
  readonly accounts: Record<AccountStatus, number>;
  readonly crawler: NodeCrawlerStatus | null;
  readonly lastBackupAt: number | null;
  readonly nearQuota: { readonly accounts: readonly AccountWithUsage[]; readonly total: number };
  readonly chart: Html;
  /** Uploads, reads and bytes in and out over the last 24 hours. */
  readonly traffic: Html;
  readonly alerts: readonly Alert[];
  readonly identity: NodeIdentity | null;
  readonly serverId: string;
}

/** The node's state and its alerts: what the overview opens with. */
function healthSection(alerts: readonly Alert[]): Html {
  const state = alerts.some((a) => a.level === 'error')
    ? 'error'
    : alerts.length > 0
      ? 'warning'
      : 'ok';
  const headline =
    state === 'ok'
      ? 'All is well: the database and the store answer, and nothing needs a look.'
      : `${alerts.length === 1 ? 'One thing needs' : `${alerts.length} things need`} a look.`;
  return html`<section class="health health-${state}" data-testid="health" data-state="${state}">
  <div class="headline">${headline}</div>
  ${
    alerts.length > 0 &&
    html`<ul class="alerts">${alerts.map(
      (a) =>
        html`<li class="alert alert-${a.level}" data-testid="alert" data-alert="${a.key}" data-level="${a.level}">${a.text}${a.href && html` <a href="${a.href}">look →</a>`}</li>`,
    )}</ul>`
  }
</section>`;
}

/** Who the node is, with its NURL and servers.yaml block to copy. */
function identitySection(id: NodeIdentity, serverId: string, now: number): Html {
  return html`<section class="card identity" data-testid="identity"><h2>This node</h2>
  <div><strong>${id.nickname}</strong> · Ostrom ${id.version} · up ${duration(Math.max(0, now - id.startedAt))}</div>
  <div class="mono" title="server id">${serverId}</div>
  <div class="copyable"><span class="mono" id="node-nurl" data-testid="node-nurl">${id.nurl}</span>
    <button type="button" class="quiet" data-copy="node-nurl" data-testid="copy-nurl">Copy NURL</button></div>
  <details><summary>servers.yaml block for a Tahoe-LAFS client</summary>
    <pre id="servers-yaml" data-testid="servers-yaml">${id.serversYaml}</pre>
    <button type="button" class="quiet" data-copy="servers-yaml" data-testid="copy-servers-yaml">Copy the block</button>
  </details>
</section>`;
}

export function overviewPage(d: OverviewData): Html {
  const capacity = d.availableSpace === null ? null : d.stored.bytes + d.availableSpace;
  const usedPercent =
    capacity === null || capacity === 0 ? null : Math.round((d.stored.bytes / capacity) * 100);
  const c = d.crawler;
  return html`<h1>Overview</h1>
${healthSection(d.alerts)}
${d.identity && identitySection(d.identity, d.serverId, d.now)}
<div class="cards" data-testid="overview">
  <section class="card" data-testid="card-space"><h2>Space</h2>
    <div class="big">${formatSize(d.stored.bytes)}</div>
    <div>stored in ${number(d.stored.shares)} shares</div>
    ${
      capacity === null
        ? html`<div class="muted">available space unknown</div>`
        : html`<div><span class="bar${usedPercent !== null && usedPercent >= 90 ? ' over' : ''}"><span style="width:${usedPercent ?? 0}%"></span></span>${usedPercent}% of ${formatSize(capacity)}</div>
    <div>${formatSize(d.availableSpace ?? 0)} available</div>`
    }
  </section>
  <section class="card" data-testid="card-shares"><h2>Shares by state</h2><ul>
    ${(['stable', 'coming', 'going'] as const).map(
      (state) =>
        html`<li>${state}: ${number(d.shares[state].shares)} (${formatSize(d.shares[state].bytes)})</li>`,
    )}
  </ul></section>
  <section class="card" data-testid="card-accounts"><h2>Accounts by status</h2><ul>
    ${ACCOUNT_STATUSES.map(
      (status) =>
        html`<li><a href="/accounts?status=${status}">${status}</a>: ${number(d.accounts[status])}</li>`,
    )}
  </ul></section>
  <section class="card" data-testid="card-crawler"><h2>Crawler</h2>
    ${c === null ? html`<div class="muted">not running in this process</div>` : crawlerCard(c, d.now)}
  </section>
  <section class="card" data-testid="card-backup"><h2>Database backup</h2>
    ${
      c !== null && c.backups === null
        ? html`<div class="muted">This node makes no backups itself (PostgreSQL: pg_dump's job, or backup_interval = 0).</div>`
        : d.lastBackupAt === null
          ? html`<div class="big">none yet</div>`
          : html`<div class="big">${ago(d.lastBackupAt, d.now)}</div><div class="muted">${when(d.lastBackupAt)}</div>`
    }
    ${c?.backups?.lastError && html`<div class="flash error">${c.backups.lastError}</div>`}
  </section>
  <section class="card" data-testid="card-quota"><h2>Quota warnings</h2>
    ${
      d.nearQuota.total === 0
        ? html`<div>No account is at 80% of its quota.</div>`
        : html`<ul>${d.nearQuota.accounts.map(
            (a) => html`<li><a href="/accounts/${a.id}">${a.nickname}</a>: ${quotaBar(a)}</li>`,
          )}</ul><a href="/accounts?near=1">all ${number(d.nearQuota.total)} →</a>`
    }
  </section>
</div>
<h2>Stored bytes, last 24 hours</h2>
${d.chart}
<h2>Traffic, last 24 hours</h2>
${d.traffic}`;
}

function crawlerCard(c: NodeCrawlerStatus, now: number): Html {
  const last = c.history[0];
  return html`<div class="big">${c.percent}%</div>
    <div>cycle ${c.cycle}, ${c.prefixesDone} of ${c.prefixesTotal} prefixes</div>
    <div>${c.etaSeconds === null ? 'ETA unknown yet' : `about ${duration(c.etaSeconds)} left`}</div>
    <div class="muted">${c.background.running ? (c.background.holding ? 'crawling in this process' : `another process crawls (${c.claim?.holder ?? '?'})`) : 'background crawl off'}</div>
    ${
      last &&
      html`<div>last cycle: finished ${ago(last.finishedAt, now)}, took ${duration(last.finishedAt - last.startedAt)}</div>`
    }
    ${
      c.history.length > 1 &&
      html`<details><summary>earlier cycles</summary><ul>${c.history
        .slice(1, 6)
        .map(
          (h) =>
            html`<li>cycle ${h.cycle}: ${when(h.finishedAt)}, ${duration(h.finishedAt - h.startedAt)}</li>`,
        )}</ul></details>`
    }
    ${c.deletionHold && html`<div class="flash error">Deletion held until ${when(c.deletionHold.until)}</div>`}
    ${c.background.lastError && html`<div class="flash error">${c.background.lastError}</div>`}`;
}

// ----------------------------------------------------------------------------- accounts

export const SORTABLE = [
  'id',
  'nickname',
  'status',
  'shares',
  'bytes',
  'lastSeen',
  'createdAt',
  'hardQuotaUse',
] as const;
export type SortKey = (typeof SORTABLE)[number];

export interface AccountsQuery {
  readonly q: string;
  readonly status: AccountStatus | '';
  readonly near: boolean;
  readonly sort: SortKey;
  readonly dir: 'asc' | 'desc';
  readonly page: number;
}

export const PAGE_SIZE = 50;

export function accountsHref(q: AccountsQuery, change: Partial<AccountsQuery> = {}): string {
  const v = { ...q, ...change };
  const params = new URLSearchParams();
  if (v.q) params.set('q', v.q);
  if (v.status) params.set('status', v.status);
  if (v.near) params.set('near', '1');
  if (v.sort !== 'id') params.set('sort', v.sort);
  if (v.dir !== 'asc') params.set('dir', v.dir);
  if (v.page !== 1) params.set('page', String(v.page));
  const text = params.toString();
  return text ? `/accounts?${text}` : '/accounts';
}

/** The quotas a new account gets (`[accounting] default_hard_quota` and `default_soft_quota`). */
export interface DefaultQuotas {
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
}

/** What the accounts page shows besides the list. */
export interface AccountsPageExtras {
  readonly defaults: DefaultQuotas | null;
  /** Account requests waiting for the operator. */
  readonly pending: number;
  /** The session's form token: without it the page has no forms (a test's rendering). */
  readonly csrf: string | null;
}

/** Accounts one bulk action may change: a page of them, with room to spare. */
export const BULK_LIMIT = 200;

export function accountsPage(
  q: AccountsQuery,
  accounts: readonly AccountWithUsage[],
  total: number,
  now: number,
  extras: AccountsPageExtras = { defaults: null, pending: 0, csrf: null },
): Html {
  const { defaults, pending, csrf } = extras;
  const first = (q.page - 1) * PAGE_SIZE + 1;
  const last = (q.page - 1) * PAGE_SIZE + accounts.length;
  const lastPage = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const place =
    total === 0
      ? 'No account'
      : accounts.length === 0
        ? `Page ${number(q.page)} is past the last (${number(lastPage)}) of ${number(total)} accounts`
        : `${number(first)}–${number(last)} of ${number(total)}`;
  // `wide`: a column a phone leaves out (the ID is in the link, the shares on the account's page).
  const header = (key: SortKey, label: string, numeric = false, wide = false) => {
    const dir = q.sort === key && q.dir === 'asc' ? 'desc' : 'asc';
    const mark = q.sort === key ? (q.dir === 'asc' ? ' ▲' : ' ▼') : '';
    const classes = [numeric ? 'num' : '', wide ? 'hide-narrow' : ''].join(' ').trim();
    return html`<th class="${classes}" data-testid="column-${key}"><a data-sort="${key}" href="${accountsHref(q, { sort: key, dir, page: 1 })}">${label}${mark}</a></th>`;
  };
  const pager = html`<div class="pager" data-testid="pager">
    <span data-testid="pager-place">${place}</span>
    ${q.page > 1 && html`<a rel="prev" href="${accountsHref(q, { page: Math.min(q.page - 1, lastPage) })}">← ${q.page > lastPage ? 'last page' : 'previous'}</a>`}
    ${last < total && html`<a rel="next" href="${accountsHref(q, { page: q.page + 1 })}">next →</a>`}
  </div>`;
  return html`<h1>Accounts</h1>
${
  pending > 0 &&
  q.status !== 'pending' &&
  html`<p class="flash" data-testid="pending-note">${pending === 1 ? 'One account request waits' : `${number(pending)} account requests wait`} for your decision: <a href="/accounts?status=pending">review ${pending === 1 ? 'it' : 'them'}</a>.</p>`
}
${csrf && addForms(csrf, defaults)}
<form class="filters" method="get" action="/accounts" data-testid="account-filter" data-autosubmit>
  <label>Nickname <input name="q" value="${q.q}" type="search" data-testid="account-search"></label>
  <label>Status <select name="status">
    <option value="">any</option>
    ${ACCOUNT_STATUSES.map((s) => html`<option value="${s}" ${q.status === s ? raw('selected') : ''}>${s}</option>`)}
  </select></label>
  <label>Quota <select name="near">
    <option value="">any</option>
    <option value="1" ${q.near ? raw('selected') : ''}>at 80% or more</option>
  </select></label>
  <input type="hidden" name="sort" value="${q.sort}"><input type="hidden" name="dir" value="${q.dir}">
  <button type="submit">Filter</button>
</form>
${
  defaults &&
  html`<p class="muted" data-testid="default-quotas">A new account gets a hard quota of ${quotaText(defaults.hardQuotaBytes)} and a soft quota of ${quotaText(defaults.softQuotaBytes)} (<code>[accounting]</code> in ostrom.toml).</p>`
}
${pager}
<div class="table-wrap"><table data-testid="accounts-table">
<thead><tr>${csrf && html`<th class="select"><input type="checkbox" data-select-all="bulk" aria-label="select every account on this page" data-testid="select-all"></th>`}${header('id', 'ID', true, true)}${header('nickname', 'Nickname')}<th class="hide-narrow">Key</th>${header('status', 'Status')}${header('shares', 'Shares', true, true)}${header('bytes', 'Bytes', true)}${header('hardQuotaUse', 'Quota (% of hard)')}${header('lastSeen', 'Last seen')}</tr></thead>
<tbody>
${accounts.map(
  (a) => html`<tr data-account-id="${a.id}">
  ${csrf && html`<td class="select"><input type="checkbox" form="bulk" name="account-${a.id}" value="1" aria-label="select ${a.nickname}" data-testid="select-account"></td>`}
  <td class="num hide-narrow">${a.id}</td>
  <td><a data-testid="account-link" href="/accounts/${a.id}">${a.nickname}</a></td>
  <td class="mono hide-narrow">${fingerprint(a.publicKey)}</td>
  <td>${statusBadge(a.status)}</td>
  <td class="num hide-narrow">${number(a.usage.shares)}</td>
  <td class="num" data-testid="account-bytes" title="${number(a.usage.bytes)} bytes">${formatSize(a.usage.bytes)}</td>
  <td class="fit">${quotaBar(a)}</td>
  <td class="fit">${ago(a.lastSeenAt, now)}</td>
</tr>`,
)}
${accounts.length === 0 && html`<tr><td colspan="9" class="muted">No account matches.</td></tr>`}
</tbody></table></div>
${pager}
${csrf && accounts.length > 0 && bulkForm(csrf, accountsHref(q))}`;
}

/** Adding one key, and importing a list of them. */
function addForms(csrf: string, defaults: DefaultQuotas | null): Html {
  const quotaNote = defaults
    ? `empty: the default (${quotaText(defaults.hardQuotaBytes)} hard, ${quotaText(defaults.softQuotaBytes)} soft)`
    : 'empty: the default';
  return html`<div class="actions add-forms">
<details data-testid="add-account"><summary>Add an account…</summary>
  <form method="post" action="/accounts/add" class="stacked">${csrfField(csrf)}
    <p class="muted">For a key you know: its account is active at once, and its NURL is shown to hand to its owner.</p>
    <label class="stack">Public key (${PUBLIC_KEY_FORMS})<input name="key" required size="66" autocomplete="off" data-testid="add-key"></label>
    <label class="stack">Nickname<input name="nickname" required maxlength="64" data-testid="add-nickname"></label>
    <label class="stack">Hard quota (${quotaNote})<input name="hard" size="12" placeholder="default"></label>
    <label class="stack">Soft quota<input name="soft" size="12" placeholder="default"></label>
    <button type="submit" data-testid="add-submit">Add</button>
  </form>
</details>
<details data-testid="import-accounts"><summary>Import a list…</summary>
  <form method="post" action="/accounts/import" class="stacked">${csrfField(csrf)}
    <p class="muted">One <code>public-key nickname</code> a line, <code># comments</code> allowed (the format of <code>ostrom accounts import</code>). Every line is checked first: one bad line adds nothing. Keys that have an account already are left as they are.</p>
    <label class="stack">From a file <input type="file" accept=".txt,text/plain" data-fills="list" data-testid="import-file"></label>
    <label class="stack">List<textarea name="list" id="list" rows="6" cols="70" required data-testid="import-list"></textarea></label>
    <button type="submit" data-testid="import-submit">Import</button>
  </form>
</details>
</div>`;
}

/** What the selected accounts (checkboxes in the list) can have done to them at once. */
function bulkForm(csrf: string, back: string): Html {
  return html`<h2>Selected accounts</h2>
<form method="post" action="/accounts/bulk" id="bulk" class="actions" data-testid="bulk-form">${csrfField(csrf)}<input type="hidden" name="back" value="${back}">
  <label class="stack">Hard quota<input name="hard" size="12" placeholder="unchanged" data-testid="bulk-hard"></label>
  <label class="stack">Soft quota<input name="soft" size="12" placeholder="unchanged" data-testid="bulk-soft"></label>
  <button type="submit" name="action" value="quota" data-testid="bulk-quota">Set quota</button>
  <button type="submit" name="action" value="approve" data-testid="bulk-approve">Approve</button>
  <button type="submit" name="action" value="refuse" data-testid="bulk-refuse">Refuse</button>
  <p class="muted">A quota left empty stays as each account has it; <code>none</code> removes it. Approve and refuse apply to the pending accounts selected.</p>
</form>`;
}

// ----------------------------------------------------------------------------- invitations

/** How long an invitation from the panel may be used: the choices its form offers. */
export const INVITATION_EXPIRY_CHOICES = [
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
  [90 * 86_400, '90 days'],
  [365 * 86_400, '1 year'],
] as const;

/** What the invitations page shows. */
export interface InvitationsPageData {
  /** Newest first, without their secrets' hashes. */
  readonly invitations: readonly InvitationView[];
  /** The invitation just issued in this session and its code: shown this once. */
  readonly issued: { readonly id: number; readonly code: string } | null;
  /** The most uses one invitation may have. */
  readonly maxUses: number;
  /** The session's form token: without it the page has no forms (a test's rendering). */
  readonly csrf: string | null;
  readonly now: number;
}

function invitationQuota(i: InvitationView): string {
  if (i.hardQuotaBytes === null && i.softQuotaBytes === null) return 'none';
  return `hard ${quotaText(i.hardQuotaBytes)}, soft ${quotaText(i.softQuotaBytes)}`;
}

export function invitationsPage(d: InvitationsPageData): Html {
  const { issued, csrf } = d;
  return html`<h1>Invitations</h1>
<p class="muted">An invitation lets a person in without approving their key: the first use of its code makes an active account at once, with the quota and nickname given here, even with manual approval. A code is shown once, when it is issued (the node keeps only its hash), and works on this node only.</p>
${
  issued &&
  html`<section class="card" data-testid="issued-invitation"><h2>The code of invitation ${issued.id}</h2>
  <p>Give it to the person it is for (<code>ostrom account request --invite CODE</code>, or <code>ostrom grid join --invite CODE</code>). It is shown this once: leave this page and it is gone.</p>
  <div class="copyable"><span class="mono" id="invitation-code" data-testid="invitation-code">${issued.code}</span>
    <button type="button" class="quiet" data-copy="invitation-code" data-testid="copy-invitation-code">Copy the code</button></div>
</section>`
}
${
  csrf &&
  html`<div class="actions add-forms"><details data-testid="issue-invitation" ${issued ? '' : raw('open')}><summary>Issue an invitation…</summary>
  <form method="post" action="/invitations/issue" class="stacked">${csrfField(csrf)}
    <label class="stack">Nickname of the account (empty: the one the person asks for)<input name="nickname" maxlength="64" data-testid="invite-nickname"></label>
    <label class="stack">Hard quota (empty: none)<input name="hard" size="12" placeholder="none" data-testid="invite-hard"></label>
    <label class="stack">Soft quota (empty: none)<input name="soft" size="12" placeholder="none" data-testid="invite-soft"></label>
    <label class="stack">Valid for<select name="expires" data-testid="invite-expires">${INVITATION_EXPIRY_CHOICES.map(
      ([seconds, label]) =>
        html`<option value="${seconds}" ${seconds === 7 * 86_400 ? raw('selected') : ''}>${label}</option>`,
    )}</select></label>
    <label class="stack">Uses (accounts it may make)<input name="uses" type="number" min="1" max="${d.maxUses}" value="1" required data-testid="invite-uses"></label>
    <button type="submit" data-testid="invite-submit">Issue</button>
  </form>
</details></div>`
}
<div class="table-wrap"><table data-testid="invitations-table">
<thead><tr><th class="num">ID</th><th>Nickname</th><th>State</th><th class="num">Uses</th><th>Expires</th><th>Quota</th><th>Issued by</th>${csrf && html`<th></th>`}</tr></thead>
<tbody>
${d.invitations.map(
  (i) => html`<tr data-invitation-id="${i.id}">
  <td class="num">${i.id}</td>
  <td>${i.nickname ?? html`<span class="muted" title="the one the person asks for">as asked</span>`}</td>
  <td><span class="status status-${i.state}" data-testid="invitation-state">${i.state}</span>${i.revokedAt !== null && html` <span class="muted">${when(i.revokedAt)}</span>`}</td>
  <td class="num" data-testid="invitation-uses">${number(i.uses)}/${number(i.maxUses)}</td>
  <td class="fit">${when(i.expiresAt)}</td>
  <td class="fit">${invitationQuota(i)}</td>
  <td>${i.createdBy} <span class="muted">${when(i.createdAt)}</span></td>
  ${
    csrf &&
    html`<td>${
      i.state === 'open' &&
      html`<form method="post" action="/invitations/${i.id}/revoke" data-testid="revoke-invitation">${csrfField(csrf)}<button type="submit" class="danger">Revoke</button></form>`
    }</td>`
  }
</tr>`,
)}
${d.invitations.length === 0 && html`<tr><td colspan="8" class="muted">No invitation issued yet.</td></tr>`}
</tbody></table></div>`;
}

// ----------------------------------------------------------------------------- one account

export interface AccountPageData {
  readonly account: AccountWithUsage;
  readonly nurl: string | null;
  readonly deletedAt: number | null;
  /** When the operator refused the account's request (it is disabled since), or null. */
  readonly refusedAt: number | null;
  /** The account's latest status change: since when, by whom and why it has its status. */
  readonly statusChange: ActivityEvent | null;
  readonly range: string;
  readonly ranges: readonly string[];
  readonly chart: Html;
  /** The account's uploads, reads and bytes over the chart's range. */
  readonly traffic: Html;
  readonly events: readonly ActivityEvent[];
  /** Where the account came from and whom it brought (the chain of invitations). */
  readonly invitations: AccountInvitations;
  readonly csrf: string;
  readonly now: number;
}

/** "invited by …" and "invited …": the account's place in the chain of invitations. */
function invitationChain(i: AccountInvitations): Html {
  const by = i.invitedBy;
  const from =
    by === null
      ? ''
      : by.kind === 'account'
        ? html`<div data-testid="invited-by">invited by <a href="/accounts/${by.accountId}">${by.nickname ?? `account ${by.accountId}`}</a></div>`
        : by.kind === 'operator'
          ? html`<div data-testid="invited-by">joined with invitation ${by.invitationId} from ${by.issuedBy ?? 'someone'}</div>`
          : html`<div data-testid="invited-by">joined with an invitation from the grid</div>`;
  const brought =
    i.invited.length === 0
      ? ''
      : html`<div data-testid="invited">invited ${i.invited.map((id, n) => html`${n > 0 ? ', ' : ''}<a href="/accounts/${id}">account ${id}</a>`)}</div>`;
  const budget =
    i.invitationBudget === null
      ? ''
      : html`<div>may invite ${i.invitationBudget} in all (${i.invited.length} so far)</div>`;
  return html`${from}${brought}${budget}`;
}

function actionForm(id: number, csrf: string, verb: string, label: string, extra?: Html): Html {
  return html`<form method="post" action="/accounts/${id}/${verb}" data-action="${verb}">
  ${csrfField(csrf)}${extra ?? ''}<button type="submit" class="${verb === 'disable' ? 'danger' : ''}">${label}</button></form>`;
}

const reasonField = html`<label class="stack">Reason (kept in the activity log)<input name="reason" maxlength="200" data-testid="reason-input"></label>`;

/**
 * An action that asks first: its button opens what the action will do, and only the button
 * inside (which names the account) does it.
 */
function confirmedAction(
  a: AccountWithUsage,
  csrf: string,
  verb: string,
  label: string,
  consequence: string,
): Html {
  return html`<details class="confirm" data-testid="confirm-${verb}"><summary>${label}…</summary>
  <p>${consequence}</p>
  ${actionForm(a.id, csrf, verb, `${label} ${a.nickname}`, reasonField)}</details>`;
}

/** What freezing and disabling do, said for the account at hand. */
function consequences(a: AccountWithUsage): { freeze: string; disable: string } {
  if (a.id === ANONYMOUS_ACCOUNT_ID) {
    return {
      freeze:
        'Every client without an account (every client using the node’s plain NURL) may still read but can no longer upload, write mutable shares or renew leases.',
      disable:
        'Every client without an account is refused entirely: nothing it stored can be read through this node until you enable the account again. Clients with their own account are not affected.',
    };
  }
  return {
    freeze: `${a.nickname} may still read what it stored, but can no longer upload, write mutable shares or renew leases. Nothing is deleted; thaw it to undo.`,
    disable: `${a.nickname} can neither read nor write, and its requests for an account are refused. Nothing is deleted; its leases still run out unless renewed. Enable it to undo.`,
  };
}

/** Why an account is as it is: "frozen since 2026-12-05 14:03 UTC by carol: spam". */
function statusStory(d: AccountPageData): Html {
  const a = d.account;
  const e = d.statusChange;
  const by = e?.actor ? ` by ${e.actor}` : '';
  const reason = typeof e?.data.reason === 'string' ? `: ${e.data.reason}` : '';
  if (d.refusedAt !== null) {
    return html`<div data-testid="status-story">request refused ${when(d.refusedAt)}${by}${reason}. Its key is answered “refused”; enable it to admit it after all.</div>`;
  }
  if (!e) {
    const since =
      a.id <= STARTER_ACCOUNT_ID ? 'ever (built in)' : `it was created (${when(a.createdAt)})`;
    return html`<div class="muted" data-testid="status-story">${a.status} since ${since}</div>`;
  }
  return html`<div data-testid="status-story">${a.status} since ${when(e.at)}${by}${reason}</div>`;
}

/** The built-in accounts, explained on their pages. */
function builtInNote(id: number): Html {
  if (id === ANONYMOUS_ACCOUNT_ID) {
    return html`<p class="note" data-testid="built-in-note">This is the built-in <strong>anonymous</strong> account: every client that uses the node’s plain NURL (without an account of its own) is counted here, together. Its quota bounds what all of them may store at once. It cannot be renamed or deleted; freezing or disabling it affects every such client.</p>`;
  }
  return html`<p class="note" data-testid="built-in-note">This is the built-in <strong>starter</strong> account: it holds the leases of shares the node found in its store with no known owner (at its first start or a rebuild), so they are kept until their leases run out. No client can use it; it cannot be renamed, frozen, disabled or deleted.</p>`;
}

export function accountPage(d: AccountPageData): Html {
  const a = d.account;
  const builtIn = a.id <= STARTER_ACCOUNT_ID;
  const starter = a.id === STARTER_ACCOUNT_ID;
  const live = a.status !== 'deleted';
  const said = consequences(a);
  // Exact, so that a field left alone reads back as the quota it shows (see the quota action).
  const size = (bytes: number | null) => (bytes === null ? '' : formatSizeExact(bytes));
  return html`<h1>${a.nickname}</h1>
${builtIn && builtInNote(a.id)}
<div class="cards">
  <section class="card"><h2>Status</h2>${statusBadge(a.status)}
    ${statusStory(d)}
    ${d.deletedAt !== null && html`<div class="muted">deleted ${when(d.deletedAt)}; its shares go after the deletion grace period</div>`}
  </section>
  <section class="card" data-testid="account-usage"><h2>Usage</h2>
    <div class="big">${formatSize(a.usage.bytes)}</div><div>${number(a.usage.shares)} shares</div><div>${quotaBar(a)}</div>
  </section>
  <section class="card"><h2>Account</h2>
    <div>id ${a.id}, ${builtIn ? 'built in' : `created ${when(a.createdAt)}`}</div>
    <div>last seen ${ago(a.lastSeenAt, d.now)}</div>
    <div>key <span class="mono">${a.publicKey ?? '— (built-in)'}</span></div>
    ${invitationChain(d.invitations)}
  </section>
</div>
${d.nurl !== null && html`<h2>NURL</h2><p class="mono" data-testid="account-nurl">${d.nurl}</p>`}
<h2>Actions</h2>
<div class="actions">
  ${a.status === 'pending' && actionForm(a.id, d.csrf, 'approve', 'Approve')}
  ${a.status === 'pending' && confirmedAction(a, d.csrf, 'refuse', 'Refuse', `The request is refused: ${a.nickname} becomes disabled, and its key is answered “refused” if it asks again (the reason stays in your log; the client is not told it). You can still enable it later.`)}
  ${!starter && a.status === 'normal' && confirmedAction(a, d.csrf, 'freeze', 'Freeze', said.freeze)}
  ${a.status === 'frozen' && actionForm(a.id, d.csrf, 'thaw', 'Thaw')}
  ${!starter && (a.status === 'normal' || a.status === 'frozen') && confirmedAction(a, d.csrf, 'disable', 'Disable', said.disable)}
  ${a.status === 'disabled' && actionForm(a.id, d.csrf, 'enable', d.refusedAt === null ? 'Enable' : 'Admit after all')}
  ${
    live &&
    !starter &&
    actionForm(
      a.id,
      d.csrf,
      'quota',
      'Set quota',
      html`<label class="stack">Hard quota<input name="hard" value="${size(a.hardQuotaBytes)}" placeholder="none" size="12" data-testid="quota-hard-input"></label>
      <label class="stack">Soft quota<input name="soft" value="${size(a.softQuotaBytes)}" placeholder="none" size="12" data-testid="quota-soft-input"></label>
      <input type="hidden" name="hard-shown" value="${size(a.hardQuotaBytes)}"><input type="hidden" name="soft-shown" value="${size(a.softQuotaBytes)}">`,
    )
  }
  ${
    live &&
    !builtIn &&
    actionForm(
      a.id,
      d.csrf,
      'rename',
      'Rename',
      html`<label class="stack">Nickname<input name="nickname" value="${a.nickname}" maxlength="64" size="16" data-testid="rename-input"></label>`,
    )
  }
  ${
    live &&
    !builtIn &&
    html`<form method="post" action="/accounts/${a.id}/delete" data-action="delete" data-nickname="${a.nickname}">
    ${csrfField(d.csrf)}
    <label class="stack">Delete all its shares: type <strong>${a.nickname}</strong> to confirm
      <input name="confirm" data-testid="delete-confirm" autocomplete="off"></label>
    <button type="submit" class="danger" data-testid="delete-button" disabled>Delete all shares</button>
  </form>`
  }
</div>
<h2>Usage over time</h2>
<div class="ranges">${d.ranges.map(
    (key) =>
      html`<a data-testid="range-${key}" href="/accounts/${a.id}?range=${key}" ${d.range === key ? raw('aria-current="page"') : ''}>${key}</a>`,
  )}</div>
${d.chart}
<h2>Traffic</h2>
${d.traffic}
<h2>Recent events</h2>
<ul class="events" data-testid="account-events">
${d.events.map((e) => html`<li>${when(e.at)} · ${describeEvent(e)}${e.actor && html` · by ${e.actor}`}</li>`)}
${d.events.length === 0 && html`<li class="muted">none</li>`}
</ul>
<p><a href="/activity?account=${a.id}">all of its events →</a></p>`;
}

// ----------------------------------------------------------------------------- traffic

/** A range's traffic: its totals in words, then its chart. */
export function trafficSection(totals: TrafficCounts, label: string, chart: Html): Html {
  return html`<p data-testid="traffic-totals">${label}: ${number(totals.uploads)} uploads, ${number(totals.reads)} reads, ${formatSize(totals.bytesIn)} in, ${formatSize(totals.bytesOut)} out.</p>
${chart}`;
}

// ----------------------------------------------------------------------------- activity

/** One event in a sentence (without its time, account or actor). */
export function describeEvent(e: ActivityEvent): string {
  const d = e.data;
  const share =
    e.storageIndex === null ? '' : ` ${e.storageIndex}${e.shnum === null ? '' : `/${e.shnum}`}`;
  const bytes = typeof d.bytes === 'number' ? ` (${formatSize(d.bytes)})` : '';
  switch (e.kind) {
    case 'account-created':
      return `account created (${String(d.status ?? 'normal')})`;
    case 'account-status-changed':
      return `status ${String(d.from)} → ${String(d.to)}${d.reason ? `: ${String(d.reason)}` : ''}`;
    case 'account-quota-changed':
      return quotaChange(d.from, d.to);
    case 'account-nickname-changed':
      return `renamed ${String(d.from)} → ${String(d.to)}`;
    case 'share-stored':
      return `stored share${share}${bytes}`;
    case 'share-adopted':
      return `adopted share${share}${bytes} found in the store`;
    case 'share-deleted':
      return `deleted share${share}${bytes}`;
    case 'share-vanished':
      return `share${share}${bytes} is gone from the store`;
    case 'share-corrupt':
      return `share${share} reported corrupt`;
    case 'quota-warning':
      return `reached ${String(d.percent)}% of the soft quota`;
    case 'write-refused': {
      const why =
        d.reason === 'quota'
          ? 'over its hard quota'
          : d.reason === 'status'
            ? `the account is ${String(d.status ?? 'not allowed to write')}`
            : "the node's accounting mode";
      const more =
        typeof d.suppressed === 'number' ? ` (and ${d.suppressed} more since the last one)` : '';
      return `${String(d.operation ?? 'a write')} refused: ${why}${bytes}${more}`;
    }
    default: {
      const rest = Object.keys(d).length === 0 ? '' : ` ${JSON.stringify(d)}`;
      return `${e.kind}${share}${rest}`;
    }
  }
}

function quotaText(value: unknown): string {
  return typeof value === 'number' ? formatSize(value) : 'none';
}

/** "quota: hard none → 10 GB, soft 8 GB (unchanged)": each quota from what to what. */
function quotaChange(from: unknown, to: unknown): string {
  const quotas = (value: unknown) =>
    (typeof value === 'object' && value !== null ? value : {}) as {
      hardQuotaBytes?: unknown;
      softQuotaBytes?: unknown;
    };
  const [before, after] = [quotas(from), quotas(to)];
  const one = (name: string, was: unknown, now: unknown) =>
    was === now
      ? `${name} ${quotaText(now)} (unchanged)`
      : `${name} ${quotaText(was)} → ${quotaText(now)}`;
  return `quota: ${one('hard', before.hardQuotaBytes, after.hardQuotaBytes)}, ${one('soft', before.softQuotaBytes, after.softQuotaBytes)}`;
}

export interface ActivityQuery {
  readonly kind: string;
  /** The account filtered on, or null (none, or a name that matched no one or several). */
  readonly account: number | null;
  /** The account filter as typed: an id or a nickname. */
  readonly accountText: string;
  /** Accounts a name matched when it matched several (the page lists them to pick from). */
  readonly matches: readonly { readonly id: number; readonly nickname: string }[];
  readonly before: number | null;
}

/** Digest lines shown before the rest fold away. */
const DIGEST_LINES_SHOWN = 5;

export function activityPage(
  q: ActivityQuery,
  digest: Digest,
  events: readonly ActivityEvent[],
  names: ReadonlyMap<number, string>,
  olderHref: string | null,
): Html {
  const accountCell = (id: number | null) =>
    id === null ? '' : html`<a href="/accounts/${id}">${names.get(id) ?? `account ${id}`}</a>`;
  return html`<h1>Activity</h1>
<h2>Digest of the last 24 hours</h2>
<ul data-testid="digest">
${digest.lines.slice(0, DIGEST_LINES_SHOWN).map((line) => html`<li>${line}</li>`)}
${digest.lines.length === 0 && html`<li class="muted">Nothing happened.</li>`}
</ul>
${
  digest.lines.length > DIGEST_LINES_SHOWN &&
  html`<details data-testid="digest-more"><summary>${digest.lines.length - DIGEST_LINES_SHOWN} more lines</summary>
<ul>${digest.lines.slice(DIGEST_LINES_SHOWN).map((line) => html`<li>${line}</li>`)}</ul></details>`
}
<h2>Event log</h2>
<form class="filters" method="get" action="/activity" data-autosubmit>
  <label>Kind <select name="kind"><option value="">any</option>
    ${EVENT_KINDS.map((k) => html`<option ${q.kind === k ? raw('selected') : ''}>${k}</option>`)}
  </select></label>
  <label>Account (id or nickname) <input name="account" value="${q.accountText}" size="12" data-testid="activity-account"></label>
  <button type="submit">Filter</button>
</form>
${
  q.accountText !== '' &&
  q.account === null &&
  (q.matches.length === 0
    ? html`<p class="flash error" data-testid="account-filter-note">No account is named “${q.accountText}”.</p>`
    : html`<p class="flash error" data-testid="account-filter-note">Several accounts match “${q.accountText}”: ${q.matches.map(
        (m, i) =>
          html`${i > 0 ? ', ' : ''}<a href="/activity?account=${m.id}${q.kind ? `&kind=${q.kind}` : ''}">${m.nickname}</a>`,
      )}.</p>`)
}
<div class="table-wrap"><table data-testid="events-table">
<thead><tr><th>Time</th><th>Kind</th><th>Account</th><th>By</th><th>What</th></tr></thead>
<tbody>
${events.map(
  (
    e,
  ) => html`<tr><td>${when(e.at)}</td><td data-testid="event-kind">${e.kind}</td><td>${accountCell(e.accountId)}</td>
  <td data-testid="event-actor">${e.actor ?? (e.accountId === null ? '' : 'the account')}</td><td class="wrap">${describeEvent(e)}</td></tr>`,
)}
${events.length === 0 && html`<tr><td colspan="5" class="muted">No event matches.</td></tr>`}
</tbody></table></div>
<div class="pager">${olderHref && html`<a rel="next" href="${olderHref}">older events →</a>`}</div>`;
}

// ----------------------------------------------------------------------------- crawler

/** How the crawl and the deletions are set (`[crawler]` in ostrom.toml). */
export interface CrawlerSchedule {
  readonly minCycleSeconds: number;
  readonly allowedFraction: number;
  readonly deleteUnleased: boolean;
  readonly deletionGraceSeconds: number;
}

export interface CrawlerPageData {
  readonly status: NodeCrawlerStatus | null;
  readonly schedule: CrawlerSchedule | null;
  /** The backups kept in the store, newest first; null when this node makes none. */
  readonly backups: readonly BackupInfo[] | null;
  readonly csrf: string;
  readonly now: number;
}

/** A cycle's counters, as a row of numbers in {@link COUNTER_NAMES} order. */
function counterCells(counters: Readonly<Record<string, number>>): Html {
  return html`${COUNTER_NAMES.map(
    (name) =>
      html`<td class="num">${name === 'bytes' ? formatSize(counters[name] ?? 0) : number(counters[name] ?? 0)}</td>`,
  )}`;
}

/** The crawler and the backups, as Tahoe's storage status page shows its crawlers. */
export function crawlerPage(d: CrawlerPageData): Html {
  const c = d.status;
  if (c === null) {
    return html`<h1>Crawler</h1><p class="muted" data-testid="crawler-none">This process runs no crawler.</p>`;
  }
  const sched = d.schedule;
  const last = c.history[0];
  const next =
    sched === null || c.cycleStartedAt !== null
      ? null
      : last
        ? last.startedAt + sched.minCycleSeconds
        : null;
  const header = html`<tr><th>Cycle</th><th>Started</th><th>Took</th>${COUNTER_NAMES.map((n) => html`<th class="num">${n}</th>`)}</tr>`;
  return html`<h1>Crawler</h1>
<div class="cards">
  <section class="card" data-testid="crawler-current"><h2>${c.cycleStartedAt === null ? 'Between cycles' : `Cycle ${c.cycle}`}</h2>
    ${
      c.cycleStartedAt === null
        ? html`<div>${next === null ? 'The next cycle begins when the crawl is next allowed to.' : `The next cycle begins ${next <= d.now ? 'as soon as its turn comes' : `at ${when(next)}`}.`}</div>`
        : html`<div class="big">${c.percent}%</div>
          <div>${c.prefixesDone} of ${c.prefixesTotal} prefixes, started ${when(c.cycleStartedAt)}</div>
          <div>${c.etaSeconds === null ? 'ETA unknown yet' : `about ${duration(c.etaSeconds)} left`}</div>`
    }
    <div class="muted">${c.background.running ? (c.background.holding ? 'crawling in this process' : `another process crawls (${c.claim?.holder ?? '?'})`) : 'background crawl off'}</div>
    ${c.background.lastError && html`<div class="flash error">${c.background.lastError}</div>`}
  </section>
  <section class="card" data-testid="crawler-schedule"><h2>Schedule</h2>
    ${
      sched === null
        ? html`<div class="muted">unknown</div>`
        : html`<div>a cycle at most every ${duration(sched.minCycleSeconds)}, using at most ${Math.round(sched.allowedFraction * 100)}% of the time</div>
          <div data-testid="deletion-schedule">${sched.deleteUnleased ? `shares left without a lease are deleted ${duration(sched.deletionGraceSeconds)} after their last lease expired` : 'shares left without a lease are reported, never deleted'}</div>`
    }
    ${c.deletionHold && html`<div class="flash error" data-testid="deletion-hold">Deletion held until ${when(c.deletionHold.until)}: the database was restored (${c.deletionHold.reason}${c.deletionHold.backup ? `, from ${c.deletionHold.backup}` : ''}).</div>`}
  </section>
  <section class="card" data-testid="crawler-backups"><h2>Backups</h2>
    ${
      c.backups === null
        ? html`<div class="muted">This node makes no backups itself (PostgreSQL: pg_dump's job, or backup_interval = 0).</div>`
        : html`<div>every ${duration(c.backups.intervalSeconds)}, the newest ${c.backups.kept} kept</div>
          ${c.backups.lastError && html`<div class="flash error">${c.backups.lastError}</div>`}
          <form method="post" action="/crawler/backup" data-action="backup">${csrfField(d.csrf)}<button type="submit" data-testid="backup-now">Back up now</button></form>
          <ul data-testid="backups">${(d.backups ?? []).map((b) => html`<li class="mono">${when(b.createdAt)} · ${b.name}</li>`)}
          ${(d.backups ?? []).length === 0 && html`<li class="muted">none yet</li>`}</ul>`
    }
  </section>
</div>
${
  c.cycleStartedAt !== null &&
  html`<h2>This cycle so far</h2>
<div class="table-wrap"><table data-testid="crawler-counters"><thead><tr>${COUNTER_NAMES.map((n) => html`<th class="num">${n}</th>`)}</tr></thead>
<tbody><tr>${counterCells(c.counters)}</tr></tbody></table></div>`
}
<h2>Last cycles</h2>
<div class="table-wrap"><table data-testid="crawler-history"><thead>${header}</thead><tbody>
${c.history.map(
  (h) =>
    html`<tr><td class="num">${h.cycle}</td><td>${when(h.startedAt)}</td><td>${duration(h.finishedAt - h.startedAt)}</td>${counterCells(h.counters)}</tr>`,
)}
${c.history.length === 0 && html`<tr><td colspan="${COUNTER_NAMES.length + 3}" class="muted">No cycle has finished yet.</td></tr>`}
</tbody></table></div>`;
}

// ----------------------------------------------------------------------------- grid

export function gridPage(status: NodeGsdStatus | null, now: number): Html {
  const dir = status?.directory ?? null;
  let body: Html;
  if (status === null || !status.enabled) {
    body = html`<p data-testid="grid-empty">This node takes part in no grid service directory. Set
      <code>[gsd] introduction</code> in its config (see <code>ostrom gsd --help</code>) and restart it.</p>`;
  } else if (dir === null) {
    body = html`<p data-testid="grid-empty">The directory has not been read yet${status.lastError ? `: ${status.lastError}` : ''}.</p>`;
  } else {
    body = html`<p>Directory version ${dir.seqnum ?? '—'}, updated ${when(dir.updatedAt)}, read from
      <span class="mono">${dir.from ?? '—'}</span>; last checked ${ago(status.lastCheckAt, now)}.
      ${dir.listsThisNode === false ? 'It does not list this node.' : ''}</p>
    ${dir.problems.length > 0 && html`<ul>${dir.problems.map((p) => html`<li class="muted">${p}</li>`)}</ul>`}
    <div class="table-wrap"><table data-testid="grid-servers">
    <thead><tr><th>Name</th><th>Nickname</th><th>Answers</th><th class="num">Available</th><th>Announced</th><th>Version</th><th>NURLs</th></tr></thead>
    <tbody>${dir.servers.map((s) => {
      const body = s.announcement?.body;
      return html`<tr data-readcap="${s.readcap}"><td>${s.petname}</td><td>${body?.nickname ?? '—'}</td>
      <td>${s.answering === null ? '—' : s.answering ? 'yes' : 'no'}</td>
      <td class="num">${body ? formatSize(body.availableSpace) : '—'}</td>
      <td>${s.announcement ? when(s.announcement.publishedAt) : (s.problem ?? '—')}</td>
      <td>${body?.version ?? ''}</td>
      <td class="wrap mono">${body?.nurls.map((n) => html`<div>${n}</div>`) ?? ''}</td></tr>`;
    })}
    ${dir.servers.length === 0 && html`<tr><td colspan="7" class="muted">The directory lists no server.</td></tr>`}
    </tbody></table></div>`;
  }
  return html`<h1>Grid</h1>${body}`;
}

export function errorPage(status: number, message: string): Html {
  return html`<h1>${status === 404 ? 'Not found' : 'Cannot do that'}</h1><p>${message}</p><p><a href="/">Back to the overview</a></p>`;
}
