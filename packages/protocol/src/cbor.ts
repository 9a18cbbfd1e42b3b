import { Decoder, Encoder } from 'cbor-x';
import { ProtocolError } from './errors.js';

// Options that make cbor-x write what Tahoe's cbor2/pycddl accept (docs/TAHOE-COMPATIBILITY.md
// facts 5–6): no "records" (tag 57343), no tag 259 around Maps, no tag 64 around Uint8Array,
// minimal map headers. A Set becomes tag 258 and a Map keeps non-text keys.
// `useTag259ForMaps` is read by cbor-x (encode.js) but missing from its Options type.
const encoderOptions = {
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  variableMapSize: true,
  tagUint8Array: false,
};
const encoder = new Encoder(encoderOptions);

// mapsAsObjects:false keeps the uint keys of RTW maps as numbers (with the default they become
// the strings "0", "1", …); useRecords:false keeps a peer from defining record structures.
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });

const TWO_POW_32 = 2 ** 32;
const MAX_UINT64 = 2n ** 64n - 1n;

/**
 * Encodes `value` as CBOR the way Tahoe expects: Set → tag 258, Map → map (any key type), plain
 * object → map with text keys, Uint8Array → bstr, bigint or integer ≥ 2^32 → uint64 (never a
 * float). RangeError for an integer outside ±(2^64 − 1).
 */
export function encodeCbor(value: unknown): Uint8Array {
  const out = encoder.encode(widen(value));
  // A plain Uint8Array view (cbor-x returns a Buffer over a slab it never writes again), so
  // results compare equal to other Uint8Arrays.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Decodes exactly one CBOR item: maps come back as `Map`, tag 258 as `Set`, bstr as plain
 * `Uint8Array`, integers as `number` when safe and `bigint` beyond 2^53 − 1. Trailing bytes or
 * any malformation is ProtocolError `MALFORMED_CBOR`.
 */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeCbor takes a Uint8Array');
  if (bytes.length === 0) throw new ProtocolError('MALFORMED_CBOR', 'empty CBOR body');
  let value: unknown;
  try {
    // cbor-x itself rejects trailing bytes ("end of buffer not reached") and truncation.
    value = decoder.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('MALFORMED_CBOR', 'body is not one well-formed CBOR item', { cause });
  }
  return narrow(value);
}

/**
 * Rewrites integers for the encoder: cbor-x writes any JS number ≥ 2^32 as float64 (fact 5c),
 * which Tahoe's schema calls invalid, and writes every bigint as 8 bytes; so large integers
 * become bigint and small bigints become numbers. Containers are copied only when a member changes.
 */
function widen(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      if (Number.isInteger(value) && Math.abs(value) >= TWO_POW_32) return toBig(BigInt(value));
      return value;
    case 'bigint':
      if (value > -TWO_POW_32 && value < TWO_POW_32) return Number(value);
      return toBig(value);
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const w = widen(item);
      if (w !== item && out === undefined) out = value.slice(0, i);
      out?.push(w);
    }
    return out ?? value;
  }
  if (value instanceof Map) {
    let changed = false;
    const entries: [unknown, unknown][] = [];
    for (const [k, v] of value) {
      const wk = widen(k);
      const wv = widen(v);
      if (wk !== k || wv !== v) changed = true;
      entries.push([wk, wv]);
    }
    return changed ? new Map(entries) : value;
  }
  if (value instanceof Set) {
    let changed = false;
    const items: unknown[] = [];
    for (const v of value) {
      const w = widen(v);
      if (w !== v) changed = true;
      items.push(w);
    }
    return changed ? new Set(items) : value;
  }
  if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const w = widen(v);
      if (w !== v) out ??= { ...value };
      if (out !== undefined) out[k] = w;
    }
    return out ?? value;
  }
  return value;
}

function toBig(value: bigint): bigint {
  if (value > MAX_UINT64 || value < -MAX_UINT64 - 1n) {
    throw new RangeError(`integer ${value} does not fit in CBOR's 64-bit major types`);
  }
  return value;
}

/** Normalises decoded values: Buffer → Uint8Array, safe bigint → number, recursively. */
function narrow(value: unknown): unknown {
  switch (typeof value) {
    case 'bigint':
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return value;
  if (value instanceof Uint8Array) {
    // A view, not a copy; Buffer's subclass would make equality checks and instanceof-based
    // callers see a different type depending on the decode path.
    return value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrow(value[i]);
    return value;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, v] of value) out.set(narrow(k), narrow(v));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    for (const v of value) out.add(narrow(v));
    return out;
  }
  return value;
}
