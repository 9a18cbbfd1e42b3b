import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addRange,
  type BackendError,
  coveredParts,
  createKeyedLock,
  missingRanges,
  openBlob,
  sealBlob,
} from '../src/index.js';

describe('byte ranges', () => {
  it('addRange(), coveredParts() and missingRanges() agree with a bitmap model', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.tuple(fc.nat({ max: 220 }), fc.nat({ max: 60 })), { maxLength: 20 }),
        fc.tuple(fc.nat({ max: 220 }), fc.nat({ max: 60 })),
        (total, adds, [qBegin, qLength]) => {
          const model = new Array<boolean>(total + 300).fill(false);
          let ranges: ReturnType<typeof addRange> = [];
          for (const [begin, length] of adds) {
            ranges = addRange(ranges, { begin, end: begin + length });
            for (let i = begin; i < begin + length; i++) model[i] = true;
          }
          // Disjoint, sorted, not touching.
          for (let i = 1; i < ranges.length; i++)
            expect(ranges[i]!.begin).toBeGreaterThan(ranges[i - 1]!.end);
          const missing = missingRanges(ranges, total);
          const missingModel = model.slice(0, total).map((set) => !set);
          const fromRanges = new Array<boolean>(total).fill(false);
          for (const r of missing) for (let i = r.begin; i < r.end; i++) fromRanges[i] = true;
          expect(fromRanges).toEqual(missingModel);
          const covered = coveredParts(ranges, { begin: qBegin, end: qBegin + qLength });
          const coveredModel: number[] = [];
          for (let i = qBegin; i < qBegin + qLength; i++) if (model[i]) coveredModel.push(i);
          expect(
            covered.flatMap((r) => Array.from({ length: r.end - r.begin }, (_, k) => r.begin + k)),
          ).toEqual(coveredModel);
        },
      ),
    );
  });
});

describe('sealed blobs', () => {
  const key = new Uint8Array(32).fill(9);
  it('openBlob(sealBlob()) returns the bytes; each seal uses a fresh nonce', () => {
    const data = new TextEncoder().encode('leasedb backup');
    const a = sealBlob('leasedb/1', data, key);
    const b = sealBlob('leasedb/1', data, key);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(openBlob('leasedb/1', a, key)).toEqual(data);
    expect(Buffer.from(a).includes(Buffer.from(data))).toBe(false);
  });

  it('a blob read under another name, altered, or truncated is CORRUPT', () => {
    const sealed = sealBlob('owners/a', new Uint8Array([1, 2, 3]), key);
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as BackendError).code;
      }
      return 'resolved';
    };
    expect(codeOf(() => openBlob('owners/b', sealed, key))).toBe('CORRUPT');
    const altered = new Uint8Array(sealed);
    altered[20]! ^= 1;
    expect(codeOf(() => openBlob('owners/a', altered, key))).toBe('CORRUPT');
    expect(codeOf(() => openBlob('owners/a', sealed.subarray(0, 10), key))).toBe('CORRUPT');
  });
});

describe('createKeyedLock()', () => {
  it('runs one function at a time per key, and different keys side by side', async () => {
    const lock = createKeyedLock();
    const log: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = lock.run('a', async () => {
      log.push('a1 start');
      await held;
      log.push('a1 end');
    });
    const second = lock.run('a', async () => {
      log.push('a2');
    });
    await lock.run('b', async () => {
      log.push('b');
    });
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('a failing function does not block the next one', async () => {
    const lock = createKeyedLock();
    await expect(lock.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    expect(await lock.run('k', async () => 42)).toBe(42);
  });
});
