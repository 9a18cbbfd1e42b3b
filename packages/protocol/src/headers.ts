import { ProtocolError } from './errors.js';
import { type ByteRange, LEASE_SECRET_BYTES } from './facts.js';

/** Kinds of `X-Tahoe-Authorization` secret (`http_common.Secrets`). */
export const SECRET_KINDS = [
  'lease-renew-secret',
  'lease-cancel-secret',
  'upload-secret',
  'write-enabler',
] as const;

export type SecretKind = (typeof SECRET_KINDS)[number];

/** The header that carries one secret; repeated once per secret. */
export const SECRET_HEADER = 'X-Tahoe-Authorization';

/**
 * The exact set of secret kinds each route requires (`http_server.HTTPServer` route
 * decorators; docs/TAHOE-COMPATIBILITY.md fact 27). Any other set, including extra kinds, is
 * a 400 (`_extract_secrets`).
 */
export const ENDPOINT_SECRETS = {
  version: [],
  allocate: ['lease-renew-secret', 'lease-cancel-secret', 'upload-secret'],
  write: ['upload-secret'],
  abort: ['upload-secret'],
  listImmutable: [],
  readImmutable: [],
  adviseImmutable: [],
  addOrRenewLease: ['lease-renew-secret', 'lease-cancel-secret'],
  readTestWrite: ['lease-renew-secret', 'lease-cancel-secret', 'write-enabler'],
  listMutable: [],
  readMutable: [],
  adviseMutable: [],
  requestAccount: [],
  getAccount: [],
  setLeaseDuration: [],
  getServer: [],
  getFeed: [],
} as const satisfies Record<string, readonly SecretKind[]>;

/** Names of the routes in {@link ENDPOINT_SECRETS}. */
export type EndpointName = keyof typeof ENDPOINT_SECRETS;

const AUTH_SCHEME = 'Tahoe-LAFS';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
// Lease secrets are compared against 32-byte hashes on disk (`http_server._extract_secrets`).

function decodeBase64(s: string): Uint8Array | undefined {
  if (!BASE64.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** The `Authorization` value for a swissnum: `Tahoe-LAFS <standard base64 of its ASCII>`. */
export function formatAuthorization(swissnum: string): string {
  if (typeof swissnum !== 'string' || !PRINTABLE_ASCII.test(swissnum)) {
    throw new TypeError('a swissnum is non-empty printable ASCII');
  }
  return `${AUTH_SCHEME} ${Buffer.from(swissnum, 'ascii').toString('base64')}`;
}

/**
 * The swissnum in an `Authorization` value, or undefined if it is not `Tahoe-LAFS <base64>` of
 * printable ASCII. A server should still compare the whole header in constant time, as Tahoe's
 * `_authorization_decorator` does.
 */
export function parseAuthorization(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space) !== AUTH_SCHEME) return undefined;
  const decoded = decodeBase64(header.slice(space + 1));
  if (decoded === undefined || decoded.length === 0) return undefined;
  const swissnum = Buffer.from(decoded).toString('latin1');
  return PRINTABLE_ASCII.test(swissnum) ? swissnum : undefined;
}

/** One `X-Tahoe-Authorization` value per given secret, in {@link SECRET_KINDS} order. */
export function formatSecretHeaders(secrets: Partial<Record<SecretKind, Uint8Array>>): string[] {
  const out: string[] = [];
  for (const kind of SECRET_KINDS) {
    const value = secrets[kind];
    if (value === undefined) continue;
    if (!(value instanceof Uint8Array)) throw new TypeError(`${kind} must be a Uint8Array`);
    if (value.length === 0) throw new RangeError(`${kind} must not be empty`);
    out.push(
      `${kind} ${Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64')}`,
    );
  }
  return out;
}

/**
 * Parses every `X-Tahoe-Authorization` value of a request as Tahoe's `_extract_secrets` does:
 * each value is stripped and split at its first space into a kind and standard base64. Unknown
 * kinds, bad base64, empty values, lease secrets that are not 32 bytes, a repeated kind (Tahoe
 * keeps the last; we refuse the ambiguity) and any set of kinds other than exactly `required`
 * are ProtocolError `INVALID_SECRETS`.
 */
export function parseSecretHeaders<K extends SecretKind>(
  values: readonly string[],
  required: readonly K[],
): Record<K, Uint8Array> {
  const found = new Map<SecretKind, Uint8Array>();
  for (const raw of values) {
    const value = raw.trim();
    const space = value.indexOf(' ');
    if (space < 0) throw new ProtocolError('INVALID_SECRETS', 'secret header without a value');
    const kind = value.slice(0, space) as SecretKind;
    if (!SECRET_KINDS.includes(kind)) {
      throw new ProtocolError('INVALID_SECRETS', 'unknown secret kind');
    }
    const decoded = decodeBase64(value.slice(space + 1));
    if (decoded === undefined) throw new ProtocolError('INVALID_SECRETS', `bad base64 in ${kind}`);
    if (decoded.length === 0) throw new ProtocolError('INVALID_SECRETS', `empty ${kind}`);
    if (
      (kind === 'lease-renew-secret' || kind === 'lease-cancel-secret') &&
      decoded.length !== LEASE_SECRET_BYTES
    ) {
      throw new ProtocolError('INVALID_SECRETS', `${kind} must be ${LEASE_SECRET_BYTES} bytes`);
    }
    if (found.has(kind)) throw new ProtocolError('INVALID_SECRETS', `${kind} given twice`);
    found.set(kind, decoded);
  }
  const wanted = new Set<SecretKind>(required);
  if (found.size !== wanted.size || [...found.keys()].some((k) => !wanted.has(k))) {
    throw new ProtocolError(
      'INVALID_SECRETS',
      `expected exactly the secrets [${[...wanted].join(', ')}]`,
    );
  }
  return Object.fromEntries(found) as Record<K, Uint8Array>;
}

// --- ranges ---------------------------------------------------------------------------------

const RANGE = /^bytes=(\d{1,16})-(\d{1,16})$/i;
const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\*|\d{1,16})$/i;

function safe(digits: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw new ProtocolError('INVALID_RANGE', 'offset too large');
  return n;
}

/**
 * Parses a request `Range`. Tahoe (`http_server.read_range`) accepts exactly one closed
 * `bytes=a-b`; suffix, open-ended and multiple ranges are ProtocolError `INVALID_RANGE` (416).
 * Returns the half-open `[a, b + 1)`.
 */
export function parseRangeHeader(header: string): ByteRange {
  const m = RANGE.exec(typeof header === 'string' ? header.trim() : '');
  if (m === null) throw new ProtocolError('INVALID_RANGE', 'expected one closed bytes=a-b range');
  const begin = safe(m[1]!);
  const last = safe(m[2]!);
  if (begin > last) throw new ProtocolError('INVALID_RANGE', 'range ends before it begins');
  return { begin, end: last + 1 };
}

/** Formats a request `Range` for the half-open `[begin, end)`; RangeError if it is empty. */
export function formatRangeHeader(begin: number, end: number): string {
  checkOffsets(begin, end - 1);
  return `bytes=${begin}-${end - 1}`;
}

/**
 * The `Content-Range` Tahoe writes: `bytes a-b/*` with an inclusive end and no total (werkzeug's
 * rendering when the length is not given; the client accepts both, fact 9).
 */
export function formatContentRange(begin: number, endInclusive: number): string {
  checkOffsets(begin, endInclusive);
  return `bytes ${begin}-${endInclusive}/*`;
}

function checkOffsets(begin: number, endInclusive: number): void {
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(endInclusive)) {
    throw new TypeError('range offsets are safe integers');
  }
  if (begin < 0 || endInclusive < begin) throw new RangeError('empty or negative range');
}

/** A parsed `Content-Range`: the half-open range and the total length if one was given. */
export interface ContentRange extends ByteRange {
  total: number | undefined;
}

/**
 * Parses `Content-Range: bytes a-b/*` or `bytes a-b/total` (PATCH requests, 206 answers);
 * anything else, another unit, `a > b` or `b ≥ total` is ProtocolError `INVALID_RANGE`.
 */
export function parseContentRange(header: string): ContentRange {
  const m = CONTENT_RANGE.exec(typeof header === 'string' ? header.trim() : '');
  if (m === null) throw new ProtocolError('INVALID_RANGE', 'expected bytes a-b/* or bytes a-b/n');
  const begin = safe(m[1]!);
  const last = safe(m[2]!);
  const total = m[3] === '*' ? undefined : safe(m[3]!);
  if (begin > last || (total !== undefined && last >= total)) {
    throw new ProtocolError('INVALID_RANGE', 'inconsistent content range');
  }
  return { begin, end: last + 1, total };
}

/** How to answer a share read: status, the half-open slice to send and its `Content-Range`. */
export interface ReadPlan {
  status: 200 | 204 | 206;
  begin: number;
  end: number;
  contentRange?: string;
}

/**
 * Plans a share read as `http_server.read_range` does: no range → 200 with everything; a
 * range is clipped to the share, and if nothing is left → 204 with no body and no
 * `Content-Range`, else 206 with `bytes a-b/*` (facts 9 and 36).
 */
export function planRead(range: ByteRange | undefined, shareLength: number): ReadPlan {
  if (!Number.isSafeInteger(shareLength) || shareLength < 0) {
    throw new RangeError('shareLength must be a non-negative safe integer');
  }
  if (range === undefined) return { status: 200, begin: 0, end: shareLength };
  const end = Math.min(range.end, shareLength);
  if (range.begin >= end) return { status: 204, begin: range.begin, end: range.begin };
  return {
    status: 206,
    begin: range.begin,
    end,
    contentRange: formatContentRange(range.begin, end - 1),
  };
}
