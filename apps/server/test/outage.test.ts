import { readFile } from 'node:fs/promises';
import { createScratchSchema, startOutageProxy } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bytes, PG_URL, secretHeaders, secrets, storageIndex } from './http-setup.js';
import { createTestNode, upload } from './node-harness.js';

// The lease database taken away from a running node and given back, through a TCP proxy in
// front of PostgreSQL (refusing connections and cutting those open, as a stopped server does):
// the node lives on, clients get 503 with Retry-After and a short reason (never a 500, never
// what the failure named), /admin/v1/health and /metrics say which service is away, the log says
// once when it went and once when it came back, and service resumes by itself.

const RETURN_WITHIN_MS = 5000;
const INTERNAL = /postgres|127\.0\.0\.1|select |insert |ECONNREFUSED|shares\//i;

describe.skipIf(!PG_URL)('outages: the lease database away', () => {
  it('PostgreSQL refused: 503 with Retry-After, health and metrics say so, one log line each way, service back within 5 s', async () => {
    const scratch = await createScratchSchema(PG_URL!);
    const target = new URL(PG_URL!);
    const proxy = await startOutageProxy({
      host: target.hostname,
      port: Number(target.port || 5432),
    });
    onTestFinished(async () => {
      await proxy.close();
      await scratch.drop();
    });
    const node = await createTestNode('disk', { databaseUrl: proxy.via(scratch.url) });
    const running = await node.start();
    const client = node.client(running.nurl);
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    const admin = (path: string) =>
      fetch(`${running.adminUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const before = storageIndex('outage-before');
    await upload(client, running, before, 0, bytes(1000));
    expect((await admin('/admin/v1/health')).status).toBe(200);

    proxy.refuse();
    const s = secrets('outage');
    const allocate = (si: string) =>
      client.raw({
        method: 'POST',
        path: `/storage/v1/immutable/${si}`,
        headers: {
          'X-Tahoe-Authorization': secretHeaders(s, 'upload-secret'),
          'Content-Type': 'application/cbor',
        },
        // {"share-numbers": 258([0]), "allocated-size": 10}
        body: Buffer.from(
          `a26d${Buffer.from('share-numbers').toString('hex')}d90102810` +
            `06e${Buffer.from('allocated-size').toString('hex')}0a`,
          'hex',
        ),
      });
    const during = [
      await allocate(storageIndex('outage-during-1')),
      await allocate(storageIndex('outage-during-2')),
      await client.raw({ method: 'GET', path: '/accounting/v1/account' }),
    ];
    for (const answer of during) {
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
      const text = Buffer.from(answer.body).toString('utf8');
      expect(text).toMatch(/unavailable/);
      expect(text).not.toMatch(INTERNAL);
    }
    // A read answers from the store or is 503: never a 500.
    const read = await client.raw({ method: 'GET', path: `/storage/v1/immutable/${before}/0` });
    expect([200, 503]).toContain(read.status);

    const health = await admin('/admin/v1/health');
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBe('5');
    expect(await health.json()).toMatchObject({
      status: 'unavailable',
      database: 'unavailable',
      store: 'ok',
      checks: { database: { up: false }, store: { up: true } },
    });
    const metrics = await admin('/metrics');
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('ostrom_dependency_up{dependency="database"} 0');
    expect(text).toContain('ostrom_dependency_up{dependency="store"} 1');
    const accounts = await admin('/admin/v1/accounts');
    expect(accounts.status).toBe(503);
    expect(accounts.headers.get('retry-after')).toBe('5');
    expect(JSON.stringify(await accounts.json())).not.toMatch(INTERNAL);

    proxy.resume();
    const resumed = performance.now();
    let status = 0;
    for (let attempt = 0; attempt < 10_000 && status !== 200; attempt++) {
      status = (await allocate(storageIndex('outage-after'))).status;
      if (performance.now() - resumed > RETURN_WITHIN_MS) break;
    }
    expect(status).toBe(200);
    expect(performance.now() - resumed).toBeLessThan(RETURN_WITHIN_MS);
    expect(await client.immutable.read(before, 0)).toEqual(bytes(1000));
    let healthy = 0;
    for (let attempt = 0; attempt < 10_000 && healthy !== 200; attempt++) {
      healthy = (await admin('/admin/v1/health')).status;
      if (performance.now() - resumed > RETURN_WITHIN_MS + 5000) break;
    }
    expect(healthy).toBe(200);

    const lines = node.logged.map((entry) => entry.msg);
    expect(lines.filter((msg) => msg.startsWith('the lease database is unavailable'))).toHaveLength(
      1,
    );
    expect(lines.filter((msg) => msg.startsWith('the lease database is back after'))).toHaveLength(
      1,
    );
    expect(node.logged.filter((entry) => entry.level >= 60)).toEqual([]);
  }, 60_000);
});
