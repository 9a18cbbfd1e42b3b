// The disk half of crawler.bench.ts: shares on the disk backend, beside a bare recursive readdir.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskBackend } from '@ostrom/backend-disk';
import {
  type CleanUp,
  checkCrawl,
  crawl,
  fmt,
  forEachIndex,
  printRows,
  progress,
  SHARE,
  setCount,
  sharesInSet,
  storageIndex,
  timed,
} from './support.js';

const WRITERS = 64;
const TARGET = 2;

/** Every share file under `shares/` (Tahoe's layout: <pp>/<SI>/<shnum>), one readdir at a time. */
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

/**
 * The backend writes share 0 of set 0 as any upload; every other share is a copy of that file
 * at its own path, so the tree holds exactly what the backend would have written.
 */
async function makeShares(root: string, shares: number): Promise<void> {
  const backend = await createDiskBackend({ root, fsync: false });
  const first = storageIndex(0);
  await backend.createUpload(first, 0, SHARE.length);
  await backend.writeUpload(first, 0, 0, SHARE);
  await backend.close();
  const sharesDir = join(root, 'shares');
  const file = await readFile(join(sharesDir, first.slice(0, 2), first, '0'));
  const made = progress('disk', shares, 100_000);
  made(1);
  await forEachIndex(setCount(shares), WRITERS, async (set) => {
    const si = storageIndex(set);
    const dir = join(sharesDir, si.slice(0, 2), si);
    await mkdir(dir, { recursive: true });
    const n = sharesInSet(set, shares);
    for (let shnum = set === 0 ? 1 : 0; shnum < n; shnum++) {
      await writeFile(join(dir, String(shnum)), file);
    }
    made(set === 0 ? n - 1 : n);
  });
}

export async function benchDisk(shares: number, cleanUp: CleanUp): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'crawler-bench-'));
  cleanUp.add(async () => {
    const [, seconds] = await timed(() => rm(root, { recursive: true, force: true }));
    console.log(`disk: removed the temp dir in ${seconds.toFixed(1)} s`);
  });
  console.log(`disk: making ${fmt(shares)} shares in ${fmt(setCount(shares))} sets under ${root}`);
  const [, made] = await timed(() => makeShares(root, shares));
  console.log(`disk: made them in ${made.toFixed(1)} s (${fmt(Math.round(shares / made))}/s)`);

  const [listed, bare] = await timed(() => bareListing(join(root, 'shares')));
  const backend = await createDiskBackend({ root, fsync: false });
  try {
    const crawled = await crawl('disk', backend, join(root, 'leasedb.sqlite'));
    checkCrawl('disk', shares, listed, crawled);
    printRows(
      'disk',
      { what: `bare recursive readdir (${fmt(listed)} files)`, seconds: bare },
      crawled,
      TARGET,
    );
  } finally {
    await backend.close();
  }
}
