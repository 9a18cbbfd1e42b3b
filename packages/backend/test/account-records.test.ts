import { describe, expect, it } from 'vitest';
import {
  type AccountRecord,
  accountRecordName,
  accountRecordOf,
  createMemoryBackend,
  decodeAccountRecord,
  deleteAccountRecord,
  encodeAccountRecord,
  listAccountRecordIds,
  parseAccountRecordName,
  readAccountRecord,
  sameAccountRecord,
  writeAccountRecord,
} from '../src/index.js';

const KEY = new Uint8Array(32).fill(9);
const record: AccountRecord = {
  accountId: 7,
  publicKey: 'ab'.repeat(32),
  nickname: 'alice',
  status: 'frozen',
  hardQuotaBytes: 5000,
  softQuotaBytes: null,
  createdAt: 1_700_000_000,
  attributes: { 'lease-duration-seconds': '86400', 'deleted-at': '5' },
};

describe('account records', () => {
  it('are named by account id, and only such names parse back', () => {
    expect(accountRecordName(7)).toBe('accounts/7');
    expect(parseAccountRecordName('accounts/0')).toBe(0);
    expect(parseAccountRecordName('accounts/123')).toBe(123);
    for (const other of ['accounts/07', 'accounts/-1', 'accounts/', 'accounts/1/2', 'owners/aa']) {
      expect(parseAccountRecordName(other)).toBeUndefined();
    }
    expect(() => accountRecordName(-1)).toThrow(RangeError);
  });

  it('round-trip through a backend, sealed; listed by id; attributes compare as a set', async () => {
    const backend = createMemoryBackend();
    await writeAccountRecord(backend, KEY, record);
    await writeAccountRecord(backend, KEY, { ...record, accountId: 12 });
    await writeAccountRecord(backend, KEY, { ...record, accountId: 0, publicKey: null });
    expect(await listAccountRecordIds(backend)).toEqual([0, 7, 12]);
    const read = await readAccountRecord(backend, KEY, 7);
    expect(read).toEqual(record);
    expect(sameAccountRecord(read!, { ...record, attributes: { ...record.attributes } })).toBe(
      true,
    );
    expect(sameAccountRecord(read!, { ...record, status: 'normal' })).toBe(false);
    expect(
      sameAccountRecord(
        accountRecordOf(
          {
            id: 7,
            publicKey: record.publicKey,
            nickname: 'alice',
            status: 'frozen',
            hardQuotaBytes: 5000,
            softQuotaBytes: null,
            createdAt: record.createdAt,
          },
          { 'deleted-at': '5', 'lease-duration-seconds': '86400' },
        ),
        record,
      ),
    ).toBe(true);
    expect(await readAccountRecord(backend, KEY, 8)).toBeUndefined();
    await expect(readAccountRecord(backend, new Uint8Array(32), 7)).rejects.toMatchObject({
      code: 'CORRUPT',
    });
    expect(await deleteAccountRecord(backend, 7)).toBe(true);
    expect(await listAccountRecordIds(backend)).toEqual([0, 12]);
  });

  it("a record under another account's name, or not a record, is CORRUPT", async () => {
    const backend = createMemoryBackend();
    // Sealed under the name accounts/3 (so it opens there), but the record of account 7.
    await backend.putBlob(accountRecordName(3), encodeAccountRecord(record), KEY);
    await expect(readAccountRecord(backend, KEY, 3)).rejects.toMatchObject({ code: 'CORRUPT' });
    const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    for (const bad of [
      new TextEncoder().encode('not json'),
      text({ ...record }), // no version
      text({ v: 1, ...record, status: 'gone' }),
      text({ v: 1, ...record, hardQuotaBytes: -1 }),
      text({ v: 1, ...record, attributes: { 'Bad Name': 'x' } }),
      text({ v: 2, ...record }),
    ]) {
      expect(() => decodeAccountRecord(bad)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    }
    expect(decodeAccountRecord(encodeAccountRecord(record))).toEqual(record);
  });
});
