import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor } from '../src/cbor.js';

// "fact N" in test names: the numbered facts of docs/TAHOE-COMPATIBILITY.md.

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('encodeCbor', () => {
  it('writes a Set as tag 258 (fact 7)', () => {
    expect(hex(encodeCbor(new Set([0])))).toBe('d901028100');
    expect(hex(encodeCbor(new Set()))).toBe('d9010280');
  });

  it('writes a Uint8Array as a plain bstr, not tag 64 (fact 5d)', () => {
    expect(hex(encodeCbor(new Uint8Array([1, 2])))).toBe('420102');
    expect(hex(encodeCbor(Buffer.from([1, 2])))).toBe('420102');
  });

  it('writes integers ≥ 2^32 as uint64, never float (fact 5c)', () => {
    expect(hex(encodeCbor(2 ** 40))).toBe('1b0000010000000000');
    expect(hex(encodeCbor(69105e12))).toBe('1b00f582a1a1341000');
    expect(hex(encodeCbor(2 ** 32))).toBe('1b0000000100000000');
    expect(hex(encodeCbor(2 ** 32 - 1))).toBe('1affffffff');
    expect(hex(encodeCbor({ a: [2 ** 40] }))).toBe('a16161811b0000010000000000');
  });

  it('writes small bigints minimally', () => {
    expect(hex(encodeCbor(5n))).toBe('05');
    expect(hex(encodeCbor(2n ** 40n))).toBe('1b0000010000000000');
  });

  it('writes plain objects as minimal text-keyed maps and Maps with their own keys (fact 5e)', () => {
    expect(hex(encodeCbor({ required: [] }))).toBe('a168726571756972656480');
    expect(hex(encodeCbor(new Map([[0, [unhex('616263')]]])))).toBe('a1008143616263');
  });

  it('rejects integers beyond 64 bits with RangeError', () => {
    expect(() => encodeCbor(2n ** 64n)).toThrow(RangeError);
  });
});

describe('decodeCbor', () => {
  it('returns Maps, Sets, plain Uint8Arrays and numbers', () => {
    const value = decodeCbor(unhex('a26773756363657373f56464617461a1008143616263')) as Map<
      string,
      unknown
    >;
    expect(value.get('success')).toBe(true);
    const data = value.get('data') as Map<number, Uint8Array[]>;
    const first = data.get(0)?.[0];
    expect(first?.constructor).toBe(Uint8Array);
    expect(first).toEqual(new Uint8Array([0x61, 0x62, 0x63]));
    expect(decodeCbor(unhex('d9010283010203'))).toEqual(new Set([1, 2, 3]));
  });

  it('normalises uint64 to number when safe and keeps bigint beyond', () => {
    expect(decodeCbor(unhex('1b0000010000000000'))).toBe(2 ** 40);
    expect(decodeCbor(unhex('1b0000000000000001'))).toBe(1);
    expect(decodeCbor(unhex('1b00f582a1a1341000'))).toBe(69105000000000000n);
  });

  it('rejects trailing bytes, truncation and empty input as MALFORMED_CBOR', () => {
    for (const bad of ['0000', 'a1', '', 'ff', '5f41']) {
      expect(() => decodeCbor(unhex(bad))).toThrow(
        expect.objectContaining({ code: 'MALFORMED_CBOR' }),
      );
    }
  });

  it('decodeCbor(encodeCbor(v)) round-trips JSON-like values with bytes, sets and maps', () => {
    const leaf = fc.oneof(
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: -(2 ** 31), max: 0 }),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 40 }),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { maxLength: 4 }),
        fc.uniqueArray(fc.nat(255), { maxLength: 5 }).map((xs) => new Set(xs)),
        fc
          .array(fc.tuple(fc.nat(1000), tie('node')), { maxLength: 4 })
          .map((entries) => new Map(entries)),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(decodeCbor(encodeCbor(v))).toEqual(v);
      }),
    );
  });
});
