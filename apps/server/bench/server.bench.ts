// The node's benchmark (`pnpm --filter @ostrom/server bench`; not part of the test suite).
//
// Through HTTPS on loopback, with the protocol's StorageClient: immutable upload and download
// throughput of 64 MiB shares in 1 MiB PATCHes / ranged GETs (as Tahoe clients send them), and
// small requests per second at 32 connections (lease renewal; GET version) with autocannon. Each
// figure has a baseline measured in the same run: a bare `https.createServer` with the same key
// and certificate that receives and discards the same bytes, and answers with fixed bodies of
// the same shapes, so the ratio shows what the node itself costs.
//
// OSTROM_BENCH_SCALE (default 1) scales the share size (0.25 → 16 MiB shares);
// OSTROM_BENCH_SHARES (default 3) shares each way per round; OSTROM_BENCH_ROUNDS (default 3)
// rounds of the upload and download figures, each measuring the node and the baseline one after
// the other (which goes first alternates), so a slow stretch of the machine falls on both: the
// figures are the medians of the rounds, the ratio the median of the rounds' ratios (their range
// printed beside it); OSTROM_BENCH_SECONDS (default 5) per autocannon run. The node runs on
// disk + SQLite in a temporary directory.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createStorageClient,
  deriveLeaseSecrets,
  encodeAllocateResponse,
  encodeWriteResponse,
  formatAuthorization,
  formatNurl,
  formatSecretHeaders,
  parseNurl,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import autocannon from 'autocannon';
import { initNode } from '../src/node-dir.js';
import { startNode } from '../src/server.js';

const MIB = 1024 * 1024;
const scale = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
const shares = Number(process.env.OSTROM_BENCH_SHARES ?? '3');
const seconds = Number(process.env.OSTROM_BENCH_SECONDS ?? '5');
const rounds = Number(process.env.OSTROM_BENCH_ROUNDS ?? '3');
if (!(scale > 0) || !(shares >= 1) || !(seconds > 0) || !(rounds >= 1)) {
  throw new Error(
    'OSTROM_BENCH_SCALE, OSTROM_BENCH_SHARES, OSTROM_BENCH_ROUNDS and OSTROM_BENCH_SECONDS must be > 0',
  );
}
const CHUNK = MIB;
const SHARE_BYTES = Math.max(CHUNK, Math.round((64 * MIB * scale) / CHUNK) * CHUNK);
const CONNECTIONS = 32;

const data = new Uint8Array(randomBytes(SHARE_BYTES));
const newSi = () => storageIndexFromBytes(new Uint8Array(randomBytes(16)));
const clientLeaseSecret = new Uint8Array(32).fill(1);

/** The bare baseline: discards request bodies, answers with fixed bodies of the right shapes. */
async function startBaseline(keyPem: string, certPem: string, versionBody: Uint8Array) {
  const allocateBody = encodeAllocateResponse({ alreadyHave: [], allocated: [0] });
  const writeBody = encodeWriteResponse({ required: [] });
  const reply = (res: ServerResponse, status: number, body?: Uint8Array, type?: string) => {
    res.statusCode = status;
    if (type) res.setHeader('Content-Type', type);
    if (status !== 204) res.setHeader('Content-Length', String(body?.length ?? 0));
    res.end(body && Buffer.from(body.buffer, body.byteOffset, body.length));
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url.endsWith('/version')) {
        return reply(res, 200, versionBody, 'application/cbor');
      }
      if (req.method === 'PUT') return reply(res, 204);
      if (req.method === 'POST') return reply(res, 200, allocateBody, 'application/cbor');
      if (req.method === 'PATCH') return reply(res, 201, writeBody, 'application/cbor');
      // A ranged share read: the bytes asked for, from the same buffer the uploads send.
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      const begin = m ? Number(m[1]) : 0;
      const end = Math.min(m ? Number(m[2]) + 1 : SHARE_BYTES, SHARE_BYTES);
      res.setHeader('Content-Range', `bytes ${begin}-${end - 1}/*`);
      reply(res, m ? 206 : 200, data.subarray(begin, end), 'application/octet-stream');
    });
  };
  const server = https.createServer(
    { key: keyPem, cert: certPem, keepAliveTimeout: 60_000 },
    handler,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Uploads `shares` shares of SHARE_BYTES in CHUNK PATCHes, one after another; MB/s. */
async function upload(client: StorageClient, indexes: string[], check = true): Promise<number> {
  const started = process.hrtime.bigint();
  for (const si of indexes) {
    const uploadSecret = new Uint8Array(randomBytes(20));
    await client.immutable.allocate(si, {
      ...deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId: 'a'.repeat(32) }),
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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Figure {
  ours: number;
  baseline: number;
  /** Median of the rounds' ratios (one round: the ratio), and their range. */
  ratio: number;
  spread?: [number, number];
}

/** `rounds` measurements of each side, alternating which goes first; medians and ratios. */
async function alternate(
  measureOurs: (round: number) => Promise<number>,
  measureBare: (round: number) => Promise<number>,
): Promise<Figure> {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      ours.push(await measureOurs(round));
      bare.push(await measureBare(round));
    } else {
      bare.push(await measureBare(round));
      ours.push(await measureOurs(round));
    }
  }
  const ratios = ours.map((o, i) => o / bare[i]!);
  return {
    ours: median(ours),
    baseline: median(bare),
    ratio: median(ratios),
    spread: [Math.min(...ratios), Math.max(...ratios)],
  };
}

/** Requests per second with CONNECTIONS keep-alive connections; fails on any non-2xx or error. */
async function cannon(
  port: number,
  request: { method: 'GET' | 'PUT'; path: string; headers: Record<string, string> },
): Promise<number> {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    // autocannon connects with rejectUnauthorized: false itself (self-signed certificate).
    tlsOptions: { rejectUnauthorized: false },
    requests: [request],
  });
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(
      `${request.method} ${request.path}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`,
    );
  }
  return result.requests.average;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ostrom-bench-'));
  const running = await (async () => {
    await initNode(dir, {});
    return await startNode(dir, { port: 0, sweepIntervalSeconds: 0 });
  })();
  try {
    const ours = createStorageClient({ nurl: running.nurl });
    const versionBody = (await ours.raw({ method: 'GET', path: '/storage/v1/version' })).body;
    const baseline = await startBaseline(
      running.node.tls.keyPem,
      running.node.tls.certPem,
      versionBody,
    );
    const { spkiHash, swissnum } = parseNurl(running.nurl);
    const bare = createStorageClient({
      nurl: formatNurl({ spkiHash, host: '127.0.0.1', port: baseline.port, swissnum }),
    });

    console.log(
      `ostrom server bench: ${rounds} round(s) of ${shares} share(s) of ${(SHARE_BYTES / MIB).toFixed(0)} MiB in ${CHUNK / MIB} MiB chunks; ` +
        `${CONNECTIONS} connections for ${seconds} s per small-request run; disk + SQLite`,
    );
    // Warm both up (JIT, TLS sessions, the database) with one share each way.
    const warm = [newSi()];
    await upload(ours, warm);
    await download(ours, warm);
    await upload(bare, warm, false);
    await download(bare, warm);

    const indexes = Array.from({ length: rounds }, () => Array.from({ length: shares }, newSi));
    const rows: [string, Figure][] = [];
    const small = (o: number, b: number): Figure => ({ ours: o, baseline: b, ratio: o / b });
    rows.push([
      'upload (MB/s)',
      await alternate(
        (round) => upload(ours, indexes[round]!),
        (round) => upload(bare, indexes[round]!, false),
      ),
    ]);
    rows.push([
      'download (MB/s)',
      await alternate(
        (round) => download(ours, indexes[round]!),
        (round) => download(bare, indexes[round]!),
      ),
    ]);

    const si = indexes[0]![0]!;
    const lease = deriveLeaseSecrets({
      clientLeaseSecret,
      storageIndex: si,
      tubId: 'a'.repeat(32),
    });
    const [renew, cancel] = formatSecretHeaders({
      'lease-renew-secret': lease.renewSecret,
      'lease-cancel-secret': lease.cancelSecret,
    });
    const authorization = formatAuthorization(swissnum);
    const leaseRequest = {
      method: 'PUT' as const,
      path: `/storage/v1/lease/${si}`,
      headers: {
        Authorization: authorization,
        // autocannon writes one line per key: the second secret header rides on the first.
        'X-Tahoe-Authorization': `${renew}\r\nX-Tahoe-Authorization: ${cancel}`,
      },
    };
    const versionRequest = {
      method: 'GET' as const,
      path: '/storage/v1/version',
      headers: { Authorization: authorization, Accept: 'application/cbor' },
    };
    rows.push([
      'lease renewal (req/s)',
      small(await cannon(running.port, leaseRequest), await cannon(baseline.port, leaseRequest)),
    ]);
    rows.push([
      'GET version (req/s)',
      small(
        await cannon(running.port, versionRequest),
        await cannon(baseline.port, versionRequest),
      ),
    ]);

    const pad = (s: string, n: number) => s.padEnd(n);
    const num = (x: number) => x.toFixed(x >= 100 ? 0 : 1);
    console.log(
      `\n${pad('figure', 24)}${pad('ours', 12)}${pad('baseline', 12)}ratio (ours/baseline)`,
    );
    for (const [figure, f] of rows) {
      const spread = f.spread
        ? `  (${rounds} rounds: ${f.spread[0].toFixed(2)}–${f.spread[1].toFixed(2)})`
        : '';
      console.log(
        `${pad(figure, 24)}${pad(num(f.ours), 12)}${pad(num(f.baseline), 12)}${f.ratio.toFixed(2)}${spread}`,
      );
    }
    const target = 1 / 1.5;
    for (const [figure, f] of rows.slice(0, 2)) {
      const ok = f.ratio >= target;
      console.log(
        `${figure}: ${ok ? 'within' : 'NOT within'} 1.5x of the bare baseline (ratio ${f.ratio.toFixed(2)} ${ok ? '>=' : '<'} ${target.toFixed(2)})`,
      );
    }
    ours.close();
    bare.close();
    baseline.server.closeAllConnections();
    await new Promise<void>((resolve) => baseline.server.close(() => resolve()));
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
