import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { describe, expect, it, vi } from 'vitest';
import {
  type Account,
  AccountantError,
  type AccountReadTestWriteOptions,
  REFUSAL_EVENT_WINDOW_SECONDS,
} from '../src/index.js';
import { MAX_REFUSAL_LIMITER_ENTRIES, RefusalRecorder } from '../src/refusals.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  type WorldOptions,
} from './setup.js';

// A write refused for the quota, the account's status or the mode is recorded: a `write-refused`
// event (at most one per account and reason a minute, the next one carrying how many were left
// out) and a count by reason for the metric. Recording never changes the refusal.

const S = secrets('refusals');

/** The error an operation was refused with; fails the test when it was not. */
async function refusalOf(operation: Promise<unknown>): Promise<AccountantError> {
  const error = await operation.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AccountantError)) throw new Error(`not refused: ${String(error)}`);
  return error;
}

function allocate(account: Account, seed: string, allocatedSize: number, shareNumbers = [0]) {
  return account.allocate(storageIndex(seed), { ...S, shareNumbers, allocatedSize });
}

/** Writes `data` at 0 of share 0 of the slot, creating it. */
function mutableWrite(data: Uint8Array): AccountReadTestWriteOptions {
  return {
    renewSecret: S.renewSecret,
    cancelSecret: S.cancelSecret,
    writeEnabler: S.writeEnabler,
    testWriteVectors: new Map([[0, { test: [], write: [{ offset: 0, data }], newLength: null }]]),
    readVector: [],
  };
}

// The events come from the accountant whatever the store: the memory backend on both databases.
describeMatrix(
  'refused writes are recorded',
  (matrix) => {
    async function setup(options: WorldOptions = {}, hardQuotaBytes: number | null = null) {
      const world = await makeWorld(matrix, options);
      const row = await world.accountant.addAccount({
        publicKey: randomKey(),
        nickname: 'alice',
        hardQuotaBytes,
      });
      const refusedEvents = () => world.db.listEvents({ kinds: ['write-refused'] });
      return { ...world, alice: world.accountant.account(row.id), refusedEvents };
    }

    it('an allocation past the hard quota: one event, reason quota, with the account and the bytes', async () => {
      const { accountant, alice, clock, refusedEvents } = await setup({}, 100);
      const error = await refusalOf(allocate(alice, 'big', 200));
      expect(error.code).toBe('QUOTA_EXCEEDED');
      expect(await refusedEvents()).toEqual([
        expect.objectContaining({
          kind: 'write-refused',
          accountId: alice.id,
          actor: null,
          at: clock.now(),
          data: { reason: 'quota', operation: 'allocate', bytes: 200 },
        }),
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 1, status: 0, mode: 0 });
    });

    it('a mutable write past the hard quota: reason quota, operation mutable-write', async () => {
      const { alice, refusedEvents } = await setup({}, 100);
      const error = await refusalOf(
        alice.readTestWrite(storageIndex('slot'), mutableWrite(bytes(101))),
      );
      expect(error.code).toBe('QUOTA_EXCEEDED');
      expect((await refusedEvents()).map((e) => e.data)).toEqual([
        { reason: 'quota', operation: 'mutable-write', bytes: 101 },
      ]);
    });

    it("a frozen account's allocate, chunk and lease: reason status, status frozen, each write named", async () => {
      const { accountant, alice, clock, refusedEvents } = await setup();
      await allocate(alice, 'held', 10);
      await alice.writeUpload(storageIndex('held'), 0, S.uploadSecret, 0, bytes(10));
      await allocate(alice, 'coming', 10);
      await accountant.setAccountStatus(alice.id, 'frozen', { actor: 'operator' });

      const refused = await refusalOf(allocate(alice, 'new', 50, [0, 1]));
      expect(refused).toMatchObject({ code: 'FORBIDDEN', details: { status: 'frozen' } });
      // Each reason has a window of its own per account: let the first one close between writes.
      clock.advance(REFUSAL_EVENT_WINDOW_SECONDS);
      await refusalOf(alice.writeUpload(storageIndex('coming'), 0, S.uploadSecret, 0, bytes(4)));
      clock.advance(REFUSAL_EVENT_WINDOW_SECONDS);
      await refusalOf(alice.addOrRenewLease(storageIndex('held'), S));

      expect((await refusedEvents()).map((e) => [e.accountId, e.data])).toEqual([
        [alice.id, { reason: 'status', operation: 'allocate', status: 'frozen', bytes: 100 }],
        [alice.id, { reason: 'status', operation: 'write', status: 'frozen', bytes: 4 }],
        [alice.id, { reason: 'status', operation: 'lease', status: 'frozen' }],
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 0, status: 3, mode: 0 });
    });

    it('reads, a read-only read-test-write and the abort of its own upload are no refused writes', async () => {
      const { accountant, alice, refusedEvents } = await setup();
      await allocate(alice, 'coming', 10);
      await accountant.setAccountStatus(alice.id, 'disabled');
      await refusalOf(alice.listShares('immutable', storageIndex('coming')));
      await alice.abortUpload(storageIndex('coming'), 0, S.uploadSecret);
      await accountant.setAccountStatus(alice.id, 'frozen');
      // The admission of a read-test-write only asks whether it may write; the body decides.
      expect(await alice.admitReadTestWrite(storageIndex('slot'))).toEqual({ mayWrite: false });
      await alice.readTestWrite(storageIndex('slot'), {
        ...mutableWrite(bytes(1)),
        testWriteVectors: new Map(),
      });
      expect(await refusedEvents()).toEqual([]);
      expect(accountant.refusalCounts()).toEqual({ quota: 0, status: 0, mode: 0 });
      // Whereas a write now is one.
      await refusalOf(allocate(alice, 'new', 1));
      expect(await refusedEvents()).toHaveLength(1);
      expect(accountant.refusalCounts()).toEqual({ quota: 0, status: 1, mode: 0 });
    });

    it('mode required: the anonymous account writing is refused for the mode', async () => {
      const { accountant, refusedEvents } = await setup({ mode: 'required' });
      const error = await refusalOf(allocate(accountant.anonymous(), 'anon', 10));
      expect(error).toMatchObject({ code: 'FORBIDDEN', details: { mode: 'required' } });
      expect(await refusedEvents()).toEqual([
        expect.objectContaining({
          accountId: ANONYMOUS_ACCOUNT_ID,
          data: { reason: 'mode', operation: 'allocate', bytes: 10 },
        }),
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 0, status: 0, mode: 1 });
    });

    it('five refusals in a minute are one event; the next one after it carries suppressed: 4', async () => {
      const { accountant, alice, clock, refusedEvents } = await setup({}, 100);
      for (let i = 0; i < 5; i++) {
        await refusalOf(allocate(alice, `big-${i}`, 200));
        clock.advance(10);
      }
      expect(await refusedEvents()).toHaveLength(1);
      clock.advance(REFUSAL_EVENT_WINDOW_SECONDS + 1);
      await refusalOf(allocate(alice, 'big-5', 300));
      const events = await refusedEvents();
      expect(events.map((e) => e.data)).toEqual([
        { reason: 'quota', operation: 'allocate', bytes: 200 },
        { reason: 'quota', operation: 'allocate', bytes: 300, suppressed: 4 },
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 6, status: 0, mode: 0 });
    });

    it('the window is per account and per reason', async () => {
      const { accountant, alice, refusedEvents } = await setup({}, 100);
      const bob = accountant.account(
        (
          await accountant.addAccount({
            publicKey: randomKey(),
            nickname: 'bob',
            hardQuotaBytes: 100,
          })
        ).id,
      );
      await refusalOf(allocate(alice, 'a', 200));
      await refusalOf(allocate(bob, 'b', 200));
      await accountant.setAccountStatus(alice.id, 'frozen');
      await refusalOf(allocate(alice, 'c', 10));
      await refusalOf(allocate(alice, 'd', 10));
      expect((await refusedEvents()).map((e) => [e.accountId, e.data.reason])).toEqual([
        [alice.id, 'quota'],
        [bob.id, 'quota'],
        [alice.id, 'status'],
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 2, status: 2, mode: 0 });
    });

    it('a database failing the event changes nothing of the refusal; the next event counts the lost one', async () => {
      const { accountant, alice, clock, db, refusedEvents } = await setup({}, 100);
      const failing = vi.spyOn(db, 'appendEvent').mockImplementation(() => {
        throw new Error('the database is away');
      });
      const whileFailing = await refusalOf(allocate(alice, 'big', 200));
      expect(failing).toHaveBeenCalledTimes(1);
      failing.mockRestore();
      expect(await refusedEvents()).toEqual([]);

      clock.advance(REFUSAL_EVENT_WINDOW_SECONDS + 1);
      const recorded = await refusalOf(allocate(alice, 'big', 200));
      for (const error of [whileFailing, recorded]) {
        expect(error).toMatchObject({ code: 'QUOTA_EXCEEDED', message: recorded.message });
        expect(error.details).toEqual(recorded.details);
      }
      expect((await refusedEvents()).map((e) => e.data)).toEqual([
        { reason: 'quota', operation: 'allocate', bytes: 200, suppressed: 1 },
      ]);
      expect(accountant.refusalCounts()).toEqual({ quota: 2, status: 0, mode: 0 });
    });
  },
  (matrix) => matrix.backend === 'memory',
);

describe('the refusal limiter', () => {
  it('remembers at most its cap of accounts, forgetting the oldest first', async () => {
    const appended: unknown[] = [];
    const recorder = new RefusalRecorder({
      now: () => 1_700_000_000,
      appendEvent: async (event) => {
        appended.push(event.accountId);
      },
    });
    const quota = new AccountantError('QUOTA_EXCEEDED', 'over');
    for (let id = 0; id <= MAX_REFUSAL_LIMITER_ENTRIES; id++) {
      await recorder.record(quota, id, 'allocate');
    }
    expect(appended).toHaveLength(MAX_REFUSAL_LIMITER_ENTRIES + 1);
    // Account 0 was forgotten to make room: its next refusal is written at once; account 1's is
    // still inside its window.
    await recorder.record(quota, 1, 'allocate');
    await recorder.record(quota, 0, 'allocate');
    expect(appended.slice(MAX_REFUSAL_LIMITER_ENTRIES + 1)).toEqual([0]);
    expect(recorder.counts().quota).toBe(MAX_REFUSAL_LIMITER_ENTRIES + 3);
  });

  it('ignores errors that are no refusal of a write, and never throws', async () => {
    const recorder = new RefusalRecorder({
      now: () => {
        throw new Error('no clock');
      },
      appendEvent: async () => undefined,
    });
    await recorder.record(new AccountantError('NOT_FOUND', 'none'), 2, 'write');
    await recorder.record(new Error('anything'), 2, 'write');
    expect(recorder.counts()).toEqual({ quota: 0, status: 0, mode: 0 });
    await expect(
      recorder.record(new AccountantError('QUOTA_EXCEEDED', 'over'), 2, 'write'),
    ).resolves.toBeUndefined();
    expect(recorder.counts()).toEqual({ quota: 1, status: 0, mode: 0 });
  });
});
