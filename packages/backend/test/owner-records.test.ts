import { describe, expect, it } from 'vitest';
import {
  BackendError,
  createMemoryBackend,
  decodeOwnerRecord,
  deleteOwnerRecords,
  encodeOwnerRecord,
  type OwnerRecord,
  ownerRecordName,
  ownerRecordPrefix,
  parseOwnerRecordName,
  readOwnerRecord,
  writeOwnerRecords,
} from '../src/index.js';

const SI = 'aaaabbbbccccddddeeeeffffga';
const KEY = new Uint8Array(32).fill(9);
const record: OwnerRecord = {
  accountId: 7,
  publicKey: 'ab'.repeat(32),
  nickname: 'alice',
  sharetype: 'immutable',
  createdAt: 1_700_000_000,
};

describe('owner records', () => {
  it('are named under their prefix and storage index, and the name parses back', () => {
    expect(ownerRecordName(SI, 3)).toBe(`owners/aa/${SI}/3`);
    expect(ownerRecordName(SI, 3).startsWith(ownerRecordPrefix('aa'))).toBe(true);
    expect(parseOwnerRecordName(ownerRecordName(SI, 255))).toEqual({
      storageIndex: SI,
      shnum: 255,
    });
    for (const other of [
      'owners/ab/aaaabbbbccccddddeeeeffffga/1', // prefix does not match the index
      `owners/aa/${SI}/256`,
      `owners/aa/${SI}/01`,
      `owners/aa/${SI}`,
      'leasedb/backup-1',
    ]) {
      expect(parseOwnerRecordName(other)).toBeUndefined();
    }
    expect(() => ownerRecordName('not-an-index', 0)).toThrow(BackendError);
  });

  it('round-trip through a backend, sealed, one blob per share; deleting them is idempotent', async () => {
    const backend = createMemoryBackend();
    await writeOwnerRecords(backend, KEY, SI, [0, 4], record);
    expect(await backend.listBlobs(ownerRecordPrefix('aa'))).toEqual([
      ownerRecordName(SI, 0),
      ownerRecordName(SI, 4),
    ]);
    expect(await readOwnerRecord(backend, KEY, SI, 4)).toEqual(record);
    expect(await readOwnerRecord(backend, KEY, SI, 1)).toBeUndefined();
    await expect(readOwnerRecord(backend, new Uint8Array(32), SI, 0)).rejects.toMatchObject({
      code: 'CORRUPT',
    });
    await deleteOwnerRecords(backend, SI, [0, 4, 5]);
    expect(await backend.listBlobs('owners/')).toEqual([]);
  });

  it('refuse to encode a malformed record, and decode only well-formed ones (CORRUPT otherwise)', () => {
    for (const bad of [
      { ...record, accountId: -1 },
      { ...record, publicKey: 'AB'.repeat(32) },
      { ...record, sharetype: 'other' },
      { ...record, createdAt: 1.5 },
      { ...record, nickname: 7 },
    ]) {
      expect(() => encodeOwnerRecord(bad as OwnerRecord)).toThrow(TypeError);
      const bytes = new TextEncoder().encode(JSON.stringify(bad));
      expect(() => decodeOwnerRecord(bytes)).toThrow(
        expect.objectContaining({ code: 'CORRUPT' }) as Error,
      );
    }
    expect(() => decodeOwnerRecord(new Uint8Array([0xff, 0x00]))).toThrow(BackendError);
    // Extra fields are dropped, not kept.
    const extra = new TextEncoder().encode(JSON.stringify({ ...record, evil: true }));
    expect(decodeOwnerRecord(extra)).toEqual(record);
  });
});
