// One unpaced crawler cycle and one rebuild from an empty database over shares on the disk
// backend, beside a bare recursive listing of the same tree (the floor any crawl stands on).
//   pnpm --filter @ostrom/crawler bench      (OSTROM_BENCH_SHARES, default 100000; 4 per set)
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskBackend } from '@ostrom/backend-disk';
import { openLeaseDb } from '@ostrom/leasedb';
import { base32 } from '@scure/base';
import { AccountingCrawler } from '../src/index.js';

const SHARES = Number(process.env.OSTROM_BENCH_SHARES ?? 100_000);
const PER_SET = 4;
const SHARE = new Uint8Array(64).fill(7);

function storageIndex(i: number): string {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setUint32(0, Math.imul(i + 1, 2654435761) >>> 0);
  new DataView(bytes.buffer).setUint32(12, i);
  return base32.encode(bytes).toLowerCase().replace(/=+$/, '');
}

async function bareListing(dir: string): Promise<number> {
  let files = 0;
  for (const prefix of await readdir(dir)) {
    if (prefix === 'incoming') continue;
    for (const si of await readdir(join(dir, prefix))) {
      files += (await readdir(join(dir, prefix, si))).length;
    }
  }
  return files;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, (performance.now() - start) / 1000];
}

const root = await mkdtemp(join(tmpdir(), 'crawler-bench-'));
try {
  const backend = await createDiskBackend({ root, fsync: false });
  const [, made] = await timed(async () => {
    const sets = Math.ceil(SHARES / PER_SET);
    const work: Promise<void>[] = [];
    for (let i = 0; i < sets; i++) {
      const si = storageIndex(i);
      for (let shnum = 0; shnum < PER_SET; shnum++) {
        work.push(
          backend
            .createUpload(si, shnum, SHARE.length)
            .then(() => backend.writeUpload(si, shnum, 0, SHARE))
            .then(() => undefined),
        );
      }
      if (work.length >= 256) await Promise.all(work.splice(0));
    }
    await Promise.all(work);
  });
  console.log(
    `made ${SHARES} shares in ${Math.ceil(SHARES / PER_SET)} sets in ${made.toFixed(1)} s`,
  );

  const [listed, bare] = await timed(() => bareListing(join(root, 'shares')));
  const leaseDb = await openLeaseDb({
    dialect: 'sqlite',
    path: join(root, 'leasedb.sqlite'),
    synchronous: 'normal',
  });
  const crawler = new AccountingCrawler({ leaseDb, backend });
  const [rebuild, rebuildSeconds] = await timed(() => crawler.runOnce());
  const [cycle, cycleSeconds] = await timed(() => crawler.runOnce());
  await leaseDb.close();
  await backend.close();

  const row = (what: string, seconds: number) =>
    `${what.padEnd(42)} ${seconds.toFixed(2).padStart(8)} s  ${(seconds / bare).toFixed(2)}x`;
  console.log(row(`bare recursive listing (${listed} files)`, bare));
  console.log(row(`full cycle, database in agreement (${cycle.counters.examined})`, cycleSeconds));
  console.log(
    row(`rebuild from no database (${rebuild.counters.adopted} adopted)`, rebuildSeconds),
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
