import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Accountant } from '@ostrom/accountant';
import { createMemoryBackend } from '@ostrom/backend';
import { createStorageHandler, createUploadForwarder } from '@ostrom/http';
import { openLeaseDb } from '@ostrom/leasedb';
import { createStorageClient, formatNurl, type StorageClient } from '@ostrom/protocol';
import { createScratchSchema, manualClock } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import { outcome } from '../helpers.js';
import {
  bytes,
  CERTIFICATE,
  PG_URL,
  SERVER_ID,
  SERVER_SECRET,
  secrets,
  startServer,
  storageIndex,
} from '../http-setup.js';
import {
  expectBounded,
  randomStorageIndex,
  startHostileNode,
  underAttack,
} from './hostile-node.js';

// Attack: an upload is finished, or aborted, through another NURL than the one it was allocated
// with: a frozen account completes its upload through the anonymous NURL (the share charged to
// the frozen account), or anyone holding the upload secret piles chunks onto another's upload.
// Expected: a chunk, abort or completion through any other account is 404 (no such upload for
// it) and changes nothing; the allocating account's own chunks are refused once it is frozen
// (403), while it may still abort (200) and so give its reservation back; the same through a
// second server process, which forwards only the allocating account's requests to the holder.

const SIZE = 100;
const DATA = bytes(SIZE, 3);
const S = secrets('hostile-upload');

function chunk(client: StorageClient, si: string, shnum: number, begin: number, end = SIZE) {
  return client.immutable.write(si, shnum, {
    uploadSecret: S.uploadSecret,
    offset: begin,
    data: DATA.subarray(begin, end),
  });
}

describe('hostile: an upload belongs to the account that allocated it', () => {
  it('chunks, abort and completion through another NURL are 404; frozen, the owner is 403 and may abort', async () => {
    const t = await startServer();
    const alice = await t.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'alice' });
    const bob = await t.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'bob' });
    const mine = t.client(alice.id);
    const others = [t.client(), t.client(bob.id)];
    const si = storageIndex('hostile-upload');
    await mine.immutable.allocate(si, { ...S, shareNumbers: [0, 1], allocatedSize: SIZE });
    expect((await chunk(mine, si, 0, 0, 50)).complete).toBe(false);

    for (const other of others) {
      expect(await outcome(chunk(other, si, 0, 50))).toBe(404);
      expect(await outcome(other.immutable.abort(si, 1, S.uploadSecret))).toBe(404);
    }
    expect(await t.db.listComingShares()).toHaveLength(2);

    await t.accountant.setAccountStatus(alice.id, 'frozen', { actor: 'operator' });
    expect(await outcome(chunk(mine, si, 0, 50))).toBe(403);
    for (const other of others) expect(await outcome(chunk(other, si, 0, 50))).toBe(404);
    expect(await t.client().immutable.listShares(si)).toEqual([]);
    expect(await t.db.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 2 * SIZE });

    expect(await outcome(mine.immutable.abort(si, 0, S.uploadSecret))).toBe('ok');
    expect(await outcome(mine.immutable.abort(si, 1, S.uploadSecret))).toBe('ok');
    expect(await t.db.listShares(si)).toEqual([]);
    expect(await t.db.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
    expect((await t.db.getAccountUsage(0))?.bytes ?? 0).toBe(0);
    expect(await t.db.checkUsage()).toEqual([]);
  });

  it('the owner, still normal, completes its upload after the others were refused (201)', async () => {
    const t = await startServer();
    const alice = await t.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'alice' });
    const mine = t.client(alice.id);
    const si = storageIndex('hostile-upload-ok');
    await mine.immutable.allocate(si, { ...S, shareNumbers: [0], allocatedSize: SIZE });
    expect(await outcome(chunk(t.client(), si, 0, 0))).toBe(404);
    const done = await mine.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/0`,
      headers: {
        'Content-Range': `bytes 0-${SIZE - 1}/*`,
        'X-Tahoe-Authorization': `upload-secret ${Buffer.from(S.uploadSecret).toString('base64')}`,
      },
      body: DATA,
    });
    expect(done.status).toBe(201);
    expect(await t.client().immutable.read(si, 0)).toEqual(DATA);
    expect(await t.db.getAccountUsage(alice.id)).toEqual({ shares: 1, bytes: SIZE });
  });

  it('measured on a node of its own: 400 chunks and aborts through other NURLs are 404, the frozen owner 403, within the suite bounds', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const bob = await node.addAccount('bob');
    const mine = node.client(alice.nurl);
    const others = [node.client(), node.client(bob.nurl)];
    const si = randomStorageIndex();
    await mine.immutable.allocate(si, { ...S, shareNumbers: [0, 1], allocatedSize: SIZE });
    expect((await chunk(mine, si, 0, 0, 50)).complete).toBe(false);

    const { result, figures } = await underAttack(node, async () => {
      const byOthers: ('ok' | number)[] = [];
      for (let round = 0; round < 100; round++) {
        byOthers.push(
          ...(await Promise.all(
            others.flatMap((other) => [
              outcome(chunk(other, si, 0, 50)),
              outcome(other.immutable.abort(si, 1, S.uploadSecret)),
            ]),
          )),
        );
      }
      await node.admin('POST', `/admin/v1/accounts/${alice.id}/freeze`, {});
      const byFrozenOwner: ('ok' | number)[] = [];
      for (let round = 0; round < 50; round++) {
        byFrozenOwner.push(await outcome(chunk(mine, si, 0, 50)));
      }
      return { byOthers, byFrozenOwner };
    });
    expectBounded(figures);
    expect(result.byOthers).toHaveLength(400);
    expect(new Set(result.byOthers)).toEqual(new Set([404]));
    expect(new Set(result.byFrozenOwner)).toEqual(new Set([403]));
    expect(await node.client().immutable.listShares(si)).toEqual([]);
    // Frozen, the owner still gives its reservation back; nothing was charged to anyone.
    expect(await outcome(mine.immutable.abort(si, 0, S.uploadSecret))).toBe('ok');
    expect(await outcome(mine.immutable.abort(si, 1, S.uploadSecret))).toBe('ok');
    for (const id of [0, alice.id, bob.id]) {
      const account = await node.admin<{ usage: { shares: number; bytes: number } }>(
        'GET',
        `/admin/v1/accounts/${id}`,
      );
      expect(account.usage, `account ${id}`).toEqual({ shares: 0, bytes: 0 });
    }
    expect(node.logged().filter((entry) => entry.level >= 50)).toEqual([]);
  }, 60_000);

  describe.skipIf(!PG_URL)('across two server processes', () => {
    /** Two processes of one node (one certificate and secret) on one database and one store. */
    async function twoProcesses() {
      const scratch = await createScratchSchema(PG_URL!);
      const clock = manualClock();
      const store = createMemoryBackend();
      const cleanups: (() => Promise<void> | void)[] = [];
      onTestFinished(async () => {
        for (const cleanup of cleanups.reverse()) await cleanup();
        await store.close();
        await scratch.drop();
      });
      const start = async (processId: string) => {
        const leaseDb = await openLeaseDb({
          dialect: 'postgres',
          connectionString: scratch.url,
          now: clock.now,
        });
        cleanups.push(() => leaseDb.close());
        let handler: ReturnType<typeof createStorageHandler> | undefined;
        const server = https.createServer(
          { key: CERTIFICATE.keyPem, cert: CERTIFICATE.certPem },
          (req, res) => handler?.(req, res),
        );
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        cleanups.push(async () => {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        });
        const port = (server.address() as AddressInfo).port;
        const accountant = new Accountant({
          serverSecret: SERVER_SECRET,
          serverId: SERVER_ID,
          now: clock.now,
          leaseDb,
          backend: store,
          processId,
          processUrl: `https://127.0.0.1:${port}`,
        });
        await accountant.start({ intervalSeconds: 0 });
        cleanups.push(() => accountant.stop());
        const forwarder = createUploadForwarder({ spkiHash: CERTIFICATE.spkiHash, processId });
        cleanups.push(() => forwarder.close());
        const nurlFor = (accountId: number) =>
          formatNurl({
            spkiHash: CERTIFICATE.spkiHash,
            host: '127.0.0.1',
            port,
            swissnum: accountant.swissnumFor(accountId),
          });
        handler = createStorageHandler({ accountant, nurlFor, forwarder });
        const client = (accountId = 0) => {
          const c = createStorageClient({ nurl: nurlFor(accountId) });
          cleanups.push(() => c.close());
          return c;
        };
        return { accountant, leaseDb, client };
      };
      return { a: await start('a'), b: await start('b') };
    }

    it('the process not holding the upload forwards only its owner; others are 404 there too', async () => {
      const { a, b } = await twoProcesses();
      const alice = await a.accountant.addAccount({
        publicKey: randomBytes(32),
        nickname: 'alice',
      });
      const bob = await a.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'bob' });
      const si = storageIndex('hostile-upload-two');
      await a.client(alice.id).immutable.allocate(si, {
        ...S,
        shareNumbers: [0, 1],
        allocatedSize: SIZE,
      });
      // The owner's chunk reaching B is forwarded to A and taken.
      expect((await chunk(b.client(alice.id), si, 0, 0, 50)).complete).toBe(false);
      for (const other of [b.client(), b.client(bob.id), a.client(), a.client(bob.id)]) {
        expect(await outcome(chunk(other, si, 0, 50))).toBe(404);
        expect(await outcome(other.immutable.abort(si, 1, S.uploadSecret))).toBe(404);
      }
      await a.accountant.setAccountStatus(alice.id, 'frozen');
      expect(await outcome(chunk(b.client(alice.id), si, 0, 50))).toBe(403);
      expect(await outcome(chunk(a.client(alice.id), si, 0, 50))).toBe(403);
      expect(await b.client().immutable.listShares(si)).toEqual([]);
      // Frozen, the owner still gives its reservation back, through either process.
      expect(await outcome(b.client(alice.id).immutable.abort(si, 0, S.uploadSecret))).toBe('ok');
      expect(await outcome(a.client(alice.id).immutable.abort(si, 1, S.uploadSecret))).toBe('ok');
      expect(await a.leaseDb.listShares(si)).toEqual([]);
      expect(await a.leaseDb.getAccountUsage(alice.id)).toEqual({ shares: 0, bytes: 0 });
      expect(await a.leaseDb.checkUsage()).toEqual([]);
    });
  });
});
