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
 * What `decodeCbor` admits, checked by a scan of the item headers before cbor-x builds a value.
 * Nesting: read-test-write, the deepest message, needs 6 (map, map, map, array, map, bstr).
 * Items (every array, map, key, element, tag and scalar counts one): a body may hold
 * `max(baseItems, bodyBytes / bytesPerItem)`. Other messages hold a few hundred (a GSD
 * directory of 1,000 entries about 5,000); a Tahoe client's read-test-write names one share and
 * writes it whole (docs/TAHOE-COMPATIBILITY.md fact 11), in one write vector or, for MDMF, one
 * 5-item vector per segment whose block is over 500 bytes even when a file has 256 shares, so
 * its bound grows with its body and never refuses it. Empty maps cost cbor-x the most per byte
 * (tens of ms per 2^16 when cold), hence the fixed part is no larger.
 */
export const CBOR_LIMITS = {
  maxDepth: 16,
  baseItems: 16_384,
  bytesPerItem: 64,
} as const;

/** The only tag the protocol uses: a set (docs/TAHOE-COMPATIBILITY.md fact 7). */
const TAG_SET = 258;
// Open containers on the scan's stack: a definite one holds its count of items still to come
// (≥ 1; a map counts keys and values); an indefinite one ends at a break.
const INDEFINITE_ARRAY = -1;
const INDEFINITE_MAP_KEY = -2;
const INDEFINITE_MAP_VALUE = -3;

/**
 * Decodes exactly one CBOR item: maps come back as `Map`, tag 258 as `Set`, bstr as plain
 * `Uint8Array`, integers as `number` when safe and `bigint` beyond 2^53 − 1. Trailing bytes or
 * any malformation is ProtocolError `MALFORMED_CBOR`; any tag but 258 around an array, a simple
 * value but false/true/null/undefined, an indefinite-length string, or nesting or items beyond
 * {@link CBOR_LIMITS} is `UNSUPPORTED_CBOR`, found before any value is built.
 */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeCbor takes a Uint8Array');
  if (bytes.length === 0) throw new ProtocolError('MALFORMED_CBOR', 'empty CBOR body');
  // Without the scan, cbor-x would honour shared values (tags 28/29: a few hundred bytes that
  // every later walk visits as a tree of 2^28 values, or a value containing itself), any other
  // tag it knows (records, packed values, dates), and nest until the stack overflows.
  scanCbor(bytes);
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('MALFORMED_CBOR', 'body is not one well-formed CBOR item', { cause });
  }
  return narrow(value);
}

/**
 * Walks the item headers of `bytes` (RFC 8949 §3) without building a value: O(length) time,
 * O(maxDepth) memory, strings skipped by their lengths. Throws what {@link decodeCbor} says.
 */
function scanCbor(bytes: Uint8Array): void {
  const end = bytes.length;
  const maxItems = Math.max(CBOR_LIMITS.baseItems, Math.floor(end / CBOR_LIMITS.bytesPerItem));
  const open: number[] = [];
  let pos = 0;
  let items = 0;
  // Set after tag 258: its content must be an array.
  let setContent = false;
  const malformed = (why: string): never => {
    throw new ProtocolError('MALFORMED_CBOR', `body is not one well-formed CBOR item: ${why}`);
  };
  const unsupported = (why: string): never => {
    throw new ProtocolError('UNSUPPORTED_CBOR', `CBOR the protocol does not accept: ${why}`);
  };
  for (;;) {
    if (pos >= end) malformed('truncated');
    const initial = bytes[pos++] as number;
    const major = initial >> 5;
    const info = initial & 0x1f;
    let complete = true;
    if (initial === 0xff) {
      const top = open.pop();
      if (setContent || (top !== INDEFINITE_ARRAY && top !== INDEFINITE_MAP_KEY)) {
        malformed(`unexpected break at byte ${pos - 1}`);
      }
    } else {
      if (setContent && major !== 4) {
        unsupported('tag 258 (a set) around something else than an array');
      }
      setContent = false;
      if (open.length >= CBOR_LIMITS.maxDepth) {
        unsupported(`nested more than ${CBOR_LIMITS.maxDepth} deep`);
      }
      if (++items > maxItems) unsupported(`more than ${maxItems} items in ${end} bytes`);
      // The argument: a count, a length, a tag number or a value; beyond 2^53 it loses
      // precision, which only matters where it is compared with the bytes left (and exceeds them).
      let arg = info;
      if (info >= 24 && info <= 27) {
        const size = 1 << (info - 24);
        if (size > end - pos) malformed('truncated');
        arg = 0;
        for (let i = 0; i < size; i++) arg = arg * 256 + (bytes[pos + i] as number);
        pos += size;
      } else if (info >= 28 && info < 31) {
        malformed(`reserved additional information at byte ${pos - 1}`);
      }
      const indefinite = info === 31;
      switch (major) {
        case 0:
        case 1:
          if (indefinite) malformed(`indefinite-length integer at byte ${pos - 1}`);
          break;
        case 2:
        case 3:
          // cbor2 never sends chunked strings and cbor-x cannot decode them.
          if (indefinite) unsupported('indefinite-length string');
          if (arg > end - pos) malformed('string longer than the body');
          pos += arg;
          break;
        case 4:
        case 5: {
          if (indefinite) {
            open.push(major === 4 ? INDEFINITE_ARRAY : INDEFINITE_MAP_KEY);
            complete = false;
            break;
          }
          const count = major === 4 ? arg : arg * 2;
          // Each item takes at least one byte: checked on the header, so a tiny body cannot
          // announce (and make anyone allocate) a huge container.
          if (count > end - pos) malformed('container longer than the body');
          if (count > maxItems - items) unsupported(`more than ${maxItems} items in ${end} bytes`);
          if (count > 0) {
            open.push(count);
            complete = false;
          }
          break;
        }
        case 6:
          if (indefinite) malformed(`indefinite-length tag at byte ${pos - 1}`);
          // Tags 28/29 (shared values) and every other tag than 258; cbor2 writes a Python set
          // as tag 258 and nothing else the protocol sends is tagged (fact 7).
          if (arg !== TAG_SET) unsupported(`tag ${arg}`);
          setContent = true;
          open.push(1);
          complete = false;
          break;
        default:
          // Major type 7: 20–23 false, true, null, undefined; 25–27 floats; 24 and 0–19
          // are simple values no one assigned (cbor-x would look them up in its packed values).
          if (info < 20 || info === 24) unsupported(`simple value at byte ${pos - 1}`);
          break;
      }
    }
    if (!complete) continue;
    // One item finished: count it off its container, closing containers it completes.
    for (;;) {
      const top = open.length - 1;
      const left = open[top];
      if (left === undefined) {
        if (pos !== end) malformed(`${end - pos} bytes after the item`);
        return;
      }
      if (left === INDEFINITE_ARRAY) break;
      if (left === INDEFINITE_MAP_KEY || left === INDEFINITE_MAP_VALUE) {
        open[top] = left === INDEFINITE_MAP_KEY ? INDEFINITE_MAP_VALUE : INDEFINITE_MAP_KEY;
        break;
      }
      if (left > 1) {
        open[top] = left - 1;
        break;
      }
      open.pop();
    }
  }
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
  // Maps and sets are rebuilt only when a key or member may change (a bigint, a Buffer, a
  // container): copying each one doubled the cost of a body made of many small maps.
  if (value instanceof Map) {
    let rekey = false;
    for (const [k, v] of value) {
      value.set(k, narrow(v));
      if (mayNarrow(k)) rekey = true;
    }
    if (!rekey) return value;
    const out = new Map<unknown, unknown>();
    for (const [k, v] of value) out.set(narrow(k), v);
    return out;
  }
  if (value instanceof Set) {
    let rebuild = false;
    for (const v of value) if (mayNarrow(v)) rebuild = true;
    if (!rebuild) return value;
    const out = new Set<unknown>();
    for (const v of value) out.add(narrow(v));
    return out;
  }
  return value;
}

function mayNarrow(value: unknown): boolean {
  return typeof value === 'bigint' || (typeof value === 'object' && value !== null);
}
