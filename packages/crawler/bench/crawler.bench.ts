/**
 * @ostrom/crawler benchmark (not part of the tests). Per backend, in one run: shares are generated
 * (4 per share set, 64 bytes each), then timed:
 *   1. the baseline, the floor any crawl stands on: on disk a bare recursive readdir of the
 *      shares tree; on S3 a bare paged ListObjectsV2 (1,000 keys a page) of the whole bucket,
 *      with the raw @aws-sdk/client-s3 client;
 *   2. one rebuild from no database: runOnce on an empty SQLite lease database (every share
 *      adopted; the crawler has a 32-byte state key as on a node, so it also lists each
 *      prefix's owner records);
 *   3. one unpaced full cycle with the database in agreement.
 * Each time is printed with its ratio to that backend's own baseline. Target: a full disk cycle
 * over 1,000,000 shares within 2x of the bare listing.
 *
 *   pnpm --filter @ostrom/crawler bench
 *   OSTROM_BENCH_BACKEND       disk | s3 | both (default both)
 *   OSTROM_BENCH_DISK_SHARES   default 1,000,000 (OSTROM_BENCH_SHARES is read as an older name)
 *   OSTROM_BENCH_S3_SHARES     default 100,000
 *   OSTROM_TEST_S3_ENDPOINT    an S3 server to use instead of starting moto_server
 *
 * Disk: the disk backend writes one share; its file is then copied to every other share's path
 * (shares/<pp>/<SI>/<shnum>), 64 writers at a time, no fsync: the same bytes and layout as the
 * backend's own uploads, several times faster. S3: moto_server is started as the tests start it
 * (@ostrom/test-fixtures) and every share is uploaded through the S3 backend's own
 * createUpload + writeUpload (a HEAD and a PUT each), 32 at a time. Progress is printed every
 * 100,000 shares made on disk, every 10,000 on S3, and every 256 prefixes crawled. Temp dirs and
 * moto are removed at the end, on failure and on SIGINT/SIGTERM.
 *
 * moto scans and sorts the whole bucket on every ListObjectsV2 request (and walks to the
 * continuation token): its S3 figures show the crawler's request pattern (a listing of shares and
 * one of owner records per prefix, a header read per adopted share), not what S3 itself would
 * take.
 *
 * On an ext4 file system without a journal (as on the bench machine), inodes freed in the last
 * minutes are skipped when new files are made, at a cost per skipped inode: removing a million
 * shares makes the next several minutes of file creation there several times slower (the server
 * bench's small uploads, for one). Give the machine six minutes before the next benchmark.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { benchDisk } from './disk.js';
import { benchS3 } from './s3.js';
import { CleanUp, fmt, PER_SET } from './support.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a count ≥ 1`);
  return value;
}

const backends = process.env.OSTROM_BENCH_BACKEND ?? 'both';
if (!['disk', 's3', 'both'].includes(backends)) {
  throw new Error('OSTROM_BENCH_BACKEND must be disk, s3 or both');
}
const diskShares = count('OSTROM_BENCH_DISK_SHARES', count('OSTROM_BENCH_SHARES', 1_000_000));
const s3Shares = count('OSTROM_BENCH_S3_SHARES', 100_000);
const runDisk = backends !== 's3';
const runS3 = backends !== 'disk';

const cpu = cpus();
const load = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
console.log(
  `@ostrom/crawler benchmark — Node ${process.version} ${process.platform} ${process.arch}, ` +
    `${cpu.length} cpus (${cpu[0]?.model.trim() ?? 'unknown model'}), ` +
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${load}`,
);
const counts = [
  runDisk && `disk: ${fmt(diskShares)} shares`,
  runS3 && `s3: ${fmt(s3Shares)} shares`,
].filter(Boolean);
console.log(`${counts.join('; ')} (${PER_SET} a share set)`);

const cleanUp = new CleanUp();
const started = performance.now();
try {
  // Each backend's temp dir (and moto) goes as soon as that backend is done.
  for (const [run, bench, shares] of [
    [runDisk, benchDisk, diskShares],
    [runS3, benchS3, s3Shares],
  ] as const) {
    if (!run) continue;
    try {
      await bench(shares, cleanUp);
    } finally {
      await cleanUp.run();
    }
  }
  console.log(`total run time ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanUp.run();
}
