import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  DEPENDENCIES,
  type DependencyHealth,
  REFUSAL_REASONS,
  type RefusalReason,
} from '@ostrom/accountant';
import { ACCOUNT_STATUSES, type LeaseDb } from '@ostrom/leasedb';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AdminMetrics } from './admin/routes.js';
import { matchRoute } from './routes.js';

/** How many accounts `ostrom_account_usage_*` reports by default (the largest by bytes). */
export const METRICS_TOP_ACCOUNTS = 1000;

/** The most `topAccounts` can be: the lease database's largest page of accounts. */
const MAX_TOP_ACCOUNTS = 10_000;

/**
 * The part of a crawler's status the `ostrom_crawler_*` gauges read. `@ostrom/crawler`'s
 * `CrawlerStatus` (from `readCrawlerStatus` or a running crawler's `status()`) has this shape.
 */
export interface MetricsCrawlerStatus {
  /** The cycle in progress (or next), counted from 1. */
  readonly cycle: number;
  readonly prefixesDone: number;
  readonly prefixesTotal: number;
  /** Counters of the cycle in progress, by name. */
  readonly counters: Readonly<Record<string, number>>;
  /** Finished cycles, newest first. */
  readonly history: readonly {
    readonly startedAt: number;
    readonly finishedAt: number;
    readonly counters: Readonly<Record<string, number>>;
  }[];
}

/** Options of {@link createStorageMetrics}. */
export interface StorageMetricsOptions {
  /** Where the scrape-time gauges come from. */
  readonly leaseDb: LeaseDb;
  /** How many accounts the usage gauges report, the largest by bytes: 1–10000, default {@link METRICS_TOP_ACCOUNTS}. */
  readonly topAccounts?: number | undefined;
  /** Whether to add prom-client's process metrics to the registry (default true). */
  readonly processMetrics?: boolean | undefined;
  /**
   * Whether the database and the store answer, exported as `ostrom_dependency_up`. With it a
   * scrape succeeds while the database is away (its gauges keep their last values).
   */
  readonly health?: Pick<DependencyHealth, 'check'> | undefined;
  /**
   * The writes the accountant refused so far, by reason (`Accountant.refusalCounts`), exported as
   * `ostrom_writes_refused_total`; undefined (all 0) before the accountant exists.
   */
  readonly refusals?: (() => Readonly<Record<RefusalReason, number>> | undefined) | undefined;
  /**
   * The crawler's status, read at each scrape for the `ostrom_crawler_*` gauges (without it they
   * are not exported). A node whose crawler may run in another process passes
   * `() => readCrawlerStatus(leaseDb)` from `@ostrom/crawler`, which reads its saved state.
   */
  readonly crawlerStatus?: (() => MetricsCrawlerStatus | Promise<MetricsCrawlerStatus>) | undefined;
}

/**
 * A storage node's Prometheus metrics: its registry, the wrapper that counts the storage
 * handler's requests, and the scrape. It is an {@link AdminMetrics}: give it to
 * `createAdminHandler` as `metrics` to serve it as `GET /metrics`.
 */
export interface StorageMetrics extends AdminMetrics {
  /** The registry every series is on (merge it into yours with prom-client's `Registry.merge`). */
  readonly registry: Registry;
  /** Wraps the storage handler to count requests by route, method and status, durations and bytes. */
  instrument(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void;
  /** Refreshes the gauges from the lease database (and the crawler) and renders the registry. */
  scrape(): Promise<string>;
  /** The exposition format's `Content-Type` (Prometheus text 0.0.4). */
  readonly contentType: string;
}

interface SocketCounts {
  read: number;
  written: number;
}

/**
 * Creates a storage node's metrics on a registry of its own (not prom-client's global one, so
 * that several nodes in one process, as in tests, do not collide).
 */
export function createStorageMetrics(options: StorageMetricsOptions): StorageMetrics {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createStorageMetrics needs options with a leaseDb');
  }
  const { leaseDb, health, refusals, crawlerStatus } = options;
  if (typeof leaseDb !== 'object' || leaseDb === null) {
    throw new TypeError('leaseDb must be a LeaseDb');
  }
  if (health !== undefined && typeof health?.check !== 'function') {
    throw new TypeError('health must have a check() method (a DependencyHealth)');
  }
  for (const [name, callback] of [
    ['refusals', refusals],
    ['crawlerStatus', crawlerStatus],
  ] as const) {
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError(`${name} must be a function`);
    }
  }
  const topAccounts = options.topAccounts ?? METRICS_TOP_ACCOUNTS;
  if (!Number.isInteger(topAccounts) || topAccounts < 1 || topAccounts > MAX_TOP_ACCOUNTS) {
    throw new RangeError(`topAccounts must be an integer 1–${MAX_TOP_ACCOUNTS}`);
  }
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'ostrom_http_requests_total',
    help: 'Requests to the storage listener, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'ostrom_http_request_duration_seconds',
    help: 'Time from request to the end of the answer on the storage listener',
    labelNames: ['route', 'method'] as const,
    // Small requests take milliseconds; 1 MB PATCHes and large reads take up to seconds.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const bytesIn = new Counter({
    name: 'ostrom_http_bytes_received_total',
    help: 'HTTP bytes (headers and bodies, after TLS) received by the storage listener',
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: 'ostrom_http_bytes_sent_total',
    help: 'HTTP bytes (headers and bodies, before TLS) sent by the storage listener',
    registers: [registry],
  });
  const accountBytes = new Gauge({
    name: 'ostrom_account_usage_bytes',
    help: `Bytes leased by each account (the ${topAccounts} largest)`,
    labelNames: ['account', 'nickname'] as const,
    registers: [registry],
  });
  const accountShares = new Gauge({
    name: 'ostrom_account_usage_shares',
    help: `Shares leased by each account (the ${topAccounts} largest by bytes)`,
    labelNames: ['account', 'nickname'] as const,
    registers: [registry],
  });
  const serverBytes = new Gauge({
    name: 'ostrom_server_usage_bytes',
    help: 'Bytes of every share the node holds',
    registers: [registry],
  });
  const serverShares = new Gauge({
    name: 'ostrom_server_usage_shares',
    help: 'Shares the node holds, in any state',
    registers: [registry],
  });
  const shares = new Gauge({
    name: 'ostrom_shares',
    help: 'Shares by state: coming (uploads in progress), stable, going (being deleted)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const accounts = new Gauge({
    name: 'ostrom_accounts',
    help: 'Accounts by status',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const crawlerGauges = crawlerStatus && createCrawlerGauges(registry);
  // Counted in the accountant's memory, not the lease database: read at each scrape, even while
  // the database is away. No account label: one series per reason whatever the number of accounts.
  new Counter({
    name: 'ostrom_writes_refused_total',
    help: 'Writes refused by reason: quota (hard quota), status (frozen, disabled, deleted or pending account), mode (anonymous writes in mode required)',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      const counts = refusals?.();
      this.reset();
      for (const reason of REFUSAL_REASONS) this.inc({ reason }, counts?.[reason] ?? 0);
    },
  });
  const quotaWarnings = new Counter({
    name: 'ostrom_quota_warnings_total',
    help: 'Soft-quota warnings in the activity log (80% and 100% crossings)',
    registers: [registry],
  });
  const dependencyUp = new Gauge({
    name: 'ostrom_dependency_up',
    help: 'Whether the lease database and the share store answer (1) or not (0), as last probed',
    labelNames: ['dependency'] as const,
    registers: [registry],
  });

  // Bytes are read from the TLS socket's plaintext counters, as deltas per connection: adding a
  // 'data' listener to the request would switch it to flowing mode under the storage handler.
  const counted = new WeakMap<Socket, SocketCounts>();
  const countSocket = (socket: Socket) => {
    let seen = counted.get(socket);
    if (seen === undefined) {
      seen = { read: 0, written: 0 };
      counted.set(socket, seen);
      const last = seen;
      socket.once('close', () => addDelta(socket, last));
    }
    addDelta(socket, seen);
  };
  const addDelta = (socket: Socket, seen: SocketCounts) => {
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    if (read > seen.read) bytesIn.inc(read - seen.read);
    if (written > seen.written) bytesOut.inc(written - seen.written);
    seen.read = Math.max(seen.read, read);
    seen.written = Math.max(seen.written, written);
  };

  const instrument: StorageMetrics['instrument'] = (handler) => {
    if (typeof handler !== 'function') throw new TypeError('instrument needs a request handler');
    return (req, res) => {
      const started = process.hrtime.bigint();
      const method = req.method ?? '';
      const routing = matchRoute(method, req.url ?? '');
      // Route names only (never paths): storage indexes would make the label unbounded.
      const route = routing.kind === 'match' ? routing.match.route.name : 'unmatched';
      // Unknown methods are client-chosen strings: fold them so the label stays bounded.
      const methodLabel = KNOWN_METHODS.has(method) ? method : 'other';
      res.once('close', () => {
        const status = res.writableFinished ? String(res.statusCode) : 'aborted';
        requests.inc({ route, method: methodLabel, status });
        duration.observe(
          { route, method: methodLabel },
          Number(process.hrtime.bigint() - started) / 1e9,
        );
        countSocket(req.socket);
      });
      handler(req, res);
    };
  };

  let quotaCursor: number | undefined;
  let refreshing: Promise<void> | undefined;

  const refresh = async () => {
    const top = await leaseDb.listAccounts({
      orderBy: 'bytes',
      direction: 'desc',
      limit: topAccounts,
    });
    accountBytes.reset();
    accountShares.reset();
    for (const a of top.accounts) {
      const labels = { account: String(a.id), nickname: a.nickname };
      accountBytes.set(labels, a.usage.bytes);
      accountShares.set(labels, a.usage.shares);
    }
    const server = await leaseDb.getServerUsage();
    serverBytes.set(server.bytes);
    serverShares.set(server.shares);
    for (const [state, counted] of Object.entries(await leaseDb.countSharesByState())) {
      shares.set({ state }, counted.shares);
    }
    for (const status of ACCOUNT_STATUSES) {
      // `total` is counted in the database; one row is fetched.
      const page = await leaseDb.listAccounts({ status, limit: 1 });
      accounts.set({ status }, page.total);
    }
    if (crawlerStatus && crawlerGauges) crawlerGauges.update(await crawlerStatus());
    // Follows the log from where the last scrape stopped, so each scrape reads only new events.
    for (;;) {
      const events = await leaseDb.listEvents({
        kinds: ['quota-warning'],
        limit: 10_000,
        ...(quotaCursor === undefined ? {} : { afterId: quotaCursor }),
      });
      if (events.length > 0) {
        quotaWarnings.inc(events.length);
        quotaCursor = events[events.length - 1]!.id;
      } else if (quotaCursor === undefined) {
        quotaCursor = 0;
      }
      if (events.length < 10_000) break;
    }
  };

  return {
    registry,
    contentType: registry.contentType,
    instrument,
    async scrape() {
      // Concurrent scrapes share one refresh, so the quota cursor is never read twice.
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      const refreshed = refreshing;
      if (health) {
        const report = await health.check();
        for (const dependency of DEPENDENCIES) {
          dependencyUp.set({ dependency }, report[dependency].up ? 1 : 0);
        }
        // The database away: its gauges keep their last values, and ostrom_dependency_up says so.
        await refreshed.catch(() => undefined);
      } else {
        await refreshed;
      }
      return await registry.metrics();
    },
  };
}

/** The `ostrom_crawler_*` gauges, and how a crawler status sets them. */
function createCrawlerGauges(registry: Registry): {
  update(status: MetricsCrawlerStatus): void;
} {
  const cycle = new Gauge({
    name: 'ostrom_crawler_cycle',
    help: 'The crawler cycle in progress (or next), counted from 1',
    registers: [registry],
  });
  const progress = new Gauge({
    name: 'ostrom_crawler_cycle_progress_ratio',
    help: 'Share of the 1024 prefixes the cycle in progress has done',
    registers: [registry],
  });
  const counters = new Gauge({
    name: 'ostrom_crawler_cycle_count',
    help: 'Counters of the cycle in progress (examined, adopted, vanished, expired, deleted, corrupt, ...)',
    labelNames: ['counter'] as const,
    registers: [registry],
  });
  const lastFinished = new Gauge({
    name: 'ostrom_crawler_last_cycle_finished_timestamp_seconds',
    help: 'When the last full crawler cycle finished (absent before the first)',
    registers: [registry],
  });
  const lastDuration = new Gauge({
    name: 'ostrom_crawler_last_cycle_duration_seconds',
    help: 'How long the last full crawler cycle took',
    registers: [registry],
  });
  const lastCounters = new Gauge({
    name: 'ostrom_crawler_last_cycle_count',
    help: 'Counters of the last full crawler cycle',
    labelNames: ['counter'] as const,
    registers: [registry],
  });
  return {
    update(status) {
      cycle.set(status.cycle);
      progress.set(status.prefixesTotal > 0 ? status.prefixesDone / status.prefixesTotal : 0);
      counters.reset();
      for (const [counter, value] of Object.entries(status.counters)) {
        counters.set({ counter }, value);
      }
      const last = status.history[0];
      lastCounters.reset();
      if (last) {
        lastFinished.set(last.finishedAt);
        lastDuration.set(last.finishedAt - last.startedAt);
        for (const [counter, value] of Object.entries(last.counters)) {
          lastCounters.set({ counter }, value);
        }
      } else {
        // Absent before the first cycle: a gauge without labels that is only reset reads 0, a
        // finish in 1970 that would set off every "no cycle for a day" alert.
        lastFinished.remove({});
        lastDuration.remove({});
      }
    },
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
