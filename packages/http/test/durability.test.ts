import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Accountant } from '@ostrom/accountant';
import { ownerRecordName } from '@ostrom/backend';
import { createDiskBackend, type DiskFlush } from '@ostrom/backend-disk';
import { openLeaseDb } from '@ostrom/leasedb';
import { createStorageClient, formatNurl } from '@ostrom/protocol';
import { manualClock, tempDir } from '@ostrom/test-fixtures';
import BetterSqlite3 from 'better-sqlite3';
import { expect, it, onTestFinished } from 'vitest';
import { createStorageHandler } from '../src/index.js';
import {
  bytes,
  CERTIFICATE,
  SERVER_ID,
  SERVER_SECRET,
  secrets,
  storageIndex,
  uploadShare,
  writeMutable,
} from './http-setup.js';

// Nothing acknowledged is lost. A process killed at any moment cannot show it (the page cache
// outlives the process), so this looks at the flushes themselves: the disk backend reports each
// fsync once it has completed, and each flush of the lease database's write-ahead log is wrapped
// to see what it covers (what a second connection could read when it began: the commits made
// by then). At the moment the server sends a success status for a write, the flushes that make
// that write durable must already have happened. Writes run concurrently, so group commits and
// concurrent uploads are what is checked.

/** Which share a request writes, from its path (immutable PATCH, mutable POST, lease PUT). */
function target(req: IncomingMessage): { kind: string; si: string; shnum?: number } | undefined {
  const path = req.url ?? '';
  let m = /^\/storage\/v1\/immutable\/([a-z2-7]+)\/(\d+)$/.exec(path);
  if (m && req.method === 'PATCH') return { kind: 'chunk', si: m[1]!, shnum: Number(m[2]) };
  m = /^\/storage\/v1\/mutable\/([a-z2-7]+)\/read-test-write$/.exec(path);
  if (m && req.method === 'POST') return { kind: 'mutable', si: m[1]! };
  m = /^\/storage\/v1\/lease\/([a-z2-7]+)$/.exec(path);
  if (m && req.method === 'PUT') return { kind: 'lease', si: m[1]! };
  return undefined;
}

async function durableNode() {
  const clock = manualClock();
  const root = await tempDir('durability-disk-');
  const dbPath = join(await tempDir('durability-db-'), 'leasedb.sqlite');
  const flushed: DiskFlush[] = [];
  // Rows (as the observer reads them) that a completed flush of the log covers.
  const durableRows = new Set<string>();
  let snapshot: () => string[] = () => [];
  // The defaults a node runs with: fsync on, synchronous = FULL, group commit.
  const db = await openLeaseDb({
    dialect: 'sqlite',
    path: dbPath,
    now: clock.now,
    wrapWalFlush: async (flush) => {
      const covered = snapshot();
      await flush();
      for (const row of covered) durableRows.add(row);
    },
  });
  const backend = await createDiskBackend({ root, onFlush: (flush) => flushed.push(flush) });
  const accountant = new Accountant({
    serverSecret: SERVER_SECRET,
    serverId: SERVER_ID,
    now: clock.now,
    leaseDb: db,
    backend,
    // With a state key, each new share's owner record is written beside it (for a rebuild).
    stateKey: new Uint8Array(32).fill(9),
  });
  await accountant.start({ intervalSeconds: 0 });
  const observer = new BetterSqlite3(dbPath, { readonly: true });
  const everyRow = observer.prepare(
    `select 'share ' || storage_index || '/' || shnum || ' ' || state as row from shares
     union all
     select 'lease ' || storage_index || '/' || shnum || ' ' || account_id || ' ' || expires_at from leases`,
  );
  snapshot = () => (everyRow.all() as { row: string }[]).map(({ row }) => row);

  const has = (kind: DiskFlush['kind'], path: string) =>
    flushed.some((flush) => flush.kind === kind && flush.path === path);
  const shareFile = (si: string, shnum: number) =>
    join(root, 'shares', si.slice(0, 2), si, String(shnum));
  // The disk backend keeps each state blob at its name's path under `ostrom-state/`.
  const ownerRecordFile = (si: string, shnum: number) =>
    join(root, 'ostrom-state', ...ownerRecordName(si, shnum).split('/'));
  /** Who owns a new share must be as durable as the share: a rebuild reads it. */
  const checkOwnerRecord = (si: string, shnum: number, miss: (why: string) => void) => {
    const file = ownerRecordFile(si, shnum);
    if (!has('file', file)) miss('owner record not flushed');
    if (!has('directory', join(file, '..'))) miss('owner record directory not flushed');
  };
  const violations: string[] = [];
  const checked: Record<string, number> = { chunk: 0, mutable: 0, lease: 0 };
  /** What must be durable when `req` is answered with a success; each miss is a violation. */
  const checkAcknowledged = (req: IncomingMessage, status: number) => {
    const what = target(req);
    if (!what || status >= 300) return;
    const miss = (why: string) => violations.push(`${req.method} ${req.url} ${status}: ${why}`);
    if (what.kind === 'chunk') {
      if (status !== 201) return; // a chunk that does not complete the share promises nothing
      checked.chunk!++;
      const file = shareFile(what.si, what.shnum!);
      if (!has('file', file)) miss('share data not flushed');
      if (!has('directory', join(file, '..'))) miss('share directory not flushed');
      if (!durableRows.has(`share ${what.si}/${what.shnum} stable`)) miss('share row not flushed');
      checkOwnerRecord(what.si, what.shnum!, miss);
    } else if (what.kind === 'mutable') {
      checked.mutable!++;
      const file = shareFile(what.si, 0);
      if (!has('file', file)) miss('mutable share not flushed');
      if (!has('directory', join(file, '..'))) miss('mutable share directory not flushed');
      if (!durableRows.has(`share ${what.si}/0 stable`)) miss('mutable share row not flushed');
      checkOwnerRecord(what.si, 0, miss);
    } else {
      checked.lease!++;
      // Every lease request here is made at the clock's current time: the lease it added or
      // renewed (the anonymous account's, on share 0) runs a whole lease period from now.
      const wanted = clock.now() + db.policy.leaseDurationSeconds;
      if (!durableRows.has(`lease ${what.si}/0 0 ${wanted}`)) miss('lease not flushed');
    }
  };
  const handler = createStorageHandler({ accountant, nurlFor: () => nurl });
  const server = https.createServer(
    { key: CERTIFICATE.keyPem, cert: CERTIFICATE.certPem },
    (req, res: ServerResponse) => {
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
      // Every response's status goes through writeHead, the implicit one of res.end included.
      res.writeHead = ((status: number, ...rest: unknown[]) => {
        checkAcknowledged(req, status);
        return writeHead(status, ...rest);
      }) as typeof res.writeHead;
      void handler(req, res);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const nurl = formatNurl({
    spkiHash: CERTIFICATE.spkiHash,
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    swissnum: accountant.swissnumFor(0),
  });
  const client = createStorageClient({ nurl, maxSockets: 16 });
  onTestFinished(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await accountant.stop();
    observer.close();
    await db.close();
    await backend.close();
  });
  return { client, clock, violations, checked };
}

it('every acknowledged share (with its owner record), lease and mutable write was flushed before its acknowledgement, with writes arriving together', async () => {
  const { client, clock, violations, checked } = await durableNode();
  const rounds = 3;
  for (let round = 0; round < rounds; round++) {
    await Promise.all([
      // New immutable shares, 1 KB each: allocate and one PATCH that completes it.
      ...Array.from({ length: 24 }, (_, i) =>
        uploadShare(client, storageIndex(`up-${round}-${i}`), bytes(1000, i + 1)),
      ),
      // Mutable shares: the first write makes the share, later rounds rewrite it.
      ...Array.from({ length: 8 }, (_, i) =>
        writeMutable(
          client,
          storageIndex(`mut-${i}`),
          { ...secrets(`mut-${i}`), writeEnabler: new Uint8Array(32).fill(i + 1) },
          bytes(500, round + 1),
        ),
      ),
      // Leases on the shares of the previous round: added with new secrets and renewed.
      ...(round === 0
        ? []
        : Array.from({ length: 16 }, (_, i) => {
            const si = storageIndex(`up-${round - 1}-${i}`);
            return client.addOrRenewLease(si, secrets(i % 2 === 0 ? si : `other-${round}-${i}`));
          })),
    ]);
    clock.advance(3600);
  }
  expect(violations).toEqual([]);
  // The checks ran on every acknowledgement (not on none).
  expect(checked).toEqual({ chunk: 24 * rounds, mutable: 8 * rounds, lease: 16 * (rounds - 1) });
});
