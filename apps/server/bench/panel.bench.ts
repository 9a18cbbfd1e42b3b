// The panel's benchmark (`pnpm --filter @ostrom/server bench:panel`; not part of the test suite).
//
// A node on disk + SQLite with OSTROM_BENCH_ACCOUNTS accounts (default 10,000), each holding one
// share of its own size, and a year of usage snapshots (daily, then hourly for the last 30 days)
// in which one account's usage changes every time and the others' never do. Each figure is the
// median time of OSTROM_BENCH_REPEATS (default 20) requests for a panel page over HTTP on
// loopback, beside the lease-database query the page is built on, run through the same
// connection in the same run: the ratio shows what rendering and HTTP cost above the database.
// Last, the day's digest (the activity page's and the feed's) beside reading that day's log.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDigest } from '@ostrom/accountant';
import { storageIndexFromBytes } from '@ostrom/protocol';
import { initNode, loadNode } from '../src/node-dir.js';
import { openNodeDatabase, startNode } from '../src/server.js';

const ACCOUNTS = Number(process.env.OSTROM_BENCH_ACCOUNTS ?? '10000');
const REPEATS = Number(process.env.OSTROM_BENCH_REPEATS ?? '20');
if (!(ACCOUNTS >= 100) || !(REPEATS >= 1)) {
  throw new Error('OSTROM_BENCH_ACCOUNTS must be ≥ 100 and OSTROM_BENCH_REPEATS ≥ 1');
}
const HOUR = 3600;

async function median(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const dir = await mkdtemp(join(tmpdir(), 'ostrom-panel-bench-'));
try {
  // The shares below exist only in the database. A node reconciles a database it never
  // reconciled with its store on first start, and its crawler keeps doing so: either would drop
  // them, leaving every account at zero bytes. So the node starts once while the database is
  // empty, and runs without the crawler.
  await initNode(dir, { crawlerEnabled: false });
  await (await startNode(dir, { port: 0, sweepIntervalSeconds: 0 })).close();
  const now = Math.floor(Date.now() / 1000);
  const db = await openNodeDatabase(await loadNode(dir));
  const made = performance.now();
  const ids: number[] = [];
  for (let start = 0; start < ACCOUNTS; start += 500) {
    await db.transaction(async (tx) => {
      for (let i = start; i < Math.min(start + 500, ACCOUNTS); i++) {
        const account = await tx.createAccount({
          publicKey: randomBytes(32).toString('hex'),
          nickname: `user-${i}`,
          softQuotaBytes: i % 10 === 0 ? 1_000_000 : null,
        });
        ids.push(account.id);
        await tx.adoptShare({
          storageIndex: storageIndexFromBytes(new Uint8Array(randomBytes(16))),
          shnum: 0,
          sharetype: 'immutable',
          usedBytes: 1000 + ((i * 7919) % 1_000_000),
          ownerAccountId: account.id,
          leases: [{ accountId: account.id, expiresAt: now + 31 * 86_400 }],
        });
      }
    });
  }
  console.log(
    `made ${ACCOUNTS} accounts with a share each in ${((performance.now() - made) / 1000).toFixed(1)} s`,
  );
  // The snapshots: the charted account stores a share before each, so each writes its sample.
  const charted = ids[0]!;
  const snapshotTimes: number[] = [];
  const snapshotAt = async (at: number) => {
    await db.adoptShare({
      storageIndex: storageIndexFromBytes(new Uint8Array(randomBytes(16))),
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: 1000,
      ownerAccountId: charted,
      leases: [{ accountId: charted, expiresAt: now + 31 * 86_400 }],
    });
    const start = performance.now();
    await db.snapshotUsage(at);
    snapshotTimes.push(performance.now() - start);
  };
  for (let at = now - 365 * 24 * HOUR; at < now - 30 * 24 * HOUR; at += 24 * HOUR) {
    await snapshotAt(at);
  }
  for (let at = now - 30 * 24 * HOUR; at <= now; at += HOUR) await snapshotAt(at);
  let rows = 0;
  for (const id of [0, 1, ...ids]) rows += (await db.getUsageHistory(id)).length;
  // The first snapshot writes every account (none has a sample yet): the cost of the old way.
  const first = snapshotTimes[0]!;
  snapshotTimes.sort((a, b) => a - b);
  console.log(
    `${snapshotTimes.length} snapshots: median ${snapshotTimes[Math.floor(snapshotTimes.length / 2)]!.toFixed(1)} ms each, ` +
      `the first (every account written) ${first.toFixed(1)} ms; ` +
      `${rows} account samples stored, where a sample of every account in every snapshot would be ${(ACCOUNTS + 2) * snapshotTimes.length}`,
  );

  const running = await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
  try {
    const top = (await db.listAccounts({ orderBy: 'bytes', direction: 'desc', limit: 1 }))
      .accounts[0];
    if (!top || top.usage.bytes === 0)
      throw new Error('the accounts lost their shares: figures void');
    const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
    const base = running.adminUrl!;
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ operator: 'bench', token }).toString(),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const get = async (path: string) => {
      const res = await fetch(base + path, { headers: { cookie } });
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      return await res.text();
    };
    const middle = Math.floor(ACCOUNTS / 100);
    const cases: [string, string, () => Promise<unknown>][] = [
      [
        'accounts, by bytes, a middle page',
        `/accounts?sort=bytes&dir=desc&page=${middle}`,
        () =>
          db.listAccounts({
            orderBy: 'bytes',
            direction: 'desc',
            limit: 50,
            offset: (middle - 1) * 50,
          }),
      ],
      [
        'accounts, by last seen, first page',
        '/accounts?sort=lastSeen&dir=desc',
        () => db.listAccounts({ orderBy: 'lastSeen', direction: 'desc', limit: 50 }),
      ],
      [
        'accounts, nickname search',
        '/accounts?q=user-99',
        () => db.listAccounts({ search: 'user-99', limit: 50 }),
      ],
      [
        'accounts, at 80% of a quota',
        '/accounts?near=1',
        () => db.listAccounts({ nearQuota: true, limit: 50 }),
      ],
      [
        'account page, year chart',
        `/accounts/${charted}?range=year`,
        () => db.getUsageHistory(charted, { from: now - 365 * 86_400, to: now + 1 }),
      ],
      ['overview', '/', () => db.countAccountsByStatus()],
      ['activity', '/activity', () => db.listEvents({ order: 'desc', limit: 51 })],
    ];
    console.log(`\n${ACCOUNTS} accounts, median of ${REPEATS} (ms)`);
    console.log('page                                   panel   query underneath   ratio');
    for (const [name, path, query] of cases) {
      const panel = await median(() => get(path));
      const base = await median(query);
      console.log(
        `${name.padEnd(38)} ${panel.toFixed(1).padStart(6)}   ${base.toFixed(1).padStart(6)}             ${(panel / base).toFixed(1).padStart(5)}x`,
      );
    }
    // The digest the activity page and the feed show, built at most once a minute: its cost
    // beside reading the same day of the log alone, page by page as the digest does. Up to this
    // second, as the panel does: the accounts were made after `now`.
    const at = Math.floor(Date.now() / 1000);
    const day = { since: at - 86_400 + 1, until: at + 1 };
    const readDay = async () => {
      let events = 0;
      for (let afterId: number | undefined; ; ) {
        const page = await db.listEvents({
          ...day,
          limit: 10_000,
          ...(afterId ? { afterId } : {}),
        });
        events += page.length;
        if (page.length < 10_000) return events;
        afterId = page.at(-1)!.id;
      }
    };
    const events = await readDay();
    const digestMs = await median(() => buildDigest(db, day));
    const logMs = await median(readDay);
    const lines = (await buildDigest(db, day)).lines.length;
    console.log(
      `\ndigest of the day (${events} events, ${lines} lines): ${digestMs.toFixed(1)} ms; ` +
        `reading the day's log alone ${logMs.toFixed(1)} ms; ${(digestMs / logMs).toFixed(1)}x`,
    );
  } finally {
    await running.close();
    await db.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
