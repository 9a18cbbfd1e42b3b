import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { TrafficCounts, TrafficRow, TrafficSample } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect } from './setup.js';

const HOUR = 3600;
/** An hour of 2023, so that the tests do not lean on small numbers. */
const T0 = 1_700_002_800;

function row(accountId: number, hour: number, counts: Partial<TrafficCounts> = {}): TrafficRow {
  return { accountId, hour, uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0, ...counts };
}

function sample(hour: number, counts: Partial<TrafficCounts>): TrafficSample {
  return { hour, uploads: 0, reads: 0, bytesIn: 0, bytesOut: 0, ...counts };
}

const ALL = { from: 0, to: Number.MAX_SAFE_INTEGER };

describeEachDialect('traffic', (dialect) => {
  it('addTraffic() adds to what the table holds: across calls, within a batch, and from two LeaseDb instances on one database', async () => {
    const location = await dialect.location();
    const first = await location.open();
    const second = await location.open();
    await first.addTraffic([row(2, T0, { uploads: 1, bytesIn: 100 })]);
    await first.addTraffic([
      row(2, T0, { reads: 2, bytesOut: 30 }),
      // One key twice in a batch: both count (PostgreSQL refuses an upsert meeting a key twice).
      row(2, T0, { reads: 1, bytesOut: 5 }),
    ]);
    await second.addTraffic([row(2, T0, { uploads: 2, bytesIn: 50, reads: 1, bytesOut: 1 })]);
    const batches = [
      [row(2, T0, { uploads: 1 }), row(3, T0, { reads: 1 })],
      [row(3, T0, { reads: 1 }), row(2, T0, { uploads: 1 })],
    ];
    if (dialect.name === 'postgres') {
      // Both at once, as two processes of one node flushing together.
      await Promise.all([first.addTraffic(batches[0]!), second.addTraffic(batches[1]!)]);
    } else {
      // SQLite's second writer waits for the first's lock synchronously (busy_timeout), which
      // within one process would block the event loop the first needs to commit: one at a time.
      await first.addTraffic(batches[0]!);
      await second.addTraffic(batches[1]!);
    }
    const expected = [sample(T0, { uploads: 5, reads: 4, bytesIn: 150, bytesOut: 36 })];
    expect(await first.getTraffic({ accountId: 2, ...ALL })).toEqual(expected);
    expect(await second.getTraffic({ accountId: 2, ...ALL })).toEqual(expected);
    expect(await second.getTraffic({ accountId: 3, ...ALL })).toEqual([sample(T0, { reads: 2 })]);
  });

  it('addTraffic() keeps 64-bit counters: sums past 2^32 come back exact', async () => {
    const db = await dialect.open();
    const big = 3_000_000_000_000;
    await db.addTraffic([row(2, T0, { bytesIn: big, bytesOut: big })]);
    await db.addTraffic([row(2, T0, { bytesIn: big, bytesOut: 1 })]);
    expect(await db.getTraffic({ accountId: 2, ...ALL })).toEqual([
      sample(T0, { bytesIn: 2 * big, bytesOut: big + 1 }),
    ]);
    expect(await db.getTraffic(ALL)).toEqual([sample(T0, { bytesIn: 2 * big, bytesOut: big + 1 })]);
  });

  it('addTraffic([]) and rows of zeros write nothing', async () => {
    const db = await dialect.open();
    await db.addTraffic([]);
    await db.addTraffic([row(2, T0), row(0, T0 + HOUR)]);
    expect(await db.getTraffic(ALL)).toEqual([]);
  });

  it('getTraffic() without an account sums every account hour by hour (the node)', async () => {
    const db = await dialect.open();
    await db.addTraffic([
      row(0, T0, { uploads: 1, bytesIn: 10 }),
      row(2, T0, { reads: 3, bytesOut: 300 }),
      row(3, T0 + HOUR, { uploads: 2, bytesIn: 20 }),
      row(2, T0 + 3 * HOUR, { reads: 1, bytesOut: 7 }),
      row(0, T0 + 3 * HOUR, { uploads: 1, reads: 1, bytesIn: 1, bytesOut: 1 }),
    ]);
    expect(await db.getTraffic(ALL)).toEqual([
      sample(T0, { uploads: 1, reads: 3, bytesIn: 10, bytesOut: 300 }),
      sample(T0 + HOUR, { uploads: 2, bytesIn: 20 }),
      sample(T0 + 3 * HOUR, { uploads: 1, reads: 2, bytesIn: 1, bytesOut: 8 }),
    ]);
    // The anonymous account is an account like the others.
    expect(await db.getTraffic({ accountId: 0, ...ALL })).toEqual([
      sample(T0, { uploads: 1, bytesIn: 10 }),
      sample(T0 + 3 * HOUR, { uploads: 1, reads: 1, bytesIn: 1, bytesOut: 1 }),
    ]);
    // An account that served nothing has no samples.
    expect(await db.getTraffic({ accountId: 9, ...ALL })).toEqual([]);
  });

  it('getTraffic({ from, to }) returns the hours in [from, to) that have a row, oldest first', async () => {
    const db = await dialect.open();
    // Written newest first: the order comes from the query, not from the rows.
    for (const h of [5, 4, 2, 1, 0]) await db.addTraffic([row(2, T0 + h * HOUR, { reads: h + 1 })]);
    const hours = async (from: number, to: number, accountId?: number) =>
      (await db.getTraffic({ from, to, ...(accountId === undefined ? {} : { accountId }) })).map(
        (s) => (s.hour - T0) / HOUR,
      );
    expect(await hours(T0, T0 + 6 * HOUR)).toEqual([0, 1, 2, 4, 5]);
    expect(await hours(T0 + HOUR, T0 + 4 * HOUR, 2)).toEqual([1, 2]);
    // A bound inside an hour: that hour started before `from`, so it is out.
    expect(await hours(T0 + HOUR + 1, T0 + 5 * HOUR + 1, 2)).toEqual([2, 4, 5]);
    expect(await hours(T0 + 3 * HOUR, T0 + 4 * HOUR)).toEqual([]);
    expect(await hours(T0 + 2 * HOUR, T0 + 2 * HOUR)).toEqual([]);
    expect(await hours(T0 + 5 * HOUR, T0)).toEqual([]);
  });

  it('deleteTrafficBefore(hour) deletes the rows of every account for earlier hours and returns how many', async () => {
    const db = await dialect.open();
    await db.addTraffic([
      row(0, T0, { reads: 1 }),
      row(2, T0, { reads: 1 }),
      row(2, T0 + HOUR, { reads: 2 }),
      row(3, T0 + 2 * HOUR, { reads: 3 }),
    ]);
    expect(await db.deleteTrafficBefore(T0)).toBe(0);
    expect(await db.deleteTrafficBefore(T0 + HOUR)).toBe(2);
    expect(await db.getTraffic(ALL)).toEqual([
      sample(T0 + HOUR, { reads: 2 }),
      sample(T0 + 2 * HOUR, { reads: 3 }),
    ]);
    expect(await db.deleteTrafficBefore(T0 + 2 * HOUR + 1)).toBe(2);
    expect(await db.getTraffic(ALL)).toEqual([]);
    expect(await outcome(db.deleteTrafficBefore(-1))).toBe('RangeError');
    expect(await outcome(db.deleteTrafficBefore(1.5))).toBe('TypeError');
  });

  it('addTraffic() refuses a malformed row and writes nothing, the good rows of its batch included', async () => {
    const db = await dialect.open();
    await db.addTraffic([row(2, T0, { reads: 1 })]);
    const good = row(2, T0, { uploads: 1, bytesIn: 9 });
    const bad: [string, unknown][] = [
      ['TypeError', null],
      ['TypeError', { ...good, accountId: 'two' }],
      ['RangeError', { ...good, accountId: -2 }],
      ['TypeError', { ...good, hour: T0 + 0.5 }],
      ['RangeError', { ...good, hour: T0 + 60 }],
      ['RangeError', { ...good, hour: -HOUR }],
      ['TypeError', { ...good, uploads: Number.NaN }],
      ['TypeError', { ...good, reads: undefined }],
      ['RangeError', { ...good, bytesIn: -1 }],
      ['TypeError', { ...good, bytesOut: 2 ** 53 }],
      ['TypeError', { ...good, bytesOut: '5' }],
    ];
    for (const [code, malformed] of bad) {
      const batch = [good, malformed, good] as TrafficRow[];
      expect(await outcome(db.addTraffic(batch)), JSON.stringify(malformed)).toBe(code);
    }
    // Each row is a safe integer, their sum is not.
    const half = row(2, T0, { bytesOut: 2 ** 52 });
    expect(await outcome(db.addTraffic([half, half]))).toBe('TypeError');
    expect(await outcome(db.addTraffic('rows' as unknown as TrafficRow[]))).toBe('TypeError');
    expect(await db.getTraffic(ALL)).toEqual([sample(T0, { reads: 1 })]);
  });

  it('getTraffic() refuses a malformed query', async () => {
    const db = await dialect.open();
    expect(await outcome(db.getTraffic({ from: -1, to: 5 }))).toBe('RangeError');
    expect(await outcome(db.getTraffic({ from: 0, to: 1.5 }))).toBe('TypeError');
    expect(await outcome(db.getTraffic({ from: 0 } as { from: number; to: number }))).toBe(
      'TypeError',
    );
    expect(await outcome(db.getTraffic({ accountId: -1, ...ALL }))).toBe('RangeError');
    expect(await outcome(db.getTraffic(null as unknown as { from: number; to: number }))).toBe(
      'TypeError',
    );
  });

  it('addTraffic() inside transaction() commits with it and rolls back with it', async () => {
    const db = await dialect.open();
    await db.transaction(async (tx) => {
      await tx.addTraffic([row(2, T0, { uploads: 1 })]);
      await tx.addTraffic([row(2, T0, { uploads: 1 })]);
      expect(await tx.getTraffic({ accountId: 2, ...ALL })).toEqual([sample(T0, { uploads: 2 })]);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.addTraffic([row(2, T0, { uploads: 5 })]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await db.getTraffic({ accountId: 2, ...ALL })).toEqual([sample(T0, { uploads: 2 })]);
    expect(await db.transaction((tx) => tx.deleteTrafficBefore(T0 + HOUR))).toBe(1);
  });

  it('after random batches from two instances, getTraffic() per account and in total equals the sums', async () => {
    const location = await dialect.location();
    const instances = [await location.open(), await location.open()];
    const count = fc.integer({ min: 0, max: 1_000_000 });
    const rowArb: fc.Arbitrary<TrafficRow> = fc.record({
      accountId: fc.constantFrom(0, 2, 3, 7),
      hour: fc.integer({ min: 0, max: 5 }).map((h) => T0 + h * HOUR),
      uploads: fc.integer({ min: 0, max: 3 }),
      reads: fc.integer({ min: 0, max: 5 }),
      bytesIn: count,
      bytesOut: count,
    });
    const batches = fc.array(
      fc.record({ instance: fc.constantFrom(0, 1), rows: fc.array(rowArb, { maxLength: 8 }) }),
      { maxLength: 12 },
    );
    const numRuns = dialect.name === 'postgres' ? 15 : 30;
    await fc.assert(
      fc.asyncProperty(batches, async (steps) => {
        // Each run starts from an empty table.
        await instances[0]!.deleteTrafficBefore(Number.MAX_SAFE_INTEGER);
        const perAccount = new Map<number, Map<number, TrafficSample>>();
        const total = new Map<number, TrafficSample>();
        const add = (into: Map<number, TrafficSample>, r: TrafficRow) => {
          const was = into.get(r.hour) ?? sample(r.hour, {});
          into.set(r.hour, {
            hour: r.hour,
            uploads: was.uploads + r.uploads,
            reads: was.reads + r.reads,
            bytesIn: was.bytesIn + r.bytesIn,
            bytesOut: was.bytesOut + r.bytesOut,
          });
        };
        const isZero = (r: TrafficRow) =>
          r.uploads === 0 && r.reads === 0 && r.bytesIn === 0 && r.bytesOut === 0;
        for (const step of steps) {
          await instances[step.instance]!.addTraffic(step.rows);
          for (const r of step.rows) {
            if (isZero(r)) continue;
            const hours = perAccount.get(r.accountId) ?? new Map<number, TrafficSample>();
            perAccount.set(r.accountId, hours);
            add(hours, r);
            add(total, r);
          }
        }
        const sorted = (samples: Map<number, TrafficSample>) =>
          [...samples.values()].sort((a, b) => a.hour - b.hour);
        for (const accountId of [0, 2, 3, 7]) {
          expect(await instances[1]!.getTraffic({ accountId, ...ALL })).toEqual(
            sorted(perAccount.get(accountId) ?? new Map()),
          );
        }
        expect(await instances[0]!.getTraffic(ALL)).toEqual(sorted(total));
      }),
      { numRuns },
    );
  });
});
