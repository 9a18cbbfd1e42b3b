/**
 * Accountant benchmark: each storage operation through an Account beside a baseline measured in
 * the same run — the backend and lease-database calls underneath, made directly — so the ratio
 * is the cost of the accountant's own work (status check, lock, bookkeeping). SQLite
 * (synchronous=FULL, the default) and the disk backend with fsync on, in a temp dir.
 * Run with `pnpm --filter @ostrom/accountant bench`. OSTROM_BENCH_SCALE scales the counts.
 *
 * 1. lease renewal of an index holding one share: `addOrRenewLease` vs `listShares` +
 *    `db.addOrRenewLeases` (the least a renewal must do);
 * 2. immutable upload of 1 MiB shares (allocate + one chunk): vs `createUpload` + `writeUpload`
 *    + `addComingShares` + `markStable`;
 * 3. 64 KiB reads of those shares: `readShare` vs backend `readShare`;
 * 4. a 1 KiB mutable rewrite with a compare-and-swap test: `readTestWrite` vs `readShare` of the
 *    checkstring + `writeMutable` + `setUsedSpace`;
 * 5. `version()`, which clients poll every second.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskBackend } from '@ostrom/backend-disk';
import { openLeaseDb } from '@ostrom/leasedb';
import { base32 } from '@scure/base';
import { Accountant } from '../src/index.js';

const SCALE = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));
const MiB = 1024 * 1024;

function si(): string {
  return base32.encode(randomBytes(16)).toLowerCase().replace(/=+$/, '');
}
const secret = () => new Uint8Array(randomBytes(32));

/** Seconds for `count` calls; `warmUp` untimed calls first (JIT, statement caches, page cache). */
async function time(count: number, fn: (i: number) => Promise<void>, warmUp = 0): Promise<number> {
  for (let i = 0; i < warmUp; i++) await fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await fn(i);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function world(dir: string, name: string) {
  const leaseDb = await openLeaseDb({ dialect: 'sqlite', path: join(dir, `${name}.sqlite`) });
  const backend = await createDiskBackend({ root: join(dir, name) });
  const accountant = new Accountant({
    leaseDb,
    backend,
    serverSecret: new Uint8Array(32).fill(1),
    serverId: 'bench',
  });
  await accountant.start({ intervalSeconds: 0 });
  const row = await accountant.addAccount({ publicKey: secret(), nickname: 'bench' });
  return { leaseDb, backend, accountant, account: accountant.account(row.id), accountId: row.id };
}

const rows: [string, string, number, number][] = [];
function report(name: string, unit: string, count: number, ours: number, base: number, per = 1) {
  rows.push([name, unit, (count * per) / ours, (count * per) / base]);
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'accountant-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ours = await world(dir, 'ours');
  const raw = await world(dir, 'raw');
  const s = { renewSecret: secret(), cancelSecret: secret(), uploadSecret: secret() };

  // 2. uploads (also the shares for 1 and 3)
  const uploads = scaled(64);
  const data = new Uint8Array(randomBytes(MiB));
  const oursIndexes = Array.from({ length: uploads }, si);
  const rawIndexes = Array.from({ length: uploads }, si);
  const upOurs = await time(uploads, async (i) => {
    const index = oursIndexes[i]!;
    await ours.account.allocate(index, { ...s, shareNumbers: [0], allocatedSize: MiB });
    await ours.account.writeUpload(index, 0, s.uploadSecret, 0, data);
  });
  const upRaw = await time(uploads, async (i) => {
    const index = rawIndexes[i]!;
    await raw.leaseDb.addComingShares({
      storageIndex: index,
      sharetype: 'immutable',
      accountId: raw.accountId,
      shares: [{ shnum: 0, usedBytes: MiB }],
      renewSecret: s.renewSecret,
      cancelSecret: s.cancelSecret,
    });
    await raw.backend.createUpload(index, 0, MiB);
    await raw.backend.writeUpload(index, 0, 0, data);
    await raw.leaseDb.markStable(index, 0, MiB);
  });
  report('immutable upload, 1 MiB shares', 'MiB/s', uploads, upOurs, upRaw);

  // 1. renewals
  const renewals = scaled(2000);
  const renewOurs = await time(
    renewals,
    async (i) => {
      await ours.account.addOrRenewLease(oursIndexes[i % uploads]!, s);
    },
    200,
  );
  const renewRaw = await time(
    renewals,
    async (i) => {
      const index = rawIndexes[i % uploads]!;
      await raw.backend.listShares(index);
      await raw.leaseDb.addOrRenewLeases({ storageIndex: index, accountId: raw.accountId, ...s });
    },
    200,
  );
  report('lease renewal', 'ops/s', renewals, renewOurs, renewRaw);

  // 3. reads
  const reads = scaled(5000);
  const readOurs = await time(
    reads,
    async (i) => {
      await ours.account.readShare('immutable', oursIndexes[i % uploads]!, 0, {
        offset: (i * 65_536) % MiB,
        length: 65_536,
      });
    },
    1000,
  );
  const readRaw = await time(
    reads,
    async (i) => {
      await raw.backend.readShare(rawIndexes[i % uploads]!, 0, (i * 65_536) % MiB, 65_536);
    },
    1000,
  );
  report('64 KiB reads', 'MiB/s', reads, readOurs, readRaw, 1 / 16);

  // 4. mutable rewrites
  const rewrites = scaled(1000);
  const mutable = si();
  const we = secret();
  const first = new Uint8Array(1024);
  await ours.account.readTestWrite(mutable, {
    ...s,
    writeEnabler: we,
    testWriteVectors: new Map([
      [0, { test: [], write: [{ offset: 0, data: first }], newLength: null }],
    ]),
    readVector: [],
  });
  await raw.account.readTestWrite(mutable, {
    ...s,
    writeEnabler: we,
    testWriteVectors: new Map([
      [0, { test: [], write: [{ offset: 0, data: first }], newLength: null }],
    ]),
    readVector: [],
  });
  let previous = first;
  const rtwOurs = await time(rewrites, async (i) => {
    const next = new Uint8Array(1024).fill(i & 0xff);
    const result = await ours.account.readTestWrite(mutable, {
      ...s,
      writeEnabler: we,
      testWriteVectors: new Map([
        [
          0,
          {
            test: [{ offset: 0, size: 8, specimen: previous.subarray(0, 8) }],
            write: [{ offset: 0, data: next }],
            newLength: null,
          },
        ],
      ]),
      readVector: [{ offset: 0, size: 8 }],
    });
    if (!result.success) throw new Error('compare-and-swap failed');
    previous = next;
  });
  previous = first;
  const rtwRaw = await time(rewrites, async (i) => {
    const next = new Uint8Array(1024).fill(i & 0xff);
    const old = await raw.backend.readShare(mutable, 0, 0, 8);
    if (Buffer.compare(old, previous.subarray(0, 8)) !== 0) throw new Error('test failed');
    const length = await raw.backend.writeMutable(mutable, 0, {
      writeEnabler: we,
      writes: [{ offset: 0, data: next }],
    });
    await raw.leaseDb.setUsedSpace(mutable, 0, length);
    previous = next;
  });
  report('mutable rewrite, 1 KiB', 'ops/s', rewrites, rtwOurs, rtwRaw);

  // 5. version
  const versions = scaled(100_000);
  await ours.accountant.version();
  const vOurs = await time(versions, async () => {
    await ours.accountant.version();
  });
  const vRaw = await time(versions, async () => {
    await raw.backend.availableSpace();
  });
  report('version() (baseline: statfs)', 'ops/s', versions, vOurs, vRaw);

  console.log('| operation | unit | accountant | baseline | ratio (baseline/accountant time) |');
  console.log('|---|---|---|---|---|');
  for (const [name, unit, o, b] of rows) {
    console.log(
      `| ${name} | ${unit} | ${o.toFixed(0)} | ${b.toFixed(0)} | ${(b / o).toFixed(2)}× |`,
    );
  }
  for (const w of [ours, raw]) {
    await w.accountant.stop();
    await w.leaseDb.close();
    await w.backend.close();
  }
}

await main();
