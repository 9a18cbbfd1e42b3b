// The node's benchmark (`pnpm --filter @ostrom/server bench`; not part of the test suite).
//
// Through HTTPS on loopback, with the protocol's StorageClient as the load generator in this
// process and the node in a process of its own (as a real node runs; bench/node-process.ts), so
// the two do not share an event loop. Each figure has a baseline measured in the same run: a
// bare `https.createServer` (bench/baseline.ts), also in a process of its own, with the same key
// and certificate, that receives and discards the same bytes and answers with fixed bodies of
// the same shapes, so the ratio shows what the node itself costs. Beside them, the raw cost of
// the flushes an acknowledged write needs on this disk.
//
// Figures:
// - large immutable upload and download through one connection: shares of 64 MiB in 1 MiB
//   PATCHes / ranged GETs, as Tahoe clients send them; OSTROM_BENCH_ROUNDS (default 3) rounds,
//   each measuring the node and the baseline one after the other (which goes first alternates):
//   the figures are the medians, the ratio the median of the rounds' ratios, with their range;
// - small operations, closed loop, for OSTROM_BENCH_SECONDS (default 5) each: 1,000-byte
//   immutable uploads (allocate + one PATCH) and lease adds (new secrets) and renewals (the same
//   secrets) with 16 connections, GET version with 32; operations per second, p50 and p99;
// - the node's RSS before and after each figure, and for the closed loops the CPU time per
//   operation of the node and of this process (the load generator shares the machine's cores);
// - on disk, the disk alone beside the upload figures, in the node's file system: large files
//   written in 1 MiB writes and fsynced at their end (after each upload round), and durable 1 KB
//   files made 16 at once, one or two per operation, as the node makes a small share and its
//   owner record, without HTTP or a database. The node writes a large share while it receives
//   it, so it may pass the disk-alone rate; a small upload cannot pass its two files' rate.
//
// OSTROM_BENCH_STORE: `disk` (default: disk + SQLite) or `s3` (moto + PostgreSQL, both started
// here; PostgreSQL with fsync on). OSTROM_BENCH_SCALE (default 1) scales the large shares
// (0.25 → 16 MiB); OSTROM_BENCH_SHARES (default 3) shares each way per round.
// OSTROM_BENCH_PROFILE=DIR writes a CPU profile of the node process during each small-operation
// figure and each of its rounds of a large one to DIR (NAME.cpuprofile, for Chrome's DevTools or
// any .cpuprofile reader).
//
// Small uploads make two files each (the share and its owner record). On an ext4 file system
// without a journal, as on the bench machine, making a file skips every inode freed in the last
// one to six minutes, at a cost each: run right after something removed many files (the crawler
// bench, a test run), the same node made 1 KB uploads several times slower in `ext4_create`
// (perf). Let the disk rest six minutes first.

import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createStorageClient,
  deriveLeaseSecrets,
  formatNurl,
  type LeaseSecrets,
  parseNurl,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import { startPostgres, startS3 } from '@ostrom/test-fixtures';
import Database from 'better-sqlite3';
import { initNode, loadNode } from '../src/node-dir.js';
import { shareData } from './baseline.js';

const MIB = 1024 * 1024;
const scale = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
const shares = Number(process.env.OSTROM_BENCH_SHARES ?? '3');
const seconds = Number(process.env.OSTROM_BENCH_SECONDS ?? '5');
const rounds = Number(process.env.OSTROM_BENCH_ROUNDS ?? '3');
const store = process.env.OSTROM_BENCH_STORE ?? 'disk';
const profileDir = process.env.OSTROM_BENCH_PROFILE;
/** Only the figures whose names start with one of these (comma-separated), when set. */
const only = process.env.OSTROM_BENCH_ONLY?.split(',');
const wanted = (name: string) => !only || only.some((prefix) => name.startsWith(prefix));
if (!(scale > 0) || !(shares >= 1) || !(seconds > 0) || !(rounds >= 1)) {
  throw new Error(
    'OSTROM_BENCH_SCALE, OSTROM_BENCH_SHARES, OSTROM_BENCH_ROUNDS and OSTROM_BENCH_SECONDS must be > 0',
  );
}
if (store !== 'disk' && store !== 's3') throw new Error('OSTROM_BENCH_STORE must be disk or s3');
const CHUNK = MIB;
const SHARE_BYTES = Math.max(CHUNK, Math.round((64 * MIB * scale) / CHUNK) * CHUNK);
const SMALL_BYTES = 1000;
const SMALL_CONNECTIONS = 16;
const VERSION_CONNECTIONS = 32;
/** Shares the lease figures lease, round robin. */
const LEASED_SHARES = 64;

const data = shareData(SHARE_BYTES);
const small = data.subarray(0, SMALL_BYTES);
const newSi = () => storageIndexFromBytes(new Uint8Array(randomBytes(16)));
const tubId = 'a'.repeat(32);
const clientLeaseSecret = new Uint8Array(32).fill(1);
const secretsFor = (si: string) =>
  deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId });

// ------------------------------------------------------------------------------ the two sides

interface Side {
  readonly port: number;
  readonly nurl: string;
  /** The process's resident set size and CPU time used so far (user + system). */
  usage(): Promise<{ rss: number; cpuMicros: number }>;
  /** Starts the side's CPU profiler, or stops it and writes the profile to `path`. */
  profile(start: boolean, path?: string): Promise<void>;
  close(): Promise<void>;
}

/** Starts bench/node-process.ts with `env`; resolves once it listens. */
async function startSide(env: Record<string, string>, nurlFor?: (port: number) => string) {
  const child: ChildProcess = fork(fileURLToPath(new URL('./node-process.ts', import.meta.url)), {
    env: { ...process.env, ...env },
    execArgv: process.execArgv,
  });
  const next = <T>(kind: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { kind: string } & T) => {
        if (message.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code: number | null) => reject(new Error(`bench side exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next<{ port: number; nurl?: string }>('ready');
  return {
    port: ready.port,
    nurl: ready.nurl ?? nurlFor!(ready.port),
    async usage() {
      const answer = next<{ rss: number; cpuMicros: number }>('rss');
      child.send({ kind: 'rss' });
      return await answer;
    },
    async profile(start: boolean, path?: string) {
      const answer = next('profiled');
      child.send({ kind: 'profile', start, path });
      await answer;
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ kind: 'close' });
      await exited;
    },
  } satisfies Side;
}

// ------------------------------------------------------------------------------ operations

/** Uploads `indexes` shares of SHARE_BYTES in CHUNK PATCHes, one after another; MB/s. */
async function upload(client: StorageClient, indexes: string[], check = true): Promise<number> {
  const started = process.hrtime.bigint();
  for (const si of indexes) {
    const uploadSecret = new Uint8Array(randomBytes(20));
    await client.immutable.allocate(si, {
      ...secretsFor(si),
      uploadSecret,
      shareNumbers: [0],
      allocatedSize: SHARE_BYTES,
    });
    for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK) {
      const result = await client.immutable.write(si, 0, {
        uploadSecret,
        offset,
        data: data.subarray(offset, offset + CHUNK),
      });
      // (The baseline answers 201 to every chunk; the node only to the last.)
      if (check && result.complete !== offset + CHUNK >= SHARE_BYTES) {
        throw new Error('unexpected progress');
      }
    }
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return (indexes.length * SHARE_BYTES) / 1e6 / elapsed;
}

/** Reads each share back in CHUNK ranged GETs; MB/s. Checks the last chunk's bytes. */
async function download(client: StorageClient, indexes: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const si of indexes) {
    let last: Uint8Array = new Uint8Array(0);
    for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK) {
      last = await client.immutable.read(si, 0, { offset, length: CHUNK });
      if (last.length !== CHUNK) throw new Error(`short read at ${offset}`);
    }
    const tail = data.subarray(SHARE_BYTES - CHUNK);
    if (!Buffer.from(last).equals(Buffer.from(tail))) throw new Error('downloaded bytes differ');
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return (indexes.length * SHARE_BYTES) / 1e6 / elapsed;
}

/** One 1,000-byte immutable share: allocate, then one PATCH that completes it. */
async function uploadSmall(client: StorageClient): Promise<void> {
  const si = newSi();
  const uploadSecret = new Uint8Array(randomBytes(20));
  await client.immutable.allocate(si, {
    ...secretsFor(si),
    uploadSecret,
    shareNumbers: [0],
    allocatedSize: SMALL_BYTES,
  });
  await client.immutable.write(si, 0, { uploadSecret, offset: 0, data: small });
}

const freshSecrets = (): LeaseSecrets => ({
  renewSecret: new Uint8Array(randomBytes(32)),
  cancelSecret: new Uint8Array(randomBytes(32)),
});

interface Rate {
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** `op` run back to back by `concurrency` callers for `seconds`: rate and latency (ms). */
async function closedLoop(concurrency: number, op: (n: number) => Promise<void>): Promise<Rate> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    count: latencies.length,
    perSecond: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
  };
}

// ------------------------------------------------------------------------------ raw flushes

/** Microseconds per call of `fn`, over `count` calls. */
function perCall(count: number, fn: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / 1e3 / count;
}

/**
 * What the flushes behind one acknowledged small write cost on this disk, in µs: an fdatasync
 * after appending 4 KiB (a WAL commit's flush), a new 1 KB file's fsync and its directory's, and
 * a one-row SQLite transaction in WAL mode with synchronous = FULL (the library underneath).
 */
function rawFlushes(dir: string) {
  const count = 200;
  const wal = openSync(join(dir, 'wal'), 'a');
  const page = Buffer.alloc(4096, 1);
  const walAppend = perCall(count, () => {
    writeSync(wal, page);
    fdatasyncSync(wal); // what leasedb's WalFlusher does after a group's commit
  });
  closeSync(wal);
  const dirFd = openSync(dir, 'r');
  const smallFile = perCall(count, (i) => {
    const fd = openSync(join(dir, `f${i}`), 'w');
    writeSync(fd, small);
    fsyncSync(fd);
    closeSync(fd);
    fsyncSync(dirFd);
  });
  closeSync(dirFd);
  const sqlite = new Database(join(dir, 'raw.sqlite'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.exec('create table t (k integer primary key, v blob)');
  const insert = sqlite.prepare('insert into t (v) values (?)');
  const sqliteCommit = perCall(count, () => insert.run(small));
  sqlite.close();
  return { walAppend, smallFile, sqliteCommit };
}

// ------------------------------------------------------------------------------ the disk alone

/**
 * The least file-system work a durable 1 KB upload needs, without HTTP or a database, run as the
 * node runs it (node:fs promises, libuv's pool) by SMALL_CONNECTIONS callers for `seconds`, in
 * `dir`: each operation writes `files` new 1 KB files, each to a temporary file that is fsynced,
 * renamed into a directory of its own (made for it, as a share's storage index directory is) and
 * that directory fsynced. One file is the share; two are the share and its owner record, which is
 * what the node writes. Operations per second.
 */
async function durableFilesAlone(
  dir: string,
  files: number,
): Promise<{ perSecond: number; cpuMicrosEach: number }> {
  const temp = join(dir, 'tmp');
  await mkdir(temp, { recursive: true });
  const durableFile = async (to: string) => {
    const from = join(temp, randomBytes(8).toString('hex'));
    const file = await open(from, 'wx');
    await file.write(small, 0, small.length, 0);
    await file.sync();
    await file.close();
    await mkdir(to, { recursive: true });
    await rename(from, join(to, '0'));
    const directory = await open(to, 'r');
    await directory.sync();
    await directory.close();
  };
  const cpu = process.cpuUsage();
  const rate = await closedLoop(SMALL_CONNECTIONS, async () => {
    const si = randomBytes(16).toString('hex');
    for (let f = 0; f < files; f++) await durableFile(join(dir, `set${f}`, si.slice(0, 2), si));
  });
  const used = process.cpuUsage(cpu);
  return { perSecond: rate.perSecond, cpuMicrosEach: (used.user + used.system) / rate.count };
}

/** `shares` files of SHARE_BYTES written in CHUNK writes, each fsynced at its end, in `dir`; MB/s. */
async function largeFilesAlone(dir: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < shares; i++) {
    const file = await open(join(dir, `large-${i}`), 'wx');
    for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK) {
      await file.write(data, offset, CHUNK, offset);
    }
    await file.sync();
    await file.close();
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return (shares * SHARE_BYTES) / 1e6 / elapsed;
}

// ------------------------------------------------------------------------------ main

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Figure {
  name: string;
  ours: number;
  baseline: number;
  /** Median of the rounds' ratios (one round: the ratio), and their range. */
  ratio: number;
  spread?: [number, number];
  /** Each round's figures, in order. */
  rounds?: { ours: number[]; baseline: number[] };
  latency?: { ours: Rate; baseline: Rate };
  rss: [number, number];
  /** The node's CPU time (user + system, all its threads) per operation, µs. */
  cpuMicrosEach?: number;
  /** This process's (the load generator's) CPU time per operation against the node, µs. */
  clientCpuMicrosEach?: number;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ostrom-bench-'));
  const stops: (() => Promise<void>)[] = [];
  try {
    if (store === 's3') {
      const s3 = await startS3();
      stops.push(s3.stop);
      const pg = await startPostgres({ durable: true });
      stops.push(pg.stop);
      const bucket = `ostrom-bench-${randomBytes(4).toString('hex')}`;
      // moto creates a bucket for an unsigned path-style PUT.
      if (!(await fetch(`${s3.endpoint}/${bucket}`, { method: 'PUT' })).ok) {
        throw new Error('could not create the bucket');
      }
      await initNode(join(dir, 'node'), {
        backend: 's3',
        s3: { bucket, endpoint: s3.endpoint },
        databaseUrl: pg.url,
      });
      await writeFile(
        join(dir, 'node/private/s3-credentials'),
        'access_key_id = "test"\nsecret_access_key = "test"\n',
        { mode: 0o600 },
      );
    } else {
      await initNode(join(dir, 'node'), {});
    }
    const node = await loadNode(join(dir, 'node'));
    const ourSide = await startSide({
      OSTROM_BENCH_SIDE: 'node',
      OSTROM_BENCH_DIR: join(dir, 'node'),
    });
    stops.push(() => ourSide.close());
    const ours = createStorageClient({ nurl: ourSide.nurl, maxSockets: VERSION_CONNECTIONS });
    const versionBody = (await ours.raw({ method: 'GET', path: '/storage/v1/version' })).body;
    const bareSide = await startSide(
      {
        OSTROM_BENCH_SIDE: 'bare',
        OSTROM_BENCH_KEY: node.tls.keyPem,
        OSTROM_BENCH_CERT: node.tls.certPem,
        OSTROM_BENCH_VERSION: Buffer.from(versionBody).toString('base64'),
        OSTROM_BENCH_SHARE_BYTES: String(SHARE_BYTES),
      },
      (port) => formatNurl({ ...parseNurl(ourSide.nurl), host: '127.0.0.1', port }),
    );
    stops.push(() => bareSide.close());
    const bare = createStorageClient({ nurl: bareSide.nurl, maxSockets: VERSION_CONNECTIONS });

    console.log(
      `ostrom server bench (${store === 's3' ? 'S3 (moto) + PostgreSQL' : 'disk + SQLite'}): ` +
        `${rounds} round(s) of ${shares} share(s) of ${(SHARE_BYTES / MIB).toFixed(0)} MiB in ${CHUNK / MIB} MiB chunks; ` +
        `${seconds} s per small-operation run`,
    );
    // Warm both up (JIT, TLS sessions, the database) with one large share each way and a few
    // small operations.
    const warm = [newSi()];
    await upload(ours, warm);
    await download(ours, warm);
    await upload(bare, warm, false);
    await download(bare, warm);

    const figures: Figure[] = [];
    /** Runs `measure` with the node's RSS read before and after, and the CPU time it used. */
    const withRss = async <T>(
      measure: () => Promise<T>,
    ): Promise<[T, [number, number], number]> => {
      const before = await ourSide.usage();
      const result = await measure();
      const after = await ourSide.usage();
      return [result, [before.rss, after.rss], after.cpuMicros - before.cpuMicros];
    };
    const alternate = async (
      name: string,
      measureOurs: (round: number) => Promise<number>,
      measureBare: (round: number) => Promise<number>,
    ) => {
      if (!wanted(name)) return;
      const [[o, b], rss] = await withRss(async () => {
        const o: number[] = [];
        const b: number[] = [];
        const ours = async (round: number) => {
          if (profileDir) await ourSide.profile(true);
          o.push(await measureOurs(round));
          if (profileDir) {
            const file = `${name.replace(/\W+/g, '-')}round-${round}.cpuprofile`;
            await ourSide.profile(false, join(profileDir, file));
          }
        };
        for (let round = 0; round < rounds; round++) {
          if (round % 2 === 0) {
            await ours(round);
            b.push(await measureBare(round));
          } else {
            b.push(await measureBare(round));
            await ours(round);
          }
        }
        return [o, b] as const;
      });
      const ratios = o.map((x, i) => x / b[i]!);
      figures.push({
        name,
        ours: median(o),
        baseline: median(b),
        ratio: median(ratios),
        spread: [Math.min(...ratios), Math.max(...ratios)],
        rounds: { ours: o, baseline: b },
        rss,
      });
    };
    const indexes = Array.from({ length: rounds }, () => Array.from({ length: shares }, newSi));
    // The disk alone: in the node's file system, beside the figures it explains, on disk only.
    const diskAloneDir = await mkdtemp(join(dir, 'disk-alone-'));
    const diskAlone: {
      large?: number[];
      oneFile?: Awaited<ReturnType<typeof durableFilesAlone>>;
      twoFiles?: Awaited<ReturnType<typeof durableFilesAlone>>;
    } = {};
    if (store === 'disk' && wanted('upload (MB/s)')) diskAlone.large = [];
    await alternate(
      'upload (MB/s)',
      (round) => upload(ours, indexes[round]!),
      async (round) => {
        const rate = await upload(bare, indexes[round]!, false);
        // Each round's disk-alone figure right after its two: the disk's speed changes by the minute.
        diskAlone.large?.push(await largeFilesAlone(await mkdtemp(join(diskAloneDir, 'large-'))));
        return rate;
      },
    );
    await alternate(
      'download (MB/s)',
      (round) => download(ours, indexes[round]!),
      (round) => download(bare, indexes[round]!),
    );

    const closedLoops = async (
      name: string,
      concurrency: number,
      op: (client: StorageClient, n: number) => Promise<void>,
    ) => {
      if (!wanted(name)) return;
      if (profileDir) await ourSide.profile(true);
      const clientCpu = process.cpuUsage();
      const [o, rss, cpuMicros] = await withRss(() => closedLoop(concurrency, (n) => op(ours, n)));
      const clientUsed = process.cpuUsage(clientCpu);
      if (profileDir) {
        await ourSide.profile(false, join(profileDir, `${name.replace(/\W+/g, '-')}.cpuprofile`));
      }
      const b = await closedLoop(concurrency, (n) => op(bare, n));
      figures.push({
        name,
        ours: o.perSecond,
        baseline: b.perSecond,
        ratio: o.perSecond / b.perSecond,
        latency: { ours: o, baseline: b },
        rss,
        cpuMicrosEach: cpuMicros / o.count,
        clientCpuMicrosEach: (clientUsed.user + clientUsed.system) / o.count,
      });
    };
    await closedLoops('1 KB upload (/s)', SMALL_CONNECTIONS, (client) => uploadSmall(client));
    if (store === 'disk' && wanted('1 KB upload (/s)')) {
      diskAlone.oneFile = await durableFilesAlone(await mkdtemp(join(diskAloneDir, 'one-')), 1);
      diskAlone.twoFiles = await durableFilesAlone(await mkdtemp(join(diskAloneDir, 'two-')), 2);
    }
    const leased = Array.from({ length: LEASED_SHARES }, newSi);
    for (const si of leased) {
      const uploadSecret = new Uint8Array(randomBytes(20));
      await ours.immutable.allocate(si, {
        ...secretsFor(si),
        uploadSecret,
        shareNumbers: [0],
        allocatedSize: SMALL_BYTES,
      });
      await ours.immutable.write(si, 0, { uploadSecret, offset: 0, data: small });
    }
    await closedLoops('lease add (/s)', SMALL_CONNECTIONS, (client, n) =>
      client.addOrRenewLease(leased[n % LEASED_SHARES]!, freshSecrets()),
    );
    await closedLoops('lease renew (/s)', SMALL_CONNECTIONS, (client, n) => {
      const si = leased[n % LEASED_SHARES]!;
      return client.addOrRenewLease(si, secretsFor(si));
    });
    await closedLoops('GET version (/s)', VERSION_CONNECTIONS, async (client) => {
      await client.getVersion();
    });
    ours.close();
    bare.close();

    const raw = rawFlushes(await mkdtemp(join(dir, 'raw-')));

    const pad = (s: string, n: number) => s.padEnd(n);
    const num = (x: number) => x.toFixed(x >= 100 ? 0 : 1);
    const mb = (bytes: number) => `${(bytes / MIB).toFixed(0)}`;
    console.log(
      `\n${pad('figure', 20)}${pad('ours', 9)}${pad('baseline', 10)}${pad('ratio', 24)}${pad('p50/p99 ms (ours)', 19)}${pad('p50/p99 ms (bare)', 19)}${pad('node CPU µs/op', 16)}${pad('client CPU µs/op', 18)}node RSS MiB`,
    );
    for (const f of figures) {
      const spread = f.spread ? ` (${f.spread[0].toFixed(2)}–${f.spread[1].toFixed(2)})` : '';
      const lat = (r?: Rate) => (r ? `${r.p50.toFixed(1)}/${r.p99.toFixed(1)}` : '');
      console.log(
        `${pad(f.name, 20)}${pad(num(f.ours), 9)}${pad(num(f.baseline), 10)}${pad(f.ratio.toFixed(2) + spread, 24)}` +
          `${pad(lat(f.latency?.ours), 19)}${pad(lat(f.latency?.baseline), 19)}` +
          `${pad(f.cpuMicrosEach === undefined ? '' : f.cpuMicrosEach.toFixed(0), 16)}` +
          `${pad(f.clientCpuMicrosEach === undefined ? '' : f.clientCpuMicrosEach.toFixed(0), 18)}` +
          `${mb(f.rss[0])} → ${mb(f.rss[1])}`,
      );
    }
    console.log(
      `\nraw flushes on this disk (µs each): 4 KiB append + fdatasync ${raw.walAppend.toFixed(0)}; ` +
        `1 KB file + fsync + directory fsync ${raw.smallFile.toFixed(0)}; ` +
        `SQLite one-row commit (WAL, synchronous = FULL) ${raw.sqliteCommit.toFixed(0)}`,
    );
    const byName = new Map(figures.map((f) => [f.name, f]));
    if (diskAlone.large || diskAlone.twoFiles !== undefined) {
      const parts: string[] = [];
      const large = diskAlone.large;
      const rounds = byName.get('upload (MB/s)')?.rounds;
      if (large && rounds) {
        const each = large.map(
          (alone, i) => `${num(rounds.ours[i]!)}/${num(rounds.baseline[i]!)}/${num(alone)}`,
        );
        parts.push(
          `${mb(SHARE_BYTES)} MiB files in ${CHUNK / MIB} MiB writes, fsynced: median ` +
            `${num(median(large))} MB/s; upload by round, ours/bare/disk alone MB/s: ${each.join(', ')}`,
        );
      }
      if (diskAlone.oneFile !== undefined && diskAlone.twoFiles !== undefined) {
        parts.push(
          `durable 1 KB files (temporary file, fsync, rename into a new directory, its fsync), ` +
            `${SMALL_CONNECTIONS} at once: one per operation ${num(diskAlone.oneFile.perSecond)}/s ` +
            `(${num(diskAlone.oneFile.cpuMicrosEach)} µs CPU each), two (share + owner record, as ` +
            `the node) ${num(diskAlone.twoFiles.perSecond)}/s (${num(diskAlone.twoFiles.cpuMicrosEach)} µs)`,
        );
      }
      console.log(
        `the disk alone (the same files, without HTTP or a database):\n  ${parts.join('\n  ')}`,
      );
    }
    const targets: [string, (f: Figure) => boolean, string][] = [
      ['upload (MB/s)', (f) => f.spread![0] >= 0.67, 'every round ≥ 0.67x bare'],
      ['download (MB/s)', (f) => f.spread![0] >= 0.67, 'every round ≥ 0.67x bare'],
      [
        '1 KB upload (/s)',
        (f) => f.ours >= 800 && f.latency!.ours.p99 < 100,
        '≥ 800/s, p99 < 100 ms',
      ],
      ['lease add (/s)', (f) => f.ours >= 4000, '≥ 4,000/s'],
      ['lease renew (/s)', (f) => f.ours >= 4000, '≥ 4,000/s'],
    ];
    for (const [name, met, target] of targets) {
      if (!byName.has(name)) continue;
      console.log(`${name}: ${met(byName.get(name)!) ? 'meets' : 'DOES NOT meet'} ${target}`);
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error) => console.error(error));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
