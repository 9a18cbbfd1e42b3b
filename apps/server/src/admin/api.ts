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
  NICKNAME_RULE,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
  serverUsageReport,
} from '@ostrom/accountant';
import type { BackupInfo, BackupReport, NodeCrawlerStatus } from '@ostrom/crawler';
import { readCrawlerStatus } from '@ostrom/crawler';
import {
  ACCOUNT_ORDERS,
  ACCOUNT_STATUSES,
  type Account,
  type AccountStatus,
  EVENT_KINDS,
  type EventKind,
  type LeaseDb,
  STARTER_ACCOUNT_ID,
} from '@ostrom/leasedb';
import { z } from 'zod';
import type { NodeMetrics } from '../metrics.js';
import type { NodeGsdStatus } from '../node-gsd.js';
import type { CrawlerSchedule, DefaultQuotas, NodeIdentity } from '../panel/pages.js';
import { createPanel } from '../panel/panel.js';
import { parseSize } from '../size.js';
import { APPLICATION_VERSION } from '../version.js';
import { bearerChecker } from './auth.js';
import { AdminHttpError, failureAnswer } from './errors.js';

/** The admin API's path prefix; `/metrics` sits beside it. */
export const ADMIN_PREFIX = '/admin/v1';

/** The default actor recorded in the activity log for actions through the admin API. */
export const ADMIN_ACTOR = 'admin-api';

/** Largest JSON body accepted: the biggest real one (an account) is a few hundred bytes. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/** The subset of a (pino) logger the admin API uses. */
export interface AdminApiLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link createAdminApi}. */
export interface AdminApiOptions {
  readonly accountant: Accountant;
  readonly leaseDb: LeaseDb;
  /** The bearer token every request must carry. */
  readonly token: string;
  /** The NURL of an account (its own swissnum). */
  nurlFor(accountId: number): string;
  /** The node's server id and announcement fURL, for `/nurl` and `/health`. */
  readonly serverId: string;
  readonly furl: string;
  /** Served as `/metrics` when given. */
  readonly metrics?: NodeMetrics;
  /**
   * The running crawler, for `GET /admin/v1/crawler`; without it the route reports the saved
   * state alone, as `ostrom crawler status` does.
   */
  readonly crawler?: {
    status(): Promise<NodeCrawlerStatus>;
    /** For the panel's "Back up now". */
    backup?(actor?: string): Promise<BackupReport>;
  };
  /** The backups kept in the store, for the panel's crawler page. */
  readonly listBackups?: () => Promise<readonly BackupInfo[]>;
  /** How the crawl and the deletions are set, for the panel's crawler page. */
  readonly crawlerSchedule?: CrawlerSchedule;
  /** The grid service directory of the running node, for `GET /admin/v1/gsd`. */
  readonly gsd?: { status(): NodeGsdStatus };
  /**
   * Whether the database and the store answer, for `GET /admin/v1/health`. Without it the
   * health check reads the database itself and says nothing of the store.
   */
  readonly health?: DependencyHealth;
  /** Who the node is, for the panel's header and overview. */
  readonly identity?: NodeIdentity;
  /** The quotas new accounts get, for the panel's accounts page. */
  readonly defaultQuotas?: DefaultQuotas;
  readonly logger?: AdminApiLogger;
  /** Unix seconds (default the system clock). */
  readonly now?: () => number;
}

interface Context {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: readonly string[];
  readonly query: Record<string, string>;
  readonly actor: string;
  /** The JSON body, refused with 413 past `maxBytes` (default {@link MAX_ADMIN_BODY_BYTES}). */
  body(maxBytes?: number): Promise<unknown>;
}

type Answer =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  | { status?: number; text: string; type: string };

interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: RegExp;
  handle(ctx: Context): Promise<Answer>;
}

// ----------------------------------------------------------------------------- shared with the CLI

// ----------------------------------------------------------------------------- validation

const int = (what: string, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, `${what} must be a non-negative integer`)
    .transform(Number)
    .refine((n) => n <= max, `${what} must be at most ${max}`);

const time = (what: string) =>
  z.string().transform((value, ctx) => {
    if (/^[0-9]{1,12}$/.test(value)) return Number(value);
    const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms) || ms < 0) {
      ctx.addIssue({ code: 'custom', message: `${what} must be Unix seconds or an ISO date` });
      return z.NEVER;
    }
    return Math.floor(ms / 1000);
  });

const oneOf = <T extends string>(what: string, values: readonly T[]) =>
  z
    .string()
    .refine((v) => values.includes(v as T), `${what} must be one of ${values.join(', ')}`)
    .transform((v) => v as T);

/** A quota: bytes, a size such as "5GB", or null / "none" for no limit. */
const quota = z.union([z.null(), z.number(), z.string()]).transform((value, ctx) => {
  if (value === null || value === 'none') return null;
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected bytes, a size such as "5GB", or null for none',
    });
    return z.NEVER;
  }
  return bytes;
});

const listQuery = z.strictObject({
  status: oneOf('status', ACCOUNT_STATUSES).optional(),
  search: z.string().min(1).max(200).optional(),
  orderBy: oneOf('orderBy', ACCOUNT_ORDERS).optional(),
  direction: oneOf('direction', ['asc', 'desc'] as const).optional(),
  limit: int('limit', 10_000)
    .refine((n) => n >= 1, 'limit must be at least 1')
    .optional(),
  offset: int('offset').optional(),
});

const addBody = z.strictObject({
  publicKey: z.string().transform((value, ctx) => {
    const key = parsePublicKey(value);
    if (key === undefined) {
      ctx.addIssue({ code: 'custom', message: `publicKey must be ${PUBLIC_KEY_FORMS}` });
      return z.NEVER;
    }
    return key;
  }),
  nickname: z.string().refine(isNickname, `nickname must be ${NICKNAME_RULE}`),
  hardBytes: quota.optional(),
  softBytes: quota.optional(),
});

const importBody = z.strictObject({ text: z.string() });

const statusBody = z.strictObject({ reason: z.string().optional() });

const nicknameBody = z.strictObject({
  nickname: z.string().refine(isNickname, `nickname must be ${NICKNAME_RULE}`),
});

const quotaBody = z
  .strictObject({ hardBytes: quota.optional(), softBytes: quota.optional() })
  .refine((q) => q.hardBytes !== undefined || q.softBytes !== undefined, {
    message: 'give hardBytes, softBytes or both',
  });

const usageQuery = z.strictObject({
  account: int('account').optional(),
  limit: int('limit', 10_000)
    .refine((n) => n >= 1, 'limit must be at least 1')
    .optional(),
});

const eventsQuery = z.strictObject({
  since: time('since').optional(),
  until: time('until').optional(),
  accountId: int('accountId').optional(),
  kinds: z
    .string()
    .transform((v) => v.split(',').filter((k) => k !== ''))
    .refine(
      (kinds) => kinds.every((k) => EVENT_KINDS.includes(k as EventKind)),
      `kinds must be a comma-separated list of ${EVENT_KINDS.join(', ')}`,
    )
    .transform((kinds) => kinds as EventKind[])
    .optional(),
  afterId: int('afterId').optional(),
  beforeId: int('beforeId').optional(),
  order: oneOf('order', ['asc', 'desc'] as const).optional(),
  limit: int('limit', 10_000)
    .refine((n) => n >= 1, 'limit must be at least 1')
    .optional(),
});

const digestQuery = z.strictObject({
  since: time('since').optional(),
  until: time('until').optional(),
});

const nurlQuery = z.strictObject({ account: int('account').optional() });

const trafficQuery = z.strictObject({
  account: int('account').optional(),
  since: time('since').optional(),
  until: time('until').optional(),
});

/** The longest stretch `GET /admin/v1/traffic` answers at once: some 9,600 hourly rows. */
const MAX_TRAFFIC_SECONDS = 400 * 86_400;

const emptyQuery = z.strictObject({});

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown ${where} "${issue.keys[0]}"`;
  const path = issue.path.map(String).join('.');
  throw new AdminHttpError(
    400,
    path && !message.startsWith(path) ? `${path}: ${message}` : message,
  );
}

function accountId(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) {
    throw new AdminHttpError(400, 'the account id must be a non-negative integer');
  }
  return Number(text);
}

const ACTOR = /^[\x20-\x7e]{1,100}$/;

/** `Retry-After` of an unhealthy answer: the health monitor probes again within this. */
const HEALTH_RETRY_SECONDS = 5;

// ----------------------------------------------------------------------------- the handler

/**
 * The admin API of a node as a Node request handler: JSON over plain HTTP for the loopback
 * listener, the CLI's operator commands as routes under `/admin/v1`, and `/metrics`. Every
 * request must carry `Authorization: Bearer <token>` (401 otherwise); writes must be
 * `application/json` (415 otherwise), which no HTML form or simple cross-site request can send.
 */
export function createAdminApi(
  options: AdminApiOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { accountant, leaseDb, nurlFor, logger } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const authorised = bearerChecker(options.token);

  const requireAccount = async (id: number): Promise<Account> => {
    const account = await leaseDb.getAccount(id);
    if (!account) throw new AdminHttpError(404, `no account ${id}`);
    return account;
  };

  // A body is optional; where a reason is taken it is `{"reason": "..."}` (the accountant
  // checks its length and characters: a bad one is a 400, nothing changed).
  const statusAction = (
    change: (id: number, options: { actor: string; reason?: string }) => Promise<Account>,
  ): Route['handle'] => {
    return async (ctx) => {
      parse(emptyQuery, ctx.query, 'query parameter');
      const id = accountId(ctx.params[0]!);
      const body = parse(statusBody, (await ctx.body()) ?? {}, 'field');
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

  const routes: Route[] = [
    {
      method: 'GET',
      path: /^\/admin\/v1\/health$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
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
          version: APPLICATION_VERSION,
          accountingMode: accountant.mode,
        };
        if (!report.ok) {
          return { status: 503, json, headers: { 'Retry-After': String(HEALTH_RETRY_SECONDS) } };
        }
        return { json };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/accounts$/,
      handle: async (ctx) => {
        const q = parse(listQuery, ctx.query, 'query parameter');
        const limit = q.limit ?? 100;
        const offset = q.offset ?? 0;
        const page = await leaseDb.listAccounts({ ...q, limit, offset });
        return { json: { accounts: page.accounts, total: page.total, limit, offset } };
      },
    },
    {
      method: 'POST',
      path: /^\/admin\/v1\/accounts$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        const b = parse(addBody, await ctx.body(), 'field');
        if (
          b.hardBytes !== undefined &&
          b.softBytes !== undefined &&
          b.hardBytes !== null &&
          b.softBytes !== null &&
          b.softBytes > b.hardBytes
        ) {
          throw new AdminHttpError(400, 'softBytes must not exceed hardBytes');
        }
        const account = await accountant.addAccount(
          {
            publicKey: b.publicKey,
            nickname: b.nickname,
            ...(b.hardBytes === undefined ? {} : { hardQuotaBytes: b.hardBytes }),
            ...(b.softBytes === undefined ? {} : { softQuotaBytes: b.softBytes }),
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
        parse(emptyQuery, ctx.query, 'query parameter');
        const b = parse(importBody, await ctx.body(MAX_ACCOUNT_LIST_BYTES), 'field');
        let entries: AccountListEntry[];
        try {
          entries = parseAccountList(b.text, 'text');
        } catch (error) {
          if (!(error instanceof AccountListError)) throw error;
          throw new AdminHttpError(
            400,
            error.message,
            {},
            {
              badLines: error.problems.length,
              lines: error.problems.slice(0, 100),
            },
          );
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
        parse(emptyQuery, ctx.query, 'query parameter');
        const id = accountId(ctx.params[0]!);
        const account = await requireAccount(id);
        const usage = (await leaseDb.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
        const attributes = await leaseDb.getAccountAttributes(id);
        const nurl = account.status === 'deleted' ? null : nurlFor(id);
        return { json: { ...account, usage, attributes, nurl } };
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
      handle: statusAction((id, options) => accountant.refuseAccount(id, options)),
    },
    {
      method: 'PUT',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/nickname$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        const id = accountId(ctx.params[0]!);
        const b = parse(nicknameBody, await ctx.body(), 'field');
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
      ([verb, status]): Route => ({
        method: 'POST',
        path: new RegExp(`^/admin/v1/accounts/([^/]+)/${verb}$`),
        handle: statusAction((id, options) => accountant.setAccountStatus(id, status, options)),
      }),
    ),
    {
      method: 'PUT',
      path: /^\/admin\/v1\/accounts\/([^/]+)\/quota$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        const id = accountId(ctx.params[0]!);
        const b = parse(quotaBody, await ctx.body(), 'field');
        const current = await requireAccount(id);
        const hardBytes = b.hardBytes === undefined ? current.hardQuotaBytes : b.hardBytes;
        const softBytes = b.softBytes === undefined ? current.softQuotaBytes : b.softBytes;
        if (hardBytes !== null && softBytes !== null && softBytes > hardBytes) {
          throw new AdminHttpError(400, 'the soft quota must not exceed the hard quota');
        }
        return {
          json: await accountant.setAccountQuota(
            id,
            { hardBytes, softBytes },
            { actor: ctx.actor },
          ),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/usage$/,
      handle: async (ctx) => {
        const q = parse(usageQuery, ctx.query, 'query parameter');
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
        const q = parse(eventsQuery, ctx.query, 'query parameter');
        const events = await leaseDb.listEvents(q);
        return { json: { events, lastId: events.at(-1)?.id ?? null } };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/digest$/,
      handle: async (ctx) => {
        const q = parse(digestQuery, ctx.query, 'query parameter');
        const until = q.until ?? now();
        const since = q.since ?? until - 86_400;
        if (since > until) throw new AdminHttpError(400, 'since must not be after until');
        return { json: await buildDigest(leaseDb, { since, until }) };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/traffic$/,
      handle: async (ctx) => {
        const q = parse(trafficQuery, ctx.query, 'query parameter');
        const until = q.until ?? now();
        const since = q.since ?? until - 86_400;
        if (since > until) throw new AdminHttpError(400, 'since must not be after until');
        if (until - since > MAX_TRAFFIC_SECONDS) {
          throw new AdminHttpError(
            400,
            `ask for at most ${MAX_TRAFFIC_SECONDS / 86_400} days at once`,
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
        const q = parse(nurlQuery, ctx.query, 'query parameter');
        const id = q.account ?? 0;
        const account = await requireAccount(id);
        if (id === STARTER_ACCOUNT_ID || account.status === 'deleted') {
          throw new AdminHttpError(409, `account ${id} (${account.nickname}) has no NURL`);
        }
        return {
          json: {
            accountId: id,
            nurl: nurlFor(id),
            serverId: options.serverId,
            furl: options.furl,
          },
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/crawler$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        const crawler = options.crawler;
        return {
          json: crawler ? await crawler.status() : await readCrawlerStatus(leaseDb, { now: now() }),
        };
      },
    },
    {
      method: 'GET',
      path: /^\/admin\/v1\/gsd$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        if (!options.gsd)
          throw new AdminHttpError(404, 'the grid service directory is not available');
        return { json: options.gsd.status() };
      },
    },
    {
      method: 'GET',
      path: /^\/metrics$/,
      handle: async (ctx) => {
        parse(emptyQuery, ctx.query, 'query parameter');
        const metrics = options.metrics;
        if (!metrics) throw new AdminHttpError(404, 'metrics are not enabled');
        return { text: await metrics.scrape(), type: metrics.registry.contentType };
      },
    },
  ];

  async function handle(req: IncomingMessage, res: ServerResponse, state: { consumed: boolean }) {
    // Before routing, so that nothing (not even which paths exist) is told to a caller without
    // the token.
    if (!authorised(req)) {
      throw new AdminHttpError(401, 'a valid Authorization: Bearer <token> is required', {
        'WWW-Authenticate': 'Bearer realm="ostrom-admin"',
      });
    }
    const target = req.url ?? '';
    let url: URL;
    try {
      url = new URL(target, 'http://admin.invalid');
    } catch {
      throw new AdminHttpError(400, 'malformed request target');
    }
    if (!target.startsWith('/')) throw new AdminHttpError(404, 'no such resource');
    const method = req.method ?? '';
    let route: Route | undefined;
    let params: string[] = [];
    const allow: string[] = [];
    for (const candidate of routes) {
      const m = candidate.path.exec(url.pathname);
      if (!m) continue;
      if (candidate.method === method) {
        route = candidate;
        // Parameters stay percent-encoded: the only one is an account id, checked to be digits.
        params = m.slice(1);
        break;
      }
      allow.push(candidate.method);
    }
    if (!route) {
      if (allow.length > 0) {
        throw new AdminHttpError(405, 'method not allowed', { Allow: allow.join(', ') });
      }
      throw new AdminHttpError(404, 'no such resource');
    }
    if (route.method !== 'GET') {
      const type = req.headers['content-type'];
      const essence = (type ?? '').split(';')[0]?.trim().toLowerCase();
      if (essence !== 'application/json') {
        throw new AdminHttpError(415, 'writes must be Content-Type: application/json');
      }
    } else if (!state.consumed) {
      throw new AdminHttpError(400, 'GET requests take no body');
    }
    const actorHeader = req.headers['x-ostrom-actor'];
    if (
      actorHeader !== undefined &&
      (typeof actorHeader !== 'string' || !ACTOR.test(actorHeader))
    ) {
      throw new AdminHttpError(400, 'X-Ostrom-Actor must be 1–100 printable ASCII characters');
    }
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) {
      if (key in query) throw new AdminHttpError(400, `query parameter "${key}" given twice`);
      query[key] = value;
    }
    const answer = await route.handle({
      req,
      res,
      params,
      query,
      actor: actorHeader ?? ADMIN_ACTOR,
      body: async (maxBytes = MAX_ADMIN_BODY_BYTES) => {
        const body = await readJsonBody(req, maxBytes);
        state.consumed = true;
        return body;
      },
    });
    if ('json' in answer) sendJson(res, answer.status ?? 200, answer.json, answer.headers);
    else send(res, answer.status ?? 200, Buffer.from(answer.text, 'utf8'), answer.type);
  }

  // Everything outside the API's paths is the operator's web panel (src/panel/), which has its
  // own login: browsers carry no bearer token.
  const panel = createPanel(options);
  const isApiPath = (target: string) =>
    /^(\/admin|\/metrics)([/?]|$)/.test(target) || !target.startsWith('/');

  return (req, res) => {
    if (!isApiPath(req.url ?? '')) {
      panel(req, res);
      return;
    }
    const state = { consumed: !hasBody(req) };
    req.on('error', (error) => logger?.info({ err: error }, 'admin request stream failed'));
    res.on('error', (error) => logger?.info({ err: error }, 'admin response stream failed'));
    handle(req, res, state).catch((error: unknown) => {
      const answer = failureAnswer(error, 'internal server error', (err) =>
        logger?.error({ err, method: req.method, url: req.url }, 'admin API failure'),
      );
      const { status, message } = answer;
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const headers: Record<string, string> =
        error instanceof AdminHttpError ? { ...error.headers } : { ...answer.headers };
      // Answered before the body was read: close rather than read bytes nobody wants.
      if (!state.consumed) headers.Connection = 'close';
      const details = error instanceof AdminHttpError ? error.details : {};
      sendJson(res, status, { ...details, error: message }, headers);
    });
  };
}

// ----------------------------------------------------------------------------- HTTP helpers

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new AdminHttpError(413, `this body may be at most ${maxBytes} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminHttpError(400, 'the body is not valid JSON');
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: Buffer,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, Buffer.from(`${JSON.stringify(value)}\n`, 'utf8'), 'application/json', headers);
}
