import { join } from 'node:path';
import { listAccountRecordIds, readAccountRecord, readOwnerRecord } from '@ostrom/backend';
import { ANONYMOUS_ACCOUNT_ID, openLeaseDb } from '@ostrom/leasedb';
import { tempDir } from '@ostrom/test-fixtures';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { directoryAccountKey } from '../src/directory-slots.js';
import {
  Accountant,
  type AccountantErrorCode,
  type AccountingMode,
  type AccountReadTestWriteOptions,
  DIRECTORY_SLOTS_DEFAULTS,
} from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  SERVER_ID,
  SERVER_SECRET,
  STATE_KEY,
  secrets,
  storageIndex,
  type WorldOptions,
} from './setup.js';

// The directory slots (README, "Directory slots"): in mode `required`, anonymous mutable writes
// and lease renewals of the storage indexes the embedder admits are made as the dedicated
// account, which owns, leases and pays for them; every other anonymous write is refused as
// before, an immutable upload always; modes `enabled` and `disabled` do not change.

const LISTED = storageIndex('directory');
const ANNOUNCEMENT = storageIndex('announcement');
const OTHER = storageIndex('not listed');
const WE = secrets('slot').writeEnabler;

/** Share 0 of a slot set to `data` (created, or rewritten whole), as a grid member writes it. */
function slotWrite(data: Uint8Array, who = 'member'): AccountReadTestWriteOptions {
  const s = secrets(who);
  return {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: WE,
    testWriteVectors: new Map([
      [0, { test: [], write: [{ offset: 0, data }], newLength: data.length }],
    ]),
    readVector: [],
  };
}

async function codeOf(promise: Promise<unknown>): Promise<AccountantErrorCode | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: AccountantErrorCode }).code;
  }
}

describeMatrix('directory slots', (matrix) => {
  /** A world whose admitted slots are the `listed` set, changeable by the test. */
  async function setup(mode: AccountingMode = 'required', options: WorldOptions = {}) {
    const listed = new Set([LISTED, ANNOUNCEMENT]);
    const world = await makeWorld(matrix, {
      mode,
      directorySlots: { admits: (si) => listed.has(si), hardQuotaBytes: 1000 },
      ...options,
    });
    return { ...world, listed, anonymous: world.accountant.anonymous() };
  }

  it('readTestWrite by the anonymous account of a listed slot stores it as the directory account', async () => {
    const { accountant, anonymous, db, backend } = await setup();
    const id = (await accountant.directoryAccountId())!;
    expect(id).toBeGreaterThan(1);
    expect(await db.getAccount(id)).toMatchObject({
      nickname: DIRECTORY_SLOTS_DEFAULTS.nickname,
      status: 'normal',
      hardQuotaBytes: 1000,
      softQuotaBytes: null,
    });
    expect(await anonymous.admitReadTestWrite(LISTED, WE)).toEqual({ mayWrite: true });
    const result = await anonymous.readTestWrite(LISTED, slotWrite(bytes(300)));
    expect(result.success).toBe(true);
    expect((await anonymous.readShare('mutable', LISTED, 0)).data).toEqual(bytes(300));
    expect(await db.getShare(LISTED, 0)).toMatchObject({ ownerAccountId: id, usedBytes: 300 });
    expect((await db.listLeases(LISTED)).map((l) => l.accountId)).toEqual([id]);
    expect(await db.getAccountUsage(id)).toEqual({ shares: 1, bytes: 300 });
    expect(await db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({ shares: 0, bytes: 0 });
    expect(await readOwnerRecord(backend, STATE_KEY, LISTED, 0)).toMatchObject({
      accountId: id,
      nickname: DIRECTORY_SLOTS_DEFAULTS.nickname,
      sharetype: 'mutable',
    });
    // Rewritten by another member of the grid: still the directory account's, counted once.
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(200, 2), 'other member'));
    expect(await db.getAccountUsage(id)).toEqual({ shares: 1, bytes: 200 });
    expect(await db.checkUsage()).toEqual([]);
  });

  it('readTestWrite by the anonymous account of an unlisted slot is refused as before, nothing stored', async () => {
    const { anonymous, db, backend } = await setup();
    expect(await anonymous.admitReadTestWrite(OTHER, WE)).toEqual({ mayWrite: false });
    const refusal = await anonymous.readTestWrite(OTHER, slotWrite(bytes(10))).catch((e) => e);
    expect(refusal).toMatchObject({
      code: 'FORBIDDEN',
      details: { accountId: ANONYMOUS_ACCOUNT_ID, operation: 'write', mode: 'required' },
    });
    expect(await backend.listShares(OTHER)).toEqual([]);
    expect(await db.listShares(OTHER)).toEqual([]);
    const [event] = await db.listEvents({ kinds: ['write-refused'] });
    expect(event).toMatchObject({
      accountId: ANONYMOUS_ACCOUNT_ID,
      data: { reason: 'mode', operation: 'mutable-write' },
    });
  });

  it('allocate by the anonymous account is refused even for a listed storage index', async () => {
    const { anonymous, backend } = await setup();
    const s = secrets('upload');
    const refusal = await anonymous
      .allocate(LISTED, { ...s, shareNumbers: [0], allocatedSize: 10 })
      .catch((e) => e);
    expect(refusal).toMatchObject({ code: 'FORBIDDEN', details: { mode: 'required' } });
    expect(await backend.listShares(LISTED)).toEqual([]);
  });

  it("the directory account's hard quota binds the listed slots together", async () => {
    const { accountant, anonymous, db } = await setup();
    const id = (await accountant.directoryAccountId())!;
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(600)));
    const refusal = await anonymous
      .readTestWrite(ANNOUNCEMENT, slotWrite(bytes(401)))
      .catch((e) => e);
    expect(refusal).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { accountId: id, usedBytes: 600, requestedBytes: 401, hardQuotaBytes: 1000 },
    });
    expect(await db.listShares(ANNOUNCEMENT)).toEqual([]);
    const [event] = await db.listEvents({ kinds: ['write-refused'] });
    expect(event).toMatchObject({ accountId: id, data: { reason: 'quota' } });
    // Exactly up to the quota is taken.
    expect((await anonymous.readTestWrite(ANNOUNCEMENT, slotWrite(bytes(400)))).success).toBe(true);
    expect(await db.getAccountUsage(id)).toEqual({ shares: 2, bytes: 1000 });
  });

  it('the set is asked at each write: a slot dropped from it is refused, one added admitted', async () => {
    const { anonymous, listed } = await setup();
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(10)));
    listed.delete(LISTED);
    expect(await codeOf(anonymous.readTestWrite(LISTED, slotWrite(bytes(11))))).toBe('FORBIDDEN');
    expect(await codeOf(anonymous.addOrRenewLease(LISTED, secrets('member')))).toBe('FORBIDDEN');
    listed.add(OTHER);
    expect(await codeOf(anonymous.readTestWrite(OTHER, slotWrite(bytes(12))))).toBe('ok');
  });

  it('addOrRenewLease by the anonymous account of a listed slot leases it to the directory account', async () => {
    const { accountant, anonymous, db, clock } = await setup();
    const id = (await accountant.directoryAccountId())!;
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(10)));
    const before = (await db.listLeases(LISTED))[0]!;
    clock.advance(3600);
    await anonymous.addOrRenewLease(LISTED, secrets('member'));
    const after = await db.listLeases(LISTED);
    expect(after.map((l) => l.accountId)).toEqual([id]);
    expect(after[0]!.expiresAt).toBe(before.expiresAt + 3600);
  });

  it('the directory account is the same after a restart, with the quota given then', async () => {
    const { accountant, restart, db } = await setup();
    const id = await accountant.directoryAccountId();
    const again = await restart({
      mode: 'required',
      directorySlots: { admits: () => true, hardQuotaBytes: 5000 },
    });
    expect(await again.directoryAccountId()).toBe(id);
    expect(await db.getAccount(id!)).toMatchObject({ hardQuotaBytes: 5000 });
    const page = await db.listAccounts({ limit: 100 });
    expect(
      page.accounts.filter((a) => a.nickname === DIRECTORY_SLOTS_DEFAULTS.nickname),
    ).toHaveLength(1);
  });

  it('the directory account is the same after its database is rebuilt from the records', async () => {
    const { accountant, anonymous, backend } = await setup();
    const id = await accountant.directoryAccountId();
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(10)));
    const record = await readAccountRecord(backend, STATE_KEY, id!);
    expect(record?.publicKey).toBe(Buffer.from(directoryAccountKey(SERVER_SECRET)).toString('hex'));
    // A lost database rebuilt from the store, as `ostrom db rebuild` does it (restoreAccounts).
    const db = await openLeaseDb({
      dialect: 'sqlite',
      path: join(await tempDir('directory-slots-rebuilt-'), 'leasedb.sqlite'),
    });
    try {
      for (const recorded of await listAccountRecordIds(backend)) {
        const r = (await readAccountRecord(backend, STATE_KEY, recorded))!;
        await db.restoreAccount({ ...r, id: r.accountId });
      }
      const rebuilt = new Accountant({
        leaseDb: db,
        backend,
        serverSecret: SERVER_SECRET,
        serverId: SERVER_ID,
        stateKey: STATE_KEY,
        mode: 'required',
        directorySlots: { admits: () => true },
      });
      await rebuilt.start({ intervalSeconds: 0 });
      expect(await rebuilt.directoryAccountId()).toBe(id);
      await rebuilt.stop();
    } finally {
      await db.close();
    }
  });

  it('mode enabled: the anonymous account writes the listed slot itself, and no directory account is made', async () => {
    const { accountant, anonymous, db } = await setup('enabled');
    expect(await accountant.directoryAccountId()).toBeUndefined();
    await anonymous.readTestWrite(LISTED, slotWrite(bytes(10)));
    expect(await db.getShare(LISTED, 0)).toMatchObject({ ownerAccountId: ANONYMOUS_ACCOUNT_ID });
    await anonymous.readTestWrite(OTHER, slotWrite(bytes(10)));
    const page = await db.listAccounts({ limit: 100 });
    expect(page.accounts.map((a) => a.id)).toEqual([0, 1]);
  });

  it('directorySlots without an admits function is a TypeError', async () => {
    await expect(setup('required', { directorySlots: { admits: 'yes' } as never })).rejects.toThrow(
      TypeError,
    );
  });
});

describeMatrix(
  'directory slots, property',
  (matrix) => {
    // Random anonymous writes of slots in and out of the set, of random sizes, in mode
    // `required`: a write succeeds exactly when its slot is listed and the directory account's
    // usage stays within its quota; the anonymous account never holds anything; the usage
    // totals equal a recount.
    const SLOTS = [0, 1, 2, 3].map((i) => storageIndex(`property-slot-${i}`));
    const QUOTA = 2000;
    it('anonymous slot writes succeed exactly when listed and within the quota', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.subarray([0, 1, 2, 3]),
          fc.array(fc.record({ slot: fc.nat(3), size: fc.integer({ min: 1, max: 900 }) }), {
            minLength: 1,
            maxLength: 12,
          }),
          async (listedSlots, writes) => {
            const listed = new Set(listedSlots.map((i) => SLOTS[i]!));
            const { accountant, db } = await makeWorld(matrix, {
              mode: 'required',
              directorySlots: { admits: (si) => listed.has(si), hardQuotaBytes: QUOTA },
            });
            const anonymous = accountant.anonymous();
            const id = (await accountant.directoryAccountId())!;
            const sizes = new Map<string, number>();
            for (const { slot, size } of writes) {
              const si = SLOTS[slot]!;
              const used = [...sizes.values()].reduce((a, b) => a + b, 0);
              const growth = size - (sizes.get(si) ?? 0);
              const expected = !listed.has(si)
                ? 'FORBIDDEN'
                : used + growth > QUOTA && growth > 0
                  ? 'QUOTA_EXCEEDED'
                  : 'ok';
              expect(await codeOf(anonymous.readTestWrite(si, slotWrite(bytes(size, slot))))).toBe(
                expected,
              );
              if (expected === 'ok') sizes.set(si, size);
            }
            const total = [...sizes.values()].reduce((a, b) => a + b, 0);
            expect(await db.getAccountUsage(id)).toEqual({ shares: sizes.size, bytes: total });
            expect(await db.getAccountUsage(ANONYMOUS_ACCOUNT_ID)).toEqual({ shares: 0, bytes: 0 });
            expect(await db.checkUsage()).toEqual([]);
          },
        ),
        { numRuns: 15, seed: 2424 },
      );
    });
  },
  (matrix) => matrix.dialect === 'sqlite' && matrix.backend === 'memory',
);
