import { randomBytes } from 'node:crypto';
import {
  accountRecordName,
  accountRecordOf,
  BackendError,
  readAccountRecord,
  type ShareBackend,
  writeAccountRecord,
} from '@ostrom/backend';
import { generateAccountKey, publicKeyFromPrivate, signAccountRequest } from '@ostrom/protocol';
import { expect, it } from 'vitest';
import { describeMatrix, makeWorld, randomKey, SERVER_ID, STATE_KEY } from './setup.js';

// Every change of an account is in its sealed record in the store before it is acknowledged
// (docs/ARCHITECTURE.md, "Owner records and sealed state blobs"): a rebuilt database gives every
// NURL its own account back from these.

/** A backend whose account-record writes fail while `failing.on` (an outage of the store). */
function failingRecords(failing: { on: boolean }) {
  return (inner: ShareBackend): ShareBackend =>
    Object.assign(Object.create(inner) as ShareBackend, {
      async putBlob(name: string, data: Uint8Array, key: Uint8Array) {
        if (failing.on && name.startsWith('accounts/')) {
          throw new BackendError('UNAVAILABLE', 'the store is down');
        }
        return inner.putBlob(name, data, key);
      },
    });
}

describeMatrix('account records', (matrix) => {
  it('every change of an account is in its record: creation, status, quota, deletion, approval', async () => {
    const world = await makeWorld(matrix, { approval: 'manual' });
    const { accountant, backend, db } = world;
    const record = (id: number) => readAccountRecord(backend, STATE_KEY, id);
    const asRow = async (id: number) =>
      accountRecordOf((await db.getAccount(id))!, await db.getAccountAttributes(id));

    const alice = await accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    expect(await record(alice.id)).toEqual(await asRow(alice.id));
    expect((await record(alice.id))?.status).toBe('normal');

    await accountant.setAccountStatus(alice.id, 'frozen', { actor: 'op' });
    expect(await record(alice.id)).toMatchObject({ status: 'frozen' });
    await accountant.setAccountQuota(alice.id, { hardQuotaBytes: 5000, softQuotaBytes: 4000 });
    expect(await record(alice.id)).toMatchObject({ hardQuotaBytes: 5000, softQuotaBytes: 4000 });
    await accountant.setAccountStatus(alice.id, 'deleted');
    expect(await record(alice.id)).toMatchObject({
      status: 'deleted',
      attributes: { 'deleted-at': String(world.clock.now()) },
    });
    await accountant.setAccountStatus(alice.id, 'normal');
    expect(await record(alice.id)).toMatchObject({ status: 'normal', attributes: {} });
    expect(await record(alice.id)).toEqual(await asRow(alice.id));

    // A client's signed request, manual approval: pending, recorded; approved, recorded.
    const key = generateAccountKey().privateKey;
    const outcome = await accountant.requestAccount(
      signAccountRequest(
        {
          serverId: SERVER_ID,
          publicKey: publicKeyFromPrivate(key),
          nickname: 'carol',
          timestamp: world.clock.now(),
          nonce: new Uint8Array(randomBytes(16)),
        },
        key,
      ),
    );
    expect(outcome.status).toBe('pending');
    const carol = outcome.status === 'pending' ? outcome.account.id : -1;
    expect(await record(carol)).toMatchObject({ status: 'pending', nickname: 'carol' });
    await accountant.approveAccount(carol);
    expect(await record(carol)).toEqual(await asRow(carol));
    expect((await record(carol))?.status).toBe('normal');
  });

  it('a record that cannot be written: UNAVAILABLE, and the change is not made', async () => {
    const failing = { on: false };
    const world = await makeWorld(matrix, { backendFactory: failingRecords(failing) });
    const { accountant, db } = world;
    const alice = await accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    failing.on = true;
    await expect(accountant.setAccountStatus(alice.id, 'frozen')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    await expect(
      accountant.setAccountQuota(alice.id, { hardQuotaBytes: 1, softQuotaBytes: null }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(accountant.setAccountStatus(alice.id, 'deleted')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(await db.getAccount(alice.id)).toMatchObject({ status: 'normal', hardQuotaBytes: null });
    expect(await db.getAccountAttributes(alice.id)).toEqual({});
    const bobKey = randomKey();
    await expect(
      accountant.addAccount({ publicKey: bobKey, nickname: 'bob' }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await db.getAccountByPublicKey(bobKey)).toBeUndefined();
    expect(await db.listEvents({ kinds: ['account-status-changed', 'account-created'] })).toEqual([
      expect.objectContaining({ kind: 'account-created', accountId: alice.id }),
    ]);
    // The store back: the same changes go through.
    failing.on = false;
    await accountant.setAccountStatus(alice.id, 'frozen');
    const bob = await accountant.addAccount({ publicKey: bobKey, nickname: 'bob' });
    expect(await readAccountRecord(world.backend, STATE_KEY, bob.id)).toMatchObject({
      nickname: 'bob',
    });
  });

  it('an id the store holds the record of another key is never issued again', async () => {
    const world = await makeWorld(matrix);
    const { accountant, backend } = world;
    // The database is behind the store: ids 2 and 3 were issued (3 deleted) before it was
    // restored from an old dump, and would be issued again.
    for (const id of [2, 3]) {
      await writeAccountRecord(backend, STATE_KEY, {
        accountId: id,
        publicKey: Buffer.from(randomKey()).toString('hex'),
        nickname: `lost-${id}`,
        status: id === 3 ? 'deleted' : 'normal',
        hardQuotaBytes: null,
        softQuotaBytes: null,
        createdAt: 1,
        attributes: {},
      });
    }
    const carol = await accountant.addAccount({ publicKey: randomKey(), nickname: 'carol' });
    expect(carol.id).toBe(4);
    expect(await readAccountRecord(backend, STATE_KEY, 2)).toMatchObject({ nickname: 'lost-2' });
    expect(await backend.listBlobs(accountRecordName(4))).toEqual([accountRecordName(4)]);
  });

  it('concurrent changes of one account leave its record equal to its row', async () => {
    const world = await makeWorld(matrix);
    const { accountant, db, backend } = world;
    const alice = await accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const other = await world.restart(); // a second process's Accountant over the same stores
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? accountant : other).setAccountQuota(alice.id, {
          hardQuotaBytes: 1000 + i,
          softQuotaBytes: null,
        }),
      ).concat(
        [accountant, other].map((a, i) => a.setAccountStatus(alice.id, i ? 'frozen' : 'disabled')),
      ),
    );
    const row = (await db.getAccount(alice.id))!;
    expect(await readAccountRecord(backend, STATE_KEY, alice.id)).toEqual(
      accountRecordOf(row, await db.getAccountAttributes(alice.id)),
    );
  });
});
