import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Accountant, buildDigest, type DependencyHealth } from '@ostrom/accountant';
import type { BackupInfo, BackupReport } from '@ostrom/crawler';
import { readCrawlerStatus } from '@ostrom/crawler';
import {
  ACCOUNT_ORDERS,
  ACCOUNT_STATUSES,
  type Account,
  type AccountStatus,
  type AccountWithUsage,
  EVENT_KINDS,
  type EventKind,
  type LeaseDb,
  STARTER_ACCOUNT_ID,
} from '@ostrom/leasedb';
import { base32Decode } from '@ostrom/protocol';
import { z } from 'zod';
import type { NodeMetrics } from '../metrics.js';
import type { NodeCrawlerStatus } from '../node-crawler.js';
import type { NodeGsdStatus } from '../node-gsd.js';
import type { CrawlerSchedule, DefaultQuotas, NodeIdentity } from '../panel/pages.js';
import { createPanel } from '../panel/panel.js';
import { parseSize } from '../size.js';
import { APPLICATION_VERSION } from '../version.js';
import { bearerChecker } from './auth.js';
import { AdminHttpError, failureAnswer } from './errors.js';
import { isNickname, NICKNAME_RULE } from './names.js';

/** The admin API's path prefix; `/metrics` sits beside it. */
export const ADMIN_PREFIX = '/admin/v1';

/** The default actor recorded in the activity log for actions through the admin API. */
export const ADMIN_ACTOR = 'admin-api';

/** Largest JSON body accepted: the biggest real one (an account) is a few hundred bytes. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/** Largest body of `POST /admin/v1/accounts/import`: some 10,000 lines of key and nickname. */
export const MAX_ADMIN_IMPORT_BYTES = 1024 * 1024;

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

/**
 * An Ed25519 public key given as 64 hex digits (the database's form) or 52 base32 characters,
 * as lowercase hex; undefined when it is neither. `ostrom accounts add --pubkey`, the import
 * list and `POST /admin/v1/accounts` all read keys with this.
 */
export function parsePublicKey(text: string): string | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase();
  const bytes = base32Decode(text.toLowerCase());
  return bytes?.length === 32 ? Buffer.from(bytes).toString('hex') : undefined;
}

/** What {@link parsePublicKey} takes, for messages. */
export const PUBLIC_KEY_FORMS = '64 hex digits or 52 base32 characters';

/** One entry of an account list: a key (lowercase hex) and a nickname, and its line. */
export interface AccountListEntry {
  readonly line: number;
  readonly publicKey: string;
  readonly nickname: string;
}

/** An account list with bad lines: each named with its number and what is wrong. */
export class AccountListError extends Error {
  override readonly name = 'AccountListError';
  readonly problems: readonly { readonly line: number; readonly problem: string }[];

  constructor(where: string, problems: { line: number; problem: string }[]) {
    const shown = problems.slice(0, 5).map((p) => `line ${p.line}: ${p.problem}`);
    if (problems.length > 5) shown.push(`and ${problems.length - 5} more bad lines`);
    super(`${where}, ${shown.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Reads an account list (an allow-list, as Tahoe's planned storage-accounts.txt): one
 * `<public key> <nickname>` a line, the nickname the rest of the line, `#` starting a comment,
 * blank lines skipped. Every line is checked before anything is added, so one typo adds nothing:
 * a malformed line, a bad key or nickname, or a key listed twice throws an
 * {@link AccountListError} naming every bad line, `where` naming the list (a file, a field).
 * `ostrom accounts import` and `POST /admin/v1/accounts/import` both read lists with this.
 */
export function parseAccountList(text: string, where: string): AccountListEntry[] {
  const entries: AccountListEntry[] = [];
  const problems: { line: number; problem: string }[] = [];
  const lineOfKey = new Map<string, number>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') continue;
    const read = readListLine(content, lineOfKey);
    if (typeof read === 'string') {
      problems.push({ line, problem: read });
    } else {
      lineOfKey.set(read.publicKey, line);
      entries.push({ line, ...read });
    }
  }
  if (problems.length > 0) throw new AccountListError(where, problems);
  return entries;
}

/** One line of an account list without its comment: the entry, or what is wrong with it. */
function readListLine(
  content: string,
  lineOfKey: ReadonlyMap<string, number>,
): { publicKey: string; nickname: string } | string {
  const m = /^(\S+)\s+(.+)$/.exec(content);
  if (!m) return 'expected "<public key> <nickname>"';
  const publicKey = parsePublicKey(m[1]!);
  if (publicKey === undefined) return `the public key must be ${PUBLIC_KEY_FORMS}`;
  const nickname = m[2]!;
  if (!isNickname(nickname)) return `the nickname must be ${NICKNAME_RULE}`;
  const first = lineOfKey.get(publicKey);
  if (first !== undefined) return `the same key as line ${first}`;
  return { publicKey, nickname };
}

/**
 * Adds an active account (default quotas) for each entry whose key has none, in list order;
 * keys with an account are left as they are and answered under `existing`. Importing the same
 * list again is harmless, so a run cut short (a database failure) is finished by running it
 * again.
 */
export async function importAccounts(
  accountant: Accountant,
  leaseDb: LeaseDb,
  entries: readonly AccountListEntry[],
  actor: string,
): Promise<{ added: Account[]; existing: Account[] }> {
  const added: Account[] = [];
  const existing: Account[] = [];
  for (const { publicKey, nickname } of entries) {
    const known = await leaseDb.getAccountByPublicKey(publicKey);
    if (known) existing.push(known);
    else added.push(await accountant.addAccount({ publicKey, nickname }, { actor }));
  }
  return { added, existing };
}

/** One account's usage and quotas: `GET /admin/v1/usage?account=ID` and `ostrom usage ID`. */
export async function accountUsageReport(leaseDb: LeaseDb, account: Account) {
  const usage = (await leaseDb.getAccountUsage(account.id)) ?? { shares: 0, bytes: 0 };
  return {
    accountId: account.id,
    nickname: account.nickname,
    status: account.status,
    ...usage,
    hardQuotaBytes: account.hardQuotaBytes,
    softQuotaBytes: account.softQuotaBytes,
  };
}

/** An account's line in the server's usage report. */
export function usageRow(a: AccountWithUsage) {
  return {
    id: a.id,
    nickname: a.nickname,
    status: a.status,
    ...a.usage,
    hardQuotaBytes: a.hardQuotaBytes,
    softQuotaBytes: a.softQuotaBytes,
  };
}

/**
 * The server's usage and its `limit` largest accounts, with how many accounts there are:
 * `GET /admin/v1/usage` and `ostrom usage`.
 */
export async function serverUsageReport(leaseDb: LeaseDb, limit: number) {
  const server = await leaseDb.getServerUsage();
  const page = await leaseDb.listAccounts({ orderBy: 'bytes', direction: 'desc', limit });
  return { server, accounts: page.accounts.map(usageRow), totalAccounts: page.total };
}

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

  const statusAction = (
    change: (id: number, actor: string) => Promise<Account>,
  ): Route['handle'] => {
    return async (ctx) => {
      parse(emptyQuery, ctx.query, 'query parameter');
      const id = accountId(ctx.params[0]!);
      const body = await ctx.body();
      parse(z.strictObject({}), body ?? {}, 'field');
      return { json: await change(id, ctx.actor) };
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
        const b = parse(importBody, await ctx.body(MAX_ADMIN_IMPORT_BYTES), 'field');
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
        const { added, existing } = await importAccounts(accountant, leaseDb, entries, ctx.actor);
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
      handle: statusAction((id, actor) => accountant.approveAccount(id, { actor })),
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
        handle: statusAction((id, actor) => accountant.setAccountStatus(id, status, { actor })),
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
