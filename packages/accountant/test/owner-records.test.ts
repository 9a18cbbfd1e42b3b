import { readOwnerRecord, type ShareBackend } from '@ostrom/backend';
import { expect, it } from 'vitest';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  STATE_KEY,
  secrets,
  storageIndex,
} from './setup.js';

const SI = storageIndex('owners');

function writeVector(data: Uint8Array) {
  return {
    ...secrets('w'),
    testWriteVectors: new Map([[2, { test: [], write: [{ offset: 0, data }], newLength: null }]]),
    readVector: [],
  };
}

describeMatrix(
  'owner records',
  (matrix) => {
    async function setup(options = {}) {
      const world = await makeWorld(matrix, options);
      const key = randomKey();
      const row = await world.accountant.addAccount({ publicKey: key, nickname: 'alice' });
      return { ...world, row, alice: world.accountant.account(row.id) };
    }
    /** A world whose store refuses to delete blobs while `store.away` is true. */
    async function setupWithAwayDeletes() {
      const store = { away: false };
      const world = await setup({
        backendFactory: (inner: ShareBackend) =>
          Object.assign(Object.create(inner), {
            deleteBlob: async (name: string) => {
              if (store.away) throw new Error('connect ECONNREFUSED');
              return await inner.deleteBlob(name);
            },
          }),
      });
      return { world, store };
    }
    const owners = async (world: Awaited<ReturnType<typeof setup>>) =>
      await world.backend.listBlobs('owners/');

    it('an allocation writes one per share naming the account, and they outlive completion', async () => {
      const world = await setup();
      const s = secrets('a');
      await world.alice.allocate(SI, { ...s, shareNumbers: [0, 3], allocatedSize: 10 });
      const record = await readOwnerRecord(world.backend, STATE_KEY, SI, 3);
      expect(record).toEqual({
        accountId: world.row.id,
        publicKey: world.row.publicKey,
        nickname: 'alice',
        sharetype: 'immutable',
        createdAt: world.clock.now(),
      });
      await world.alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(10));
      expect(await owners(world)).toHaveLength(2);
      // An abandoned upload takes its record along; the completed share keeps its own.
      await world.alice.abortUpload(SI, 3, s.uploadSecret);
      expect(await owners(world)).toEqual([`owners/${SI.slice(0, 2)}/${SI}/0`]);
    });

    it('a mutable share gets one when created, not when rewritten', async () => {
      const world = await setup();
      await world.alice.readTestWrite(SI, writeVector(bytes(20, 1)));
      expect((await readOwnerRecord(world.backend, STATE_KEY, SI, 2))?.sharetype).toBe('mutable');
      world.clock.advance(100);
      await world.alice.readTestWrite(SI, writeVector(bytes(30, 2)));
      expect((await readOwnerRecord(world.backend, STATE_KEY, SI, 2))?.createdAt).toBe(
        world.clock.now() - 100,
      );
    });

    it('an allocation that fails in the store leaves no record behind', async () => {
      const world = await setup({
        backendFactory: (inner: ShareBackend) =>
          Object.assign(Object.create(inner), {
            createUpload: async () => {
              throw new Error('disk on fire');
            },
          }),
      });
      await expect(
        world.alice.allocate(SI, { ...secrets('a'), shareNumbers: [0, 1], allocatedSize: 10 }),
      ).rejects.toThrow('disk on fire');
      expect(await owners(world)).toEqual([]);
      expect(await world.db.listShares(SI)).toEqual([]);
    });

    it('a record the store would not remove is removed by a later sweep, once it answers', async () => {
      const { world, store } = await setupWithAwayDeletes();
      const s = secrets('a');
      await world.alice.allocate(SI, { ...s, shareNumbers: [0, 1], allocatedSize: 10 });
      store.away = true;
      await world.alice.abortUpload(SI, 1, s.uploadSecret);
      expect(await owners(world)).toHaveLength(2);
      // Still away: the sweep tries, fails and keeps it for next time.
      expect((await world.accountant.sweep()).ownerRecordsForgotten).toBe(0);
      store.away = false;
      expect((await world.accountant.sweep()).ownerRecordsForgotten).toBe(1);
      expect(await owners(world)).toEqual([`owners/${SI.slice(0, 2)}/${SI}/0`]);
      expect((await world.accountant.sweep()).ownerRecordsForgotten).toBe(0);
    });

    it('a record left to remove is kept when the share was uploaded again meanwhile', async () => {
      const { world, store } = await setupWithAwayDeletes();
      const s = secrets('a');
      await world.alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 10 });
      store.away = true;
      await world.alice.abortUpload(SI, 0, s.uploadSecret);
      store.away = false;
      await world.alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 10 });
      await world.alice.writeUpload(SI, 0, s.uploadSecret, 0, bytes(10));
      expect((await world.accountant.sweep()).ownerRecordsForgotten).toBe(0);
      expect((await readOwnerRecord(world.backend, STATE_KEY, SI, 0))?.nickname).toBe('alice');
    });

    it('none are written without a state key', async () => {
      const world = await setup({ stateKey: null });
      await world.alice.allocate(SI, { ...secrets('a'), shareNumbers: [0], allocatedSize: 10 });
      await world.alice.readTestWrite(storageIndex('m'), writeVector(bytes(5)));
      expect(await owners(world)).toEqual([]);
    });
  },
  (matrix) => matrix.dialect === 'sqlite',
);
