import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Accountant,
  type AccountListEntry,
  AccountListError,
  accountUsageReport,
  buildDigest,
  type DependencyHealth,
  isNickname,
  MAX_ACCOUNT_LIST_BYTES,
  MAX_INVITATION_SECONDS,
  NICKNAME_RULE,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
  parseSize,
  serverUsageReport,
} from '@ostrom/accountant';
import {
  ACCOUNT_ORDERS,
  ACCOUNT_STATUSES,
  type AccountRow,
  type AccountStatus,
  EVENT_KINDS,
  type LeaseDb,
  MAX_INVITATION_USES,
  STARTER_ACCOUNT_ID,
} from '@ostrom/leasedb';
import { formatInvitation } from '@ostrom/protocol';
import { z } from 'zod';
import { AdminHttpError } from './errors.js';
import { invitationView } from './invitations.js';
import {
  converted,
  integer,
  jsonFields,
  listOf,
  matching,
  parseInput,
  queryParameters,
  time,
  wholeNumber,
} from './validate.js';

/** A status the API serves as it is, as JSON (the crawler's, the grid service directory's). */
export type AdminStatusProvider = () => object | Promise<object>;

/** Prometheus metrics served as `GET /metrics`. */
export interface AdminMetrics {
  /** The exposition text. */
  scrape(): Promise<string>;
  /** Its `Content-Type` (a prom-client registry's `contentType`). */
  readonly contentType: string;
}

/** What the routes are given: the handler's options, as {@link createAdminHandler} takes them. */
export interface AdminRouteOptions {
  readonly accountant: Accountant;
  readonly leaseDb: LeaseDb;
  /**
   * The NURL of an account (its own swissnum); account 0's, the anonymous NURL, is the one an
   * invitation's code carries.
   */
  nurlFor(accountId: number): string;
  /** The node's server id, for `GET /admin/v1/health` and `/nurl`. */
  readonly serverId: string;
  /** The node's announcement fURL, for `GET /admin/v1/nurl` (null there without it). */
  readonly furl?: string | undefined;
  /** The application's version, for `GET /admin/v1/health`. */
  readonly version?: string | undefined;
  /**
   * Whether the database and the store answer, for `GET /admin/v1/health`. Without it the
   * health check reads the database itself and says nothing of the store.
   */
  readonly health?: Pick<DependencyHealth, 'check'> | undefined;
  /** `GET /admin/v1/crawler` (404 without it). */
  readonly crawlerStatus?: AdminStatusProvider | undefined;
  /** `GET /admin/v1/gsd` (404 without it). */
  readonly gsdStatus?: AdminStatusProvider | undefined;
  /** `GET /metrics` (404 without it). */
  readonly metrics?: AdminMetrics | undefined;
  readonly logger?: { error(obj: object, msg?: string): void } | undefined;
}

/** One request as a route sees it. */
export interface AdminContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: readonly string[];
  readonly query: Readonly<Record<string, string>>;
  /** Who acts, for the activity log: `X-Ostrom-Actor`, else `ADMIN_ACTOR`. */
  readonly actor: string;
  /** The JSON body (undefined if empty), refused past `maxBytes` (default `MAX_ADMIN_BODY_BYTES`). */
  body(maxBytes?: number): Promise<unknown>;
}

/** A route's answer: JSON, or text of a type. `status` is a success's (default 200). */
export type AdminAnswer =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; type: string };

export interface AdminRoute {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: RegExp;
  handle(ctx: AdminContext): Promise<AdminAnswer>;
}

// ----------------------------------------------------------------------------- validation

const limit = integer({ min: 1, max: 10_000 }).optional();

const QUOTA_RULE = 'expected bytes, a size such as "5GB", or null for none';

/** A quota: bytes, a size such as "5GB", or null / "none" for no limit. */
const quota = z
  .union([z.null(), z.number(), z.string()], { error: QUOTA_RULE })
  .transform((value) => (value === null || value === 'none' ? null : parseSize(value)))
  .pipe(z.custom<number | null>((bytes) => bytes !== undefined, { error: QUOTA_RULE }));

const nickname = matching(isNickname, NICKNAME_RULE);

const direction = z.enum(['asc', 'desc']);

const listQuery = queryParameters({
  status: z.enum(ACCOUNT_STATUSES).optional(),
  search: z.string().min(1).max(200).optional(),
  orderBy: z.enum(ACCOUNT_ORDERS).optional(),
  direction: direction.optional(),
  limit,
  offset: integer().optional(),
});

const addBody = jsonFields({
  publicKey: converted(parsePublicKey, PUBLIC_KEY_FORMS),
  nickname,
  hardBytes: quota.optional(),
  softBytes: quota.optional(),
});

const importBody = jsonFields({ text: z.string() });

const statusBody = jsonFields({ reason: z.string().optional() });

const noBody = jsonFields({});

const nicknameBody = jsonFields({ nickname });

const quotaBody = jsonFields({ hardBytes: quota.optional(), softBytes: quota.optional() });

/** How long an invitation stays valid when its issuer does not say: a week, as the CLI's. */
const INVITATION_DEFAULT_SECONDS = 7 * 86_400;

const invitationBody = jsonFields({
  nickname: nickname.optional(),
  hardQuotaBytes: quota.optional(),
  softQuotaBytes: quota.optional(),
  expiresInSeconds: wholeNumber({ min: 1, max: MAX_INVITATION_SECONDS }).optional(),
  maxUses: wholeNumber({ min: 1, max: MAX_INVITATION_USES }).optional(),
});

const usageQuery = queryParameters({ account: integer().optional(), limit });

const eventsQuery = queryParameters({
  since: time.optional(),
  until: time.optional(),
  accountId: integer().optional(),
  kinds: listOf(EVENT_KINDS).optional(),
  afterId: integer().optional(),
  beforeId: integer().optional(),
  order: direction.optional(),
  limit,
});

const periodQuery = queryParameters({ since: time.optional(), until: time.optional() });

const nurlQuery = queryParameters({ account: integer().optional() });

const trafficQuery = queryParameters({
  account: integer().optional(),
  since: time.optional(),
  until: time.optional(),
});

const noQuery = queryParameters({});

/** The longest stretch `GET /admin/v1/traffic` answers at once: some 9,600 hourly rows. */
const MAX_TRAFFIC_SECONDS = 400 * 86_400;

/** A day, the period of the digest and of traffic when none is given. */
const DAY_SECONDS = 86_400;

/** `Retry-After` of an unhealthy answer: the health monitor probes again within this. */
const HEALTH_RETRY_SECONDS = 5;

function accountId(param: string): number {
  return pathId(param, 'account');
}

/** An id in a path (digits only: it stays percent-encoded), else a 400 naming what it is of. */
function pathId(param: string, what: 'account' | 'invitation'): number {
  if (!/^[0-9]{1,15}$/.test(param)) {
    throw new AdminHttpError('BAD_REQUEST', `the ${what} id must be a non-negative integer`);
  }
  return Number(param);
}

/** `since` and `until` of a query, a day up to now by default, in order. */
function period(q: { since?: number | undefined; until?: number | undefined }, now: number) {
  const until = q.until ?? now;
  const since = q.since ?? until - DAY_SECONDS;
  if (since > until) throw new AdminHttpError('BAD_REQUEST', 'since must not be after until');
  return { since, until };
}

// ----------------------------------------------------------------------------- the routes

/** The admin API's routes under `/admin/v1`, and `/metrics`. */
export function adminRoutes(options: AdminRouteOptions, now: () => number): AdminRoute[] {
  const { accountant, leaseDb, nurlFor, logger } = options;

  const requireAccount = async (id: number): Promise<AccountRow> => {
    const account = await leaseDb.getAccount(id);
    if (!account) throw new AdminHttpError('NOT_FOUND', `no account ${id}`);
    return account;
  };

  // A body is optional; where a reason is taken it is `{"reason": "..."}` (the accountant
  // checks its length and characters: a bad one is a 400, nothing changed).
  const statusAction = (
    change: (id: number, options: { actor: string; reason?: string }) => Promise<AccountRow>,
  ): AdminRoute['handle'] => {
    return async (ctx) => {
      parseInput(noQuery, ctx.query);
      const id = accountId(ctx.params[0]!);
      const body = parseInput(statusBody, (await ctx.body()) ?? {});
      return {
        json: await change(id, {
          actor: ctx.actor,
          ...(body.reason === undefined ? {} : { reason: body.reason }),
        }),
      };
    };
  };

  /** Without a health monitor: the database alone, read now. */
  const probeDatabase = async (): Promise<{
    ok: boolean;
    database: { up: boolean; error?: string };
    store?: undefined;
  }> => {
    try {
      await leaseDb.getServerUsage();
      return { ok: true, database: { up: true } };
    } catch (error) {
      logger?.error({ err: error }, 'admin health: the database failed');
      return { ok: false, database: { up: false } };
    }
  };

  /** A route answering what `provider` says, or 404 naming `what` without one. */
  const statusRoute = (
    path: RegExp,
    provider: AdminStatusProvider | undefined,
    what: string,
  ): AdminRoute => ({
    method: 'GET',
    path,
    handle: async (ctx) => {
      parseInput(noQuery, ctx.query);
      if (!provider) throw new AdminHttpError('NOT_FOUND', `${what} is not available`);
      return { json: await provider() };
    },
  });

  return [
    {
      method: 'GET',
      path: /^\/admin\/v1\/health$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const report = options.health ? await options.health.check() : await probeDatabase();
        const state = (up: boolean | undefined) =>
          up === undefined ? undefined : up ? 'ok' : 'unavailable';
        const json = {
          status: report.ok ? 'ok' : 'unavailable',
          database: state(report.database.up),
          ...(report.store === undefined ? {} : { store: state(report.store.up) }),
          checks: {
            database: report.database,
            ...(report.store === undefined ? {} : { store: report.store }),
          },
          serverId: options.serverId,
          version: options.version,
          accountingMode: accountant.mode,
        };
        if (!report.ok) {
          // A report, not a refusal: a monitor reads the body as it reads a healthy one.
          return { status: 503, json, headers: { 'Retry-After': String(HEALTH_RETRY_SECONDS) } };
        }
        return { json };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/accounts$/,
      handle: async (ctx) => {
        const { limit = 100, offset = 0, ...filters } = parseInput(listQuery, ctx.query);
        const page = await leaseDb.listAccounts({ ...filters, limit, offset });
        return { json: { accounts: page.accounts, total: page.total, limit, offset } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/accounts$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const b = parseInput(addBody, await ctx.body());
        const { hardBytes, softBytes } = b;
        if (
          typeof hardBytes === 'number' &&
          typeof softBytes === 'number' &&
          softBytes > hardBytes
        ) {
          throw new AdminHttpError('BAD_REQUEST', 'softBytes must not exceed hardBytes');
        }
        const account = await accountant.addAccount(
          {
            publicKey: b.publicKey,
            nickname: b.nickname,
            ...(hardBytes === undefined ? {} : { hardQuotaBytes: hardBytes }),
            ...(softBytes === undefined ? {} : { softQuotaBytes: softBytes }),
          },
          { actor: ctx.actor },
        );
        return { status: 201, json: { ...account, nurl: nurlFor(account.id) } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/accounts\/import$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const b = parseInput(importBody, await ctx.body(MAX_ACCOUNT_LIST_BYTES));
        let entries: AccountListEntry[];
        try {
          entries = parseAccountList(b.text, 'text');
        } catch (error) {
          if (!(error instanceof AccountListError)) throw error;
          throw new AdminHttpError('BAD_REQUEST', error.message, {
            details: { badLines: error.problems.length, lines: error.problems.slice(0, 100) },
            cause: error,
          });
        }
        const { added, existing } = await accountant.importAccounts(entries, { actor: ctx.actor });
        return {
          json: { added: added.map((a) => ({ ...a, nurl: nurlFor(a.id) })), existing },
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/accounts\/([^/]+)$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const id = accountId(ctx.params[0]!);
        const account = await requireAccount(id);
        const usage = (await leaseDb.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
        const attributes = await leaseDb.getAccountAttributes(id);
        // Where it came from and whom it brought: `invitedBy`, `invited`, `invitationBudget`.
        const invitations = await accountant.invitationChain(id);
        const nurl = account.status === 'deleted' ? null : nurlFor(id);
        return { json: { ...account, usage, attributes, ...invitations, nurl } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/approve$/,
      handle: statusAction((id, { actor }) => accountant.approveAccount(id, { actor })),
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/refuse$/,
      handle: statusAction((id, action) => accountant.refuseAccount(id, action)),
    },
    {
      method: 'PUT',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/nickname$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const id = accountId(ctx.params[0]!);
        const b = parseInput(nicknameBody, await ctx.body());
        return { json: await accountant.renameAccount(id, b.nickname, { actor: ctx.actor }) };
      },
    },
    ...(
      [
        ['freeze', 'frozen'],
        ['thaw', 'normal'],
        ['disable', 'disabled'],
        ['delete', 'deleted'],
      ] as const satisfies readonly (readonly [string, AccountStatus])[]
    ).map(
      ([verb, status]): AdminRoute => ({
        method: 'POST',
        path: new RegExp(`^/admin/v1/accounts/([^/]+)/${verb}$`),
        handle: statusAction((id, action) => accountant.setAccountStatus(id, status, action)),
      }),
    ),
    {
      method: 'PUT',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/quota$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const id = accountId(ctx.params[0]!);
        const b = parseInput(quotaBody, await ctx.body());
        if (b.hardBytes === undefined && b.softBytes === undefined) {
          throw new AdminHttpError('BAD_REQUEST', 'give hardBytes, softBytes or both');
        }
        const current = await requireAccount(id);
        const hardBytes = b.hardBytes === undefined ? current.hardQuotaBytes : b.hardBytes;
        const softBytes = b.softBytes === undefined ? current.softQuotaBytes : b.softBytes;
        if (hardBytes !== null && softBytes !== null && softBytes > hardBytes) {
          throw new AdminHttpError('BAD_REQUEST', 'the soft quota must not exceed the hard quota');
        }
        return {
          json: await accountant.setAccountQuota(
            id,
            { hardQuotaBytes: hardBytes, softQuotaBytes: softBytes },
            { actor: ctx.actor },
          ),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/invitations$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const at = now();
        const rows = await accountant.listInvitations();
        return { json: { invitations: rows.map((row) => invitationView(row, at)) } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/invitations$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const b = parseInput(invitationBody, (await ctx.body()) ?? {});
        const hard = b.hardQuotaBytes ?? null;
        const soft = b.softQuotaBytes ?? null;
        if (hard !== null && soft !== null && soft > hard) {
          throw new AdminHttpError('BAD_REQUEST', 'softQuotaBytes must not exceed hardQuotaBytes');
        }
        const { invitation, secret } = await accountant.createInvitation({
          nickname: b.nickname ?? null,
          hardQuotaBytes: hard,
          softQuotaBytes: soft,
          expiresInSeconds: b.expiresInSeconds ?? INVITATION_DEFAULT_SECONDS,
          maxUses: b.maxUses ?? 1,
          actor: ctx.actor,
        });
        // The code exists only in this answer: the database keeps the secret's hash alone.
        const code = formatInvitation({ secret, nurl: nurlFor(0) });
        return { status: 201, json: { ...invitationView(invitation, now()), code } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/invitations\/([^/]+)\/revoke$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const id = pathId(ctx.params[0]!, 'invitation');
        parseInput(noBody, (await ctx.body()) ?? {});
        const row = await accountant.revokeInvitation(id, { actor: ctx.actor });
        return { json: invitationView(row, now()) };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/usage$/,
      handle: async (ctx) => {
        const q = parseInput(usageQuery, ctx.query);
        if (q.account !== undefined) {
          return { json: await accountUsageReport(leaseDb, await requireAccount(q.account)) };
        }
        return { json: await serverUsageReport(leaseDb, q.limit ?? 1000) };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/events$/,
      handle: async (ctx) => {
        const events = await leaseDb.listEvents(parseInput(eventsQuery, ctx.query));
        return { json: { events, lastId: events.at(-1)?.id ?? null } };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/digest$/,
      handle: async (ctx) => {
        return {
          json: await buildDigest(leaseDb, period(parseInput(periodQuery, ctx.query), now())),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/traffic$/,
      handle: async (ctx) => {
        const q = parseInput(trafficQuery, ctx.query);
        const { since, until } = period(q, now());
        if (until - since > MAX_TRAFFIC_SECONDS) {
          throw new AdminHttpError(
            'BAD_REQUEST',
            `ask for at most ${MAX_TRAFFIC_SECONDS / DAY_SECONDS} days at once`,
          );
        }
        if (q.account !== undefined) await requireAccount(q.account);
        // What was counted until now is in the answer (a database that cannot take it keeps it).
        await accountant.flushTraffic().catch(() => undefined);
        // Whole hours: the one `since` falls in, up to the one `until` falls in.
        const from = Math.floor(since / 3600) * 3600;
        const hours = await leaseDb.getTraffic({
          ...(q.account === undefined ? {} : { accountId: q.account }),
          from,
          to: Math.floor(until / 3600) * 3600 + 3600,
        });
        const totals = { uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0 };
        for (const h of hours) {
          totals.uploads += h.uploads;
          totals.reads += h.reads;
          totals.bytesIn += h.bytesIn;
          totals.bytesOut += h.bytesOut;
        }
        return { json: { accountId: q.account ?? null, since: from, until, totals, hours } };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/nurl$/,
      handle: async (ctx) => {
        const id = parseInput(nurlQuery, ctx.query).account ?? 0;
        const account = await requireAccount(id);
        if (id === STARTER_ACCOUNT_ID || account.status === 'deleted') {
          throw new AdminHttpError('CONFLICT', `account ${id} (${account.nickname}) has no NURL`);
        }
        return {
          json: {
            accountId: id,
            nurl: nurlFor(id),
            serverId: options.serverId,
            furl: options.furl ?? null,
          },
        };
      },
    },
    statusRoute(/^\/admin\/v1\/crawler$/, options.crawlerStatus, 'the crawler status'),
    statusRoute(/^\/admin\/v1\/gsd$/, options.gsdStatus, 'the grid service directory'),
    {
      method: 'GET',
      path: /^\/metrics$/,
      handle: async (ctx) => {
        parseInput(noQuery, ctx.query);
        const metrics = options.metrics;
        if (!metrics) throw new AdminHttpError('NOT_FOUND', 'metrics are not enabled');
        return { text: await metrics.scrape(), type: metrics.contentType };
      },
    },
  ];
}
