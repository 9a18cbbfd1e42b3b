import type { MutableWriteRequest, ShareBackend } from '@ostrom/backend';
import { expect, it } from 'vitest';
import type { AccountReadTestWriteOptions, TestVector } from '../src/index.js';
import { bytes, describeMatrix, makeWorld, randomKey, secrets, storageIndex } from './setup.js';

const A = storageIndex('A');
const B = storageIndex('B');

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

/** A backend whose mutable writes to one storage index wait until the test releases them. */
function gatedBackend(inner: ShareBackend, gatedIndex: string) {
  const gate = deferred();
  const entered = deferred();
  const calls: string[] = [];
  const backend: ShareBackend = Object.assign(Object.create(inner) as ShareBackend, {
    async writeMutable(si: string, shnum: number, request: MutableWriteRequest) {
      calls.push(`start ${si === gatedIndex ? 'A' : 'B'}`);
      if (si === gatedIndex) {
        entered.release();
        await gate.promise;
      }
      const length = await inner.writeMutable(si, shnum, request);
      calls.push(`end ${si === gatedIndex ? 'A' : 'B'}`);
      return length;
    },
  });
  return { backend, gate, entered, calls };
}

function write(
  seed: string,
  data: Uint8Array,
  test: readonly TestVector[] = [],
): AccountReadTestWriteOptions {
  return {
    ...secrets(seed),
    testWriteVectors: new Map([[0, { test, write: [{ offset: 0, data }], newLength: null }]]),
    readVector: [],
  };
}

describeMatrix('concurrency', (matrix) => {
  it('operations on one storage index are serialised; another index proceeds meanwhile', async () => {
    let gated: ReturnType<typeof gatedBackend> | undefined;
    const world = await makeWorld(matrix, {
      backendFactory: (inner) => {
        gated = gatedBackend(inner, A);
        return gated.backend;
      },
    });
    const { gate, entered, calls } = gated!;
    const row = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const alice = world.accountant.account(row.id);

    const firstA = alice.readTestWrite(A, write('w', bytes(10, 1)));
    const secondA = alice.readTestWrite(A, write('w', bytes(10, 2)));
    await entered.promise;
    // B is not held up by A's writes waiting in the backend.
    await alice.readTestWrite(B, write('w', bytes(10, 3)));
    expect(calls).toEqual(['start A', 'start B', 'end B']);
    gate.release();
    await Promise.all([firstA, secondA]);
    // The second write to A started only after the first one ended.
    expect(calls).toEqual(['start A', 'start B', 'end B', 'end A', 'start A', 'end A']);
    // Which of the two ran first is not promised (they raced to the lock), only that one did.
    const final = (await alice.readShare('mutable', A, 0)).data;
    expect([bytes(10, 1), bytes(10, 2)]).toContainEqual(final);
    expect(await world.db.checkUsage()).toEqual([]);
  });

  it("exclusive() holds off the service's writers of that index only, then lets them run", async () => {
    const world = await makeWorld(matrix);
    const row = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const alice = world.accountant.account(row.id);
    const held = deferred();
    const started = deferred();
    const order: string[] = [];
    const outside = world.accountant.exclusive(A, async () => {
      order.push('exclusive start');
      started.release();
      await held.promise;
      order.push('exclusive end');
    });
    // The writes begin once the exclusive section holds A (on PostgreSQL taking it is a round
    // trip of its own, which a write of B could otherwise finish before).
    await started.promise;
    const writeA = alice.readTestWrite(A, write('w', bytes(10, 1))).then(() => order.push('A'));
    await alice.readTestWrite(B, write('w', bytes(10, 2)));
    order.push('B');
    held.release();
    await Promise.all([outside, writeA]);
    expect(order).toEqual(['exclusive start', 'B', 'exclusive end', 'A']);
    expect(() => world.accountant.exclusive('nope', async () => undefined)).toThrow(TypeError);
  });

  it('two compare-and-swap writes on the same old contents: exactly one wins', async () => {
    const world = await makeWorld(matrix);
    const row = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const alice = world.accountant.account(row.id);
    const old = bytes(16, 1);
    await alice.readTestWrite(A, write('w', old));
    const cas = (seed: number) =>
      alice.readTestWrite(A, write('w', bytes(16, seed), [{ offset: 0, size: 16, specimen: old }]));
    const results = await Promise.all([cas(2), cas(3), cas(4)]);
    expect(results.filter((r) => r.success)).toHaveLength(1);
  });

  it('two accounts allocating the same share at once: one gets it', async () => {
    const world = await makeWorld(matrix);
    const [a, b] = await Promise.all(
      ['alice', 'bob'].map(async (nickname) =>
        world.accountant.account(
          (await world.accountant.addAccount({ publicKey: randomKey(), nickname })).id,
        ),
      ),
    );
    const results = await Promise.all(
      [a!, b!].map((account, i) =>
        account.allocate(A, { ...secrets(i), shareNumbers: [0], allocatedSize: 10 }),
      ),
    );
    expect(results.flatMap((r) => r.allocated)).toEqual([0]);
    expect(await world.db.checkUsage()).toEqual([]);
  });
});
