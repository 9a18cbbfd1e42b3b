import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openLeaseDb } from '@ostrom/leasedb';
import { createStorageClient, generateAccountKey } from '@ostrom/protocol';
import { parsePrometheus, tempDir, sampleValue as value } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { initNode } from '../src/node-dir.js';
import { type RunningNode, startNode } from '../src/server.js';
import { secrets, storageIndex } from './http-setup.js';

async function scrape(running: RunningNode, token: string) {
  const res = await fetch(`${running.adminUrl}/metrics`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

async function admin(
  running: RunningNode,
  token: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${running.adminUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: answers are read loosely; each test checks its fields
  return { status: res.status, json: (await res.json()) as any };
}

describe('/metrics on the admin listener', () => {
  it('needs the token, parses as Prometheus text, counts storage requests and bytes', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    const client = createStorageClient({ nurl: running.nurl });
    try {
      const refused = await fetch(`${running.adminUrl}/metrics`);
      expect(refused.status).toBe(401);

      const before = await scrape(running, token);
      expect(before.types.get('ostrom_http_requests_total')).toBe('counter');
      expect(before.types.get('ostrom_http_request_duration_seconds')).toBe('histogram');
      expect(before.types.get('ostrom_account_usage_bytes')).toBe('gauge');
      expect(before.types.get('ostrom_shares')).toBe('gauge');
      expect(before.types.get('ostrom_quota_warnings_total')).toBe('counter');
      // prom-client's process metrics share the node's registry.
      expect(value(before.samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(value(before.samples, 'nodejs_heap_size_total_bytes')).toBeGreaterThan(0);
      const versionLabels = { route: 'version', method: 'GET', status: '200' };
      const versions = value(before.samples, 'ostrom_http_requests_total', versionLabels) ?? 0;
      const received = value(before.samples, 'ostrom_http_bytes_received_total') ?? 0;
      const sent = value(before.samples, 'ostrom_http_bytes_sent_total') ?? 0;

      for (let i = 0; i < 3; i++) await client.getVersion();
      const missing = await client.raw({ method: 'GET', path: '/no/such/path' });
      expect(missing.status).toBe(404);
      const wrongMethod = await client.raw({ method: 'DELETE', path: '/storage/v1/version' });
      expect(wrongMethod.status).toBe(405);
      const si = storageIndex('metrics-put');
      const lease = await client.raw({ method: 'PUT', path: `/storage/v1/lease/${si}` });
      expect(lease.status).toBe(400); // no lease secrets: refused, and still counted by route

      const after = await scrape(running, token);
      expect(value(after.samples, 'ostrom_http_requests_total', versionLabels)).toBe(versions + 3);
      expect(
        value(after.samples, 'ostrom_http_requests_total', {
          route: 'unmatched',
          method: 'GET',
          status: '404',
        }),
      ).toBe(1);
      expect(
        value(after.samples, 'ostrom_http_requests_total', {
          route: 'unmatched',
          method: 'DELETE',
          status: '405',
        }),
      ).toBe(1);
      expect(
        value(after.samples, 'ostrom_http_requests_total', {
          route: 'addOrRenewLease',
          method: 'PUT',
          status: '400',
        }),
      ).toBe(1);
      expect(
        value(after.samples, 'ostrom_http_request_duration_seconds_count', {
          route: 'version',
          method: 'GET',
        }),
      ).toBe(versions + 3);
      // Paths never become labels: the storage index stays out of the series.
      expect(after.samples.some((s) => Object.values(s.labels).some((v) => v.includes(si)))).toBe(
        false,
      );
      expect(value(after.samples, 'ostrom_http_bytes_received_total')!).toBeGreaterThan(
        received + 3 * 50,
      );
      expect(value(after.samples, 'ostrom_http_bytes_sent_total')!).toBeGreaterThan(sent + 3 * 100);
    } finally {
      client.close();
      await running.close();
    }
  });

  it('reports usage per account, shares by state, accounts by status and quota warnings as the leasedb has them', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    const added = await admin(running, token, 'POST', '/admin/v1/accounts', {
      publicKey: Buffer.from(generateAccountKey().publicKey).toString('hex'),
      nickname: 'hana',
      softBytes: 1000,
    });
    expect(added.status).toBe(201);
    const id: number = added.json.id;
    const frozen = await admin(running, token, 'POST', '/admin/v1/accounts', {
      publicKey: Buffer.from(generateAccountKey().publicKey).toString('hex'),
      nickname: 'ivan',
    });
    await admin(running, token, 'POST', `/admin/v1/accounts/${frozen.json.id}/freeze`);

    const client = createStorageClient({ nurl: added.json.nurl });
    try {
      // One complete share of 900 bytes (past 80% of the soft quota: a warning) and one upload
      // still coming.
      const done = storageIndex('metrics-done');
      const s = secrets('metrics-done');
      await client.immutable.allocate(done, { ...s, shareNumbers: [0], allocatedSize: 900 });
      await client.immutable.write(done, 0, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: new Uint8Array(900),
      });
      const coming = storageIndex('metrics-coming');
      await client.immutable.allocate(coming, {
        ...secrets('metrics-coming'),
        shareNumbers: [0, 1],
        allocatedSize: 50,
      });

      const { samples } = await scrape(running, token);
      const db = await openLeaseDb({ dialect: 'sqlite', path: join(dir, 'leasedb.sqlite') });
      try {
        const usage = (await db.getAccountUsage(id))!;
        expect(usage.bytes).toBeGreaterThanOrEqual(900);
        const labels = { account: String(id), nickname: 'hana' };
        expect(value(samples, 'ostrom_account_usage_bytes', labels)).toBe(usage.bytes);
        expect(value(samples, 'ostrom_account_usage_shares', labels)).toBe(usage.shares);
        const server = await db.getServerUsage();
        expect(value(samples, 'ostrom_server_usage_bytes')).toBe(server.bytes);
        expect(value(samples, 'ostrom_shares', { state: 'coming' })).toBe(2);
        expect(value(samples, 'ostrom_shares', { state: 'stable' })).toBe(1);
        expect(value(samples, 'ostrom_shares', { state: 'going' })).toBe(0);
        const page = await db.listAccounts({ limit: 10_000 });
        expect(samples.filter((s) => s.name === 'ostrom_account_usage_bytes').length).toBe(
          page.total,
        );
        for (const status of ['normal', 'frozen', 'pending', 'disabled', 'deleted']) {
          expect(value(samples, 'ostrom_accounts', { status }), status).toBe(
            page.accounts.filter((a) => a.status === status).length,
          );
        }
        const warnings = await db.listEvents({ kinds: ['quota-warning'] });
        expect(warnings.length).toBeGreaterThan(0);
        expect(value(samples, 'ostrom_quota_warnings_total')).toBe(warnings.length);
      } finally {
        await db.close();
      }

      // The counter follows the log: a second scrape does not count the same warnings again.
      const again = await scrape(running, token);
      expect(value(again.samples, 'ostrom_quota_warnings_total')).toBe(
        value(samples, 'ostrom_quota_warnings_total'),
      );
    } finally {
      client.close();
      await running.close();
    }
  });

  it('counts the writes the accountant refused, by reason, with no account label', async () => {
    const dir = await tempDir();
    await initNode(dir);
    const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    const added = await admin(running, token, 'POST', '/admin/v1/accounts', {
      publicKey: Buffer.from(generateAccountKey().publicKey).toString('hex'),
      nickname: 'jun',
      hardBytes: 100,
    });
    expect(added.status).toBe(201);
    const client = createStorageClient({ nurl: added.json.nurl });
    try {
      const before = await scrape(running, token);
      expect(before.types.get('ostrom_writes_refused_total')).toBe('counter');
      for (const reason of ['quota', 'status', 'mode']) {
        expect(value(before.samples, 'ostrom_writes_refused_total', { reason }), reason).toBe(0);
      }

      const si = storageIndex('metrics-refused');
      await expect(
        client.immutable.allocate(si, {
          ...secrets('metrics-refused'),
          shareNumbers: [0],
          allocatedSize: 200,
        }),
      ).rejects.toMatchObject({ status: 403 });

      const { samples } = await scrape(running, token);
      expect(value(samples, 'ostrom_writes_refused_total', { reason: 'quota' })).toBe(1);
      expect(value(samples, 'ostrom_writes_refused_total', { reason: 'status' })).toBe(0);
      expect(value(samples, 'ostrom_writes_refused_total', { reason: 'mode' })).toBe(0);
      const series = samples.filter((s) => s.name === 'ostrom_writes_refused_total');
      expect(series.map((s) => Object.keys(s.labels))).toEqual([
        ['reason'],
        ['reason'],
        ['reason'],
      ]);
    } finally {
      client.close();
      await running.close();
    }
  });
});
