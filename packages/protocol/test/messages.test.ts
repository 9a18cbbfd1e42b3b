import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../src/cbor.js';
import {
  type AccountInfo,
  type AccountResponse,
  BODY_LIMITS,
  decodeAccountInfo,
  decodeAccountRequestBody,
  decodeAccountResponse,
  decodeAllocateRequest,
  decodeAllocateResponse,
  decodeCorruptionAdvisory,
  decodeLeaseDurationRequest,
  decodeLeaseDurationResponse,
  decodeReadTestWriteRequest,
  decodeReadTestWriteResponse,
  decodeShareNumbers,
  decodeVersion,
  decodeWriteResponse,
  encodeAccountInfo,
  encodeAccountRequestBody,
  encodeAccountResponse,
  encodeAllocateRequest,
  encodeAllocateResponse,
  encodeCorruptionAdvisory,
  encodeLeaseDurationRequest,
  encodeLeaseDurationResponse,
  encodeReadTestWriteRequest,
  encodeReadTestWriteResponse,
  encodeShareNumbers,
  encodeVersion,
  encodeWriteResponse,
  type ReadTestWriteRequest,
  type TestWriteVectors,
} from '../src/messages.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const invalid = expect.objectContaining({ code: 'INVALID_MESSAGE' });

// Fact 4 ("fact N" in test names: docs/TAHOE-COMPATIBILITY.md): the bytes a Tahoe 1.20
// client connected with.
const VERSION_HEX =
  'a2582f687474703a2f2f616c6c6d79646174612e6f72672f7461686f652f70726f746f636f6c732f73746f726167652f7631a3581c6d6178696d756d2d696d6d757461626c652d73686172652d73697a651b0000010000000000581a6d6178696d756d2d6d757461626c652d73686172652d73697a651b00f582a1a13410004f617661696c61626c652d73706163651b0000010000000000536170706c69636174696f6e2d76657273696f6e4d6762732d70726f746f2f302e30';

const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const shnums = fc.uniqueArray(fc.nat(255), { maxLength: 20 }).map((xs) => xs.sort((a, b) => a - b));

describe('version', () => {
  it('encodeVersion produces exactly the bytes of fact 4 (numbers or bigints)', () => {
    expect(
      hex(
        encodeVersion({
          maximumImmutableShareSize: 2 ** 40,
          maximumMutableShareSize: 69105n * 10n ** 12n,
          availableSpace: 2 ** 40,
          applicationVersion: 'gbs-proto/0.0',
        }),
      ),
    ).toBe(VERSION_HEX);
    expect(
      hex(
        encodeVersion({
          maximumImmutableShareSize: 2n ** 40n,
          maximumMutableShareSize: 69105e12,
          availableSpace: 2n ** 40n,
          applicationVersion: 'gbs-proto/0.0',
        }),
      ),
    ).toBe(VERSION_HEX);
  });

  it('decodeVersion clamps sizes beyond 2^53 − 1', () => {
    expect(decodeVersion(unhex(VERSION_HEX))).toEqual({
      maximumImmutableShareSize: 2 ** 40,
      maximumMutableShareSize: Number.MAX_SAFE_INTEGER,
      availableSpace: 2 ** 40,
      applicationVersion: 'gbs-proto/0.0',
    });
  });

  it('decodeVersion accepts text keys and a text application-version', () => {
    const body = encodeCbor({
      'http://allmydata.org/tahoe/protocols/storage/v1': {
        'maximum-immutable-share-size': 10,
        'maximum-mutable-share-size': 20,
        'available-space': 30,
      },
      'application-version': 'x/1',
    });
    expect(decodeVersion(body)).toEqual({
      maximumImmutableShareSize: 10,
      maximumMutableShareSize: 20,
      availableSpace: 30,
      applicationVersion: 'x/1',
    });
  });

  it('decodeVersion names a missing field', () => {
    const body = encodeCbor({ 'application-version': 'x' });
    expect(() => decodeVersion(body)).toThrow(invalid);
    expect(() => decodeVersion(body)).toThrow(/storage\/v1/);
  });

  it('encodeVersion rejects a negative size', () => {
    expect(() =>
      encodeVersion({
        maximumImmutableShareSize: -1,
        maximumMutableShareSize: 1,
        availableSpace: 1,
        applicationVersion: 'x',
      }),
    ).toThrow(TypeError);
  });

  it('decodeVersion(encodeVersion(v)) round-trips', () => {
    fc.assert(
      fc.property(uint, uint, uint, fc.string(), (a, b, c, app) => {
        const v = {
          maximumImmutableShareSize: a,
          maximumMutableShareSize: b,
          availableSpace: c,
          applicationVersion: app,
        };
        expect(decodeVersion(encodeVersion(v))).toEqual(v);
      }),
    );
  });
});

describe('immutable messages', () => {
  it('encodeAllocateRequest matches the trace A body', () => {
    const body = encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 1507 });
    expect(body.length).toBe(38);
    expect(decodeAllocateRequest(body)).toEqual({ shareNumbers: [0], allocatedSize: 1507 });
  });

  it('encodeAllocateResponse produces exactly the bytes of fact 7', () => {
    expect(hex(encodeAllocateResponse({ alreadyHave: [], allocated: [0] }))).toBe(
      'a26c616c72656164792d68617665d901028069616c6c6f6361746564d901028100',
    );
  });

  it('decodeAllocateRequest requires tag-258 sets and known keys', () => {
    const asArray = encodeCbor({ 'share-numbers': [0], 'allocated-size': 1 });
    expect(() => decodeAllocateRequest(asArray)).toThrow(/share-numbers/);
    const extra = encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': 1, x: 1 });
    expect(() => decodeAllocateRequest(extra)).toThrow(invalid);
    const negative = encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': -1 });
    expect(() => decodeAllocateRequest(negative)).toThrow(/allocated-size/);
    const big = encodeCbor({ 'share-numbers': new Set([256]), 'allocated-size': 1 });
    expect(() => decodeAllocateRequest(big)).toThrow(invalid);
    const huge = encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': 2n ** 60n });
    expect(() => decodeAllocateRequest(huge)).toThrow(/allocated-size/);
  });

  it('decodeAllocateRequest accepts allocated sizes ≥ 2^32 sent as uint64', () => {
    const body = encodeCbor({ 'share-numbers': new Set([3, 1]), 'allocated-size': 2 ** 40 });
    expect(decodeAllocateRequest(body)).toEqual({ shareNumbers: [1, 3], allocatedSize: 2 ** 40 });
  });

  it('decodeAllocateResponse accepts plain arrays as Tahoe does', () => {
    const body = encodeCbor({ 'already-have': [2, 1], allocated: [] });
    expect(decodeAllocateResponse(body)).toEqual({ alreadyHave: [1, 2], allocated: [] });
  });

  it('encodeAllocateRequest rejects bad share numbers with RangeError/TypeError', () => {
    expect(() => encodeAllocateRequest({ shareNumbers: [256], allocatedSize: 1 })).toThrow(
      RangeError,
    );
    expect(() =>
      encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 'x' as unknown as number }),
    ).toThrow(TypeError);
  });

  it('allocate request and response round-trip', () => {
    fc.assert(
      fc.property(shnums, uint, shnums, (shareNumbers, allocatedSize, allocated) => {
        const req = { shareNumbers, allocatedSize };
        expect(decodeAllocateRequest(encodeAllocateRequest(req))).toEqual(req);
        const res = { alreadyHave: shareNumbers, allocated };
        expect(decodeAllocateResponse(encodeAllocateResponse(res))).toEqual(res);
      }),
    );
  });

  it('encodeWriteResponse({required: []}) is a168726571756972656480 (fact 10)', () => {
    expect(hex(encodeWriteResponse({ required: [] }))).toBe('a168726571756972656480');
  });

  it('write response round-trips', () => {
    const range = fc.record({ begin: uint, end: uint });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 5 }), (required) => {
        expect(decodeWriteResponse(encodeWriteResponse({ required }))).toEqual({ required });
      }),
    );
  });

  it('corruption advisories hold 1..32765 bytes of text', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), (reason) => {
        expect(decodeCorruptionAdvisory(encodeCorruptionAdvisory({ reason }))).toEqual({ reason });
      }),
    );
    expect(() => encodeCorruptionAdvisory({ reason: '' })).toThrow(RangeError);
    expect(() => encodeCorruptionAdvisory({ reason: 'x'.repeat(32766) })).toThrow(RangeError);
    expect(() => decodeCorruptionAdvisory(encodeCbor({ reason: '' }))).toThrow(/reason/);
    expect(() => decodeCorruptionAdvisory(encodeCbor({ reason: new Uint8Array([1]) }))).toThrow(
      invalid,
    );
  });

  it('share lists are tag-258 sets and round-trip sorted', () => {
    expect(hex(encodeShareNumbers([]))).toBe('d9010280');
    expect(hex(encodeShareNumbers([0]))).toBe('d901028100');
    fc.assert(
      fc.property(shnums, (xs) => {
        expect(decodeShareNumbers(encodeShareNumbers(xs))).toEqual(xs);
      }),
    );
  });
});

describe('mutable messages', () => {
  it('encodeReadTestWriteResponse matches the reply bytes of fact 11', () => {
    const body = encodeReadTestWriteResponse({
      success: true,
      data: new Map([[0, [new Uint8Array([0x61, 0x62, 0x63])]]]),
    });
    expect(hex(body)).toBe('a26773756363657373f56464617461a1008143616263');
    expect(decodeReadTestWriteResponse(body).data.get(0)).toEqual([
      new Uint8Array([0x61, 0x62, 0x63]),
    ]);
  });

  it('decodes the create request of trace B', () => {
    const body = encodeCbor({
      'test-write-vectors': new Map([
        [
          0,
          {
            test: [{ offset: 0, size: 1, specimen: new Uint8Array(0) }],
            write: [{ offset: 0, data: new Uint8Array(3907) }],
            'new-length': null,
          },
        ],
      ]),
      'read-vector': [{ offset: 0, size: 57 }],
    });
    const req = decodeReadTestWriteRequest(body);
    expect(req.readVector).toEqual([{ offset: 0, size: 57 }]);
    expect(req.testWriteVectors.get(0)?.newLength).toBeNull();
    expect(req.testWriteVectors.get(0)?.write[0]?.data.length).toBe(3907);
  });

  it('decodeReadTestWriteRequest names bad fields', () => {
    const tooMany = encodeCbor({
      'test-write-vectors': new Map(),
      'read-vector': Array.from({ length: 31 }, () => ({ offset: 0, size: 1 })),
    });
    expect(() => decodeReadTestWriteRequest(tooMany)).toThrow(/read-vector/);
    const textKey = encodeCbor({
      'test-write-vectors': { '0': { test: [], write: [], 'new-length': null } },
      'read-vector': [],
    });
    expect(() => decodeReadTestWriteRequest(textKey)).toThrow(/test-write-vectors/);
  });

  it('read-test-write request and response round-trip', () => {
    const bytes = fc.uint8Array({ maxLength: 16 });
    const twv: fc.Arbitrary<TestWriteVectors> = fc.record({
      test: fc.array(fc.record({ offset: uint, size: uint, specimen: bytes }), { maxLength: 3 }),
      write: fc.array(fc.record({ offset: uint, data: bytes }), { maxLength: 3 }),
      newLength: fc.option(uint, { nil: null }),
    });
    const request: fc.Arbitrary<ReadTestWriteRequest> = fc.record({
      testWriteVectors: fc
        .array(fc.tuple(fc.nat(255), twv), { maxLength: 3 })
        .map((e) => new Map(e)),
      readVector: fc.array(fc.record({ offset: uint, size: uint }), { maxLength: 30 }),
    });
    fc.assert(
      fc.property(request, (req) => {
        expect(decodeReadTestWriteRequest(encodeReadTestWriteRequest(req))).toEqual(req);
      }),
    );
    const response = fc.record({
      success: fc.boolean(),
      data: fc
        .array(fc.tuple(fc.nat(255), fc.array(bytes, { maxLength: 3 })), { maxLength: 3 })
        .map((e) => new Map(e)),
    });
    fc.assert(
      fc.property(response, (res) => {
        expect(decodeReadTestWriteResponse(encodeReadTestWriteResponse(res))).toEqual(res);
      }),
    );
  });
});

describe('accounting messages', () => {
  const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

  it('account request bodies round-trip and need a 64-byte signature', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), bytes(64), (r, s) => {
        const signed = { request: r, signature: s };
        expect(decodeAccountRequestBody(encodeAccountRequestBody(signed))).toEqual(signed);
      }),
    );
    const body = encodeCbor({ request: new Uint8Array(10), signature: new Uint8Array(63) });
    expect(() => decodeAccountRequestBody(body)).toThrow(/signature/);
  });

  it('account responses round-trip for every status', () => {
    const response: fc.Arbitrary<AccountResponse> = fc.oneof(
      fc.record({ status: fc.constant('active' as const), accountId: uint, nurl: fc.string() }),
      fc.record({ status: fc.constant('pending' as const), retryAfterSeconds: uint }),
      fc.record({ status: fc.constant('refused' as const), reason: fc.string() }),
    );
    fc.assert(
      fc.property(response, (r) => {
        expect(decodeAccountResponse(encodeAccountResponse(r))).toEqual(r);
      }),
    );
    expect(() => decodeAccountResponse(encodeCbor({ status: 'weird' }))).toThrow(/status/);
    expect(() => decodeAccountResponse(encodeCbor({ status: 'pending' }))).toThrow(/retry-after/);
  });

  it('account info round-trips with null quotas', () => {
    const info: fc.Arbitrary<AccountInfo> = fc.record({
      accountId: uint,
      nickname: fc.string(),
      status: fc.string(),
      shares: uint,
      bytes: uint,
      hardQuotaBytes: fc.option(uint, { nil: null }),
      softQuotaBytes: fc.option(uint, { nil: null }),
      leaseDurationSeconds: uint,
    });
    fc.assert(
      fc.property(info, (i) => {
        expect(decodeAccountInfo(encodeAccountInfo(i))).toEqual(i);
      }),
    );
  });

  it('lease duration request and response round-trip', () => {
    fc.assert(
      fc.property(uint, (seconds) => {
        expect(decodeLeaseDurationRequest(encodeLeaseDurationRequest({ seconds }))).toEqual({
          seconds,
        });
        const res = { leaseDurationSeconds: seconds };
        expect(decodeLeaseDurationResponse(encodeLeaseDurationResponse(res))).toEqual(res);
      }),
    );
    expect(() => decodeLeaseDurationRequest(encodeCbor({ seconds: 'x' }))).toThrow(/seconds/);
  });
});

describe('BODY_LIMITS', () => {
  it('holds Tahoe read_encoded caps', () => {
    expect(BODY_LIMITS).toEqual({
      allocate: 8192,
      advisory: 32768,
      readTestWrite: 2 ** 48,
      other: 1048576,
    });
  });
});
