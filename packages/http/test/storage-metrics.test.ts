import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DependencyHealth } from '@ostrom/accountant';
import { openLeaseDb } from '@ostrom/leasedb';
import { generateAccountKey } from '@ostrom/protocol';
import {
  type PrometheusSample,
  parsePrometheus as parse,
  tempDir,
  sampleValue as value,
} from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bearerChecker } from '../src/admin/auth.js';
import { createAdminHandler } from '../src/admin/handler.js';
import {
  createStorageMetrics,
  type MetricsCrawlerStatus,
  type StorageMetrics,
  type StorageMetricsOptions,
} from '../src/storage-metrics.js';
import { type ServerOptions, secrets, startServer, storageIndex } from './http-setup.js';

// The metrics an embedder puts beside the storage handler: requests counted on a real HTTPS
// socket, and gauges read from a real lease database, asserted on the Prometheus text a scrape
// renders.

type Sample = PrometheusSample;

function series(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

/**
 * The storage handler on an HTTPS socket, instrumented by metrics over the server's database.
 * A request is counted when its response closes, a moment after its client has the answer:
 * `responsesClosed()` waits for that.
 */
async function startInstrumented(
  options: Partial<StorageMetricsOptions> = {},
  serverOptions: ServerOptions = {},
) {
  let metrics: StorageMetrics | undefined;
  let open = 0;
  const waiting: (() => void)[] = [];
  const server = await startServer({
    ...serverOptions,
    wrapHandler: (handler, { db, accountant }) => {
      metrics = createStorageMetrics({
        leaseDb: db,
        refusals: () => accountant.refusalCounts(),
        processMetrics: false,
        ...options,
      });
      const instrumented = metrics.instrument(handler);
      return (req, res) => {
        open++;
        instrumented(req, res);
        // Registered after the metrics' own listener, so it runs once the request is counted.
        res.once('close', () => {
          open--;
          if (open === 0) for (const resolve of waiting.splice(0)) resolve();
        });
      };
    },
  });
  const responsesClosed = () =>
    open === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve));
  return { server, metrics: metrics!, responsesClosed };
}

async function scrape(metrics: StorageMetrics) {
  return parse(await metrics.scrape());
}

const newPublicKey = () => generateAccountKey().publicKey;

describe('createStorageMetrics(options).instrument(handler)', () => {
  it('counts requests by route name, method and status, never by path', async () => {
    const { server, metrics, responsesClosed } = await startInstrumented();
    const client = server.client();
    for (let i = 0; i < 3; i++) await client.getVersion();
    expect((await client.raw({ method: 'GET', path: '/no/such/path' })).status).toBe(404);
    expect((await client.raw({ method: 'DELETE', path: '/storage/v1/version' })).status).toBe(405);
    const si = storageIndex('metrics-lease');
    // No lease secrets: refused, and still counted under its route.
    expect((await client.raw({ method: 'PUT', path: `/storage/v1/lease/${si}` })).status).toBe(400);

    await responsesClosed();
    const { samples, types } = await scrape(metrics);
    expect(types.get('ostrom_http_requests_total')).toBe('counter');
    expect(types.get('ostrom_http_request_duration_seconds')).toBe('histogram');
    const requests = series(samples, 'ostrom_http_requests_total').map((s) => ({
      ...s.labels,
      value: s.value,
    }));
    expect(requests).toEqual(
      expect.arrayContaining([
        { route: 'version', method: 'GET', status: '200', value: 3 },
        { route: 'unmatched', method: 'GET', status: '404', value: 1 },
        { route: 'unmatched', method: 'DELETE', status: '405', value: 1 },
        { route: 'addOrRenewLease', method: 'PUT', status: '400', value: 1 },
      ]),
    );
    expect(requests).toHaveLength(4);
    expect(
      value(samples, 'ostrom_http_request_duration_seconds_count', {
        route: 'version',
        method: 'GET',
      }),
    ).toBe(3);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes(si)))).toBe(false);
  });

  it('counts the bytes received and sent, bodies included', async () => {
    const { server, metrics, responsesClosed } = await startInstrumented();
    const client = server.client();
    await client.getVersion();
    await responsesClosed();
    const before = (await scrape(metrics)).samples;
    const receivedBefore = value(before, 'ostrom_http_bytes_received_total')!;
    const sentBefore = value(before, 'ostrom_http_bytes_sent_total')!;
    expect(receivedBefore).toBeGreaterThan(0);
    expect(sentBefore).toBeGreaterThan(0);

    const si = storageIndex('metrics-bytes');
    const s = secrets('metrics-bytes');
    await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 5000 });
    await client.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: new Uint8Array(5000),
    });
    await responsesClosed();
    const afterWrite = (await scrape(metrics)).samples;
    expect(value(afterWrite, 'ostrom_http_bytes_received_total')!).toBeGreaterThan(
      receivedBefore + 5000,
    );
    await client.immutable.read(si, 0);
    await responsesClosed();
    const afterRead = (await scrape(metrics)).samples;
    expect(value(afterRead, 'ostrom_http_bytes_sent_total')!).toBeGreaterThan(
      value(afterWrite, 'ostrom_http_bytes_sent_total')! + 5000,
    );
  });
});

describe('createStorageMetrics(options).scrape()', () => {
  it('reports usage per account, shares by state and accounts by status as the lease database has them', async () => {
    const { server, metrics } = await startInstrumented();
    const { accountant, db } = server;
    const hana = await accountant.addAccount({ publicKey: newPublicKey(), nickname: 'hana' });
    const ivan = await accountant.addAccount({ publicKey: newPublicKey(), nickname: 'ivan' });
    await accountant.setAccountStatus(ivan.id, 'frozen');
    const client = server.client(hana.id);
    const done = storageIndex('metrics-done');
    const s = secrets('metrics-done');
    await client.immutable.allocate(done, { ...s, shareNumbers: [0], allocatedSize: 900 });
    await client.immutable.write(done, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: new Uint8Array(900),
    });
    // Two shares still coming.
    await client.immutable.allocate(storageIndex('metrics-coming'), {
      ...secrets('metrics-coming'),
      shareNumbers: [0, 1],
      allocatedSize: 50,
    });

    const { samples, types } = await scrape(metrics);
    expect(types.get('ostrom_account_usage_bytes')).toBe('gauge');
    const usage = (await db.getAccountUsage(hana.id))!;
    expect(usage.bytes).toBeGreaterThanOrEqual(900);
    const labels = { account: String(hana.id), nickname: 'hana' };
    expect(value(samples, 'ostrom_account_usage_bytes', labels)).toBe(usage.bytes);
    expect(value(samples, 'ostrom_account_usage_shares', labels)).toBe(usage.shares);
    const all = await db.listAccounts({ limit: 10_000 });
    expect(series(samples, 'ostrom_account_usage_bytes')).toHaveLength(all.total);
    const serverUsage = await db.getServerUsage();
    expect(value(samples, 'ostrom_server_usage_bytes')).toBe(serverUsage.bytes);
    expect(value(samples, 'ostrom_server_usage_shares')).toBe(serverUsage.shares);
    expect(value(samples, 'ostrom_shares', { state: 'coming' })).toBe(2);
    expect(value(samples, 'ostrom_shares', { state: 'stable' })).toBe(1);
    expect(value(samples, 'ostrom_shares', { state: 'going' })).toBe(0);
    for (const status of ['normal', 'frozen', 'pending', 'disabled', 'deleted']) {
      expect(value(samples, 'ostrom_accounts', { status }), status).toBe(
        all.accounts.filter((a) => a.status === status).length,
      );
    }
    expect(value(samples, 'ostrom_accounts', { status: 'frozen' })).toBe(1);

    // topAccounts: only the largest accounts by bytes get a series.
    const top = createStorageMetrics({ leaseDb: db, topAccounts: 1, processMetrics: false });
    const topSamples = (await scrape(top)).samples;
    expect(series(topSamples, 'ostrom_account_usage_bytes').map((s) => s.labels)).toEqual([labels]);
  });

  it('counts soft-quota warnings from the activity log, each once', async () => {
    const { server, metrics } = await startInstrumented();
    const { accountant, db } = server;
    const account = await accountant.addAccount({
      publicKey: newPublicKey(),
      nickname: 'kai',
      softQuotaBytes: 1000,
    });
    const client = server.client(account.id);
    const upload = async (seed: string, bytes: number) => {
      const si = storageIndex(seed);
      const s = secrets(seed);
      await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: bytes });
      await client.immutable.write(si, 0, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: new Uint8Array(bytes),
      });
    };
    expect(value((await scrape(metrics)).samples, 'ostrom_quota_warnings_total')).toBe(0);

    await upload('warn-80', 900); // past 80% of the soft quota
    const first = (await db.listEvents({ kinds: ['quota-warning'] })).length;
    expect(first).toBeGreaterThan(0);
    expect(value((await scrape(metrics)).samples, 'ostrom_quota_warnings_total')).toBe(first);
    // The counter follows the log: a second scrape does not count the same warnings again.
    expect(value((await scrape(metrics)).samples, 'ostrom_quota_warnings_total')).toBe(first);

    await upload('warn-100', 200); // past 100%
    const second = (await db.listEvents({ kinds: ['quota-warning'] })).length;
    expect(second).toBeGreaterThan(first);
    expect(value((await scrape(metrics)).samples, 'ostrom_quota_warnings_total')).toBe(second);
  });

  it('counts the writes the accountant refused, by reason, with no account label', async () => {
    const { server, metrics } = await startInstrumented();
    const account = await server.accountant.addAccount({
      publicKey: newPublicKey(),
      nickname: 'jun',
      hardQuotaBytes: 100,
    });
    const before = (await scrape(metrics)).samples;
    for (const reason of ['quota', 'status', 'mode']) {
      expect(value(before, 'ostrom_writes_refused_total', { reason }), reason).toBe(0);
    }
    await expect(
      server.client(account.id).immutable.allocate(storageIndex('refused'), {
        ...secrets('refused'),
        shareNumbers: [0],
        allocatedSize: 200,
      }),
    ).rejects.toMatchObject({ status: 403 });

    const { samples, types } = await scrape(metrics);
    expect(types.get('ostrom_writes_refused_total')).toBe('counter');
    const refused = series(samples, 'ostrom_writes_refused_total');
    expect(refused.map((s) => [s.labels, s.value])).toEqual([
      [{ reason: 'quota' }, 1],
      [{ reason: 'status' }, 0],
      [{ reason: 'mode' }, 0],
    ]);
  });

  it('reports the crawler only with crawlerStatus, and its last cycle only once one finished', async () => {
    const { server, metrics: withoutCrawler } = await startInstrumented();
    const without = await withoutCrawler.scrape();
    expect(without).not.toContain('ostrom_crawler_');

    let status: MetricsCrawlerStatus = {
      cycle: 1,
      prefixesDone: 256,
      prefixesTotal: 1024,
      counters: { examined: 12, adopted: 3 },
      history: [],
    };
    const metrics = createStorageMetrics({
      leaseDb: server.db,
      processMetrics: false,
      crawlerStatus: async () => status,
    });
    const first = (await scrape(metrics)).samples;
    expect(value(first, 'ostrom_crawler_cycle')).toBe(1);
    expect(value(first, 'ostrom_crawler_cycle_progress_ratio')).toBe(0.25);
    expect(value(first, 'ostrom_crawler_cycle_count', { counter: 'examined' })).toBe(12);
    expect(value(first, 'ostrom_crawler_cycle_count', { counter: 'adopted' })).toBe(3);
    expect(series(first, 'ostrom_crawler_last_cycle_finished_timestamp_seconds')).toEqual([]);
    expect(series(first, 'ostrom_crawler_last_cycle_duration_seconds')).toEqual([]);
    expect(series(first, 'ostrom_crawler_last_cycle_count')).toEqual([]);

    status = {
      cycle: 2,
      prefixesDone: 0,
      prefixesTotal: 1024,
      counters: { examined: 0 },
      history: [
        { startedAt: 1_700_000_000, finishedAt: 1_700_003_600, counters: { examined: 40 } },
        { startedAt: 1_600_000_000, finishedAt: 1_600_000_001, counters: { examined: 1 } },
      ],
    };
    const second = (await scrape(metrics)).samples;
    expect(value(second, 'ostrom_crawler_cycle')).toBe(2);
    expect(value(second, 'ostrom_crawler_cycle_progress_ratio')).toBe(0);
    // The last cycle's counters replace the cycle in progress's, none left over.
    expect(series(second, 'ostrom_crawler_cycle_count').map((s) => s.labels)).toEqual([
      { counter: 'examined' },
    ]);
    expect(value(second, 'ostrom_crawler_last_cycle_finished_timestamp_seconds')).toBe(
      1_700_003_600,
    );
    expect(value(second, 'ostrom_crawler_last_cycle_duration_seconds')).toBe(3600);
    expect(value(second, 'ostrom_crawler_last_cycle_count', { counter: 'examined' })).toBe(40);
  });

  it('with health, succeeds while the database is away, keeping the last values, and says which dependency is down', async () => {
    const leaseDb = await openLeaseDb({
      dialect: 'sqlite',
      path: join(await tempDir('http-metrics-'), 'leasedb.sqlite'),
    });
    let open = true;
    onTestFinished(async () => {
      if (open) await leaseDb.close();
    });
    const health = new DependencyHealth({
      probes: { database: () => leaseDb.getServerUsage(), store: async () => undefined },
      cacheMs: 0,
      recheckMs: 0,
    });
    const metrics = createStorageMetrics({ leaseDb, health, processMetrics: false });
    const unguarded = createStorageMetrics({ leaseDb, processMetrics: false });

    const up = (await scrape(metrics)).samples;
    expect(value(up, 'ostrom_dependency_up', { dependency: 'database' })).toBe(1);
    expect(value(up, 'ostrom_dependency_up', { dependency: 'store' })).toBe(1);
    const normal = value(up, 'ostrom_accounts', { status: 'normal' });
    expect(normal).toBeGreaterThan(0); // the built-in accounts

    await leaseDb.close();
    open = false;
    const down = (await scrape(metrics)).samples;
    expect(value(down, 'ostrom_dependency_up', { dependency: 'database' })).toBe(0);
    expect(value(down, 'ostrom_dependency_up', { dependency: 'store' })).toBe(1);
    expect(value(down, 'ostrom_accounts', { status: 'normal' })).toBe(normal);
    // Without health nothing says the database is away: the scrape fails instead.
    await expect(unguarded.scrape()).rejects.toThrow();
  });

  it('is what createAdminHandler serves as GET /metrics, with its content type', async () => {
    const { server, metrics, responsesClosed } = await startInstrumented();
    await server.client().getVersion();
    await responsesClosed();
    const token = 'b'.repeat(64);
    const admin = http.createServer(
      createAdminHandler({
        accountant: server.accountant,
        leaseDb: server.db,
        serverId: 'metrics-test',
        nurlFor: (accountId) => server.nurl(accountId),
        authorize: bearerChecker(token),
        metrics,
      }),
    );
    await new Promise<void>((listening) => admin.listen(0, '127.0.0.1', listening));
    onTestFinished(() => new Promise<void>((closed) => admin.close(() => closed())));
    const url = `http://127.0.0.1:${(admin.address() as AddressInfo).port}/metrics`;

    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.contentType);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples } = parse(await res.text());
    expect(
      value(samples, 'ostrom_http_requests_total', {
        route: 'version',
        method: 'GET',
        status: '200',
      }),
    ).toBe(1);
  });

  it('adds the process metrics unless processMetrics is false', async () => {
    const { server, metrics } = await startInstrumented({ processMetrics: true });
    const withProcess = (await scrape(metrics)).samples;
    expect(value(withProcess, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(withProcess, 'nodejs_heap_size_total_bytes')).toBeGreaterThan(0);
    const without = createStorageMetrics({ leaseDb: server.db, processMetrics: false });
    expect((await scrape(without)).samples.some((s) => s.name.startsWith('process_'))).toBe(false);
  });
});

describe('createStorageMetrics(options) validates its options', () => {
  it('throws a TypeError without a lease database or with a callback that is not a function', async () => {
    const { server } = await startInstrumented();
    expect(() => createStorageMetrics(undefined as never)).toThrow(TypeError);
    expect(() => createStorageMetrics({} as never)).toThrow(TypeError);
    expect(() =>
      createStorageMetrics({ leaseDb: server.db, crawlerStatus: 'accounting' as never }),
    ).toThrow(TypeError);
    expect(() => createStorageMetrics({ leaseDb: server.db, refusals: {} as never })).toThrow(
      TypeError,
    );
    expect(() => createStorageMetrics({ leaseDb: server.db, health: {} as never })).toThrow(
      TypeError,
    );
  });

  it('throws a RangeError for topAccounts outside 1–10000 or not an integer', async () => {
    const { server } = await startInstrumented();
    for (const topAccounts of [0, -1, 1.5, 10_001, Number.NaN]) {
      expect(
        () => createStorageMetrics({ leaseDb: server.db, topAccounts }),
        String(topAccounts),
      ).toThrow(RangeError);
    }
    expect(() =>
      createStorageMetrics({ leaseDb: server.db, topAccounts: 10_000, processMetrics: false }),
    ).not.toThrow();
  });
});
