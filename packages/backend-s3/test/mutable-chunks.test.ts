import { randomBytes } from 'node:crypto';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { createS3Backend } from '../src/index.js';
import { allKeys, code, createBucket, endpoint, motoBackend, motoClient, WE } from './helpers.js';

const SI = 'mmaabbbbccccddddeeeeffffgq';
const CHUNK = 512 * 1024;

/** A moto client that records the keys it PUTs and can be told to fail PUTs of some keys. */
function instrumentedClient() {
  const client = motoClient();
  const state = {
    puts: [] as string[],
    failPutsOf: undefined as ((key: string) => boolean) | undefined,
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PutObjectCommand') {
        const key = (args.input as { Key: string }).Key;
        if (state.failPutsOf?.(key)) {
          // What a crash or an outage looks like to the backend: the request never lands.
          throw new S3ServiceException({
            name: 'InternalError',
            $fault: 'server',
            $metadata: { httpStatusCode: 500 },
            message: 'injected failure',
          });
        }
        state.puts.push(key);
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, state };
}

describe.skipIf(!endpoint)('mutable shares in 512 KiB chunk objects', () => {
  let bucket: string;
  beforeEach(async () => {
    bucket = await createBucket();
  });

  it('a write vector touching one chunk PUTs only that chunk and the manifest', async () => {
    const { client, state } = instrumentedClient();
    const backend = createS3Backend({ client, bucket, sleep: async () => {} });
    const data = randomBytes(4 * CHUNK + 100);
    expect(
      await backend.writeMutable(SI, 2, { writeEnabler: WE, writes: [{ offset: 0, data }] }),
    ).toBe(data.length);
    expect(state.puts).toHaveLength(6); // five chunks, then the manifest
    expect(state.puts.at(-1)).toBe(`shares/mm/${SI}/2`);

    state.puts = [];
    const patch = randomBytes(1000);
    await backend.writeMutable(SI, 2, {
      writeEnabler: WE,
      writes: [{ offset: CHUNK + 5000, data: patch }],
    });
    expect(state.puts).toEqual([`chunks/mm/${SI}/2.2.1`, `shares/mm/${SI}/2`]);
    patch.copy(data, CHUNK + 5000);
    expect(Buffer.from(await backend.readShare(SI, 2, 0, data.length)).equals(data)).toBe(true);

    // Across a chunk boundary: exactly the two chunks.
    state.puts = [];
    await backend.writeMutable(SI, 2, {
      writeEnabler: WE,
      writes: [{ offset: 3 * CHUNK - 10, data: patch.subarray(0, 20) }],
    });
    expect(state.puts.sort()).toEqual(
      [`chunks/mm/${SI}/2.3.2`, `chunks/mm/${SI}/2.3.3`, `shares/mm/${SI}/2`].sort(),
    );
    patch.subarray(0, 20).copy(data, 3 * CHUNK - 10);
    expect(Buffer.from(await backend.readShare(SI, 2, 0, data.length)).equals(data)).toBe(true);

    // Superseded chunk objects are deleted once the manifest names the new ones.
    expect((await allKeys(bucket)).filter((k) => k.startsWith('chunks/'))).toEqual(
      [
        `chunks/mm/${SI}/2.1.0`,
        `chunks/mm/${SI}/2.2.1`,
        `chunks/mm/${SI}/2.3.2`,
        `chunks/mm/${SI}/2.3.3`,
        `chunks/mm/${SI}/2.1.4`,
      ].sort(),
    );
    client.destroy();
  });

  it('gaps are chunks without objects and read as zeros; ranged reads cross chunks', async () => {
    const { client, state } = instrumentedClient();
    const backend = createS3Backend({ client, bucket });
    const tail = randomBytes(10);
    expect(
      await backend.writeMutable(SI, 0, {
        writeEnabler: WE,
        writes: [{ offset: 3 * CHUNK + 7, data: tail }],
      }),
    ).toBe(3 * CHUNK + 17);
    expect(state.puts).toEqual([`chunks/mm/${SI}/0.1.3`, `shares/mm/${SI}/0`]);
    const read = await backend.readShare(SI, 0, CHUNK - 3, 2 * CHUNK + 100);
    expect(read.length).toBe(2 * CHUNK + 20);
    expect(read.subarray(0, read.length - 10).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(read.subarray(read.length - 10)).equals(tail)).toBe(true);
    client.destroy();
  });

  it('a crash between the chunk PUTs and the manifest PUT leaves the previous content readable', async () => {
    const { client, state } = instrumentedClient();
    const backend = createS3Backend({ client, bucket, sleep: async () => {}, maxAttempts: 3 });
    const before = randomBytes(2 * CHUNK + 33);
    await backend.writeMutable(SI, 1, { writeEnabler: WE, writes: [{ offset: 0, data: before }] });

    state.failPutsOf = (key) => key === `shares/mm/${SI}/1`;
    state.puts = [];
    expect(
      await code(
        backend.writeMutable(SI, 1, {
          writeEnabler: WE,
          writes: [
            { offset: 10, data: randomBytes(CHUNK) },
            { offset: 3 * CHUNK, data: randomBytes(5) },
          ],
          newLength: null,
        }),
      ),
    ).toBe('UNAVAILABLE');
    // The new chunks were written (generation 2), but no manifest names them.
    expect(state.puts.sort()).toEqual([
      `chunks/mm/${SI}/1.2.0`,
      `chunks/mm/${SI}/1.2.1`,
      `chunks/mm/${SI}/1.2.3`,
    ]);

    // Another process (a restart) sees exactly the old share.
    const other = motoBackend(bucket);
    expect(Buffer.from(await other.readShare(SI, 1, 0, 10 * CHUNK)).equals(before)).toBe(true);
    expect(await other.listShares(SI)).toEqual([
      expect.objectContaining({ shnum: 1, sharetype: 'mutable', sizeBytes: before.length }),
    ]);

    // Once the store is back, the next write reuses the orphaned generation without harm.
    state.failPutsOf = undefined;
    const patch = randomBytes(100);
    await backend.writeMutable(SI, 1, {
      writeEnabler: WE,
      writes: [{ offset: CHUNK, data: patch }],
    });
    patch.copy(before, CHUNK);
    expect(Buffer.from(await other.readShare(SI, 1, 0, 10 * CHUNK)).equals(before)).toBe(true);

    // deleteShare() removes the manifest and every chunk object, orphans included.
    expect(await other.deleteShare(SI, 1)).toBe(true);
    expect(await allKeys(bucket)).toEqual([]);
    await other.close();
    client.destroy();
  });

  it('a reader holding a manifest whose chunks a writer just superseded reads the new version', async () => {
    const writer = motoBackend(bucket);
    const first = new Uint8Array(CHUNK + 10).fill(1);
    await writer.writeMutable(SI, 3, { writeEnabler: WE, writes: [{ offset: 0, data: first }] });
    const client = motoClient();
    let raced = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key;
        if (context.commandName === 'GetObjectCommand' && key?.endsWith('3.1.0') && !raced) {
          raced = true;
          // Between the reader's manifest GET and its chunk GET, a write replaces chunk 0.
          await writer.writeMutable(SI, 3, {
            writeEnabler: WE,
            writes: [{ offset: 0, data: new Uint8Array(CHUNK).fill(2) }],
          });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const reader = createS3Backend({ client, bucket });
    const read = await reader.readShare(SI, 3, 0, 2 * CHUNK);
    expect(raced).toBe(true);
    expect(read.subarray(0, CHUNK).every((b) => b === 2)).toBe(true);
    expect(read.subarray(CHUNK).every((b) => b === 1)).toBe(true);
    client.destroy();
    await writer.close();
  });

  it('a shrink then a growth reads zeros where the old bytes were, without rewriting untouched chunks', async () => {
    const backend = motoBackend(bucket);
    await backend.writeMutable(SI, 4, {
      writeEnabler: WE,
      writes: [{ offset: 0, data: new Uint8Array(2 * CHUNK).fill(7) }],
    });
    expect(
      await backend.writeMutable(SI, 4, { writeEnabler: WE, writes: [], newLength: 100 }),
    ).toBe(100);
    expect(
      await backend.writeMutable(SI, 4, {
        writeEnabler: WE,
        writes: [{ offset: 2 * CHUNK - 1, data: new Uint8Array([1]) }],
      }),
    ).toBe(2 * CHUNK);
    const read = await backend.readShare(SI, 4, 0, 2 * CHUNK);
    expect(read.subarray(0, 100).every((b) => b === 7)).toBe(true);
    expect(read.subarray(100, 2 * CHUNK - 1).every((b) => b === 0)).toBe(true);
    expect(read[2 * CHUNK - 1]).toBe(1);
    await backend.close();
  });
});
