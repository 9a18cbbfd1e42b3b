/**
 * Disk backend benchmark: each figure of `createDiskBackend` beside a baseline measured in the
 * same run with raw `node:fs/promises` calls doing the same work on the same file system (a temp
 * dir under os.tmpdir()). Run with `pnpm --filter @ostrom/backend-disk bench`.
 *
 * 1. immutable share write throughput: 256 MiB as 32 shares of 8 MiB, each `createUpload` then
 *    eight 1 MiB `writeUpload` calls; baseline: the same bytes in 1 MiB `FileHandle.write`s to a
 *    temp file, then fsync, rename into place, fsync of the directory (the backend's durability
 *    at the end of each share). A second row with `fsync: false` on both sides;
 * 2. immutable share read throughput: those shares read back in 1 MiB `readShare` calls vs
 *    `FileHandle.read` of the same byte ranges of the same files, page cache warm on both;
 * 3. listing: 100,000 share sets (one share each) over the 1024 prefixes; per prefix
 *    `listStorageIndexes` then `listShares` of each, vs readdir of the prefix, readdir of each
 *    share-set directory and a stat of each share file (the least any lister must do).
 * 4. write-back of 64 MiB shares with fsync (the server bench's share size): the raw ceilings,
 *    1 MiB writes then one fsync vs the same with a background fdatasync every 8 MiB, beside the
 *    backend with its defaults (fdatasync every 8 MiB, write-behind) and with each turned off;
 *    the table row is the backend's defaults against the one-fsync ceiling.
 *
 * After the table, three breakdowns (write with fsync: false, read, listing) print what-if
 * variants written with raw fs calls: the backend's own fs calls replayed without its JS, and the
 * changes proposed for src/, so a ratio can be traced to the calls behind it.
 *
 * OSTROM_BENCH_SCALE (default 1) scales the share counts and the number of share sets, for a
 * quick smoke run; OSTROM_BENCH_ONLY picks sections (comma-separated: write, write-back,
 * listing; `write` includes the reads and the write breakdown). Progress goes to stderr, the result table to stdout. The temp dir needs about
 * 600 MB and is removed at the end, on failure and on Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmbeddedLease, ShareBackend } from '@ostrom/backend';
import { seededRandom } from '@ostrom/test-fixtures';
import { createDiskBackend, immutableContainerLayout } from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Sizes

const SCALE = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
if (!(SCALE > 0)) throw new RangeError('OSTROM_BENCH_SCALE must be a positive number');
const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));
/** OSTROM_BENCH_ONLY: a comma-separated subset of the sections (write, write-back, listing). */
const SECTIONS = ['write', 'write-back', 'listing'];
const ONLY = new Set((process.env.OSTROM_BENCH_ONLY ?? SECTIONS.join(',')).split(','));
for (const section of ONLY) {
  if (!SECTIONS.includes(section))
    throw new RangeError(`OSTROM_BENCH_ONLY: unknown section ${section} (${SECTIONS.join(', ')})`);
}

const MiB = 1024 * 1024;
/** Every write and read moves this much per call. */
const CHUNK_BYTES = MiB;
/** Share size of the throughput figures; 32 of them make 256 MiB. */
const SHARE_BYTES = 8 * MiB;
const SHARES = scaled(32);
const TOTAL_BYTES = SHARES * SHARE_BYTES;
/** The write figures run in this many blocks of shares, alternating which path goes first. */
const WRITE_BLOCKS = Math.min(4, SHARES);
/** Read rounds (each reads every share once per path); the figure is the median round. */
const READ_ROUNDS = 5;
/** Share sets of the listing figure, one immutable share each. */
const LISTING_SETS = scaled(100_000);
/** Share data of each listed share (the container adds a 12-byte header and one lease). */
const LISTING_DATA_BYTES = 1_000;
/** The listing figure runs in this many blocks of prefixes, alternating which path goes first. */
const LISTING_BLOCKS = 8;
/** Prefixes listed by each path before the measurement (JIT warm-up). */
const LISTING_WARMUP_PREFIXES = 32;
/** Prefixes the listing breakdown (what-if variants, stderr and notes) runs over. */
const BREAKDOWN_PREFIXES = 256;
/** Throughput unit: 10^6 bytes. */
const MB = 1e6;

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** A storage index's last base32 digit carries two padding bits, which must be zero. */
const LAST_DIGIT = 'aeimquy4';
const PREFIXES = [...BASE32].flatMap((a) => [...BASE32].map((b) => a + b));

/** An allocation lease as a client's upload brings it (secrets already hashed: no BLAKE2b). */
const LEASE: EmbeddedLease = {
  ownerNum: 0,
  renewSecret: new Uint8Array(32).fill(1),
  cancelSecret: new Uint8Array(32).fill(2),
  secretsHashed: true,
  expiresAt: 2_000_000_000,
};

function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

/** Runs `fn`, reporting on stderr how long it took (setup steps, not measurements). */
async function step<T>(message: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const result = await fn();
  progress(`${message} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  return result;
}

/** `count` distinct storage indexes, the i-th under prefix i mod 1024 (an even spread). */
function storageIndexes(count: number, seed: number): string[] {
  const next = seededRandom(seed);
  const seen = new Set<string>();
  for (let i = 0; seen.size < count; i++) {
    let si = PREFIXES[i % PREFIXES.length]!;
    for (let j = 0; j < 23; j++) si += BASE32[Math.floor(next() * 32)];
    seen.add(si + LAST_DIGIT[Math.floor(next() * 8)]);
  }
  return [...seen];
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length / 2) - 1]!;
}

function format(value: number, decimals: number): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

interface Timing {
  ostrom: number;
  raw: number;
  cpu: { ostrom: number; raw: number };
}

/**
 * Runs the two paths over the same items in alternating blocks (ostrom first, then raw first,
 * and so on) and returns each path's total seconds and CPU seconds. Alternating spreads a slow
 * stretch of the machine (or of the disk's write-back) over both paths.
 */
async function alternate<T>(
  items: readonly T[],
  blocks: number,
  ostromFn: (item: T) => Promise<unknown>,
  rawFn: (item: T) => Promise<unknown>,
): Promise<Timing> {
  const total: Timing = { ostrom: 0, raw: 0, cpu: { ostrom: 0, raw: 0 } };
  const size = Math.ceil(items.length / blocks);
  for (let b = 0; b * size < items.length; b++) {
    const block = items.slice(b * size, (b + 1) * size);
    const order = b % 2 === 0 ? (['ostrom', 'raw'] as const) : (['raw', 'ostrom'] as const);
    for (const path of order) {
      const fn = path === 'ostrom' ? ostromFn : rawFn;
      const cpu = process.cpuUsage();
      const start = process.hrtime.bigint();
      for (const item of block) await fn(item);
      total[path] += seconds(start);
      const used = process.cpuUsage(cpu);
      total.cpu[path] += (used.user + used.system) / 1e6;
    }
  }
  return total;
}

function cpuLine(name: string, cpu: { ostrom: number; raw: number }, items: number, unit: string) {
  const us = (s: number) => `${format((s / items) * 1e6, 0)} µs`;
  return `${name}: CPU of this process per ${unit}: ostrom ${us(cpu.ostrom)}, raw ${us(cpu.raw)}`;
}

/** Flushes the whole system's dirty pages, so one figure's write-back does not land in the next. */
function syncAll(): void {
  try {
    execFileSync('sync');
  } catch {
    // no sync(1): the alternation still spreads write-back over both paths
  }
}

// ---------------------------------------------------------------------------------------------
// Raw file-system paths (the baselines)

/** Tahoe's layout, as the backend builds it: <root>/shares/<pp>/<SI>/<shnum>. */
function shareDir(root: string, si: string): string {
  return join(root, 'shares', si.slice(0, 2), si);
}

async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number) {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function readFully(handle: FileHandle, buffer: Uint8Array, position: number) {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The least a durable share write takes: the bytes in 1 MiB writes to a temp file, fsync, rename
 * into its share-set directory, fsync of that directory (fsync: false skips both syncs).
 */
async function rawWriteShare(root: string, si: string, data: Uint8Array, fsync: boolean) {
  const temp = join(root, 'incoming', `${si}.0`);
  const handle = await open(temp, 'w');
  try {
    for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
      await writeFully(handle, data.subarray(offset, offset + CHUNK_BYTES), offset);
    }
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  const dir = shareDir(root, si);
  await mkdir(dir, { recursive: true });
  await rename(temp, join(dir, '0'));
  if (fsync) await syncDir(dir);
}

async function ostromWriteShare(backend: ShareBackend, si: string, data: Uint8Array) {
  await backend.createUpload(si, 0, data.length, { leases: [LEASE] });
  let complete = false;
  for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
    ({ complete } = await backend.writeUpload(
      si,
      0,
      offset,
      data.subarray(offset, offset + CHUNK_BYTES),
    ));
  }
  if (!complete) throw new Error(`upload of ${si} did not complete`);
}

// ---------------------------------------------------------------------------------------------
// Results

interface Figure {
  readonly name: string;
  readonly ostrom: number;
  readonly raw: number;
  readonly unit: string;
  /** Throughputs are better high; the ratio is always ostrom time ÷ raw time. */
  readonly higherIsBetter: boolean;
  readonly decimals: number;
}

const TARGET_RATIO = 1.5;

function ratioOf(figure: Figure): number {
  return figure.higherIsBetter ? figure.raw / figure.ostrom : figure.ostrom / figure.raw;
}

function printTable(title: string, figures: readonly Figure[]): void {
  const header = ['figure', 'ostrom', 'raw fs', 'ratio', 'target'];
  const rows = figures.map((f) => [
    f.name,
    `${format(f.ostrom, f.decimals)} ${f.unit}`,
    `${format(f.raw, f.decimals)} ${f.unit}`,
    `${ratioOf(f).toFixed(2)}×`,
    `≤ ${TARGET_RATIO}× raw ${ratioOf(f) <= TARGET_RATIO ? 'met' : 'MISSED'}`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join(' | ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
  console.log(
    'ratio = ostrom time ÷ raw time for the same work (1.00× = as fast as raw; higher = slower)',
  );
}

// ---------------------------------------------------------------------------------------------
// 1. immutable share writes

/** Data of every share: one random 8 MiB buffer (ext4 neither compresses nor deduplicates). */
function shareData(): Uint8Array {
  const next = seededRandom(1);
  const data = new Uint8Array(SHARE_BYTES);
  const view = new DataView(data.buffer);
  for (let i = 0; i < SHARE_BYTES; i += 4) view.setUint32(i, next() * 2 ** 32);
  return data;
}

/** Writes SHARES shares on each path into `<dir>/ostrom` and `<dir>/raw`; returns the figure. */
async function benchWrite(
  dir: string,
  data: Uint8Array,
  fsync: boolean,
): Promise<{ figure: Figure; ostromRoot: string; indexes: string[] }> {
  const ostromRoot = join(dir, 'ostrom');
  const rawRoot = join(dir, 'raw');
  const backend = await createDiskBackend({ root: ostromRoot, fsync });
  await mkdir(join(rawRoot, 'incoming'), { recursive: true });
  try {
    const [warmup, ...indexes] = storageIndexes(SHARES + 1, fsync ? 2 : 3);
    await ostromWriteShare(backend, warmup!, data);
    await rawWriteShare(rawRoot, warmup!, data, fsync);
    syncAll();
    const time = await alternate(
      indexes,
      WRITE_BLOCKS,
      (si) => ostromWriteShare(backend, si, data),
      (si) => rawWriteShare(rawRoot, si, data, fsync),
    );
    const label = `fsync: ${fsync}`;
    progress(
      `write (${label}): ostrom ${time.ostrom.toFixed(2)} s, raw ${time.raw.toFixed(2)} s for ${TOTAL_BYTES / MiB} MiB each`,
    );
    progress(cpuLine(`write (${label})`, time.cpu, TOTAL_BYTES / MiB, 'MiB'));
    const listed = (await backend.listStorageIndexes(indexes[0]!.slice(0, 2))).length;
    if (listed === 0) throw new Error('the written shares are not listed');
    return {
      figure: {
        name: `immutable write, ${label} (${SHARES} × ${SHARE_BYTES / MiB} MiB shares)`,
        ostrom: TOTAL_BYTES / MB / time.ostrom,
        raw: TOTAL_BYTES / MB / time.raw,
        unit: 'MB/s',
        higherIsBetter: true,
        decimals: 0,
      },
      ostromRoot,
      indexes,
    };
  } finally {
    await backend.close();
    await rm(rawRoot, { recursive: true, force: true });
  }
}

/**
 * What-if writers (fsync: false, where the backend's own calls show most), to see where the
 * backend's write time goes: each writes the 32 shares into a fresh root; median of 3 rounds.
 */
async function writeBreakdown(dir: string, data: Uint8Array): Promise<string[]> {
  const layout = immutableContainerLayout({
    dataLength: SHARE_BYTES,
    leases: [{ ...LEASE, nodeId: new Uint8Array(20) }],
  });
  /**
   * The backend's calls for one upload: createUpload (stat, mkdir -p incoming/<pp>/<SI>, open,
   * ftruncate, header, lease, close), per chunk open r+ / write / close (or, with `keepOpen`,
   * the handle of createUpload kept for every chunk), then stat, mkdir -p, rename, rmdir × 2.
   */
  const replay = (keepOpen: boolean) => async (root: string, si: string) => {
    const incomingDir = join(root, 'shares', 'incoming', si.slice(0, 2), si);
    const temp = join(incomingDir, '0');
    const final = join(shareDir(root, si), '0');
    await stat(final).catch(() => undefined);
    await mkdir(incomingDir, { recursive: true });
    let handle = await open(temp, 'w');
    await handle.truncate(layout.fileSize);
    await writeFully(handle, layout.header, 0);
    await writeFully(handle, layout.leaseRecords, layout.leaseOffset);
    if (!keepOpen) await handle.close();
    for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK_BYTES) {
      if (!keepOpen) handle = await open(temp, 'r+');
      await writeFully(handle, data.subarray(offset, offset + CHUNK_BYTES), 12 + offset);
      if (!keepOpen) await handle.close();
    }
    if (keepOpen) await handle.close();
    await stat(final).catch(() => undefined);
    await mkdir(shareDir(root, si), { recursive: true });
    await rename(temp, final);
    await rmdir(incomingDir);
    await rmdir(join(incomingDir, '..')).catch(() => undefined); // another upload's prefix
  };
  type ShareWriter = (si: string) => Promise<unknown>;
  const writers: { name: string; start: (root: string) => Promise<ShareWriter> }[] = [
    {
      name: 'backend (createUpload + 8 × writeUpload, fsync: false)',
      start: async (root) => {
        const backend = await createDiskBackend({ root, fsync: false });
        return (si) => ostromWriteShare(backend, si, data);
      },
    },
    {
      name: "the backend's fs calls replayed raw (open/write/close per chunk)",
      start: async (root) => (si) => replay(false)(root, si),
    },
    {
      name: "W: the backend's calls, the upload's file handle kept open",
      start: async (root) => (si) => replay(true)(root, si),
    },
    {
      name: 'baseline (one open, 8 writes, close, mkdir -p, rename)',
      start: async (root) => {
        await mkdir(join(root, 'incoming'), { recursive: true });
        return (si) => rawWriteShare(root, si, data, false);
      },
    },
  ];
  const notes = [
    'write breakdown, fsync: false (MB/s, median of 3 rounds; what-if writers are raw fs code in bench/):',
  ];
  const width = Math.max(...writers.map((w) => w.name.length));
  let seed = 100;
  for (const writer of writers) {
    const rounds: number[] = [];
    for (let round = 0; round < 3; round++) {
      const root = join(dir, `breakdown-${seed}`);
      const indexes = storageIndexes(SHARES, seed++);
      const write = await writer.start(root);
      syncAll();
      const start = process.hrtime.bigint();
      for (const si of indexes) await write(si);
      rounds.push(seconds(start));
      await rm(root, { recursive: true, force: true });
    }
    const perSecond = TOTAL_BYTES / MB / median(rounds);
    notes.push(`  ${writer.name.padEnd(width)}  ${format(perSecond, 0).padStart(8)}`);
    progress(`breakdown: ${writer.name}: ${format(perSecond, 0)} MB/s`);
  }
  return notes;
}

// ---------------------------------------------------------------------------------------------
// 1b. write-back of large shares: when the data reaches the disk

/** Share size of the write-back figure: what the server bench uploads. */
const LARGE_SHARE_BYTES = 64 * MiB;
/** Shares each writer writes per round (3 rounds, the figure is the median round). */
const LARGE_SHARES = scaled(4);
/** The backend's default interval of background fdatasync, as the raw writer uses it too. */
const FLUSH_EVERY_BYTES = 8 * MiB;

/**
 * The raw ceiling of a durable 64 MiB share: 1 MiB writes into a temp file, then fsync, close,
 * rename into its share-set directory and fsync of the directory; with `flushEvery`, an
 * fdatasync started after every that many bytes (never two at once) overlaps with the writes
 * that follow, so the final fsync has little left. Returns the seconds of the final fsync.
 */
async function rawWriteLargeShare(root: string, si: string, data: Uint8Array, flushEvery: number) {
  const temp = join(root, 'incoming', `${si}.0`);
  const handle = await open(temp, 'w');
  let finalSync = 0;
  try {
    let flushing: Promise<void> | undefined;
    let unflushed = 0;
    for (let offset = 0; offset < LARGE_SHARE_BYTES; offset += CHUNK_BYTES) {
      const from = offset % data.length;
      await writeFully(handle, data.subarray(from, from + CHUNK_BYTES), offset);
      unflushed += CHUNK_BYTES;
      if (flushEvery > 0 && unflushed >= flushEvery && !flushing) {
        unflushed = 0;
        flushing = handle.datasync().finally(() => {
          flushing = undefined;
        });
      }
    }
    await flushing;
    const start = process.hrtime.bigint();
    await handle.sync();
    finalSync = seconds(start);
  } finally {
    await handle.close();
  }
  const dir = shareDir(root, si);
  await mkdir(dir, { recursive: true });
  await rename(temp, join(dir, '0'));
  await syncDir(dir);
  return finalSync;
}

async function ostromWriteLargeShare(backend: ShareBackend, si: string, data: Uint8Array) {
  await backend.createUpload(si, 0, LARGE_SHARE_BYTES, { leases: [LEASE] });
  let complete = false;
  for (let offset = 0; offset < LARGE_SHARE_BYTES; offset += CHUNK_BYTES) {
    const from = offset % data.length;
    ({ complete } = await backend.writeUpload(
      si,
      0,
      offset,
      data.subarray(from, from + CHUNK_BYTES),
    ));
  }
  if (!complete) throw new Error(`upload of ${si} did not complete`);
}

/**
 * Durable writes of 64 MiB shares, fsync on: the raw ceilings (one fsync at the end; fdatasync
 * every 8 MiB in the background) and the backend with its defaults and with each write-back
 * option turned off. Every writer writes LARGE_SHARES shares per round into a fresh root
 * (removed after the round), in an order that rotates each round; the figure is the median of 3
 * rounds. Returns the table figure (backend defaults vs the one-fsync ceiling) and the notes.
 */
async function benchWriteBack(
  dir: string,
  data: Uint8Array,
): Promise<{ figure: Figure; notes: string[] }> {
  type Writer = {
    name: string;
    start: (
      root: string,
    ) => Promise<{ write: (si: string) => Promise<number>; end: () => unknown }>;
  };
  const raw =
    (flushEvery: number) =>
    async (root: string): ReturnType<Writer['start']> => {
      await mkdir(join(root, 'incoming'), { recursive: true });
      return { write: (si) => rawWriteLargeShare(root, si, data, flushEvery), end: () => 0 };
    };
  const ostrom =
    (options: { flushEveryBytes?: number; writeBehind?: boolean }) =>
    async (root: string): ReturnType<Writer['start']> => {
      const backend = await createDiskBackend({ root, ...options });
      return {
        write: async (si) => {
          await ostromWriteLargeShare(backend, si, data);
          return 0;
        },
        end: () => backend.close(),
      };
    };
  const writers: Writer[] = [
    { name: 'raw: 1 MiB writes, one fsync at the end', start: raw(0) },
    {
      name: 'raw: 1 MiB writes, fdatasync every 8 MiB, final fsync',
      start: raw(FLUSH_EVERY_BYTES),
    },
    { name: 'backend, defaults (flush every 8 MiB, write-behind)', start: ostrom({}) },
    { name: 'backend, flushEveryBytes: 0', start: ostrom({ flushEveryBytes: 0 }) },
    { name: 'backend, writeBehind: false', start: ostrom({ writeBehind: false }) },
    {
      name: 'backend, flushEveryBytes: 0, writeBehind: false (as before)',
      start: ostrom({ flushEveryBytes: 0, writeBehind: false }),
    },
  ];
  const rounds = writers.map(() => [] as number[]);
  const finalSyncs = writers.map(() => [] as number[]);
  let seed = 200;
  const warm = await raw(FLUSH_EVERY_BYTES)(join(dir, 'write-back-warmup'));
  await warm.write(storageIndexes(1, seed++)[0]!);
  await rm(join(dir, 'write-back-warmup'), { recursive: true, force: true });
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < writers.length; k++) {
      const w = (k + round) % writers.length;
      const root = join(dir, `write-back-${seed}`);
      const indexes = storageIndexes(LARGE_SHARES, seed++);
      const writer = await writers[w]!.start(root);
      syncAll();
      const start = process.hrtime.bigint();
      for (const si of indexes) finalSyncs[w]!.push(await writer.write(si));
      rounds[w]!.push(seconds(start));
      await writer.end();
      await rm(root, { recursive: true, force: true });
    }
  }
  const bytes = LARGE_SHARES * LARGE_SHARE_BYTES;
  const rate = (w: number) => bytes / MB / median(rounds[w]!);
  const notes = [
    `write-back of ${LARGE_SHARES} × ${LARGE_SHARE_BYTES / MiB} MiB shares, fsync on (MB/s: median [min–max] of 3 rounds; raw: final fsync ms, median):`,
  ];
  const width = Math.max(...writers.map((w) => w.name.length));
  writers.forEach((writer, w) => {
    const all = rounds[w]!.map((s) => bytes / MB / s);
    const spread = `[${format(Math.min(...all), 0)}–${format(Math.max(...all), 0)}]`;
    const sync = w < 2 ? `  final fsync ${format(median(finalSyncs[w]!) * 1000, 1)} ms` : '';
    notes.push(
      `  ${writer.name.padEnd(width)}  ${format(rate(w), 0).padStart(6)} ${spread.padStart(13)}${sync}`,
    );
    progress(`write-back: ${writer.name}: ${format(rate(w), 0)} MB/s ${spread}${sync}`);
  });
  return {
    figure: {
      name: `immutable write, fsync: true (${LARGE_SHARES} × ${LARGE_SHARE_BYTES / MiB} MiB shares, vs one fsync)`,
      ostrom: rate(2),
      raw: rate(0),
      unit: 'MB/s',
      higherIsBetter: true,
      decimals: 0,
    },
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. immutable share reads

async function benchRead(root: string, indexes: readonly string[], data: Uint8Array) {
  const backend = await createDiskBackend({ root });
  try {
    const ostromRead = async (si: string) => {
      const chunks: Uint8Array[] = [];
      for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK_BYTES)
        chunks.push(await backend.readShare(si, 0, offset, CHUNK_BYTES));
      return chunks;
    };
    // The same ranges of the same container files: share data starts after the 12-byte header.
    // One open per share, a fresh (uninitialised) buffer per 1 MiB read, as a reader returning
    // the chunks would need.
    const rawRead = async (si: string) => {
      const chunks: Uint8Array[] = [];
      const handle = await open(join(shareDir(root, si), '0'), 'r');
      try {
        for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK_BYTES)
          chunks.push(await readFully(handle, Buffer.allocUnsafe(CHUNK_BYTES), 12 + offset));
      } finally {
        await handle.close();
      }
      return chunks;
    };
    // Warm-up pass (page cache, JIT) that also checks both paths read back what was written.
    for (const si of indexes) {
      for (const read of [ostromRead, rawRead]) {
        const chunks = await read(si);
        if (!Buffer.from(data).equals(Buffer.concat(chunks)))
          throw new Error(`share ${si} did not read back as written`);
      }
    }
    const rounds = { ostrom: [] as number[], raw: [] as number[] };
    const cpu = { ostrom: 0, raw: 0 };
    for (let round = 0; round < READ_ROUNDS; round++) {
      const time = await alternate(indexes, 2, ostromRead, rawRead);
      rounds.ostrom.push(time.ostrom);
      rounds.raw.push(time.raw);
      cpu.ostrom += time.cpu.ostrom;
      cpu.raw += time.cpu.raw;
    }
    const ms = (values: number[]) => values.map((s) => (s * 1000).toFixed(0)).join(', ');
    progress(`read rounds (ms): ostrom ${ms(rounds.ostrom)}; raw ${ms(rounds.raw)}`);
    progress(cpuLine('read', cpu, (READ_ROUNDS * TOTAL_BYTES) / MiB, 'MiB'));
    const notes = await readBreakdown(root, indexes, ostromRead, rawRead);
    return {
      figure: {
        name: `immutable read, page cache warm (median of ${READ_ROUNDS} × ${TOTAL_BYTES / MiB} MiB)`,
        ostrom: TOTAL_BYTES / MB / median(rounds.ostrom),
        raw: TOTAL_BYTES / MB / median(rounds.raw),
        unit: 'MB/s',
        higherIsBetter: true,
        decimals: 0,
      } satisfies Figure,
      notes,
    };
  } finally {
    await backend.close();
  }
}

const HEAD = new Uint8Array(100);

/**
 * The container reads of one share as the backend makes them (`readContainer`: the first 32
 * bytes to tell the kind, the 12-byte immutable header again, then the 72-byte lease record), or
 * with `headerOnly` one read of the first 100 bytes: the whole mutable header (magic, write
 * enabler, data length) or the immutable one (version, lease count), all a ShareInfo needs.
 */
async function readHead(handle: FileHandle, size: number, headerOnly: boolean): Promise<void> {
  if (headerOnly) {
    await readFully(handle, HEAD, 0);
    return;
  }
  await readFully(handle, HEAD.subarray(0, 32), 0);
  await readFully(handle, HEAD.subarray(0, 12), 0);
  await readFully(handle, HEAD.subarray(0, 72), size - 72);
}

/**
 * What-if readers over the same shares, to see where readShare's time goes: each reads every
 * share in 1 MiB calls; the figure is the median of 3 rounds.
 */
async function readBreakdown(
  root: string,
  indexes: readonly string[],
  ostromRead: (si: string) => Promise<unknown>,
  rawRead: (si: string) => Promise<unknown>,
): Promise<string[]> {
  /** One call as readShare makes it: open, fstat, the container's head, the data, close. */
  const perCall = (headerOnly: boolean, fresh: (n: number) => Uint8Array) => async (si: string) => {
    const path = join(shareDir(root, si), '0');
    for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK_BYTES) {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        await readHead(handle, size, headerOnly);
        await readFully(handle, fresh(CHUNK_BYTES), 12 + offset);
      } finally {
        await handle.close();
      }
    }
  };
  const readers = [
    { name: 'backend (readShare)', read: ostromRead },
    {
      name: "the backend's fs calls replayed raw (open, fstat, 32 B, 12 B, lease, data, close)",
      read: perCall(false, (n) => new Uint8Array(n)),
    },
    {
      name: 'C: one 100 B head read, uninitialised buffer (open, fstat, 100 B, data, close)',
      read: perCall(true, (n) => Buffer.allocUnsafe(n)),
    },
    { name: 'baseline (one open per share, data reads only)', read: rawRead },
  ];
  const notes = [
    'read breakdown (MB/s, median of 3 rounds; what-if readers are raw fs code in bench/):',
  ];
  const width = Math.max(...readers.map((r) => r.name.length));
  for (const reader of readers) {
    const rounds: number[] = [];
    for (let round = 0; round < 3; round++) {
      const start = process.hrtime.bigint();
      for (const si of indexes) await reader.read(si);
      rounds.push(seconds(start));
    }
    const perSecond = TOTAL_BYTES / MB / median(rounds);
    notes.push(`  ${reader.name.padEnd(width)}  ${format(perSecond, 0).padStart(8)}`);
    progress(`breakdown: ${reader.name}: ${format(perSecond, 0)} MB/s`);
  }
  return notes;
}

// ---------------------------------------------------------------------------------------------
// 3. listing

/** Writes LISTING_SETS share sets of one valid v2 immutable container each (no backend calls). */
function createShareSets(root: string): string[] {
  const layout = immutableContainerLayout({
    dataLength: LISTING_DATA_BYTES,
    leases: [{ ...LEASE, nodeId: new Uint8Array(20) }],
  });
  const container = new Uint8Array(layout.fileSize);
  container.set(layout.header, 0);
  container.set(layout.leaseRecords, layout.leaseOffset);
  const indexes = storageIndexes(LISTING_SETS, 4);
  for (const prefix of PREFIXES) mkdirSync(join(root, 'shares', prefix), { recursive: true });
  for (const si of indexes) {
    const dir = shareDir(root, si);
    mkdirSync(dir);
    writeFileSync(join(dir, '0'), container);
  }
  return indexes;
}

interface Listed {
  sets: number;
  shares: number;
}

function errnoOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}

const SHARE_NAME = /^(0|[1-9][0-9]{0,2})$/;

/** The minimal lister: readdir of the prefix, readdir of each share set, a stat of each share. */
async function rawListPrefix(root: string, prefix: string, into: Listed): Promise<void> {
  const prefixDir = join(root, 'shares', prefix);
  for (const si of (await readdirOrEmpty(prefixDir)).sort()) {
    const dir = join(prefixDir, si);
    let found = 0;
    for (const name of await readdirOrEmpty(dir)) {
      if (!SHARE_NAME.test(name)) continue;
      await stat(join(dir, name));
      found++;
    }
    if (found > 0) {
      into.sets++;
      into.shares += found;
    }
  }
}

async function ostromListPrefix(backend: ShareBackend, prefix: string, into: Listed) {
  for (const si of await backend.listStorageIndexes(prefix)) {
    into.sets++;
    into.shares += (await backend.listShares(si)).length;
  }
}

/**
 * What-if listers over the same tree, to see where the backend's time goes and what a change
 * would buy. Each lists one prefix and must find what the backend finds.
 */
function breakdownListers(root: string): { name: string; list: (p: string) => Promise<Listed> }[] {
  /** Open, fstat, the container's head (as the backend reads it, or header only), close. */
  const readShareHeader = async (path: string, leases: boolean) => {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      await readHead(handle, size, !leases);
      return size;
    } finally {
      await handle.close();
    }
  };
  const shareNames = async (dir: string) =>
    (await readdirOrEmpty(dir)).filter((n) => SHARE_NAME.test(n));
  return [
    {
      // The backend's system calls, in its order, without its JS: readdir of each share set in
      // listStorageIndexes, then readdir + open/fstat/32 B/12 B/lease/close per share.
      name: "the backend's fs calls replayed raw (sequential)",
      list: async (prefix) => {
        const into = { sets: 0, shares: 0 };
        const prefixDir = join(root, 'shares', prefix);
        const sets: string[] = [];
        for (const si of (await readdirOrEmpty(prefixDir)).sort()) {
          if ((await shareNames(join(prefixDir, si))).length > 0) sets.push(si);
        }
        for (const si of sets) {
          into.sets++;
          for (const name of await shareNames(join(prefixDir, si))) {
            await readShareHeader(join(prefixDir, si, name), true);
            into.shares++;
          }
        }
        return into;
      },
    },
    {
      // Proposal A: listStorageIndexes trusts the share-set directories (Tahoe and this backend
      // remove empty ones); listShares reads the first 100 bytes once (kind, version, lease count:
      // data length = size − 12 − 72·N; a mutable header holds its data length) and no leases.
      name: 'A: no readdir per set in listStorageIndexes; one 100 B head read',
      list: async (prefix) => {
        const into = { sets: 0, shares: 0 };
        const prefixDir = join(root, 'shares', prefix);
        for (const si of (await readdirOrEmpty(prefixDir)).sort()) {
          const names = await shareNames(join(prefixDir, si));
          for (const name of names) await readShareHeader(join(prefixDir, si, name), false);
          if (names.length > 0) into.sets++;
          into.shares += names.length;
        }
        return into;
      },
    },
    {
      // Proposal B: A, with the share sets of a prefix listed concurrently (libuv's 4 threads).
      name: 'B: A with the sets of a prefix listed concurrently',
      list: async (prefix) => {
        const into = { sets: 0, shares: 0 };
        const prefixDir = join(root, 'shares', prefix);
        const sis = (await readdirOrEmpty(prefixDir)).sort();
        const counts = await Promise.all(
          sis.map(async (si) => {
            const names = await shareNames(join(prefixDir, si));
            await Promise.all(names.map((n) => readShareHeader(join(prefixDir, si, n), false)));
            return names.length;
          }),
        );
        for (const count of counts) {
          if (count > 0) into.sets++;
          into.shares += count;
        }
        return into;
      },
    },
    {
      name: 'baseline with the sets of a prefix listed concurrently',
      list: async (prefix) => {
        const into = { sets: 0, shares: 0 };
        const prefixDir = join(root, 'shares', prefix);
        const sis = (await readdirOrEmpty(prefixDir)).sort();
        const counts = await Promise.all(
          sis.map(async (si) => {
            const names = await shareNames(join(prefixDir, si));
            await Promise.all(names.map((n) => stat(join(prefixDir, si, n))));
            return names.length;
          }),
        );
        for (const count of counts) {
          if (count > 0) into.sets++;
          into.shares += count;
        }
        return into;
      },
    },
  ];
}

async function benchListing(dir: string): Promise<{ figure: Figure; notes: string[] }> {
  const root = join(dir, 'listing');
  const indexes = await step(
    `listing: creating ${format(LISTING_SETS, 0)} share sets (v2 containers, ${LISTING_DATA_BYTES} B data + 1 lease)`,
    () => createShareSets(root),
  );
  await step('listing: sync', syncAll);
  const backend = await createDiskBackend({ root, fsync: false });
  try {
    const sample = await backend.listShares(indexes[0]!);
    if (sample.length !== 1 || sample[0]!.sizeBytes !== LISTING_DATA_BYTES)
      throw new Error(`the backend reads the listing shares as ${JSON.stringify(sample)}`);
    const warm = { sets: 0, shares: 0 };
    for (const prefix of PREFIXES.slice(0, LISTING_WARMUP_PREFIXES)) {
      await ostromListPrefix(backend, prefix, warm);
      await rawListPrefix(root, prefix, warm);
    }
    const found = { ostrom: { sets: 0, shares: 0 }, raw: { sets: 0, shares: 0 } };
    const time = await alternate(
      PREFIXES,
      LISTING_BLOCKS,
      (prefix) => ostromListPrefix(backend, prefix, found.ostrom),
      (prefix) => rawListPrefix(root, prefix, found.raw),
    );
    for (const path of ['ostrom', 'raw'] as const) {
      const { sets, shares } = found[path];
      if (sets !== LISTING_SETS || shares !== LISTING_SETS)
        throw new Error(`${path} listed ${sets} share sets with ${shares} shares`);
    }
    progress(
      `listing: ostrom ${time.ostrom.toFixed(2)} s, raw ${time.raw.toFixed(2)} s for ${format(LISTING_SETS, 0)} share sets`,
    );
    progress(cpuLine('listing', time.cpu, LISTING_SETS, 'share set'));

    // Breakdown: each what-if lister over the first BREAKDOWN_PREFIXES prefixes, beside the
    // backend and the baseline over the same prefixes.
    const subset = PREFIXES.slice(0, Math.min(BREAKDOWN_PREFIXES, PREFIXES.length));
    const rate = async (list: (prefix: string) => Promise<Listed>) => {
      let sets = 0;
      const start = process.hrtime.bigint();
      for (const prefix of subset) sets += (await list(prefix)).sets;
      return sets / seconds(start);
    };
    const listers = [
      {
        name: 'backend (listStorageIndexes + listShares)',
        list: async (prefix: string) => {
          const into = { sets: 0, shares: 0 };
          await ostromListPrefix(backend, prefix, into);
          return into;
        },
      },
      ...breakdownListers(root),
      {
        name: 'baseline (readdir + readdir + stat, sequential)',
        list: async (prefix: string) => {
          const into = { sets: 0, shares: 0 };
          await rawListPrefix(root, prefix, into);
          return into;
        },
      },
    ];
    const notes = [
      `listing breakdown over ${subset.length} prefixes (share sets/s; what-if listers are raw fs code in bench/):`,
    ];
    const width = Math.max(...listers.map((l) => l.name.length));
    for (const lister of listers) {
      const perSecond = await rate(lister.list);
      notes.push(`  ${lister.name.padEnd(width)}  ${format(perSecond, 0).padStart(8)}`);
      progress(`breakdown: ${lister.name}: ${format(perSecond, 0)} share sets/s`);
    }
    return {
      figure: {
        name: `listing (${format(LISTING_SETS, 0)} share sets, 1 share each, 1024 prefixes)`,
        ostrom: LISTING_SETS / time.ostrom,
        raw: LISTING_SETS / time.raw,
        unit: 'sets/s',
        higherIsBetter: true,
        decimals: 0,
      },
      notes,
    };
  } finally {
    await backend.close();
  }
}

// ---------------------------------------------------------------------------------------------

const NOTES_WRITE = [
  `write: ${SHARES} immutable shares of ${SHARE_BYTES / MiB} MiB (${TOTAL_BYTES / MiB} MiB), each createUpload (with one allocation`,
  `  lease) then ${SHARE_BYTES / CHUNK_BYTES} × writeUpload of 1 MiB in order; the backend fsyncs the finished file, renames it from`,
  '  shares/incoming into shares/<pp>/<SI>/ and fsyncs that directory. Raw: the same bytes in 1 MiB',
  '  FileHandle.writes to one open temp file, fsync, close, mkdir -p, rename into shares/<pp>/<SI>/, fsync',
  '  of the directory. fsync: false skips the two syncs on both sides. Blocks of shares alternate',
  '  which path goes first; a sync(1) runs before each write figure. MB = 10^6 bytes.',
  `read: every share in 1 MiB readShare calls (each opens the file, parses header and leases, reads,`,
  '  closes) vs one open per share and FileHandle.read of the same 1 MiB ranges into fresh buffers;',
  `  page cache warm on both (the shares were just written, then read once by each path).`,
];

const NOTES_LISTING = [
  `listing: ${format(LISTING_SETS, 0)} share sets with one v2 immutable share each, written directly with`,
  '  immutableContainerLayout; per prefix, listStorageIndexes(prefix) then listShares(si) for each,',
  '  vs readdir of the prefix, readdir of each share-set directory and a stat of each share file;',
  '  all calls sequential and async (fs/promises) on both sides, dentries and inodes cached.',
];

// The temp dir must go on success, on failure and on Ctrl-C. rm(1) removes the 100,000 share-set
// directories in seconds where Node's recursive rmSync takes over a minute.
let tempDir: string | undefined;
function removeTempDir(): void {
  if (!tempDir) return;
  try {
    execFileSync('rm', ['-rf', '--', tempDir], { stdio: 'ignore' });
  } catch {
    rmSync(tempDir, { recursive: true, force: true });
  }
  tempDir = undefined;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeTempDir();
    process.exit(130);
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `@ostrom/backend-disk benchmark — Node ${process.version}, ${availableParallelism()} CPUs, scale ${SCALE}`,
  );
  tempDir = mkdtempSync(join(tmpdir(), 'ostrom-disk-bench-'));
  const dir = tempDir;
  try {
    const data = shareData();
    const figures: Figure[] = [];
    const notes: string[][] = [];
    if (ONLY.has('write')) {
      process.stderr.write('\nimmutable writes\n');
      const durable = await benchWrite(join(dir, 'write-fsync'), data, true);
      figures.push(durable.figure);
      await rm(durable.ostromRoot, { recursive: true, force: true });
      const fast = await benchWrite(join(dir, 'write-nofsync'), data, false);
      figures.push(fast.figure);
      syncAll();
      process.stderr.write('\nimmutable reads\n');
      const read = await benchRead(fast.ostromRoot, fast.indexes, data);
      figures.push(read.figure);
      await rm(fast.ostromRoot, { recursive: true, force: true });
      process.stderr.write('\nwrite breakdown\n');
      notes.push(await writeBreakdown(dir, data), read.notes);
    }
    if (ONLY.has('write-back')) {
      process.stderr.write('\nwrite-back of 64 MiB shares\n');
      const writeBack = await benchWriteBack(dir, data);
      figures.push(writeBack.figure);
      notes.push(writeBack.notes);
    }
    if (ONLY.has('listing')) {
      process.stderr.write('\nlisting\n');
      const listing = await benchListing(dir);
      figures.push(listing.figure);
      notes.push(listing.notes);
    }
    printTable(`Disk backend vs raw node:fs (temp dir in ${tmpdir()})`, figures);
    console.log('\nWhat each figure measures:');
    const described = [
      ...(ONLY.has('write') ? NOTES_WRITE : []),
      ...(ONLY.has('listing') ? NOTES_LISTING : []),
    ];
    for (const note of described) console.log(`  ${note}`);
    for (const block of notes) {
      console.log('');
      for (const note of block) console.log(note);
    }
  } finally {
    await step('removing the temp dir', removeTempDir);
  }
  console.log(`\ntotal run time ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

await main();
