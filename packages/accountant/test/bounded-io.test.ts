import type { ShareBackend } from '@ostrom/backend';
import { expect, it } from 'vitest';
import { AccountantError, type AccountReadTestWriteOptions } from '../src/index.js';
import { bytes, describeMatrix, makeWorld, randomKey, secrets, storageIndex } from './setup.js';

// What lets a server judge a request on its headers and send a share without holding it:
// `admitUpload` and `admitReadTestWrite` refuse what `writeUpload` and `readTestWrite` would
// refuse, before any body; `openShareRead` reads a share in pieces of one version; a
// read-test-write's reads are bounded before any share is read.

const SI = storageIndex('bounded-io');
const MIB = 1024 * 1024;

/** A read-test-write of one client (the `slot` write enabler unless given). */
function rtw(
  vectors: [
    number,
    Partial<
      AccountReadTestWriteOptions['testWriteVectors'] extends ReadonlyMap<number, infer V>
        ? V
        : never
    >,
  ][],
  readVector: { offset: number; size: number }[] = [],
  options: { writeEnabler?: Uint8Array; maxReadBytes?: number } = {},
): AccountReadTestWriteOptions {
  const s = secrets('writer');
  return {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: options.writeEnabler ?? secrets('slot').writeEnabler,
    testWriteVectors: new Map(
      vectors.map(([shnum, v]) => [
        shnum,
        { test: v.test ?? [], write: v.write ?? [], newLength: v.newLength ?? null },
      ]),
    ),
    readVector,
    ...(options.maxReadBytes === undefined ? {} : { maxReadBytes: options.maxReadBytes }),
  };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof AccountantError ? error.code : (error as Error).name;
  }
}

describeMatrix('bounded I/O', (matrix) => {
  async function setup(options: Parameters<typeof makeWorld>[1] = {}) {
    const world = await makeWorld(matrix, options);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const bob = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    return {
      ...world,
      aliceId: alice.id,
      alice: world.accountant.account(alice.id),
      bob: world.accountant.account(bob.id),
    };
  }

  it('admitUpload() refuses on the headers what writeUpload() would, and writes nothing', async () => {
    const { accountant, alice, bob, aliceId, backend } = await setup();
    const s = secrets('a');
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 100 });
    const chunk = { offset: 0, length: 100 };
    await alice.admitUpload(SI, 0, s.uploadSecret, chunk);
    expect(await code(alice.admitUpload(SI, 0, secrets('b').uploadSecret, chunk))).toBe(
      'BAD_UPLOAD_SECRET',
    );
    expect(await code(alice.admitUpload(SI, 0, s.uploadSecret, { offset: 50, length: 51 }))).toBe(
      'OUT_OF_RANGE',
    );
    expect(await code(alice.admitUpload(SI, 1, s.uploadSecret, chunk))).toBe('NOT_FOUND');
    expect(await code(bob.admitUpload(SI, 0, s.uploadSecret, chunk))).toBe('NOT_FOUND');
    expect(await code(accountant.anonymous().admitUpload(SI, 0, s.uploadSecret, chunk))).toBe(
      'NOT_FOUND',
    );
    expect(await backend.getUpload(SI, 0)).toEqual({
      complete: false,
      missing: [{ begin: 0, end: 100 }],
    });
    await accountant.setAccountStatus(aliceId, 'frozen', { actor: 'operator' });
    expect(await code(alice.admitUpload(SI, 0, s.uploadSecret, chunk))).toBe('FORBIDDEN');
  });

  it('admitReadTestWrite() says whether the account may write and checks the slot write enabler', async () => {
    const { accountant, alice, bob, aliceId } = await setup({ mode: 'required' });
    const we = secrets('slot').writeEnabler;
    expect(await alice.admitReadTestWrite(SI, we)).toEqual({ mayWrite: true });
    await alice.readTestWrite(SI, rtw([[0, { write: [{ offset: 0, data: bytes(10) }] }]]));
    expect(await alice.admitReadTestWrite(SI, we)).toEqual({ mayWrite: true });
    // Fact 40: another write enabler refuses the request, whoever sends it.
    expect(await code(bob.admitReadTestWrite(SI, secrets('other').writeEnabler))).toBe(
      'BAD_WRITE_ENABLER',
    );
    expect(
      await bob.admitReadTestWrite(storageIndex('empty'), secrets('other').writeEnabler),
    ).toEqual({ mayWrite: true });
    // Mode `required`: the anonymous account may only read.
    expect(await accountant.anonymous().admitReadTestWrite(SI)).toEqual({ mayWrite: false });
    await accountant.setAccountStatus(aliceId, 'frozen', { actor: 'operator' });
    expect(await alice.admitReadTestWrite(SI, we)).toEqual({ mayWrite: false });
    // Its body must be small (reads only) and is judged whole, a write refused before the
    // write enabler is looked at, as readTestWrite() does.
    expect(await alice.admitReadTestWrite(SI, secrets('other').writeEnabler)).toEqual({
      mayWrite: false,
    });
    expect(
      await code(
        alice.readTestWrite(
          SI,
          rtw([[0, { write: [{ offset: 0, data: bytes(1) }] }]], [], {
            writeEnabler: secrets('other').writeEnabler,
          }),
        ),
      ),
    ).toBe('FORBIDDEN');
    await accountant.setAccountStatus(aliceId, 'disabled', { actor: 'operator' });
    expect(await code(alice.admitReadTestWrite(SI, we))).toBe('FORBIDDEN');
  });

  it('readTestWrite() refuses read vectors returning more than maxReadBytes, before any read', async () => {
    const reads: number[] = [];
    const { alice } = await setup({
      backendFactory: (inner: ShareBackend) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          readShare: (si: string, shnum: number, offset: number, length: number) => {
            reads.push(length);
            return inner.readShare(si, shnum, offset, length);
          },
        }),
    });
    const data = bytes(1000);
    await alice.readTestWrite(
      SI,
      rtw([
        [0, { write: [{ offset: 0, data }] }],
        [1, { write: [{ offset: 0, data }] }],
      ]),
    );
    reads.length = 0;
    // Two shares × (400 + 700 clipped to 600) = 2000 bytes.
    const vectors = [
      { offset: 0, size: 400 },
      { offset: 400, size: 700 },
    ];
    expect(await code(alice.readTestWrite(SI, rtw([], vectors, { maxReadBytes: 1999 })))).toBe(
      'OUT_OF_RANGE',
    );
    expect(reads).toEqual([]);
    const answer = await alice.readTestWrite(SI, rtw([], vectors, { maxReadBytes: 2000 }));
    expect(answer.data.get(1)).toEqual([data.subarray(0, 400), data.subarray(400)]);
    // The default bound (4 MiB) takes 256 shares' small reads, not 30 reads of 8 MiB.
    expect(
      await code(alice.readTestWrite(SI, rtw([], Array(30).fill({ offset: 0, size: 8 * MIB })))),
    ).toBe('resolved');
  });

  it('readTestWrite() reads at most a test specimen’s length, whatever size the test names', async () => {
    const reads: number[] = [];
    const { alice } = await setup({
      backendFactory: (inner: ShareBackend) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          readShare: (si: string, shnum: number, offset: number, length: number) => {
            reads.push(length);
            return inner.readShare(si, shnum, offset, length);
          },
        }),
    });
    const data = bytes(5000);
    await alice.readTestWrite(SI, rtw([[0, { write: [{ offset: 0, data }] }]]));
    reads.length = 0;
    const test = (specimen: Uint8Array, size: number) =>
      alice.readTestWrite(SI, rtw([[0, { test: [{ offset: 0, size, specimen }] }]]));
    expect((await test(data.subarray(0, 57), 2 ** 40)).success).toBe(false);
    expect((await test(data.subarray(0, 57), 57)).success).toBe(true);
    expect((await test(data, 2 ** 40)).success).toBe(true);
    expect(reads).toEqual([57, 5000]);
  });

  it('openShareRead() gives the range in pieces of one version; NOT_FOUND for the other type', async () => {
    const { alice } = await setup();
    const s = secrets('a');
    const data = bytes(3000);
    await alice.allocate(SI, { ...s, shareNumbers: [0], allocatedSize: 3000 });
    await alice.writeUpload(SI, 0, s.uploadSecret, 0, data);
    const stream = await alice.openShareRead('immutable', SI, 0, { offset: 100, length: 5000 });
    expect([stream.sizeBytes, stream.length]).toEqual([3000, 2900]);
    const pieces: Uint8Array[] = [];
    for (let piece = await stream.next(1000); piece; piece = await stream.next(1000)) {
      pieces.push(piece);
    }
    await stream.close();
    expect(pieces.map((piece) => piece.length)).toEqual([1000, 1000, 900]);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(data.subarray(100)));
    expect(await code(alice.openShareRead('mutable', SI, 0))).toBe('NOT_FOUND');
    expect(await code(alice.openShareRead('immutable', SI, 1))).toBe('NOT_FOUND');
    const past = await alice.openShareRead('immutable', SI, 0, { offset: 3000, length: 10 });
    expect(past.length).toBe(0);
    expect(await past.next(10)).toBeUndefined();
    await past.close();

    // A mutable share rewritten while read: the pieces are the version opened, or the read
    // fails; never a mix.
    const before = bytes(4000, 1);
    await alice.readTestWrite(SI, rtw([[1, { write: [{ offset: 0, data: before }] }]]));
    const reading = await alice.openShareRead('mutable', SI, 1);
    const first = await reading.next(1000);
    await alice.readTestWrite(SI, rtw([[1, { write: [{ offset: 0, data: bytes(4000, 2) }] }]]));
    try {
      const rest: Uint8Array[] = [];
      for (let piece = await reading.next(1000); piece; piece = await reading.next(1000)) {
        rest.push(piece);
      }
      expect(Buffer.concat([first!, ...rest])).toEqual(Buffer.from(before));
    } catch (error) {
      expect(['CONFLICT', 'NOT_FOUND']).toContain((error as AccountantError).code);
    } finally {
      await reading.close();
    }
  });
});
