import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CBOR_LIMITS, decodeCbor, encodeCbor } from '../src/cbor.js';
import { ProtocolError } from '../src/errors.js';

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
    // Lengths beyond the body (an array of 2^64 − 1 or 2^32 − 1 items, a map of 2^31 entries, a
    // bstr of 2^64 − 1 bytes); additional information 1c–1e (reserved) and 1f where no
    // indefinite length exists; a break after a complete item; an indefinite array never closed.
    const lengths = ['9bffffffffffffffff00', '9affffffff00', 'ba8000000000', '5bffffffffffffffff'];
    const reserved = ['1c', '3d', '5e', '9c', 'bd', 'dc00', 'fc', '1f', 'df00', '8100ff', '9f00'];
    for (const bad of ['0000', 'a1', '', 'ff', 'a201', 'bf00ff', ...lengths, ...reserved]) {
      expect(() => decodeCbor(unhex(bad)), bad).toThrow(
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

/** `[L0, L1, …, Ln]` where L0 is a shared `[0, 0]` and each Li a shared pair of references to L(i−1). */
function nestedSharedReferences(levels: number): Uint8Array {
  const uint = (n: number) => (n < 24 ? [n] : [0x18, n]);
  const out = [0x98, levels + 1, 0xd8, 0x1c, 0x82, 0x00, 0x00];
  for (let i = 1; i <= levels; i++) {
    out.push(0xd8, 0x1c, 0x82, 0xd8, 0x1d, ...uint(i - 1), 0xd8, 0x1d, ...uint(i - 1));
  }
  return new Uint8Array(out);
}

/** How many values a tree walk of `value` visits, stopping once past `limit`. */
function treeSize(value: unknown, limit: number): number {
  let count = 0;
  const walk = (v: unknown): void => {
    if (++count > limit) return;
    if (Array.isArray(v) || v instanceof Set) for (const x of v) walk(x);
    else if (v instanceof Map) {
      for (const [k, x] of v) {
        walk(k);
        walk(x);
      }
    }
  };
  walk(value);
  return count;
}

const unsupported = expect.objectContaining({ code: 'UNSUPPORTED_CBOR' });

describe('decodeCbor bounds its work before decoding', () => {
  it('refuses shared values and references (tags 28 and 29), self-referencing or nested', () => {
    // A 269-byte body whose tree walk is 2^29 values; and an array holding itself.
    const nested = nestedSharedReferences(28);
    expect(nested.length).toBeLessThan(300);
    expect(() => decodeCbor(nested)).toThrow(unsupported);
    expect(() => decodeCbor(unhex('d81c81d81d00'))).toThrow(unsupported);
    expect(() => decodeCbor(unhex('d81c00'))).toThrow(unsupported);
  });

  it('refuses every tag but 258, and tag 258 around anything but an array (fact 7)', () => {
    // Dates, bignums, decimal fractions, cbor-x's records, packed values, string references,
    // tag 259 maps, typed arrays, self-described CBOR.
    const tagged = [
      'c074323032342d30312d30315430303a30303a30305a',
      'c100',
      'c24101',
      'c34101',
      'c4820000',
      'd81b820000',
      'd833820000',
      'd81900',
      'd90100820000',
      'd90103a0',
      'd84040',
      'd9d9f700',
      'd9dfff820000',
      'daffffffff00',
      'dbffffffffffffffff00',
      'd9010200',
      'd90102a0',
      'd9010240',
      'd90102d9010280',
    ];
    for (const body of tagged) expect(() => decodeCbor(unhex(body)), body).toThrow(unsupported);
    expect(decodeCbor(unhex('d9010280'))).toEqual(new Set());
    expect(decodeCbor(unhex('da000001029f0102ff'))).toEqual(new Set([1, 2]));
    expect(decodeCbor(unhex('a1d90102810080'))).toEqual(new Map([[new Set([0]), []]]));
  });

  it('refuses simple values other than false, true, null and undefined, and indefinite strings', () => {
    for (const body of ['e0', 'f3', 'f820', 'f8ff', '5f41ff', '5f4100ff', '7f6161ff']) {
      expect(() => decodeCbor(unhex(body)), body).toThrow(unsupported);
    }
    expect(decodeCbor(unhex('84f4f5f6f7'))).toEqual([false, true, null, undefined]);
    expect(decodeCbor(unhex('83f93c00fa3fc00000fb3ff8000000000000'))).toEqual([1, 1.5, 1.5]);
  });

  it(`refuses nesting deeper than ${CBOR_LIMITS.maxDepth}, however deep`, () => {
    // depth − 1 one-element arrays around a 0.
    const nest = (depth: number) => new Uint8Array(depth).fill(0x81, 0, depth - 1);
    expect(treeSize(decodeCbor(nest(CBOR_LIMITS.maxDepth)), 100)).toBe(CBOR_LIMITS.maxDepth);
    expect(() => decodeCbor(nest(CBOR_LIMITS.maxDepth + 1))).toThrow(unsupported);
    // Far past the JS stack: refused by the scan, not by a stack overflow.
    expect(() => decodeCbor(nest(1_000_000))).toThrow(unsupported);
    // {0: {0: … 0}}, and [_ [_ … 0 (never closed: refused for depth before truncation).
    const maps = new Uint8Array(400_001).map((_, i) => (i === 400_000 || i % 2 ? 0 : 0xa1));
    expect(() => decodeCbor(maps)).toThrow(unsupported);
    const indefinite = new Uint8Array(200_001).fill(0x9f, 0, 200_000);
    expect(() => decodeCbor(indefinite)).toThrow(unsupported);
  });

  it(`holds a body to ${CBOR_LIMITS.baseItems} items, or one per ${CBOR_LIMITS.bytesPerItem} bytes`, () => {
    const header = (n: number) => [0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    const zeros = (n: number, head: number[]) => {
      const out = new Uint8Array(head.length + n);
      out.set(head);
      return out;
    };
    const base = CBOR_LIMITS.baseItems;
    // The array itself is an item: base − 1 elements fit, base do not.
    expect((decodeCbor(zeros(base - 1, header(base - 1))) as number[]).length).toBe(base - 1);
    expect(() => decodeCbor(zeros(base, header(base)))).toThrow(unsupported);
    expect(() => decodeCbor(zeros(base, [0x9f]))).toThrow(unsupported);
    // A declared count past the bound is refused at its header, before its elements are read.
    expect(() => decodeCbor(zeros(1 << 20, header(1 << 20)))).toThrow(unsupported);
    // A body of many bytes may hold proportionally more items (a Tahoe client's read-test-write
    // carries a whole mutable share: one write vector per segment).
    const big = 8 * 1024 * 1024;
    const extra = big / CBOR_LIMITS.bytesPerItem - 16;
    const body = new Uint8Array(big);
    const blob = big - 6 - 5 - extra;
    body.set([0x82, 0x5a, ...header(blob).slice(1)]);
    body.set(header(extra), 6 + blob);
    const decoded = decodeCbor(body) as [Uint8Array, number[]];
    expect(decoded[0].length).toBe(blob);
    expect(decoded[1].length).toBe(extra);
  });

  it('any byte string decodes to a tree no larger than itself or throws ProtocolError, quickly', () => {
    const head = (major: number, n: number) =>
      n < 24
        ? [(major << 5) | n]
        : n < 256
          ? [(major << 5) | 24, n]
          : [(major << 5) | 25, n >> 8, n & 0xff];
    // Well-formed items built from what an attacker would reach for: shared values (28) and
    // references (29) to the first few ids, sets (258), other tags, containers definite and not.
    const item = fc.letrec<{ item: number[] }>((tie) => ({
      item: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.nat(30).map((n) => head(0, n)),
        fc.constantFrom<number[]>(
          [0x41, 0x61],
          [0x61, 0x61],
          [0xf6],
          [0xf7],
          [0xe0],
          [0xd8, 0x1d, 0x00],
        ),
        fc.nat(3).map((id) => [0xd8, 0x1d, id]),
        fc.array(tie('item'), { maxLength: 6 }).map((xs) => [...head(4, xs.length), ...xs.flat()]),
        fc.array(tie('item'), { maxLength: 6 }).map((xs) => [0x9f, ...xs.flat(), 0xff]),
        fc
          .array(fc.tuple(tie('item'), tie('item')), { maxLength: 4 })
          .map((kv) => [...head(5, kv.length), ...kv.flat(2)]),
        fc
          .tuple(fc.constantFrom(28, 28, 28, 258, 0, 1, 2, 27, 259, 256, 55799), tie('item'))
          .map(([tag, x]) => [...head(6, tag), ...x]),
      ),
    })).item;
    // Well-formed items, the same cut or with a byte changed, and plain random bytes.
    const body = fc.oneof(
      item,
      fc.tuple(item, fc.nat(), fc.nat(255)).map(([xs, at, byte]) => {
        const out = [...xs];
        out[at % out.length] = byte;
        return out;
      }),
      fc.tuple(item, fc.nat()).map(([xs, cut]) => xs.slice(0, cut % (xs.length + 1))),
      fc.array(fc.nat(255), { maxLength: 64 }),
    );
    fc.assert(
      fc.property(body, (list) => {
        const bytes = new Uint8Array(list);
        const started = performance.now();
        let value: unknown;
        try {
          value = decodeCbor(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          return;
        } finally {
          // Generous for a loaded machine: bodies of a few hundred bytes decode in microseconds.
          expect(performance.now() - started).toBeLessThan(250);
        }
        // Every value is one item of at least one byte: nothing decodes to more than its bytes.
        expect(treeSize(value, bytes.length)).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 3000 },
    );
  });
});
