import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { BackendError } from '@ostrom/backend';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createS3Backend } from '../src/index.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { allKeys, code, createBucket, endpoint, motoBackend, motoClient } from './helpers.js';

const SI = 'ssaabbbbccccddddeeeeffffgq';
const MIB = 1024 * 1024;
const PART = 5 * MIB;

/** A moto client that records the name of every command it sends (and the key of each PUT). */
function countingClient() {
  const client = motoClient();
  const state = { commands: [] as string[], puts: [] as string[] };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      state.commands.push(context.commandName ?? '');
      if (context.commandName === 'PutObjectCommand')
        state.puts.push((args.input as { Key: string }).Key);
      return next(args);
    },
    { step: 'initialize' },
  );
  const count = (name: string) => state.commands.filter((c) => c === name).length;
  return { client, state, count };
}

async function multipartUploads(bucket: string): Promise<string[]> {
  const client = motoClient();
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  client.destroy();
  return (out.Uploads ?? []).map((u) => u.Key ?? '');
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!endpoint)('immutable uploads streamed from memory when in order', () => {
  let bucket: string;
  let proxy: FaultProxy | undefined;
  beforeEach(async () => {
    bucket = await createBucket();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('a small in-order upload is exactly one PutObject, and nothing is staged', async () => {
    const { client, state } = countingClient();
    const backend = createS3Backend({ client, bucket, sleep: async () => {} });
    const data = randomBytes(300_000);
    await backend.createUpload(SI, 1, data.length);
    state.commands = [];
    for (let offset = 0; offset < data.length; offset += 100_000) {
      const progress = await backend.writeUpload(
        SI,
        1,
        offset,
        data.subarray(offset, offset + 100_000),
      );
      expect(progress.complete).toBe(offset + 100_000 === data.length);
    }
    expect(state.commands).toEqual(['PutObjectCommand']);
    expect(state.puts).toEqual([`shares/ss/${SI}/1`]);
    expect(same(await backend.readShare(SI, 1, 0, data.length), data)).toBe(true);
    expect(await allKeys(bucket)).toEqual([`shares/ss/${SI}/1`]);
    client.destroy();
  });

  it('an in-order upload larger than one part streams its parts by multipart upload as they fill', async () => {
    const { client, state, count } = countingClient();
    const backend = createS3Backend({
      client,
      bucket,
      multipartPartBytes: PART,
      sleep: async () => {},
    });
    const data = randomBytes(11 * MIB + 123);
    await backend.createUpload(SI, 0, data.length);
    state.commands = [];
    for (let offset = 0; offset < data.length; offset += MIB) {
      await backend.writeUpload(SI, 0, offset, data.subarray(offset, offset + MIB));
      // A full part goes out as soon as the byte after it arrives; the last one at completion.
      const last = offset + MIB >= data.length;
      expect(count('UploadPartCommand')).toBe(last ? 3 : Math.floor((offset + MIB - 1) / PART));
      if (offset + MIB < data.length) {
        // Nothing visible, nothing staged, until the last byte.
        expect(await allKeys(bucket)).toEqual([]);
        expect(await backend.listShares(SI)).toEqual([]);
      }
    }
    expect(count('CreateMultipartUploadCommand')).toBe(1);
    expect(count('UploadPartCommand')).toBe(3); // 5 MiB, 5 MiB, 1 MiB + 123
    expect(count('CompleteMultipartUploadCommand')).toBe(1);
    expect(state.puts).toEqual([]);
    expect(await allKeys(bucket)).toEqual([`shares/ss/${SI}/0`]);
    expect(await multipartUploads(bucket)).toEqual([]);
    expect(same(await backend.readShare(SI, 0, 0, data.length), data)).toBe(true);
    client.destroy();
  });

  it('a ranged read of an immutable share is one GetObject, with no HEAD before it', async () => {
    const { client, state } = countingClient();
    const backend = createS3Backend({ client, bucket, sleep: async () => {} });
    const data = randomBytes(3 * MIB);
    await backend.createUpload(SI, 7, data.length);
    await backend.writeUpload(SI, 7, 0, data);
    state.commands = [];
    for (let offset = 0; offset < data.length; offset += MIB)
      expect(
        same(await backend.readShare(SI, 7, offset, MIB), data.subarray(offset, offset + MIB)),
      ).toBe(true);
    expect(state.commands).toEqual(['GetObjectCommand', 'GetObjectCommand', 'GetObjectCommand']);
    client.destroy();
  });

  it('a share of exactly one part is one PutObject; of two parts, two UploadParts', async () => {
    const { client, state, count } = countingClient();
    const backend = createS3Backend({
      client,
      bucket,
      multipartPartBytes: PART,
      sleep: async () => {},
    });
    for (const [shnum, size] of [
      [1, PART],
      [2, 2 * PART],
    ] as const) {
      const data = randomBytes(size);
      await backend.createUpload(SI, shnum, size);
      state.commands = [];
      for (let offset = 0; offset < size; offset += MIB)
        await backend.writeUpload(SI, shnum, offset, data.subarray(offset, offset + MIB));
      expect(count('PutObjectCommand')).toBe(shnum === 1 ? 1 : 0);
      expect(count('UploadPartCommand')).toBe(shnum === 1 ? 0 : 2);
      expect(same(await backend.readShare(SI, shnum, 0, size), data)).toBe(true);
    }
    client.destroy();
  });

  it('out-of-order chunks are staged and merged with in-order ones', async () => {
    const { client, state, count } = countingClient();
    const backend = createS3Backend({
      client,
      bucket,
      multipartPartBytes: PART,
      sleep: async () => {},
    });
    const data = randomBytes(12 * MIB + 7);
    const write = (begin: number, end: number) =>
      backend.writeUpload(SI, 3, begin, data.subarray(begin, end));
    await backend.createUpload(SI, 3, data.length);
    await write(0, MIB);
    await write(3 * MIB, 4 * MIB); // staged
    await write(8 * MIB, 9 * MIB); // staged
    expect(
      state.puts.filter((k) => k.includes('/incoming/') || k.startsWith('incoming/')),
    ).toHaveLength(2);
    expect((await backend.getUpload(SI, 3))?.missing).toEqual([
      { begin: MIB, end: 3 * MIB },
      { begin: 4 * MIB, end: 8 * MIB },
      { begin: 9 * MIB, end: data.length },
    ]);
    // In order, overlapping the staged piece [3, 4) MiB with the same bytes: absorbed.
    await write(MIB, 3 * MIB + 1000);
    expect((await backend.getUpload(SI, 3))?.missing).toEqual([
      { begin: 4 * MIB, end: 8 * MIB },
      { begin: 9 * MIB, end: data.length },
    ]);
    await write(4 * MIB, 8 * MIB); // fills part 1; absorbs [8, 9) MiB
    expect(count('UploadPartCommand')).toBe(1);
    await write(10 * MIB, data.length); // staged
    expect((await write(9 * MIB, 10 * MIB)).complete).toBe(true);
    expect(count('UploadPartCommand')).toBe(3);
    expect(count('CompleteMultipartUploadCommand')).toBe(1);
    expect(await allKeys(bucket)).toEqual([`shares/ss/${SI}/3`]);
    expect(same(await backend.readShare(SI, 3, 0, data.length), data)).toBe(true);
    client.destroy();
  });

  it('CONFLICT still guards bytes already sent in a part, and bytes still buffered', async () => {
    const backend = motoBackend(bucket, { multipartPartBytes: PART });
    const data = randomBytes(8 * MIB);
    await backend.createUpload(SI, 4, data.length);
    for (let offset = 0; offset < 6 * MIB; offset += MIB)
      await backend.writeUpload(SI, 4, offset, data.subarray(offset, offset + MIB));
    // [0, 5) MiB went out as part 1; [5, 6) MiB is buffered.
    expect(await multipartUploads(bucket)).toEqual([`shares/ss/${SI}/4`]);
    const changed = Buffer.from(data.subarray(MIB, 2 * MIB));
    changed[1234] = (changed[1234] ?? 0) ^ 1;
    const err = await backend.writeUpload(SI, 4, MIB, changed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('CONFLICT');
    // A retransmission of flushed chunks with the same bytes is accepted, several at once too.
    await backend.writeUpload(SI, 4, MIB, data.subarray(MIB, 2 * MIB));
    await backend.writeUpload(SI, 4, 2 * MIB, data.subarray(2 * MIB, 4 * MIB));
    // A partial overlap of flushed bytes cannot be proven equal: refused, not trusted.
    expect(
      await code(backend.writeUpload(SI, 4, MIB + 10, data.subarray(MIB + 10, MIB + 20))),
    ).toBe('CONFLICT');
    // Buffered bytes are compared exactly, at any offset.
    const buffered = Buffer.from(data.subarray(5 * MIB + 10, 5 * MIB + 20));
    await backend.writeUpload(SI, 4, 5 * MIB + 10, buffered);
    buffered[3] = (buffered[3] ?? 0) ^ 1;
    expect(await code(backend.writeUpload(SI, 4, 5 * MIB + 10, buffered))).toBe('CONFLICT');
    // Spanning flushed and new bytes: the new ones are taken only when the old ones match.
    const tail = Buffer.from(data.subarray(5 * MIB, 8 * MIB));
    tail[0] = (tail[0] ?? 0) ^ 1;
    expect(await code(backend.writeUpload(SI, 4, 5 * MIB, tail))).toBe('CONFLICT');
    expect((await backend.getUpload(SI, 4))?.missing).toEqual([{ begin: 6 * MIB, end: 8 * MIB }]);
    expect((await backend.writeUpload(SI, 4, 5 * MIB, data.subarray(5 * MIB))).complete).toBe(true);
    const read = await backend.readShare(SI, 4, 0, data.length);
    expect(createHash('sha256').update(read).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('abortUpload() aborts the multipart upload and deletes staged pieces', async () => {
    const backend = motoBackend(bucket, { multipartPartBytes: PART });
    const data = randomBytes(12 * MIB);
    await backend.createUpload(SI, 5, data.length);
    await backend.writeUpload(SI, 5, 10 * MIB, data.subarray(10 * MIB)); // staged
    await backend.writeUpload(SI, 5, 0, data.subarray(0, 6 * MIB)); // part 1 sent
    expect(await multipartUploads(bucket)).toEqual([`shares/ss/${SI}/5`]);
    expect((await allKeys(bucket)).length).toBe(1); // the staged piece
    await backend.abortUpload(SI, 5);
    expect(await multipartUploads(bucket)).toEqual([]);
    expect(await allKeys(bucket)).toEqual([]);
    expect(await backend.getUpload(SI, 5)).toBeUndefined();
    // The share can be uploaded afresh.
    await backend.createUpload(SI, 5, 10);
    expect((await backend.writeUpload(SI, 5, 0, data.subarray(0, 10))).complete).toBe(true);
  });

  it('after a restart, discardUploads() aborts multipart uploads an earlier process left and counts them', async () => {
    const first = motoBackend(bucket, { multipartPartBytes: PART });
    const data = randomBytes(7 * MIB);
    await first.createUpload(SI, 6, 8 * MIB);
    await first.writeUpload(SI, 6, 0, data);
    await first.close();
    expect(await multipartUploads(bucket)).toEqual([`shares/ss/${SI}/6`]);
    const second = motoBackend(bucket);
    expect(await second.discardUploads()).toBe(1);
    expect(await multipartUploads(bucket)).toEqual([]);
    expect(await second.listShares(SI)).toEqual([]);
    await second.close();
  });

  it('random mixes of in-order, out-of-order and retransmitted chunks read back identical', async () => {
    let state = 12345;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const backend = motoBackend(bucket, { multipartPartBytes: PART });
    for (let shnum = 0; shnum < 10; shnum++) {
      const size = Math.floor(random() * 13 * MIB);
      const data = randomBytes(size);
      const cuts = [
        0,
        size,
        ...Array.from({ length: 2 + Math.floor(random() * 10) }, () => Math.floor(random() * size)),
      ].sort((a, b) => a - b);
      const chunks = cuts.slice(1).map((end, i) => ({ begin: cuts[i]!, end }));
      // Mostly in order: swap a few neighbours, send a few early, retransmit a few.
      for (let i = 0; i + 1 < chunks.length; i++) {
        if (random() < 0.3) [chunks[i], chunks[i + 1]] = [chunks[i + 1]!, chunks[i]!];
      }
      if (chunks.length > 3 && random() < 0.5)
        chunks.unshift(chunks.splice(chunks.length - 2, 1)[0]!);
      const sends = chunks.flatMap((c, i) => (random() < 0.3 && i > 0 ? [c, chunks[i - 1]!] : [c]));
      await backend.createUpload(SI, shnum, size);
      let complete = size === 0;
      if (complete) await backend.writeUpload(SI, shnum, 0, new Uint8Array(0));
      for (const { begin, end } of sends) {
        if (complete) break;
        const missing = (await backend.getUpload(SI, shnum))!.missing;
        const received = !missing.some((m) => m.begin < end && m.end > begin);
        if (received && end > begin && random() < 0.5) {
          // A retransmission with one byte changed: refused, whether buffered, sent or staged.
          const wrong = Buffer.from(data.subarray(begin, end));
          const at = Math.floor(random() * (end - begin));
          wrong[at] = (wrong[at] ?? 0) ^ 0xff;
          expect(await code(backend.writeUpload(SI, shnum, begin, wrong))).toBe('CONFLICT');
        }
        complete = (await backend.writeUpload(SI, shnum, begin, data.subarray(begin, end)))
          .complete;
      }
      expect(complete).toBe(true);
      expect(same(await backend.readShare(SI, shnum, 0, size), data)).toBe(true);
    }
    expect(await allKeys(bucket)).toHaveLength(10);
    expect(await multipartUploads(bucket)).toEqual([]);
  }, 60_000);

  for (const [failRate, maxAttempts, seed] of [
    [0.2, 8, 3],
    [0.3, 2, 5],
  ] as const) {
    it(`through the fault proxy (${failRate * 100}% faults, ${maxAttempts} attempts), large uploads succeed identical or fail UNAVAILABLE with nothing visible`, async () => {
      proxy = await startFaultProxy({ upstream: endpoint!, failRate, seed });
      const faulty = motoBackend(bucket, {
        endpoint: proxy.endpoint,
        maxAttempts,
        multipartPartBytes: PART,
      });
      const direct = motoBackend(bucket);
      let succeeded = 0;
      let failed = 0;
      for (let shnum = 0; shnum < 6; shnum++) {
        const size = 8 * MIB + shnum * 700_000;
        const data = randomBytes(size);
        const chunk = 512 * 1024;
        const offsets = Array.from({ length: Math.ceil(size / chunk) }, (_, i) => i * chunk);
        // Mostly in order, with one chunk sent early (staged) and one retransmitted.
        const early = offsets.splice(5 + shnum, 1);
        const order = [...early, ...offsets.slice(0, 14), offsets[3]!, ...offsets.slice(14)];
        let ok = true;
        try {
          await faulty.createUpload(SI, shnum, size);
          for (const offset of order)
            await faulty.writeUpload(SI, shnum, offset, data.subarray(offset, offset + chunk));
        } catch (error) {
          ok = false;
          expect(error).toBeInstanceOf(BackendError);
          expect((error as BackendError).code).toBe('UNAVAILABLE');
        }
        const meta = await direct.getShareMeta(SI, shnum);
        if (ok) {
          succeeded++;
          expect(meta?.sizeBytes).toBe(size);
          expect(same(await direct.readShare(SI, shnum, 0, size), data)).toBe(true);
        } else {
          failed++;
          await faulty.abortUpload(SI, shnum).catch(() => undefined);
          // Nothing visible, or (an answer lost and the clean-up failed too) complete and exact.
          if (meta) expect(same(await direct.readShare(SI, shnum, 0, size), data)).toBe(true);
        }
      }
      if (maxAttempts === 8) {
        expect(failed).toBe(0);
      } else {
        expect(failed).toBeGreaterThan(0);
        expect(succeeded).toBeGreaterThan(0);
      }
      expect(
        proxy.stats.error500 + proxy.stats.resetBefore + proxy.stats.resetAfter,
      ).toBeGreaterThan(5);
      await faulty.close();
      await direct.close();
    }, 60_000);
  }
});
