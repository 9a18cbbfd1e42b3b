import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendError } from '../errors.js';
import type { EmbeddedLease, ShareBackend } from '../types.js';

/** What a backend's test file hands the suite for each test. */
export interface BackendHarness {
  readonly backend: ShareBackend;
  /**
   * For durable backends: a fresh instance over the same store, as after a restart (the old one
   * is closed by the suite first).
   */
  readonly reopen?: () => Promise<ShareBackend>;
  /** Removes whatever the harness created (temp dirs, buckets). */
  readonly cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Extra cases of the backend's own, declared inside the suite with access to the harness. */
  readonly extra?: (harness: () => BackendHarness) => void;
  /** fast-check runs per property (default 25). */
  readonly numRuns?: number;
}

const SI = 'aaaabbbbccccddddeeeeffffgq';
const SI_2 = 'aaaazzzzccccddddeeeeffffga';
const OTHER_PREFIX = 'zzaabbbbccccddddeeeeffffge';
const UPLOADING = 'abaabbbbccccddddeeeeffffga';
const WE = new Uint8Array(32).fill(0x5e);
const NODE = new Uint8Array(20).fill(0x11);
const KEY = new Uint8Array(32).fill(0x42);

function bytes(length: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BackendError) return error.code;
    return (error as Error).name;
  }
  return 'resolved';
}

async function upload(
  backend: ShareBackend,
  si: string,
  shnum: number,
  data: Uint8Array,
  leases?: EmbeddedLease[],
) {
  await backend.createUpload(si, shnum, data.length, leases ? { leases } : {});
  return await backend.writeUpload(si, shnum, 0, data);
}

/**
 * The behaviour every `ShareBackend` must have. A backend's test file calls this once with a
 * factory for a fresh, empty backend; the suite creates one per test and cleans it up.
 */
export function describeShareBackend(
  name: string,
  setup: () => Promise<BackendHarness>,
  options: ConformanceOptions = {},
): void {
  const numRuns = options.numRuns ?? 25;

  describe(`ShareBackend conformance: ${name}`, () => {
    let harness: BackendHarness;
    let backend: ShareBackend;
    let closed = false;
    beforeEach(async () => {
      harness = await setup();
      backend = harness.backend;
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await backend.close();
      await harness.cleanup?.();
    });

    describe('immutable uploads', () => {
      it('createUpload() then writeUpload() of every byte makes a readable share', async () => {
        const data = bytes(1000);
        await backend.createUpload(SI, 3, 1000);
        expect(await backend.writeUpload(SI, 3, 0, data.subarray(0, 400))).toEqual({
          complete: false,
          missing: [{ begin: 400, end: 1000 }],
        });
        expect(await backend.writeUpload(SI, 3, 400, data.subarray(400))).toEqual({
          complete: true,
          missing: [],
        });
        expect(await backend.readShare(SI, 3, 0, 1000)).toEqual(data);
        expect(await backend.listShares(SI)).toEqual([
          expect.objectContaining({ shnum: 3, sharetype: 'immutable', sizeBytes: 1000 }),
        ]);
        const [share] = await backend.listShares(SI);
        expect(share!.usedBytes).toBeGreaterThanOrEqual(1000);
      });

      it('writeUpload() accepts chunks in any order, overlapping ones included when the bytes agree', async () => {
        const data = bytes(300);
        await backend.createUpload(SI, 0, 300);
        await backend.writeUpload(SI, 0, 200, data.subarray(200));
        expect((await backend.writeUpload(SI, 0, 50, data.subarray(50, 250))).missing).toEqual([
          { begin: 0, end: 50 },
        ]);
        await backend.writeUpload(SI, 0, 100, data.subarray(100, 150));
        expect((await backend.writeUpload(SI, 0, 0, data.subarray(0, 60))).complete).toBe(true);
        expect(await backend.readShare(SI, 0, 0, 300)).toEqual(data);
      });

      it('writeUpload() with different bytes over written ones is CONFLICT and changes nothing', async () => {
        const data = bytes(100);
        await backend.createUpload(SI, 0, 100);
        await backend.writeUpload(SI, 0, 0, data.subarray(0, 50));
        const wrong = data.slice(40, 60);
        wrong[0] = (wrong[0]! + 1) & 0xff;
        expect(await code(backend.writeUpload(SI, 0, 40, wrong))).toBe('CONFLICT');
        expect(await backend.getUpload(SI, 0)).toEqual({
          complete: false,
          missing: [{ begin: 50, end: 100 }],
        });
        await backend.writeUpload(SI, 0, 50, data.subarray(50));
        expect(await backend.readShare(SI, 0, 0, 100)).toEqual(data);
      });

      it('writeUpload() past the allocated size is a RangeError', async () => {
        await backend.createUpload(SI, 0, 10);
        expect(await code(backend.writeUpload(SI, 0, 5, bytes(6)))).toBe('RangeError');
        expect(await code(backend.writeUpload(SI, 0, -1, bytes(1)))).toBe('RangeError');
        expect(await backend.getUpload(SI, 0)).toEqual({
          complete: false,
          missing: [{ begin: 0, end: 10 }],
        });
      });

      it('an upload in progress is invisible: not listed, not readable, no meta', async () => {
        await backend.createUpload(SI, 1, 10);
        await backend.writeUpload(SI, 1, 0, bytes(9));
        expect(await backend.listShares(SI)).toEqual([]);
        expect(await backend.listStorageIndexes(SI.slice(0, 2))).toEqual([]);
        expect(await backend.getShareMeta(SI, 1)).toBeUndefined();
        expect(await code(backend.readShare(SI, 1, 0, 1))).toBe('NOT_FOUND');
      });

      it('createUpload() of a share that exists or is being uploaded is CONFLICT', async () => {
        await upload(backend, SI, 0, bytes(5));
        expect(await code(backend.createUpload(SI, 0, 5))).toBe('CONFLICT');
        await backend.createUpload(SI, 1, 5);
        expect(await code(backend.createUpload(SI, 1, 5))).toBe('CONFLICT');
      });

      it('abortUpload() discards the upload so it can start again; NOT_FOUND when there is none', async () => {
        await backend.createUpload(SI, 2, 10);
        await backend.writeUpload(SI, 2, 0, bytes(4));
        await backend.abortUpload(SI, 2);
        expect(await backend.getUpload(SI, 2)).toBeUndefined();
        expect(await code(backend.writeUpload(SI, 2, 4, bytes(6)))).toBe('NOT_FOUND');
        expect(await code(backend.abortUpload(SI, 2))).toBe('NOT_FOUND');
        await upload(backend, SI, 2, bytes(10, 3));
        expect(await backend.readShare(SI, 2, 0, 10)).toEqual(bytes(10, 3));
        // A complete share is not an upload.
        expect(await code(backend.abortUpload(SI, 2))).toBe('NOT_FOUND');
      });

      it('a zero-byte upload completes with its one empty write', async () => {
        await backend.createUpload(SI, 0, 0);
        expect(await backend.getUpload(SI, 0)).toEqual({ complete: true, missing: [] });
        expect((await backend.writeUpload(SI, 0, 0, new Uint8Array(0))).complete).toBe(true);
        expect(await backend.listShares(SI)).toEqual([
          expect.objectContaining({ shnum: 0, sizeBytes: 0 }),
        ]);
      });

      it('discardUploads() removes every upload in progress and no complete share', async () => {
        await upload(backend, SI, 0, bytes(5));
        await backend.createUpload(SI, 1, 5);
        await backend.createUpload(SI_2, 7, 5);
        expect(await backend.discardUploads()).toBe(2);
        expect(await backend.getUpload(SI, 1)).toBeUndefined();
        expect(await backend.getUpload(SI_2, 7)).toBeUndefined();
        expect((await backend.listShares(SI)).map((s) => s.shnum)).toEqual([0]);
      });

      it('concurrent writeUpload() calls of all chunks complete the share exactly once', async () => {
        const data = randomBytes(64 * 1024);
        await backend.createUpload(SI, 9, data.length);
        const chunks = Array.from({ length: 16 }, (_, i) => i * 4096).reverse();
        const results = await Promise.all(
          chunks.map((offset) =>
            backend.writeUpload(SI, 9, offset, data.subarray(offset, offset + 4096)),
          ),
        );
        expect(results.filter((r) => r.complete).length).toBe(1);
        expect(Buffer.from(await backend.readShare(SI, 9, 0, data.length)).equals(data)).toBe(true);
      });

      it('any chunking, order and duplication of an upload yields the same bytes', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.uint8Array({ minLength: 1, maxLength: 2048 }),
            fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 12 }),
            async (data, cuts) => {
              const shnum = 100;
              if (await backend.getShareMeta(SI, shnum)) await backend.deleteShare(SI, shnum);
              await backend.createUpload(SI, shnum, data.length);
              // Random overlapping chunks, then the whole as one last chunk to finish it.
              for (const [a, b] of cuts) {
                const begin = a % data.length;
                const end = begin + (b % (data.length - begin + 1));
                const state = await backend.writeUpload(
                  SI,
                  shnum,
                  begin,
                  data.subarray(begin, end),
                );
                if (state.complete) break;
              }
              if (await backend.getUpload(SI, shnum)) await backend.writeUpload(SI, shnum, 0, data);
              expect(await backend.readShare(SI, shnum, 0, data.length)).toEqual(data);
            },
          ),
          { numRuns },
        );
      });
    });

    describe('reads and listings', () => {
      it('readShare() truncates at the end of the share and is empty past it', async () => {
        await upload(backend, SI, 0, bytes(100));
        expect(await backend.readShare(SI, 0, 90, 50)).toEqual(bytes(100).subarray(90));
        expect((await backend.readShare(SI, 0, 100, 10)).length).toBe(0);
        expect((await backend.readShare(SI, 0, 5000, 10)).length).toBe(0);
        expect((await backend.readShare(SI, 0, 10, 0)).length).toBe(0);
        expect(await code(backend.readShare(SI, 1, 0, 1))).toBe('NOT_FOUND');
        expect(await code(backend.readShare(SI, 0, -1, 1))).toBe('RangeError');
      });

      it('openShareReader() reads what readShare() reads, in any pieces; undefined for no share', async () => {
        const data = bytes(3000, 4);
        await upload(backend, SI, 0, data);
        await backend.writeMutable(SI, 1, { writeEnabler: WE, writes: [{ offset: 0, data }] });
        for (const shnum of [0, 1]) {
          const reader = await backend.openShareReader(SI, shnum);
          if (!reader) throw new Error('no reader');
          expect(reader.info).toEqual(await backend.statShare(SI, shnum));
          const pieces: Uint8Array[] = [];
          for (let offset = 0; offset < 3000; offset += 700) {
            pieces.push(await reader.read(offset, 700));
          }
          expect(Buffer.concat(pieces)).toEqual(Buffer.from(data));
          expect(await reader.read(2990, 50)).toEqual(data.subarray(2990));
          expect((await reader.read(3000, 10)).length).toBe(0);
          expect((await reader.read(10, 0)).length).toBe(0);
          expect(await code(reader.read(-1, 1))).toBe('RangeError');
          await reader.close();
          await reader.close();
          expect(await code(reader.read(0, 1))).not.toBe('resolved');
        }
        expect(await backend.openShareReader(SI, 2)).toBeUndefined();
        await backend.createUpload(SI, 3, 10);
        expect(await backend.openShareReader(SI, 3)).toBeUndefined(); // in progress: no share
        expect(await code(backend.openShareReader('../aaaa', 0))).toBe('INVALID_KEY');
      });

      it('a reader reads the version it opened across a rewrite and a deletion, or fails: never a mix', async () => {
        // Over a megabyte, so that chunked stores (S3's mutable chunks) spread it over objects.
        const size = 1_200_000;
        const before = bytes(size, 1);
        await backend.writeMutable(SI, 0, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: before }],
        });
        await upload(backend, SI, 1, before);
        for (const shnum of [0, 1]) {
          const reader = await backend.openShareReader(SI, shnum);
          if (!reader) throw new Error('no reader');
          const head = await reader.read(0, 1000);
          if (shnum === 0) {
            await backend.writeMutable(SI, 0, {
              writeEnabler: WE,
              writes: [{ offset: 0, data: bytes(size, 2) }],
            });
          } else {
            expect(await backend.deleteShare(SI, 1)).toBe(true);
          }
          try {
            const rest = await reader.read(1000, size);
            expect(Buffer.from(Buffer.concat([head, rest])).equals(Buffer.from(before))).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(BackendError);
            expect(['CONFLICT', 'NOT_FOUND']).toContain((error as BackendError).code);
          } finally {
            await reader.close();
          }
        }
        expect(
          Buffer.from(await backend.readShare(SI, 0, 0, size)).equals(Buffer.from(bytes(size, 2))),
        ).toBe(true);
      });

      it('listStorageIndexes() lists the indexes with shares under exactly one prefix, sorted', async () => {
        await upload(backend, SI_2, 0, bytes(1));
        await upload(backend, SI, 4, bytes(1));
        await upload(backend, OTHER_PREFIX, 0, bytes(1));
        expect(await backend.listStorageIndexes('aa')).toEqual([SI, SI_2]);
        expect(await backend.listStorageIndexes('zz')).toEqual([OTHER_PREFIX]);
        expect(await backend.listStorageIndexes('22')).toEqual([]);
      });

      it('listShareSets() names every share set under one prefix with its shares, not uploads in progress', async () => {
        await upload(backend, SI_2, 7, bytes(1));
        await upload(backend, SI, 12, bytes(2));
        await upload(backend, SI, 3, bytes(1));
        await backend.writeMutable(SI_2, 1, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(2) }],
        });
        await upload(backend, OTHER_PREFIX, 0, bytes(1));
        await backend.createUpload(SI, 5, 10); // in progress: not a share yet
        await backend.createUpload(UPLOADING, 0, 10);
        expect(await backend.listShareSets('aa')).toEqual([
          { storageIndex: SI, shnums: [3, 12] },
          { storageIndex: SI_2, shnums: [1, 7] },
        ]);
        expect(await backend.listShareSets('zz')).toEqual([
          { storageIndex: OTHER_PREFIX, shnums: [0] },
        ]);
        expect(await backend.listShareSets('ab')).toEqual([]);
        await backend.deleteShare(SI_2, 1);
        await backend.deleteShare(SI_2, 7);
        expect((await backend.listShareSets('aa')).map((set) => set.storageIndex)).toEqual([SI]);
        expect(await code(backend.listShareSets('a'))).toBe('INVALID_KEY');
        expect(await code(backend.listShareSets('../'))).toBe('INVALID_KEY');
      });

      it('listShares() lists every share of an index by shnum, and [] for an unknown index', async () => {
        await upload(backend, SI, 10, bytes(3));
        await upload(backend, SI, 2, bytes(7));
        await backend.writeMutable(SI_2, 1, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(4) }],
        });
        expect(
          (await backend.listShares(SI)).map((s) => [s.shnum, s.sharetype, s.sizeBytes]),
        ).toEqual([
          [2, 'immutable', 7],
          [10, 'immutable', 3],
        ]);
        expect(
          (await backend.listShares(SI_2)).map((s) => [s.shnum, s.sharetype, s.sizeBytes]),
        ).toEqual([[1, 'mutable', 4]]);
        expect(await backend.listShares(OTHER_PREFIX)).toEqual([]);
      });

      it('statShare() says what listShares() says of one share, and undefined for none', async () => {
        await upload(backend, SI, 2, bytes(7));
        await backend.writeMutable(SI_2, 1, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(4) }],
        });
        const [immutable] = await backend.listShares(SI);
        const [mutable] = await backend.listShares(SI_2);
        expect(await backend.statShare(SI, 2)).toEqual(immutable);
        expect(await backend.statShare(SI_2, 1)).toEqual(mutable);
        expect(await backend.statShare(SI, 3)).toBeUndefined();
        expect(await backend.statShare(OTHER_PREFIX, 0)).toBeUndefined();
        await backend.writeMutable(SI_2, 1, {
          writeEnabler: WE,
          writes: [{ offset: 10, data: bytes(2) }],
        });
        expect((await backend.statShare(SI_2, 1))?.sizeBytes).toBe(12);
      });
    });

    describe('mutable shares', () => {
      it('writeMutable() creates the share, zero-fills gaps and returns the new length', async () => {
        const length = await backend.writeMutable(SI, 0, {
          writeEnabler: WE,
          writeEnablerNodeId: NODE,
          writes: [
            { offset: 10, data: bytes(5) },
            { offset: 0, data: bytes(3, 2) },
          ],
        });
        expect(length).toBe(15);
        const expected = new Uint8Array(15);
        expected.set(bytes(5), 10);
        expected.set(bytes(3, 2), 0);
        expect(await backend.readShare(SI, 0, 0, 100)).toEqual(expected);
        const meta = await backend.getShareMeta(SI, 0);
        expect(meta).toMatchObject({ shnum: 0, sharetype: 'mutable', sizeBytes: 15 });
        expect(meta?.writeEnabler).toEqual(WE);
        expect(meta?.writeEnablerNodeId).toEqual(NODE);
      });

      it('writeMutable() overwrites and extends; newLength lowers the length but never raises it', async () => {
        await backend.writeMutable(SI, 0, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(20) }],
        });
        expect(
          await backend.writeMutable(SI, 0, {
            writeEnabler: WE,
            writes: [{ offset: 18, data: bytes(4, 9) }],
          }),
        ).toBe(22);
        expect(
          await backend.writeMutable(SI, 0, { writeEnabler: WE, writes: [], newLength: 8 }),
        ).toBe(8);
        expect(await backend.readShare(SI, 0, 0, 100)).toEqual(bytes(20).subarray(0, 8));
        expect(
          await backend.writeMutable(SI, 0, { writeEnabler: WE, writes: [], newLength: 500 }),
        ).toBe(8);
        // Growing again after shrinking shows zeros, not the old bytes, past the previous end.
        expect(
          await backend.writeMutable(SI, 0, {
            writeEnabler: WE,
            writes: [{ offset: 12, data: bytes(1) }],
          }),
        ).toBe(13);
        expect(await backend.readShare(SI, 0, 8, 4)).toEqual(new Uint8Array(4));
      });

      it('writes of random vectors read back as a plain buffer model says', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({
                writes: fc.array(
                  fc.record({
                    offset: fc.nat({ max: 3000 }),
                    data: fc.uint8Array({ maxLength: 300 }),
                  }),
                  {
                    maxLength: 4,
                  },
                ),
                newLength: fc.option(fc.nat({ max: 3500 }), { nil: undefined }),
              }),
              { minLength: 1, maxLength: 5 },
            ),
            async (requests) => {
              const shnum = 200;
              await backend.deleteShare(SI, shnum);
              let model = new Uint8Array(0);
              for (const request of requests) {
                for (const write of request.writes) {
                  const end = write.offset + write.data.length;
                  if (end > model.length) {
                    const grown = new Uint8Array(end);
                    grown.set(model);
                    model = grown;
                  }
                  model.set(write.data, write.offset);
                }
                if (request.newLength !== undefined && request.newLength < model.length) {
                  model = model.slice(0, request.newLength);
                }
                const length = await backend.writeMutable(SI, shnum, {
                  writeEnabler: WE,
                  writes: request.writes,
                  ...(request.newLength === undefined ? {} : { newLength: request.newLength }),
                });
                expect(length).toBe(model.length);
              }
              expect(await backend.readShare(SI, shnum, 0, 4000)).toEqual(model);
            },
          ),
          { numRuns },
        );
      });

      it('mutable and immutable writes never mix on one share: CONFLICT', async () => {
        await upload(backend, SI, 0, bytes(5));
        expect(await code(backend.writeMutable(SI, 0, { writeEnabler: WE, writes: [] }))).toBe(
          'CONFLICT',
        );
        await backend.writeMutable(SI, 1, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(2) }],
        });
        expect(await code(backend.createUpload(SI, 1, 5))).toBe('CONFLICT');
      });

      it('writeMutable() refuses malformed requests before writing', async () => {
        expect(
          await code(backend.writeMutable(SI, 0, { writeEnabler: new Uint8Array(31), writes: [] })),
        ).toBe('TypeError');
        expect(
          await code(
            backend.writeMutable(SI, 0, {
              writeEnabler: WE,
              writeEnablerNodeId: new Uint8Array(3),
              writes: [],
            }),
          ),
        ).toBe('TypeError');
        expect(
          await code(
            backend.writeMutable(SI, 0, {
              writeEnabler: WE,
              writes: [{ offset: -1, data: bytes(1) }],
            }),
          ),
        ).toBe('RangeError');
        expect(await backend.listShares(SI)).toEqual([]);
      });
    });

    describe('deletion', () => {
      it('deleteShare() removes a share, reports whether there was one, and unlists an emptied index', async () => {
        await upload(backend, SI, 0, bytes(5));
        await backend.writeMutable(SI, 1, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(2) }],
        });
        expect(await backend.deleteShare(SI, 0)).toBe(true);
        expect(await backend.deleteShare(SI, 0)).toBe(false);
        expect((await backend.listShares(SI)).map((s) => s.shnum)).toEqual([1]);
        expect(await backend.deleteShare(SI, 1)).toBe(true);
        expect(await backend.listStorageIndexes('aa')).toEqual([]);
        expect(await code(backend.readShare(SI, 0, 0, 1))).toBe('NOT_FOUND');
        // The share number can be used again afterwards.
        await upload(backend, SI, 0, bytes(3, 5));
        expect(await backend.readShare(SI, 0, 0, 3)).toEqual(bytes(3, 5));
      });
    });

    describe('state blobs', () => {
      it('putBlob() and getBlob() round-trip; putting again replaces; missing is undefined', async () => {
        await backend.putBlob('leasedb/backup-1', bytes(1000), KEY);
        expect(await backend.getBlob('leasedb/backup-1', KEY)).toEqual(bytes(1000));
        await backend.putBlob('leasedb/backup-1', bytes(10, 4), KEY);
        expect(await backend.getBlob('leasedb/backup-1', KEY)).toEqual(bytes(10, 4));
        expect(await backend.getBlob('leasedb/backup-2', KEY)).toBeUndefined();
        await backend.putBlob('empty', new Uint8Array(0), KEY);
        expect(await backend.getBlob('empty', KEY)).toEqual(new Uint8Array(0));
      });

      it('getBlob() with another key is CORRUPT: blobs are encrypted and authenticated', async () => {
        await backend.putBlob('owners/aa/x', bytes(64), KEY);
        expect(await code(backend.getBlob('owners/aa/x', new Uint8Array(32).fill(1)))).toBe(
          'CORRUPT',
        );
        expect(await code(backend.putBlob('owners/aa/y', bytes(1), new Uint8Array(16)))).toBe(
          'TypeError',
        );
      });

      it('listBlobs() lists names by prefix, sorted; deleteBlob() reports whether there was one', async () => {
        for (const name of ['leasedb/2', 'leasedb/1', 'owners/aa/x'])
          await backend.putBlob(name, bytes(1), KEY);
        expect(await backend.listBlobs()).toEqual(['leasedb/1', 'leasedb/2', 'owners/aa/x']);
        expect(await backend.listBlobs('leasedb/')).toEqual(['leasedb/1', 'leasedb/2']);
        expect(await backend.deleteBlob('leasedb/1')).toBe(true);
        expect(await backend.deleteBlob('leasedb/1')).toBe(false);
        expect(await backend.listBlobs('leasedb/')).toEqual(['leasedb/2']);
      });

      it('listBlobs() with a prefix ending inside a name, at a slash, or naming nothing', async () => {
        for (const name of ['owners/aa/x/1', 'owners/aa/y/2', 'owners/ab/z/0', 'owners/aab'])
          await backend.putBlob(name, bytes(1), KEY);
        expect(await backend.listBlobs('owners/aa/')).toEqual(['owners/aa/x/1', 'owners/aa/y/2']);
        expect(await backend.listBlobs('owners/aa')).toEqual([
          'owners/aa/x/1',
          'owners/aa/y/2',
          'owners/aab',
        ]);
        expect(await backend.listBlobs('owners/a')).toEqual([
          'owners/aa/x/1',
          'owners/aa/y/2',
          'owners/aab',
          'owners/ab/z/0',
        ]);
        expect(await backend.listBlobs('owners/aa/x/')).toEqual(['owners/aa/x/1']);
        expect(await backend.listBlobs('owners/zz/')).toEqual([]);
        expect(await backend.listBlobs('owners/aab/')).toEqual([]);
        expect(await backend.listBlobs('../owners/')).toEqual([]);
        expect(await backend.listBlobs('owners//')).toEqual([]);
      });

      it('blob names that could escape the store are INVALID_KEY', async () => {
        for (const name of [
          '',
          '../x',
          'a/../../b',
          '/abs',
          'UPPER',
          'a//b',
          '.hidden',
          'a\u0000b',
          'x'.repeat(201),
        ]) {
          expect(await code(backend.putBlob(name, bytes(1), KEY))).toBe('INVALID_KEY');
        }
        expect(await backend.listBlobs()).toEqual([]);
      });
    });

    describe('validation', () => {
      const badIndexes = [
        '',
        'short',
        'A'.repeat(26),
        '../../../../etc/passwdaaaaa',
        `${'a'.repeat(25)}b`,
        'a/'.repeat(13),
      ];
      it('every call refuses a malformed storage index or share number with INVALID_KEY', async () => {
        for (const si of badIndexes) {
          expect(await code(backend.listShares(si))).toBe('INVALID_KEY');
          expect(await code(backend.getShareMeta(si, 0))).toBe('INVALID_KEY');
          expect(await code(backend.statShare(si, 0))).toBe('INVALID_KEY');
          expect(await code(backend.readShare(si, 0, 0, 1))).toBe('INVALID_KEY');
          expect(await code(backend.createUpload(si, 0, 1))).toBe('INVALID_KEY');
          expect(await code(backend.writeMutable(si, 0, { writeEnabler: WE, writes: [] }))).toBe(
            'INVALID_KEY',
          );
          expect(await code(backend.deleteShare(si, 0))).toBe('INVALID_KEY');
        }
        for (const shnum of [-1, 256, 1.5, Number.NaN]) {
          expect(await code(backend.createUpload(SI, shnum, 1))).toBe('INVALID_KEY');
          expect(await code(backend.readShare(SI, shnum, 0, 1))).toBe('INVALID_KEY');
          expect(await code(backend.writeUpload(SI, shnum, 0, bytes(1)))).toBe('INVALID_KEY');
        }
        expect(await code(backend.listStorageIndexes('a'))).toBe('INVALID_KEY');
        expect(await code(backend.listStorageIndexes('..'))).toBe('INVALID_KEY');
        expect(await code(backend.createUpload(SI, 0, -5))).toBe('RangeError');
        expect(
          await code(backend.createUpload(SI, 0, backend.capabilities.maxShareBytes + 1)),
        ).toBe('RangeError');
      });
    });

    describe('capabilities', () => {
      it('availableSpace() is a non-negative integer or undefined (no limit)', async () => {
        const space = await backend.availableSpace();
        if (space !== undefined) expect(Number.isSafeInteger(space) && space >= 0).toBe(true);
      });

      it('are plain data naming the backend', () => {
        const caps = backend.capabilities;
        expect(typeof caps.kind).toBe('string');
        expect(typeof caps.durable).toBe('boolean');
        expect(typeof caps.embedsLeases).toBe('boolean');
        expect(Number.isSafeInteger(caps.maxShareBytes)).toBe(true);
        expect(JSON.parse(JSON.stringify(caps))).toEqual(caps);
      });

      it('leases given at upload come back from getShareMeta() when the backend embeds them', async () => {
        const lease: EmbeddedLease = {
          ownerNum: 0,
          renewSecret: new Uint8Array(32).fill(1),
          cancelSecret: new Uint8Array(32).fill(2),
          secretsHashed: true,
          expiresAt: 1_800_000_000,
        };
        await upload(backend, SI, 0, bytes(10), [lease]);
        const meta = await backend.getShareMeta(SI, 0);
        if (backend.capabilities.embedsLeases) expect(meta?.leases).toEqual([lease]);
        else expect(meta?.leases).toEqual([]);
      });
    });

    describe('restart', () => {
      it('a durable backend keeps complete shares and blobs across a restart; uploads go', async (ctx) => {
        if (!backend.capabilities.durable || !harness.reopen) {
          ctx.skip();
          return;
        }
        await upload(backend, SI, 0, bytes(50));
        await backend.writeMutable(SI_2, 3, {
          writeEnabler: WE,
          writes: [{ offset: 0, data: bytes(9) }],
        });
        await backend.putBlob('leasedb/latest', bytes(33), KEY);
        await backend.createUpload(SI, 1, 10);
        await backend.writeUpload(SI, 1, 0, bytes(5));
        await backend.close();
        closed = true;
        backend = await harness.reopen();
        closed = false;
        if (!backend.capabilities.uploadsSurviveRestart) await backend.discardUploads();
        expect(await backend.readShare(SI, 0, 0, 50)).toEqual(bytes(50));
        expect(await backend.readShare(SI_2, 3, 0, 9)).toEqual(bytes(9));
        expect((await backend.getShareMeta(SI_2, 3))?.writeEnabler).toEqual(WE);
        expect(await backend.getBlob('leasedb/latest', KEY)).toEqual(bytes(33));
        expect((await backend.listShares(SI)).map((s) => s.shnum)).toEqual([0]);
        expect(await backend.getUpload(SI, 1)).toBeUndefined();
      });
    });

    options.extra?.(() => harness);
  });
}
