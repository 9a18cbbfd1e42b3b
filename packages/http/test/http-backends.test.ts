import { describe, expect, it } from 'vitest';
import { bytes, PG_URL, secrets, startServer, storageIndex, uploadShare } from './http-setup.js';

async function roundTrip(options: Parameters<typeof startServer>[0]) {
  const t = await startServer(options);
  const client = t.client();
  const si = storageIndex('backend');
  const data = bytes(70_000, 4);
  await uploadShare(client, si, data);
  expect(await client.immutable.listShares(si)).toEqual([0]);
  expect(Buffer.from(await client.immutable.read(si, 0)).equals(Buffer.from(data))).toBe(true);
  expect(await client.immutable.read(si, 0, { offset: 69_990, length: 100 })).toEqual(
    data.subarray(69_990),
  );
  const s = secrets('backend-m');
  const created = await client.mutable.readTestWrite(si, {
    ...s,
    testWriteVectors: new Map([
      [1, { test: [], write: [{ offset: 0, data: bytes(3907) }], newLength: null }],
    ]),
    readVector: [{ offset: 0, size: 57 }],
  });
  expect(created.success).toBe(true);
  expect(await client.mutable.read(si, 1, { offset: 0, length: 4000 })).toEqual(bytes(3907));
  await client.addOrRenewLease(si, s);
  expect(await t.db.getAccountUsage(0)).toEqual({ shares: 2, bytes: 70_000 + 3907 });
}

describe('storage API on the disk backend', () => {
  it('immutable and mutable round trips on sqlite + disk', async () => {
    await roundTrip({ dialect: 'sqlite', backend: 'disk' });
  });
});

describe.skipIf(PG_URL === undefined)('storage API on PostgreSQL (smoke)', () => {
  it('immutable and mutable round trips on PostgreSQL + disk', async () => {
    await roundTrip({ dialect: 'postgres', backend: 'disk' });
  });
});
