import { createMemoryBackend, type MutableWriteRequest, type ShareBackend } from '@ostrom/backend';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { createScratchSchema, manualClock, postgresUrl } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  Accountant,
  type AccountantOptions,
  type AccountReadTestWriteOptions,
} from '../src/index.js';
import { bytes, randomKey, SERVER_ID, SERVER_SECRET, secrets, storageIndex } from './setup.js';

// Two Accountants, each with its own LeaseDb (own pools) on one PostgreSQL schema and one shared
// store, stand for two server processes behind a load balancer: nothing in memory is shared, so
// whatever makes one wait for the other happens in PostgreSQL.

const pgAdminUrl = postgresUrl('@ostrom/accountant across processes');

const P = storageIndex('P');
const Q = storageIndex('Q');

/** 'resolved', or the code of the error the operation was refused with. */
async function outcome(operation: Promise<unknown>): Promise<string> {
  try {
    await operation;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A view of the store whose mutable writes to `gatedIndex` wait until the test opens the gate. */
function gated(inner: ShareBackend, gatedIndex: string, calls: string[], name: string) {
  const entered = deferred();
  const gate = deferred();
  const backend: ShareBackend = Object.assign(Object.create(inner) as ShareBackend, {
    async writeMutable(si: string, shnum: number, request: MutableWriteRequest) {
      calls.push(`${name} start`);
      if (si === gatedIndex) {
        entered.resolve();
        await gate.promise;
      }
      const length = await inner.writeMutable(si, shnum, request);
      calls.push(`${name} end`);
      return length;
    },
  });
  return { backend, entered, gate };
}

/** Writes `data` at the start of share 0, without tests. */
function write(data: Uint8Array): AccountReadTestWriteOptions {
  return {
    ...secrets('writer'),
    testWriteVectors: new Map([[0, { test: [], write: [{ offset: 0, data }], newLength: null }]]),
    readVector: [],
  };
}

/** Resolves when the process asks its lease database for the lock named; `asked` lists them. */
function watchLocks(leaseDb: LeaseDb) {
  const asked: string[] = [];
  const waiting = new Map<string, () => void>();
  const observed: Partial<LeaseDb> = {
    withStorageIndexLock<T>(si: string, fn: () => Promise<T>) {
      asked.push(`/op/${si}`);
      waiting.get(`/op/${si}`)?.();
      return leaseDb.withStorageIndexLock(si, fn);
    },
    withAccountLock<T>(id: number, fn: () => Promise<T>) {
      asked.push(`/acct/${id}`);
      waiting.get(`/acct/${id}`)?.();
      return leaseDb.withAccountLock(id, fn);
    },
  };
  // A proxy, not Object.create: the LeaseDb's methods use private fields of the real instance.
  const db = new Proxy(leaseDb, {
    get(target, key) {
      if (key in observed) return observed[key as keyof LeaseDb];
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const asks = (key: string) =>
    asked.includes(key)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiting.set(key, resolve));
  return { db, asks };
}

async function twoProcesses(
  wrapA: (store: ShareBackend) => ShareBackend,
  options: Partial<AccountantOptions> = {},
) {
  const scratch = await createScratchSchema(pgAdminUrl!);
  const clock = manualClock();
  const store = createMemoryBackend();
  const watched = new Map<Accountant, ReturnType<typeof watchLocks>>();
  const processes: Array<{ leaseDb: LeaseDb; accountant: Accountant }> = [];
  const open = async (backend: ShareBackend, own: Partial<AccountantOptions> = {}) => {
    const leaseDb = await openLeaseDb({
      dialect: 'postgres',
      connectionString: scratch.url,
      now: clock.now,
    });
    const watch = watchLocks(leaseDb);
    const accountant = new Accountant({
      serverSecret: SERVER_SECRET,
      serverId: SERVER_ID,
      ...options,
      ...own,
      leaseDb: watch.db,
      backend,
      now: clock.now,
    });
    await accountant.start({ intervalSeconds: 0 });
    watched.set(accountant, watch);
    processes.push({ leaseDb, accountant });
    return { leaseDb, accountant };
  };
  const a = await open(wrapA(store), { processId: 'a', processUrl: 'https://a.internal:3457' });
  const b = await open(store, { processId: 'b', processUrl: 'https://b.internal:3457' });
  onTestFinished(async () => {
    for (const p of processes) {
      await p.accountant.stop();
      await p.leaseDb.close();
    }
    await store.close();
    await scratch.drop();
  });
  return {
    a,
    b,
    clock,
    /** Starts one more process on the same database and store. */
    open: (own: Partial<AccountantOptions>) => open(store, own),
    /**
     * Resolves once B asked its database for the lock (`/op/SI`, `/acct/ID`) while A holds it.
     * That B then waits in PostgreSQL is what packages/leasedb's session-locks tests show by
     * watching pg_locks; here the outcome shows it: B's check saw A's counted growth.
     */
    waiterOn: (key: string) => watched.get(b.accountant)!.asks(key),
  };
}

describe.skipIf(pgAdminUrl === undefined)('two processes on one database [postgres]', () => {
  it("a write to an index in B waits until A's write to it has ended", async () => {
    const calls: string[] = [];
    let gate!: ReturnType<typeof gated>;
    const { a, b, waiterOn } = await twoProcesses((store) => {
      gate = gated(store, P, calls, 'A');
      return gate.backend;
    });
    const row = await a.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const first = a.accountant.account(row.id).readTestWrite(P, write(bytes(10, 1)));
    await gate.entered.promise;
    const second = b.accountant.account(row.id).readTestWrite(P, write(bytes(10, 2)));
    await waiterOn(`/op/${P}`);
    expect(calls).toEqual(['A start']);
    gate.gate.resolve();
    expect((await Promise.all([first, second])).map((r) => r.success)).toEqual([true, true]);
    // B's write came second, so B's bytes are the share's.
    expect(calls).toEqual(['A start', 'A end']);
    expect((await b.accountant.account(row.id).readShare('mutable', P, 0)).data).toEqual(
      bytes(10, 2),
    );
    expect(await a.leaseDb.checkUsage()).toEqual([]);
  });

  for (const crossProcessLocks of [true, false]) {
    it(`mutable growth in both processes ${crossProcessLocks ? 'stays within' : 'passes (locks off)'} the hard quota`, async () => {
      const calls: string[] = [];
      let gate!: ReturnType<typeof gated>;
      const { a, b, waiterOn } = await twoProcesses(
        (store) => {
          gate = gated(store, P, calls, 'A');
          return gate.backend;
        },
        { crossProcessLocks },
      );
      const row = await a.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
      const aliceA = a.accountant.account(row.id);
      const aliceB = b.accountant.account(row.id);
      await aliceB.readTestWrite(P, write(bytes(50, 1)));
      await aliceB.readTestWrite(Q, write(bytes(50, 2)));
      const used = (await a.leaseDb.getAccountUsage(row.id))!.bytes;
      // Room for one 40-byte growth, not two.
      await a.accountant.setAccountQuota(row.id, {
        hardQuotaBytes: used + 60,
        softQuotaBytes: null,
      });
      calls.length = 0;

      const growP = outcome(aliceA.readTestWrite(P, write(bytes(90, 3))));
      await gate.entered.promise;
      const growQ = outcome(aliceB.readTestWrite(Q, write(bytes(90, 4))));
      if (crossProcessLocks) await waiterOn(`/acct/${row.id}`);
      else await growQ; // nothing holds it back: it checks while A's growth is uncounted
      gate.gate.resolve();
      const results = [await growP, await growQ];
      const usage = (await a.leaseDb.getAccountUsage(row.id))!.bytes;
      if (crossProcessLocks) {
        expect(results).toEqual(['resolved', 'QUOTA_EXCEEDED']);
        expect(usage).toBe(used + 40);
        expect((await aliceA.readShare('mutable', Q, 0)).data).toEqual(bytes(50, 2));
      } else {
        // The gap the account lock closes: both checks passed against the same usage.
        expect(results).toEqual(['resolved', 'resolved']);
        expect(usage).toBe(used + 80);
      }
      expect(await a.leaseDb.checkUsage()).toEqual([]);
    });
  }

  it('an allocation in B waits for a mutable growth of the same account in A', async () => {
    const calls: string[] = [];
    let gate!: ReturnType<typeof gated>;
    const { a, b, waiterOn } = await twoProcesses((store) => {
      gate = gated(store, P, calls, 'A');
      return gate.backend;
    });
    const row = await a.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const aliceA = a.accountant.account(row.id);
    await aliceA.readTestWrite(Q, write(bytes(10, 1)));
    const used = (await a.leaseDb.getAccountUsage(row.id))!.bytes;
    await a.accountant.setAccountQuota(row.id, {
      hardQuotaBytes: used + 100,
      softQuotaBytes: null,
    });

    const grow = outcome(aliceA.readTestWrite(P, write(bytes(80, 2))));
    await gate.entered.promise;
    const allocation = outcome(
      b.accountant
        .account(row.id)
        .allocate(storageIndex('R'), { ...secrets('r'), shareNumbers: [0], allocatedSize: 60 }),
    );
    await waiterOn(`/acct/${row.id}`);
    gate.gate.resolve();
    expect([await grow, await allocation]).toEqual(['resolved', 'QUOTA_EXCEEDED']);
    expect((await a.leaseDb.getAccountUsage(row.id))!.bytes).toBe(used + 80);
    expect(await a.leaseDb.checkUsage()).toEqual([]);
  });

  describe('uploads held by one process', () => {
    const upload = { ...secrets('u'), shareNumbers: [0, 1], allocatedSize: 20 };

    it("a chunk or an abort of A's upload reaching B is sent back naming A's url", async () => {
      const { a, b } = await twoProcesses((store) => store);
      await a.accountant.anonymous().allocate(P, upload);
      for (const attempt of [
        b.accountant.anonymous().writeUpload(P, 0, upload.uploadSecret, 0, bytes(10, 1)),
        b.accountant.anonymous().abortUpload(P, 1, upload.uploadSecret),
      ]) {
        await expect(attempt).rejects.toMatchObject({
          code: 'UPLOAD_ELSEWHERE',
          details: { processId: 'a', url: 'https://a.internal:3457' },
        });
      }
      // Nothing changed: A completes both shares.
      const alice = a.accountant.anonymous();
      expect((await alice.writeUpload(P, 0, upload.uploadSecret, 0, bytes(20, 1))).complete).toBe(
        true,
      );
      await alice.abortUpload(P, 1, upload.uploadSecret);
      expect(await b.accountant.anonymous().listShares('immutable', P)).toEqual([0]);
      expect(await a.leaseDb.checkUsage()).toEqual([]);
    });

    it("A's upload is not sent back for another account, nor for its frozen owner; its owner may still abort it", async () => {
      const { a, b } = await twoProcesses((store) => store);
      const alice = await a.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
      const bob = await a.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
      await a.accountant.account(alice.id).allocate(P, upload);
      for (const other of [b.accountant.anonymous(), b.accountant.account(bob.id)]) {
        expect(await outcome(other.writeUpload(P, 0, upload.uploadSecret, 0, bytes(20, 1)))).toBe(
          'NOT_FOUND',
        );
        expect(await outcome(other.abortUpload(P, 1, upload.uploadSecret))).toBe('NOT_FOUND');
      }
      await a.accountant.setAccountStatus(alice.id, 'frozen');
      const frozen = b.accountant.account(alice.id);
      expect(await outcome(frozen.writeUpload(P, 0, upload.uploadSecret, 0, bytes(20, 1)))).toBe(
        'FORBIDDEN',
      );
      await expect(frozen.abortUpload(P, 1, upload.uploadSecret)).rejects.toMatchObject({
        code: 'UPLOAD_ELSEWHERE',
        details: { processId: 'a' },
      });
      expect((await a.leaseDb.getShare(P, 0))?.state).toBe('coming');
      expect(await b.accountant.anonymous().listShares('immutable', P)).toEqual([]);
    });

    it('an upload held by a process that cannot be reached is simply not found elsewhere', async () => {
      const { b, open } = await twoProcesses((store) => store);
      const c = await open({ processId: 'c', processUrl: null });
      await c.accountant.anonymous().allocate(P, upload);
      await expect(
        b.accountant.anonymous().writeUpload(P, 0, upload.uploadSecret, 0, bytes(10, 1)),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it("a process starting beside a live one leaves the other's uploads alone", async () => {
      const { a, open } = await twoProcesses((store) => store);
      await a.accountant.anonymous().allocate(P, upload);
      await a.accountant.anonymous().writeUpload(P, 0, upload.uploadSecret, 0, bytes(10, 1));
      await open({ processId: 'c' });
      const done = await a.accountant
        .anonymous()
        .writeUpload(P, 0, upload.uploadSecret, 10, bytes(10, 1));
      expect(done.complete).toBe(true);
      expect((await a.leaseDb.getShare(P, 0))?.state).toBe('stable');
      expect((await a.leaseDb.getShare(P, 1))?.state).toBe('coming');
    });

    it("a dead process's uploads are reclaimed by a live one's sweep, and only after the timeout", async () => {
      const { a, b, clock } = await twoProcesses((store) => store, { processTimeoutSeconds: 100 });
      await a.accountant.anonymous().allocate(P, upload);
      const before = (await b.leaseDb.getAccountUsage(0))!.bytes;
      expect(before).toBe(40);
      clock.advance(99);
      expect((await b.accountant.sweep()).deadUploadsReclaimed).toBe(0);
      clock.advance(2); // A has said nothing for 101 s
      expect((await b.accountant.sweep()).deadUploadsReclaimed).toBe(2);
      expect(await b.leaseDb.listShares(P)).toEqual([]);
      expect((await b.leaseDb.getAccountUsage(0))!.bytes).toBe(0);
      expect((await b.leaseDb.listProcesses()).map((p) => p.id)).toEqual(['b']);
      await expect(
        b.accountant.anonymous().writeUpload(P, 0, upload.uploadSecret, 0, bytes(10, 1)),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await b.leaseDb.checkUsage()).toEqual([]);
    });

    it("a process restarting under its id beside a live peer drops its previous life's uploads at once", async () => {
      const { a, b, open } = await twoProcesses((store) => store);
      await a.accountant.anonymous().allocate(P, upload);
      await b.accountant.anonymous().allocate(Q, upload);
      // A crashed (never stopped) and comes back under the same id while B is alive.
      const again = await open({ processId: 'a', processUrl: 'https://a.internal:3457' });
      expect((await again.leaseDb.listComingShares()).map((row) => row.storageIndex)).toEqual([
        Q,
        Q,
      ]);
      expect((await again.leaseDb.getServerUsage()).bytes).toBe(40);
      expect(
        (await b.accountant.anonymous().writeUpload(Q, 0, upload.uploadSecret, 0, bytes(20, 1)))
          .complete,
      ).toBe(true);
    });

    it('a process alone at start-up discards every upload and every COMING row', async () => {
      const { a, b, open, clock } = await twoProcesses((store) => store, {
        processTimeoutSeconds: 100,
      });
      await a.accountant.anonymous().allocate(P, upload);
      await b.accountant.anonymous().allocate(Q, upload);
      clock.advance(101); // both went silent: a new process is alone
      const c = await open({ processId: 'c' });
      expect(await c.leaseDb.listComingShares()).toEqual([]);
      expect((await c.leaseDb.getServerUsage()).bytes).toBe(0);
      await expect(
        b.accountant.anonymous().writeUpload(Q, 0, upload.uploadSecret, 0, bytes(20, 1)),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });
});
