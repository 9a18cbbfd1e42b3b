import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Accountant,
  type AccountListEntry,
  AccountListError,
  buildDigest,
  type DependencyHealth,
  type Digest,
  isNickname,
  MAX_ACCOUNT_LIST_BYTES,
  MAX_INVITATION_SECONDS,
  NICKNAME_RULE,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
  REQUEST_REFUSED_AT,
} from '@ostrom/accountant';
import type { BackupInfo, BackupReport, NodeCrawlerStatus } from '@ostrom/crawler';
import {
  AdminHttpError,
  adminStatusFor,
  failureAnswer,
  invitationView,
  readBoundedBody,
  tokenChecker,
} from '@ostrom/http';
import {
  ACCOUNT_STATUSES,
  type AccountStatus,
  type ActivityEvent,
  EVENT_KINDS,
  type EventKind,
  type LeaseDb,
  MAX_INVITATION_USES,
  STARTER_ACCOUNT_ID,
} from '@ostrom/leasedb';
import { formatInvitation } from '@ostrom/protocol';
import type { NodeGsdStatus } from '../node-gsd.js';
import { formatSize, parseSize } from '../size.js';
import { nodeAlerts } from './alerts.js';
import { PANEL_CSS, PANEL_JS } from './assets.js';
import {
  CHART_RANGES,
  type ChartRange,
  chartPoints,
  trafficBuckets,
  trafficChart,
  trafficTotals,
  usageChart,
  withCurrentLevel,
} from './chart.js';
import type { Html } from './html.js';
import {
  type AccountsQuery,
  accountPage,
  accountsPage,
  activityPage,
  BULK_LIMIT,
  type CrawlerSchedule,
  crawlerPage,
  type DefaultQuotas,
  errorPage,
  type Frame,
  gridPage,
  invitationsPage,
  loginPage,
  type NodeIdentity,
  overviewPage,
  PAGE_SIZE,
  page,
  SORTABLE,
  trafficSection,
  when,
} from './pages.js';
import { type PanelSession, PanelSessions, SESSION_COOKIE, SESSION_SECONDS } from './sessions.js';

/** The subset of a (pino) logger the panel uses. */
export interface PanelLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PanelOptions {
  readonly accountant: Accountant;
  readonly leaseDb: LeaseDb;
  /** The admin token: logging in takes it. */
  readonly token: string;
  nurlFor(accountId: number): string;
  readonly serverId: string;
  /** Who the node is, for the header and the overview (without it: the server id alone). */
  readonly identity?: NodeIdentity | undefined;
  /** The quotas new accounts get, shown on the accounts page. */
  readonly defaultQuotas?: DefaultQuotas | undefined;
  /** Whether the database and the store answer, for the overview's state. */
  readonly health?: Pick<DependencyHealth, 'check'> | undefined;
  readonly crawler?:
    | {
        status(): Promise<NodeCrawlerStatus>;
        /** Backs the database up now ("Back up now"), the operator as its actor. */
        backup?(actor?: string): Promise<BackupReport>;
      }
    | undefined;
  /** The backups kept in the store, newest first (the crawler page lists them). */
  readonly listBackups?: (() => Promise<readonly BackupInfo[]>) | undefined;
  /** How the crawl and the deletions are set, for the crawler page. */
  readonly crawlerSchedule?: CrawlerSchedule | undefined;
  readonly gsd?: { status(): NodeGsdStatus } | undefined;
  readonly logger?: PanelLogger | undefined;
  /** Unix seconds (default the system clock). */
  readonly now?: (() => number) | undefined;
}

/** Largest form body: the biggest real one (a login, a quota) is well under a kilobyte. */
const MAX_FORM_BYTES = 16 * 1024;

/**
 * Largest imported account list, as a form (the admin API's limit for the same list, with room
 * for the form's encoding). Only a logged-in operator's form is read this far.
 */
const MAX_LIST_FORM_BYTES = 2 * MAX_ACCOUNT_LIST_BYTES;

const HOUR = 3600;
const DAY = 24 * HOUR;

/** How long a built digest is shown before it is built again. */
const DIGEST_CACHE_SECONDS = 60;

/** Events a page of the activity log shows. */
const EVENTS_PER_PAGE = 50;

/**
 * The panel's own origin, as far as resolving its paths goes: request targets and the `next` of
 * a login are resolved against it. Its name is reserved (RFC 2606), so nothing else has it.
 */
const PANEL_ORIGIN = 'http://panel.invalid';

/** Browsers reach the panel by these host names only (a DNS-rebinding page has its own). */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

// A page's own script and stylesheet only; no frame may hold the panel; forms post here only.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

/** An operator's action refused for a reason shown on the page it came from. */
class ActionRefused extends Error {}

interface Request {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly session: PanelSession | undefined;
}

/**
 * The operator's web panel: server-rendered pages over the lease database and the accountant,
 * served on the admin listener beside `/admin/v1`. An operator logs in with the admin token and
 * a name; the name is the actor of each action in the activity log. Forms post
 * `application/x-www-form-urlencoded` and answer with a redirect (303), so reloading a page
 * never repeats an action.
 */
export function createPanel(options: PanelOptions) {
  const { accountant, leaseDb, logger } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const sessions = new PanelSessions(now);
  const tokenMatches = tokenChecker(options.token);
  // The digest reads the whole day's log: built at most once a minute, and again after an
  // action taken here, so the operator sees it at once.
  let digestCache: { at: number; digest: Promise<Digest> } | undefined;
  const digest = (at: number): Promise<Digest> => {
    if (!digestCache || at - digestCache.at >= DIGEST_CACHE_SECONDS || at < digestCache.at) {
      // The log's ranges are [since, until): shifted by a second, the day ends with this very
      // second, so an action taken just now is in it.
      const built = buildDigest(leaseDb, { since: at - DAY + 1, until: at + 1 });
      digestCache = { at, digest: built };
      built.catch(() => {
        if (digestCache?.digest === built) digestCache = undefined;
      });
    }
    return digestCache.digest;
  };

  const frame = (
    r: Request,
    title: string,
    section: Frame['section'],
  ): Frame & { session: PanelSession | null } => {
    const flash = r.session?.flash;
    if (r.session) r.session.flash = undefined;
    return {
      title,
      section,
      session: r.session ?? null,
      flash,
      serverId: options.serverId,
      nickname: options.identity?.nickname ?? null,
    };
  };

  // --------------------------------------------------------------------------- pages

  async function overview(r: Request): Promise<Html> {
    const at = now();
    const [stored, version, shares, accounts, crawler, backups, near, history, full, health] =
      await Promise.all([
        leaseDb.getServerUsage(),
        accountant.version().catch(() => null),
        leaseDb.countSharesByState(),
        leaseDb.countAccountsByStatus(),
        options.crawler ? options.crawler.status() : Promise.resolve(null),
        leaseDb.listEvents({ kinds: ['backup-made'], order: 'desc', limit: 1 }),
        leaseDb.listAccounts({ nearQuota: true, orderBy: 'bytes', direction: 'desc', limit: 5 }),
        leaseDb.getServerUsageHistory({ from: at - DAY, to: at + 1 }),
        leaseDb.listAccounts({ atHardQuota: true, orderBy: 'bytes', direction: 'desc', limit: 5 }),
        options.health ? options.health.check() : Promise.resolve(null),
      ]);
    const [refusedAccounts, nodeTraffic] = await Promise.all([
      refusingAccountsSince(at - HOUR),
      traffic(undefined, 'day', at),
    ]);
    const availableSpace = version?.availableSpace ?? null;
    const alerts = nodeAlerts({
      now: at,
      startedAt: options.identity?.startedAt ?? at,
      health,
      crawler,
      lastBackupAt: backups[0]?.at ?? null,
      gsd: options.gsd ? options.gsd.status() : null,
      storedBytes: stored.bytes,
      availableSpace,
      atHardQuota: full,
      refusedAccountsLastHour: refusedAccounts,
      pendingRequests: accounts.pending,
    });
    return page(
      frame(r, 'Overview', 'overview'),
      overviewPage({
        now: at,
        alerts,
        identity: options.identity ?? null,
        serverId: options.serverId,
        stored,
        availableSpace,
        shares,
        accounts,
        crawler,
        lastBackupAt: backups[0]?.at ?? null,
        nearQuota: near,
        chart: usageChart(
          withCurrentLevel(history, at, stored),
          at - DAY,
          at,
          'Bytes stored on this node, last 24 hours',
        ),
        traffic: nodeTraffic,
      }),
    );
  }

  /**
   * The traffic of one account (or of the node) over a chart range, in whole buckets ending with
   * the current one: what was counted until now is written first, so the last bucket is current.
   */
  async function traffic(
    accountId: number | undefined,
    range: ChartRange,
    at: number,
  ): Promise<Html> {
    const spec = CHART_RANGES[range];
    const bucket = spec.bucket ?? HOUR;
    const to = Math.floor(at / bucket) * bucket + bucket;
    const from = to - Math.ceil(spec.seconds / bucket) * bucket;
    // A database that cannot take the counts now keeps them; the page shows what it has.
    await accountant.flushTraffic().catch(() => undefined);
    const samples = await leaseDb.getTraffic({
      ...(accountId === undefined ? {} : { accountId }),
      from,
      to,
    });
    const buckets = trafficBuckets(samples, from, to, bucket);
    const title = `${accountId === undefined ? 'Traffic of this node' : 'Traffic'}: ${spec.label}`;
    return trafficSection(
      trafficTotals(buckets),
      spec.label,
      trafficChart(buckets, from, to, title),
    );
  }

  /** How many accounts had writes refused since `since` (read from at most 1,000 events). */
  async function refusingAccountsSince(since: number): Promise<number> {
    const events = await leaseDb.listEvents({ kinds: ['write-refused'], since, limit: 1000 });
    return new Set(events.map((e) => e.accountId)).size;
  }

  async function accounts(r: Request): Promise<Html> {
    const p = r.url.searchParams;
    const sort = oneOf(p.get('sort'), SORTABLE, 'id', 'sort');
    const q: AccountsQuery = {
      q: (p.get('q') ?? '').trim().slice(0, 64),
      status: p.get('status') ? oneOf(p.get('status'), ACCOUNT_STATUSES, 'normal', 'status') : '',
      near: p.get('near') === '1',
      sort,
      dir: oneOf(p.get('dir'), ['asc', 'desc'] as const, 'asc', 'dir'),
      page: positiveInt(p.get('page'), 1, 'page'),
    };
    const [result, counts] = await Promise.all([
      leaseDb.listAccounts({
        ...(q.q ? { search: q.q } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.near ? { nearQuota: true } : {}),
        orderBy: q.sort,
        direction: q.dir,
        limit: PAGE_SIZE,
        offset: (q.page - 1) * PAGE_SIZE,
      }),
      leaseDb.countAccountsByStatus(),
    ]);
    return page(
      frame(r, 'Accounts', 'accounts'),
      accountsPage(q, result.accounts, result.total, now(), {
        defaults: options.defaultQuotas ?? null,
        pending: counts.pending,
        csrf: r.session!.csrf,
      }),
    );
  }

  async function account(r: Request, id: number): Promise<Html> {
    const found = await leaseDb.getAccount(id);
    if (!found) throw new AdminHttpError('NOT_FOUND', `there is no account ${id}`);
    const range = oneOf(
      r.url.searchParams.get('range'),
      Object.keys(CHART_RANGES) as ChartRange[],
      'day',
      'range',
    );
    const spec = CHART_RANGES[range];
    const at = now();
    const from = at - spec.seconds;
    const [usage, attributes, samples, events, statusChanges, accountTraffic, invitations] =
      await Promise.all([
        leaseDb.getAccountUsage(id),
        leaseDb.getAccountAttributes(id),
        leaseDb.getUsageHistory(id, { from, to: at + 1 }),
        leaseDb.listEvents({ accountId: id, order: 'desc', limit: 20 }),
        leaseDb.listEvents({
          accountId: id,
          kinds: ['account-status-changed'],
          order: 'desc',
          limit: 1,
        }),
        traffic(id, range, at),
        accountant.invitationChain(id),
      ]);
    const deletedAt = attributes['deleted-at'];
    const refusedAt = attributes[REQUEST_REFUSED_AT];
    const current = usage ?? { shares: 0, bytes: 0 };
    return page(
      frame(r, found.nickname, 'accounts'),
      accountPage({
        account: { ...found, usage: current },
        nurl: found.status === 'deleted' || id === 1 ? null : options.nurlFor(id),
        deletedAt: deletedAt === undefined ? null : Number(deletedAt),
        refusedAt: refusedAt === undefined ? null : Number(refusedAt),
        statusChange: statusChanges[0] ?? null,
        range,
        ranges: Object.keys(CHART_RANGES) as ChartRange[],
        chart: usageChart(
          withCurrentLevel(chartPoints(samples, from, spec.bucket), at, current),
          from,
          at,
          `${found.nickname}: ${spec.label}`,
          { hardQuotaBytes: found.hardQuotaBytes, softQuotaBytes: found.softQuotaBytes },
        ),
        traffic: accountTraffic,
        events,
        invitations,
        csrf: r.session!.csrf,
        now: at,
      }),
    );
  }

  async function activity(r: Request): Promise<Html> {
    const p = r.url.searchParams;
    const kindText = p.get('kind') ?? '';
    const kind = kindText === '' ? '' : oneOf(kindText, EVENT_KINDS, 'notice', 'kind');
    // The account filter takes an id or a nickname (a name that is no one's, or several
    // people's, is said on the page instead of listing every event).
    const accountText = p.get('account')?.trim() ?? '';
    const lookup = await accountNamed(accountText);
    const accountId = lookup.id;
    const before = p.has('before') ? positiveInt(p.get('before'), 1, 'before') : null;
    const at = now();
    const [dayDigest, events] = await Promise.all([
      digest(at),
      lookup.found
        ? leaseDb.listEvents({
            order: 'desc',
            limit: EVENTS_PER_PAGE + 1,
            ...(kind ? { kinds: [kind as EventKind] } : {}),
            ...(accountId === null ? {} : { accountId }),
            ...(before === null ? {} : { beforeId: before }),
          })
        : Promise.resolve([]),
    ]);
    const shown = events.slice(0, EVENTS_PER_PAGE);
    const names = await nicknames(shown);
    let older: string | null = null;
    if (events.length > EVENTS_PER_PAGE) {
      const next = new URLSearchParams();
      if (kind) next.set('kind', kind);
      if (accountId !== null) next.set('account', String(accountId));
      next.set('before', String(shown.at(-1)!.id));
      older = `/activity?${next}`;
    }
    return page(
      frame(r, 'Activity', 'activity'),
      activityPage(
        { kind, account: accountId, accountText, matches: lookup.matches, before },
        dayDigest,
        shown,
        names,
        older,
      ),
    );
  }

  /**
   * The account an activity filter names: empty (none), an id, or a nickname (an exact match,
   * case aside, else the only one containing it). `found` is false when the text names nobody or
   * several accounts; `matches` are those several (at most ten), to pick from.
   */
  async function accountNamed(text: string): Promise<{
    id: number | null;
    found: boolean;
    matches: readonly { id: number; nickname: string }[];
  }> {
    if (text === '') return { id: null, found: true, matches: [] };
    if (/^\d+$/.test(text))
      return { id: nonNegativeInt(text, 'account'), found: true, matches: [] };
    if (!isNickname(text)) {
      throw new AdminHttpError(
        'BAD_REQUEST',
        `account must be an id or a nickname (${NICKNAME_RULE})`,
      );
    }
    const { accounts } = await leaseDb.listAccounts({
      search: text,
      orderBy: 'nickname',
      limit: 10,
    });
    const exact = accounts.filter((a) => a.nickname.toLowerCase() === text.toLowerCase());
    const chosen = exact.length === 1 ? exact : accounts.length === 1 ? accounts : [];
    if (chosen.length === 1) return { id: chosen[0]!.id, found: true, matches: [] };
    return {
      id: null,
      found: false,
      matches: accounts.map((a) => ({ id: a.id, nickname: a.nickname })),
    };
  }

  async function nicknames(events: readonly ActivityEvent[]): Promise<Map<number, string>> {
    const ids = [...new Set(events.map((e) => e.accountId).filter((id) => id !== null))];
    const found = await Promise.all(ids.map((id) => leaseDb.getAccount(id)));
    return new Map(ids.map((id, i) => [id, found[i]?.nickname ?? `account ${id}`]));
  }

  async function crawlerStatusPage(r: Request): Promise<Html> {
    const status = options.crawler ? await options.crawler.status() : null;
    const backups = status?.backups && options.listBackups ? await options.listBackups() : null;
    return page(
      frame(r, 'Crawler', 'crawler'),
      crawlerPage({
        status,
        schedule: options.crawlerSchedule ?? null,
        backups,
        csrf: r.session!.csrf,
        now: now(),
      }),
    );
  }

  /** "Back up now": a backup with the operator as its actor, said on the page. */
  async function backupNow(r: Request): Promise<void> {
    const session = r.session!;
    const backup = options.crawler?.backup;
    const status = options.crawler ? await options.crawler.status() : null;
    if (!backup || !status?.backups) {
      session.flash = { error: true, text: 'This node makes no backups itself.' };
    } else {
      try {
        const report = await backup.call(options.crawler, session.operator);
        logger?.info({ action: 'backup', actor: session.operator }, 'panel action');
        digestCache = undefined;
        session.flash = {
          error: false,
          text: `Backed up: ${report.name} (${formatSize(report.compressedBytes)}).`,
        };
      } catch (error) {
        logger?.error({ err: error }, 'a backup from the panel failed');
        session.flash = { error: true, text: `The backup failed: ${(error as Error).message}` };
      }
    }
    redirect(r.res, '/crawler');
  }

  async function invitations(r: Request): Promise<Html> {
    const session = r.session!;
    const rows = await accountant.listInvitations();
    const at = now();
    // Shown once: the code leaves the session as the page that shows it is built.
    const issued = session.issued ?? null;
    session.issued = undefined;
    return page(
      frame(r, 'Invitations', 'invitations'),
      invitationsPage({
        invitations: rows.map((row) => invitationView(row, at)),
        issued,
        maxUses: MAX_INVITATION_USES,
        csrf: session.csrf,
        now: at,
      }),
    );
  }

  function grid(r: Request): Html {
    return page(frame(r, 'Grid', 'grid'), gridPage(options.gsd?.status() ?? null, now()));
  }

  // --------------------------------------------------------------------------- actions

  /** Runs an account action; its outcome is the flash of the account page it redirects to. */
  async function act(r: Request, id: number, verb: string, form: URLSearchParams): Promise<void> {
    const session = r.session!;
    const actor = session.operator;
    const found = await leaseDb.getAccount(id);
    if (!found) throw new AdminHttpError('NOT_FOUND', `there is no account ${id}`);
    const name = found.nickname;
    try {
      let done: string;
      switch (verb) {
        case 'freeze':
        case 'thaw':
        case 'enable':
        case 'disable': {
          const status: AccountStatus =
            verb === 'freeze' ? 'frozen' : verb === 'disable' ? 'disabled' : 'normal';
          // The starter account serves no client: its status means nothing, so it keeps it.
          if (id === STARTER_ACCOUNT_ID) {
            throw new ActionRefused('The starter account serves no client; its status stays.');
          }
          // The lease database checks the reason (a TypeError, shown, when it is too long).
          const reason = form.get('reason');
          await accountant.setAccountStatus(id, status, {
            actor,
            ...(reason === null ? {} : { reason }),
          });
          done = `${name} is now ${status}.`;
          break;
        }
        case 'approve':
          await accountant.approveAccount(id, { actor });
          done = `${name} is approved.`;
          break;
        case 'refuse': {
          const reason = form.get('reason');
          await accountant.refuseAccount(id, { actor, ...(reason === null ? {} : { reason }) });
          done = `The request of ${name} is refused: the account is disabled.`;
          break;
        }
        case 'rename': {
          const nickname = (form.get('nickname') ?? '').trim();
          if (!isNickname(nickname)) {
            throw new ActionRefused(`A nickname is ${NICKNAME_RULE}. Nothing changed.`);
          }
          await accountant.renameAccount(id, nickname, { actor });
          done = nickname === name ? `${name} keeps its name.` : `${name} is now ${nickname}.`;
          break;
        }
        case 'quota': {
          // A field the operator left as the page showed it keeps the quota it has now: only
          // what was changed changes (and nothing is rounded on the way).
          const field = (kind: 'hard' | 'soft') =>
            form.has(`${kind}-shown`) && form.get(kind) === form.get(`${kind}-shown`)
              ? kind === 'hard'
                ? found.hardQuotaBytes
                : found.softQuotaBytes
              : sizeField(form, kind);
          const hard = field('hard');
          const soft = field('soft');
          if (hard !== null && soft !== null && soft > hard) {
            throw new ActionRefused('The soft quota must not exceed the hard quota.');
          }
          await accountant.setAccountQuota(
            id,
            { hardQuotaBytes: hard, softQuotaBytes: soft },
            { actor },
          );
          done = `The quota of ${name} is set.`;
          const usage = (await leaseDb.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
          if (hard !== null && usage.bytes > hard) {
            done += ` It holds ${formatSize(usage.bytes)}, more than its hard quota of ${formatSize(hard)}: it can store nothing more until it holds less (nothing it holds is deleted).`;
          }
          break;
        }
        case 'delete': {
          // The browser keeps the button disabled until the nickname is typed; this is the check
          // that counts.
          if ((form.get('confirm') ?? '') !== name) {
            throw new ActionRefused(
              `Type the nickname “${name}” exactly to confirm. Nothing was deleted.`,
            );
          }
          await accountant.setAccountStatus(id, 'deleted', { actor });
          done = `${name} is deleted: its shares go after the deletion grace period.`;
          break;
        }
        default:
          throw new AdminHttpError('NOT_FOUND', 'no such action');
      }
      logger?.info({ accountId: id, action: verb, actor }, 'panel action');
      digestCache = undefined;
      session.flash = { error: false, text: done };
    } catch (error) {
      if (error instanceof AdminHttpError) throw error;
      refusedOnly(error, session);
    }
    redirect(r.res, `/accounts/${id}`);
  }

  /** "Add an account": one key, active at once; its page comes next, with its NURL. */
  async function addAccount(r: Request, form: URLSearchParams): Promise<void> {
    const session = r.session!;
    try {
      const keyText = (form.get('key') ?? '').trim();
      const publicKey = parsePublicKey(keyText);
      if (publicKey === undefined) {
        throw new ActionRefused(`A public key is ${PUBLIC_KEY_FORMS}. Nothing was added.`);
      }
      const nickname = (form.get('nickname') ?? '').trim();
      if (!isNickname(nickname)) {
        throw new ActionRefused(`A nickname is ${NICKNAME_RULE}. Nothing was added.`);
      }
      // Empty: the default quota (unlike an account's own form, where empty is none).
      const quota = (kind: 'hard' | 'soft') =>
        (form.get(kind) ?? '').trim() === '' ? undefined : sizeField(form, kind);
      const hard = quota('hard');
      const soft = quota('soft');
      const defaults = options.defaultQuotas;
      const effectiveHard = hard === undefined ? (defaults?.hardQuotaBytes ?? null) : hard;
      const effectiveSoft = soft === undefined ? (defaults?.softQuotaBytes ?? null) : soft;
      if (effectiveHard !== null && effectiveSoft !== null && effectiveSoft > effectiveHard) {
        throw new ActionRefused(
          'The soft quota must not exceed the hard quota. Nothing was added.',
        );
      }
      const known = await leaseDb.getAccountByPublicKey(publicKey);
      if (known) {
        session.flash = {
          error: true,
          text: `That key has an account already: ${known.nickname}.`,
        };
        return redirect(r.res, `/accounts/${known.id}`);
      }
      const added = await accountant.addAccount(
        {
          publicKey,
          nickname,
          ...(hard === undefined ? {} : { hardQuotaBytes: hard }),
          ...(soft === undefined ? {} : { softQuotaBytes: soft }),
        },
        { actor: session.operator },
      );
      logger?.info({ accountId: added.id, action: 'add', actor: session.operator }, 'panel action');
      digestCache = undefined;
      session.flash = {
        error: false,
        text: `${added.nickname} is added and active: give its owner the NURL below.`,
      };
      redirect(r.res, `/accounts/${added.id}`);
    } catch (error) {
      refusedOnly(error, session);
      redirect(r.res, '/accounts');
    }
  }

  /** "Import a list": every line checked first, then each new key added (as the CLI does). */
  async function importList(r: Request, form: URLSearchParams): Promise<void> {
    const session = r.session!;
    try {
      let entries: AccountListEntry[];
      try {
        entries = parseAccountList(form.get('list') ?? '', 'The list');
      } catch (error) {
        if (!(error instanceof AccountListError)) throw error;
        throw new ActionRefused(`${error.message}. Nothing was added.`);
      }
      if (entries.length === 0) throw new ActionRefused('The list names no key.');
      const { added, existing } = await accountant.importAccounts(entries, {
        actor: session.operator,
      });
      logger?.info(
        {
          action: 'import',
          added: added.length,
          existing: existing.length,
          actor: session.operator,
        },
        'panel action',
      );
      digestCache = undefined;
      const names = (list: readonly { nickname: string }[]) =>
        list.length <= 10
          ? list.map((a) => a.nickname).join(', ')
          : `${list
              .slice(0, 10)
              .map((a) => a.nickname)
              .join(', ')} and ${list.length - 10} more`;
      session.flash = {
        error: false,
        text:
          `Imported: ${added.length} added${added.length > 0 ? ` (${names(added)})` : ''}` +
          (existing.length > 0
            ? `; ${existing.length} had an account already and were left as they are (${names(existing)}).`
            : '.'),
      };
    } catch (error) {
      refusedOnly(error, session);
    }
    redirect(r.res, '/accounts');
  }

  /**
   * An action on the accounts selected in the list: quotas (a field left empty stays as each
   * account has it), or approving or refusing the pending ones. Quotas are checked for every
   * account before any is set, so a refusal changes none.
   */
  async function bulk(r: Request, form: URLSearchParams): Promise<void> {
    const session = r.session!;
    const actor = session.operator;
    // The list it came from, filters and page kept (the panel sends no Referer).
    const back = localPath(form.get('back'));
    try {
      const ids: number[] = [];
      for (const key of form.keys()) {
        const m = /^account-(\d{1,15})$/.exec(key);
        if (m) ids.push(Number(m[1]));
      }
      if (ids.length === 0) throw new ActionRefused('Select accounts in the list first.');
      if (ids.length > BULK_LIMIT) {
        throw new ActionRefused(`Select at most ${BULK_LIMIT} accounts at once.`);
      }
      const found = await Promise.all(ids.map((id) => leaseDb.getAccount(id)));
      const accounts = found.filter((a) => a !== undefined);
      if (accounts.length < ids.length) throw new ActionRefused('A selected account is gone.');
      const action = form.get('action');
      let done: string;
      if (action === 'quota') {
        const change = (kind: 'hard' | 'soft') =>
          (form.get(kind) ?? '').trim() === '' ? undefined : sizeField(form, kind);
        const hard = change('hard');
        const soft = change('soft');
        if (hard === undefined && soft === undefined) {
          throw new ActionRefused('Give a hard quota, a soft quota or both (none removes one).');
        }
        const plans = accounts.map((a) => ({
          account: a,
          hardQuotaBytes: hard === undefined ? a.hardQuotaBytes : hard,
          softQuotaBytes: soft === undefined ? a.softQuotaBytes : soft,
        }));
        const clashing = plans.filter(
          (p) =>
            p.hardQuotaBytes !== null &&
            p.softQuotaBytes !== null &&
            p.softQuotaBytes > p.hardQuotaBytes,
        );
        if (clashing.length > 0) {
          throw new ActionRefused(
            `The soft quota would exceed the hard quota of ${clashing.map((p) => p.account.nickname).join(', ')}. Nothing changed.`,
          );
        }
        for (const p of plans) {
          await accountant.setAccountQuota(
            p.account.id,
            { hardQuotaBytes: p.hardQuotaBytes, softQuotaBytes: p.softQuotaBytes },
            { actor },
          );
        }
        done = `The quota of ${plans.length === 1 ? plans[0]!.account.nickname : `${plans.length} accounts`} is set.`;
      } else if (action === 'approve' || action === 'refuse') {
        const pending = accounts.filter((a) => a.status === 'pending');
        if (pending.length === 0)
          throw new ActionRefused('None of the selected accounts is pending.');
        for (const a of pending) {
          if (action === 'approve') await accountant.approveAccount(a.id, { actor });
          else await accountant.refuseAccount(a.id, { actor });
        }
        const skipped = accounts.length - pending.length;
        done =
          `${action === 'approve' ? 'Approved' : 'Refused'}: ${pending.map((a) => a.nickname).join(', ')}.` +
          (skipped > 0
            ? ` ${skipped} selected ${skipped === 1 ? 'was' : 'were'} not pending and ${skipped === 1 ? 'is' : 'are'} as before.`
            : '');
      } else {
        throw new AdminHttpError('BAD_REQUEST', 'action must be quota, approve or refuse');
      }
      logger?.info({ action: `bulk-${action}`, accounts: ids, actor }, 'panel action');
      digestCache = undefined;
      session.flash = { error: false, text: done };
    } catch (error) {
      if (error instanceof AdminHttpError) throw error;
      refusedOnly(error, session);
    }
    redirect(r.res, back.startsWith('/accounts') ? back : '/accounts');
  }

  /**
   * "Issue an invitation": its code goes to the session, for the invitations page to show once
   * (a redirect's Location or a flash in the log would keep it longer).
   */
  async function issueInvitation(r: Request, form: URLSearchParams): Promise<void> {
    const session = r.session!;
    try {
      const nicknameText = (form.get('nickname') ?? '').trim();
      if (nicknameText !== '' && !isNickname(nicknameText)) {
        throw new ActionRefused(`A nickname is ${NICKNAME_RULE}. Nothing was issued.`);
      }
      const hard = sizeField(form, 'hard');
      const soft = sizeField(form, 'soft');
      if (hard !== null && soft !== null && soft > hard) {
        throw new ActionRefused(
          'The soft quota must not exceed the hard quota. Nothing was issued.',
        );
      }
      const expires = wholeField(form, 'expires', MAX_INVITATION_SECONDS, 'Valid for');
      const uses = wholeField(form, 'uses', MAX_INVITATION_USES, 'Uses');
      const { invitation, secret } = await accountant.createInvitation({
        nickname: nicknameText === '' ? null : nicknameText,
        hardQuotaBytes: hard,
        softQuotaBytes: soft,
        expiresInSeconds: expires,
        maxUses: uses,
        actor: session.operator,
      });
      logger?.info(
        { invitationId: invitation.id, action: 'invite', actor: session.operator },
        'panel action',
      );
      digestCache = undefined;
      session.issued = {
        id: invitation.id,
        code: formatInvitation({ secret, nurl: options.nurlFor(0) }),
      };
      session.flash = {
        error: false,
        text: `Invitation ${invitation.id} is issued: ${invitation.maxUses === 1 ? 'one use' : `${invitation.maxUses} uses`}, until ${when(invitation.expiresAt)}.`,
      };
    } catch (error) {
      refusedOnly(error, session);
    }
    redirect(r.res, '/invitations');
  }

  /** "Revoke": the invitation's code makes no more accounts (those it made are kept). */
  async function revokeInvitation(r: Request, id: number): Promise<void> {
    const session = r.session!;
    try {
      const row = await accountant.revokeInvitation(id, { actor: session.operator });
      logger?.info(
        { invitationId: id, action: 'revoke-invitation', actor: session.operator },
        'panel action',
      );
      digestCache = undefined;
      session.flash = {
        error: false,
        text: `Invitation ${row.id} is revoked: its code makes no more accounts (${row.uses === 1 ? 'one was' : `${row.uses} were`} made with it).`,
      };
    } catch (error) {
      refusedOnly(error, session);
    }
    redirect(r.res, '/invitations');
  }

  /** A refusal (bad input, a wrong state) becomes the page's flash; anything else fails. */
  function refusedOnly(error: unknown, session: PanelSession): void {
    const status = adminStatusFor(error);
    if (!(error instanceof ActionRefused) && (status === undefined || status >= 500)) throw error;
    session.flash = { error: true, text: (error as Error).message };
  }

  // --------------------------------------------------------------------------- dispatch

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', PANEL_ORIGIN);
    } catch {
      throw new AdminHttpError('BAD_REQUEST', 'malformed request target');
    }
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (!LOCAL_HOSTS.has(host)) {
      throw new AdminHttpError(
        'MISDIRECTED_REQUEST',
        'the panel answers to 127.0.0.1 or localhost only',
      );
    }
    const method = req.method ?? '';
    const path = url.pathname;
    if (method === 'GET' && path === '/static/panel.css') {
      return sendAsset(res, PANEL_CSS, 'text/css; charset=utf-8');
    }
    if (method === 'GET' && path === '/static/panel.js') {
      return sendAsset(res, PANEL_JS, 'text/javascript; charset=utf-8');
    }
    const session = sessions.find(req.headers.cookie);
    const r: Request = { req, res, url, session };

    if (path === '/login') {
      if (method === 'GET') {
        const next = localPath(url.searchParams.get('next'));
        return sendPage(res, 200, page(frame(r, 'Log in', null), loginPage(next)));
      }
      if (method !== 'POST') throw methodNotAllowed('GET, POST');
      const form = await readForm(req, MAX_FORM_BYTES);
      const next = localPath(form.get('next'));
      const operator = (form.get('operator') ?? '').trim();
      // An operator's name follows the rule of the names of accounts.
      const nameOk = isNickname(operator);
      if (!tokenMatches(form.get('token') ?? '') || !nameOk) {
        logger?.info({ operator: operator.slice(0, 40) }, 'panel login refused');
        const text = nameOk
          ? 'That is not this node’s admin token.'
          : `Give your name (${NICKNAME_RULE}): it is recorded with your actions.`;
        const f = { ...frame(r, 'Log in', null), session: null, flash: { error: true, text } };
        return sendPage(res, 401, page(f, loginPage(next)));
      }
      const created = sessions.create(operator);
      logger?.info({ operator }, 'panel login');
      res.setHeader(
        'Set-Cookie',
        `${SESSION_COOKIE}=${created.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_SECONDS}`,
      );
      return redirect(res, next);
    }

    if (!session) {
      if (method === 'GET' || method === 'HEAD') {
        return redirect(res, `/login?next=${encodeURIComponent(path + url.search)}`);
      }
      throw new AdminHttpError('UNAUTHORIZED', 'log in first');
    }

    if (method === 'POST') {
      const form = await readForm(
        req,
        path === '/accounts/import' ? MAX_LIST_FORM_BYTES : MAX_FORM_BYTES,
      );
      if (form.get('csrf') !== session.csrf) {
        throw new AdminHttpError(
          'FORBIDDEN',
          'this form is stale or not from the panel: reload the page',
        );
      }
      if (path === '/logout') {
        sessions.delete(session.id);
        res.setHeader(
          'Set-Cookie',
          `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
        );
        return redirect(res, '/login');
      }
      if (path === '/crawler/backup') return await backupNow(r);
      if (path === '/accounts/add') return await addAccount(r, form);
      if (path === '/accounts/import') return await importList(r, form);
      if (path === '/accounts/bulk') return await bulk(r, form);
      if (path === '/invitations/issue') return await issueInvitation(r, form);
      const revoke = /^\/invitations\/(\d{1,15})\/revoke$/.exec(path);
      if (revoke) return await revokeInvitation(r, Number(revoke[1]));
      const m = /^\/accounts\/(\d{1,15})\/([a-z]+)$/.exec(path);
      if (m) return await act(r, Number(m[1]), m[2]!, form);
      throw new AdminHttpError('NOT_FOUND', 'no such page');
    }
    if (method !== 'GET') throw methodNotAllowed('GET');
    if (path === '/') return sendPage(res, 200, await overview(r));
    if (path === '/accounts') return sendPage(res, 200, await accounts(r));
    const m = /^\/accounts\/(\d{1,15})$/.exec(path);
    if (m) return sendPage(res, 200, await account(r, Number(m[1])));
    if (path === '/invitations') return sendPage(res, 200, await invitations(r));
    if (path === '/activity') return sendPage(res, 200, await activity(r));
    if (path === '/crawler') return sendPage(res, 200, await crawlerStatusPage(r));
    if (path === '/grid') return sendPage(res, 200, grid(r));
    throw new AdminHttpError('NOT_FOUND', 'no such page');
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    req.on('error', (error) => logger?.info({ err: error }, 'panel request stream failed'));
    res.on('error', (error) => logger?.info({ err: error }, 'panel response stream failed'));
    handle(req, res).catch((error: unknown) => {
      const answer = failureAnswer(
        error,
        'Something failed on the node; its log says what.',
        (err) => logger?.error({ err, method: req.method, url: req.url }, 'panel failure'),
      );
      const { status, message } = answer;
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const headers = error instanceof AdminHttpError ? error.headers : answer.headers;
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      const body = page(
        { title: 'Error', section: null, session: null, serverId: options.serverId },
        errorPage(status, message),
      );
      sendPage(res, status, body);
    });
  };
}

// ----------------------------------------------------------------------------- input

function oneOf<T extends string>(
  value: string | null,
  allowed: readonly T[],
  fallback: T,
  name: string,
): T {
  if (value === null || value === '') return fallback;
  if (!allowed.includes(value as T)) {
    throw new AdminHttpError('BAD_REQUEST', `${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function positiveInt(value: string | null, fallback: number, name: string): number {
  if (value === null || value === '') return fallback;
  if (!/^[1-9][0-9]{0,14}$/.test(value)) {
    throw new AdminHttpError('BAD_REQUEST', `${name} must be a whole number from 1`);
  }
  return Number(value);
}

function nonNegativeInt(value: string, name: string): number {
  if (!/^[0-9]{1,15}$/.test(value))
    throw new AdminHttpError('BAD_REQUEST', `${name} must be a whole number`);
  return Number(value);
}

/** A quota field: empty is no limit, else a size such as `10 GB` or `500MiB`. */
function sizeField(form: URLSearchParams, name: 'hard' | 'soft'): number | null {
  const text = (form.get(name) ?? '').trim();
  if (text === '' || text.toLowerCase() === 'none') return null;
  const bytes = parseSize(text.replace(/\s+/g, ''));
  if (bytes === undefined) {
    throw new ActionRefused(
      `The ${name} quota “${text}” is not a size (write e.g. 10 GB, 500 MiB, or leave it empty for no limit). Nothing changed.`,
    );
  }
  return bytes;
}

/** A whole-number field from 1 to `max`, else refused naming it as the form labels it. */
function wholeField(form: URLSearchParams, name: string, max: number, label: string): number {
  const text = (form.get(name) ?? '').trim();
  const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= max)) {
    throw new ActionRefused(
      `${label} must be a whole number from 1 to ${max}. Nothing was issued.`,
    );
  }
  return value;
}

/**
 * A redirect target from input (the `next` of a login): the path and query it names on this
 * panel, or the home page when it names anything else. Checking the raw string is not enough: a
 * browser drops tabs and newlines from a Location and reads `\` as `/`, so `/\t/evil.example`
 * is `//evil.example`, another host. So the value is resolved as a browser resolves it, kept only
 * when it stays on the panel's origin, and sent back re-serialised (controls percent-encoded),
 * never as given.
 */
function localPath(value: string | null): string {
  let target: URL;
  try {
    target = new URL(value ?? '/', PANEL_ORIGIN);
  } catch {
    return '/';
  }
  // Dot segments can leave a path starting with `//` (`/.//evil.example`), which a browser
  // reads back as a host.
  if (target.origin !== PANEL_ORIGIN || target.pathname.startsWith('//')) return '/';
  return target.pathname + target.search;
}

async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams> {
  const essence = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (essence !== 'application/x-www-form-urlencoded') {
    throw new AdminHttpError(
      'UNSUPPORTED_MEDIA_TYPE',
      'panel forms are application/x-www-form-urlencoded',
    );
  }
  const body = await readBoundedBody(req, maxBytes, 'form');
  const form = new URLSearchParams(body.toString('utf8'));
  const seen = new Set<string>();
  for (const key of form.keys()) {
    if (seen.has(key)) throw new AdminHttpError('BAD_REQUEST', `form field "${key}" given twice`);
    seen.add(key);
  }
  return form;
}

function methodNotAllowed(allow: string): AdminHttpError {
  return new AdminHttpError('METHOD_NOT_SUPPORTED', 'method not allowed', {
    headers: { Allow: allow },
  });
}

// ----------------------------------------------------------------------------- output

function sendPage(res: ServerResponse, status: number, body: Html): void {
  const bytes = Buffer.from(body.text, 'utf8');
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(bytes.length),
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(bytes);
}

function sendAsset(res: ServerResponse, text: string, type: string): void {
  const bytes = Buffer.from(text, 'utf8');
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': String(bytes.length),
    'Cache-Control': 'max-age=3600',
    ...SECURITY_HEADERS,
  });
  res.end(bytes);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { Location: location, 'Content-Length': '0', 'Cache-Control': 'no-store' });
  res.end();
}
