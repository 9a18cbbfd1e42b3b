import { z } from 'zod';
import type { SignedAccountRequest } from './account-request.js';
import { decodeCbor, encodeCbor } from './cbor.js';
import { ProtocolError } from './errors.js';
import { type ByteRange, MAX_SHNUM } from './facts.js';
import { MAX_GRID_INVITATION_BYTES } from './grid-invitation.js';
import { INVITATION_SECRET_BYTES } from './invitation.js';

// Shapes follow Tahoe's CDDL (`http_server._SCHEMAS` for requests, `http_client._SCHEMAS` for
// responses) and what `http_server` actually writes (docs/TAHOE-COMPATIBILITY.md fact 29).

/**
 * Request body caps in bytes, by route kind (`http_server.read_encoded` callers); a server
 * answers 413 above them.
 */
export const BODY_LIMITS = {
  allocate: 8192,
  advisory: 32768,
  readTestWrite: 2 ** 48,
  other: 1024 * 1024,
} as const;

/** What a server says about itself at `GET /storage/v1/version`, as a sender gives it. */
export interface VersionInput {
  maximumImmutableShareSize: number | bigint;
  maximumMutableShareSize: number | bigint;
  availableSpace: number | bigint;
  applicationVersion: string;
}

/**
 * A decoded version response. Sizes are clamped to `Number.MAX_SAFE_INTEGER`: Tahoe's
 * maximum mutable share size (69105×10^12) exceeds it, and no caller needs more precision.
 */
export interface Version {
  maximumImmutableShareSize: number;
  maximumMutableShareSize: number;
  availableSpace: number;
  applicationVersion: string;
}

/** `POST /storage/v1/immutable/:si` body. */
export interface AllocateRequest {
  /** Sorted and unique once decoded. */
  readonly shareNumbers: readonly number[];
  allocatedSize: number;
}

/** `POST /storage/v1/immutable/:si` answer. */
export interface AllocateResponse {
  alreadyHave: number[];
  allocated: number[];
}

/** The answer to a PATCH (200 incomplete, 201 complete): ranges still missing. */
export interface WriteResponse {
  required: ByteRange[];
}

/** `POST …/:shnum/corrupt` body. */
export interface CorruptionAdvisory {
  reason: string;
}

/** One equality test of read-test-write: the `size` bytes at `offset` must equal `specimen`. */
export interface TestVector {
  readonly offset: number;
  readonly size: number;
  /** Passes when the `size` bytes at `offset` (truncated at the share's end) equal this. */
  readonly specimen: Uint8Array;
}

/** One write of read-test-write. */
export interface WriteVector {
  readonly offset: number;
  readonly data: Uint8Array;
}

/**
 * The tests, writes and optional truncation for one mutable share: its writes apply only if
 * every test of every share in the request passed.
 */
export interface TestWriteVectors {
  readonly test: readonly TestVector[];
  readonly write: readonly WriteVector[];
  /** 0 deletes the share; a smaller length truncates it; a larger one is ignored; null leaves it. */
  readonly newLength: number | null;
}

/** One read of read-test-write, applied to every existing share. */
export interface ReadVector {
  readonly offset: number;
  readonly size: number;
}

/** `POST /storage/v1/mutable/:si/read-test-write` body. */
export interface ReadTestWriteRequest {
  readonly testWriteVectors: ReadonlyMap<number, TestWriteVectors>;
  readonly readVector: readonly ReadVector[];
}

/** Read-test-write answer; `data` is keyed by every existing share, one bstr per read vector. */
export interface ReadTestWriteResponse {
  success: boolean;
  data: Map<number, Uint8Array[]>;
}

// --- schema helpers -------------------------------------------------------------------------

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const shnum = z.number().int().min(0).max(MAX_SHNUM);
const bytes = z.instanceof(Uint8Array);
const utf8 = new TextEncoder();

/** A map with text keys, decoded as a Map, checked as an object. */
function struct<T extends z.core.$ZodLooseShape>(shape: T, strict = true) {
  const inner = strict ? z.strictObject(shape) : z.object(shape);
  return z.preprocess(mapToObject, inner);
}

function mapToObject(value: unknown): unknown {
  if (!(value instanceof Map)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of value) {
    // A non-text key cannot name a field; leaving the Map makes the object check fail.
    if (typeof k !== 'string') return value;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true });
  }
  return out;
}

/** A tag-258 set of share numbers; responses also accept a plain array, as Tahoe's client does. */
function shnumSet(acceptArray: boolean) {
  const set = z.set(shnum).max(MAX_SHNUM + 1);
  return acceptArray ? z.union([set, z.array(shnum).max(MAX_SHNUM + 1)]) : set;
}

/** The first issue of a failed validation as `field.path: message` (for 400 bodies and errors). */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid message';
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)';
  return `${path}: ${issue.message}`;
}

/** Decodes and validates a received body; ProtocolError naming the offending field. */
function receive<S extends z.ZodType>(schema: S, body: Uint8Array, what: string): z.output<S> {
  const value = decodeCbor(body);
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ProtocolError('INVALID_MESSAGE', `${what}: ${describeIssue(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** Validates an outgoing wire value: a caller's mistake, so TypeError or RangeError. */
function send<S extends z.ZodType>(schema: S, wire: unknown, what: string): Uint8Array {
  const result = schema.safeParse(wire);
  if (!result.success) {
    const issue = result.error.issues[0];
    const message = `${what}: ${describeIssue(result.error)}`;
    if (issue?.code === 'too_big' || issue?.code === 'too_small') throw new RangeError(message);
    throw new TypeError(message);
  }
  return encodeCbor(wire);
}

function sortedUnique(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

function checkShareNumbers(values: readonly number[], what: string): Set<number> {
  if (!Array.isArray(values)) throw new TypeError(`${what} must be an array`);
  return new Set(values);
}

// --- version --------------------------------------------------------------------------------

const VERSION_KEY = 'http://allmydata.org/tahoe/protocols/storage/v1';
const utf8Decoder = new TextDecoder();
const size = z.union([uint, z.bigint().nonnegative()]);
const versionSizes = struct(
  {
    'maximum-immutable-share-size': size,
    'maximum-mutable-share-size': size,
    'available-space': size,
  },
  false,
);
const versionSchema = struct(
  {
    [VERSION_KEY]: versionSizes,
    'application-version': z.union([bytes, z.string()]),
  },
  false,
);

/** Maps with bstr keys (all keys of the version response) become maps with text keys. */
function bytesKeysToText(value: unknown): unknown {
  if (!(value instanceof Map)) return value;
  const out = new Map<unknown, unknown>();
  for (const [k, v] of value) {
    out.set(k instanceof Uint8Array ? utf8Decoder.decode(k) : k, bytesKeysToText(v));
  }
  return out;
}

function clampSize(n: number | bigint): number {
  return typeof n === 'bigint' && n > BigInt(Number.MAX_SAFE_INTEGER)
    ? Number.MAX_SAFE_INTEGER
    : Number(n);
}

/**
 * Encodes the version response with byte-string keys and a bstr `application-version`: Tahoe's
 * client looks the keys up as bytes and never connects to a server using text keys (fact 4).
 */
export function encodeVersion(version: VersionInput): Uint8Array {
  const b = (s: string) => Buffer.from(s, 'utf8');
  const sizes = new Map<Uint8Array, number | bigint>([
    [b('maximum-immutable-share-size'), version.maximumImmutableShareSize],
    [b('maximum-mutable-share-size'), version.maximumMutableShareSize],
    [b('available-space'), version.availableSpace],
  ]);
  for (const [k, v] of sizes) {
    if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
      throw new TypeError(`version: ${k.toString()} must be a non-negative integer`);
    }
    if (v < 0) throw new RangeError(`version: ${k.toString()} must be non-negative`);
  }
  if (typeof version.applicationVersion !== 'string') {
    throw new TypeError('version: applicationVersion must be a string');
  }
  return encodeCbor(
    new Map<Uint8Array, unknown>([
      [b(VERSION_KEY), sizes],
      [b('application-version'), b(version.applicationVersion)],
    ]),
  );
}

/** Decodes a version response; accepts text or byte keys and a text or bstr application version. */
export function decodeVersion(body: Uint8Array): Version {
  const wire = receive(z.preprocess(bytesKeysToText, versionSchema), body, 'version');
  const sizes = wire[VERSION_KEY];
  const app = wire['application-version'];
  return {
    maximumImmutableShareSize: clampSize(sizes['maximum-immutable-share-size']),
    maximumMutableShareSize: clampSize(sizes['maximum-mutable-share-size']),
    availableSpace: clampSize(sizes['available-space']),
    applicationVersion: typeof app === 'string' ? app : utf8Decoder.decode(app),
  };
}

// --- immutable ------------------------------------------------------------------------------

const allocateRequestSchema = struct({
  'share-numbers': shnumSet(false),
  'allocated-size': uint,
});

/** Encodes an allocate request; share numbers go out as a tag-258 set. */
export function encodeAllocateRequest(request: AllocateRequest): Uint8Array {
  return send(
    allocateRequestSchema,
    {
      'share-numbers': checkShareNumbers(request.shareNumbers, 'shareNumbers'),
      'allocated-size': request.allocatedSize,
    },
    'allocate request',
  );
}

/** Decodes an allocate request. */
export function decodeAllocateRequest(body: Uint8Array): AllocateRequest {
  const wire = receive(allocateRequestSchema, body, 'allocate request');
  return {
    shareNumbers: sortedUnique(wire['share-numbers']),
    allocatedSize: wire['allocated-size'],
  };
}

const allocateResponseSchema = struct(
  { 'already-have': shnumSet(true), allocated: shnumSet(true) },
  false,
);

/** Encodes an allocate response (two tag-258 sets, fact 7). */
export function encodeAllocateResponse(response: AllocateResponse): Uint8Array {
  return send(
    allocateResponseSchema,
    {
      'already-have': checkShareNumbers(response.alreadyHave, 'alreadyHave'),
      allocated: checkShareNumbers(response.allocated, 'allocated'),
    },
    'allocate response',
  );
}

/** Decodes an allocate response. */
export function decodeAllocateResponse(body: Uint8Array): AllocateResponse {
  const wire = receive(allocateResponseSchema, body, 'allocate response');
  return {
    alreadyHave: sortedUnique(wire['already-have']),
    allocated: sortedUnique(wire.allocated),
  };
}

const writeResponseSchema = struct(
  { required: z.array(struct({ begin: uint, end: uint }, false)) },
  false,
);

/** Encodes the PATCH answer, sent with both 200 and 201 (the client decodes it on both). */
export function encodeWriteResponse(response: WriteResponse): Uint8Array {
  if (!Array.isArray(response.required)) throw new TypeError('required must be an array');
  return send(
    writeResponseSchema,
    { required: response.required.map((r) => ({ begin: r.begin, end: r.end })) },
    'write response',
  );
}

/** Decodes the PATCH answer. */
export function decodeWriteResponse(body: Uint8Array): WriteResponse {
  const wire = receive(writeResponseSchema, body, 'write response');
  return { required: wire.required.map((r) => ({ begin: r.begin, end: r.end })) };
}

const advisorySchema = struct({
  reason: z
    .string()
    .refine((s) => s.length > 0 && utf8.encode(s).length <= 32765, 'must be 1..32765 bytes'),
});

/** Encodes a corruption advisory. */
export function encodeCorruptionAdvisory(advisory: CorruptionAdvisory): Uint8Array {
  if (typeof advisory.reason === 'string') {
    const n = utf8.encode(advisory.reason).length;
    if (n < 1 || n > 32765) throw new RangeError('reason must be 1..32765 bytes of UTF-8');
  }
  return send(advisorySchema, { reason: advisory.reason }, 'corruption advisory');
}

/** Decodes a corruption advisory. */
export function decodeCorruptionAdvisory(body: Uint8Array): CorruptionAdvisory {
  return { reason: receive(advisorySchema, body, 'corruption advisory').reason };
}

const shareListSchema = shnumSet(true);

/** Encodes a share-number list response (a tag-258 set). */
export function encodeShareNumbers(shareNumbers: readonly number[]): Uint8Array {
  return send(
    z.set(shnum).max(MAX_SHNUM + 1),
    checkShareNumbers(shareNumbers, 'shareNumbers'),
    'share list',
  );
}

/** Decodes a share-number list response, sorted. */
export function decodeShareNumbers(body: Uint8Array): number[] {
  return sortedUnique(receive(shareListSchema, body, 'share list'));
}

// --- mutable --------------------------------------------------------------------------------

const readVectorSchema = z.array(struct({ offset: uint, size: uint })).max(30);
const rtwRequestSchema = struct({
  'test-write-vectors': z
    .map(
      shnum,
      struct({
        test: z.array(struct({ offset: uint, size: uint, specimen: bytes })).max(30),
        write: z.array(struct({ offset: uint, data: bytes })),
        'new-length': uint.nullable(),
      }),
    )
    .max(MAX_SHNUM + 1),
  'read-vector': readVectorSchema,
});

/** Encodes a read-test-write request (share numbers as uint map keys). */
export function encodeReadTestWriteRequest(request: ReadTestWriteRequest): Uint8Array {
  if (!(request.testWriteVectors instanceof Map)) {
    throw new TypeError('testWriteVectors must be a Map');
  }
  if (!Array.isArray(request.readVector)) throw new TypeError('readVector must be an array');
  const tw = new Map<number, unknown>();
  for (const [n, v] of request.testWriteVectors) {
    tw.set(n, {
      test: Array.isArray(v.test)
        ? v.test.map((t: TestVector) => ({ offset: t.offset, size: t.size, specimen: t.specimen }))
        : v.test,
      write: Array.isArray(v.write)
        ? v.write.map((w: WriteVector) => ({ offset: w.offset, data: w.data }))
        : v.write,
      'new-length': v.newLength,
    });
  }
  return send(
    rtwRequestSchema,
    {
      'test-write-vectors': tw,
      'read-vector': request.readVector.map((r) => ({ offset: r.offset, size: r.size })),
    },
    'read-test-write request',
  );
}

/** Decodes a read-test-write request. */
export function decodeReadTestWriteRequest(body: Uint8Array): ReadTestWriteRequest {
  const wire = receive(rtwRequestSchema, body, 'read-test-write request');
  const testWriteVectors = new Map<number, TestWriteVectors>();
  for (const [n, v] of wire['test-write-vectors']) {
    testWriteVectors.set(n, { test: v.test, write: v.write, newLength: v['new-length'] });
  }
  return { testWriteVectors, readVector: wire['read-vector'] };
}

const rtwResponseSchema = struct(
  { success: z.boolean(), data: z.map(shnum, z.array(bytes)) },
  false,
);

/** Encodes a read-test-write answer (`data` as a Map with uint keys). */
export function encodeReadTestWriteResponse(response: ReadTestWriteResponse): Uint8Array {
  return send(
    rtwResponseSchema,
    { success: response.success, data: response.data },
    'read-test-write response',
  );
}

/** Decodes a read-test-write answer. */
export function decodeReadTestWriteResponse(body: Uint8Array): ReadTestWriteResponse {
  const wire = receive(
    // An empty `data` may arrive as an empty text-keyed map; both decode to an empty Map.
    rtwResponseSchema,
    body,
    'read-test-write response',
  );
  return { success: wire.success, data: wire.data };
}

// --- accounting extension (ours; README "Accounting extension") -----------------------------

/** Paths of the accounting extension, served next to `/storage/v1`. */
export const ACCOUNTING_PATHS = {
  /** POST a signed request to obtain an account; GET (with the account's swissnum) to read it. */
  account: '/accounting/v1/account',
  /** PUT to ask for a lease duration within the server's policy. */
  leaseDuration: '/accounting/v1/lease-duration',
  /** GET the server's id and accounting policy (any swissnum of the server). */
  server: '/accounting/v1/server',
  /**
   * GET the public feed (any swissnum of the server, when the operator enabled it): the digest
   * of the last 24 hours and the usage of each account, as JSON (see `decodeFeed`).
   */
  feed: '/accounting/v1/feed',
} as const;

/** Statuses an account request can end in. */
export const ACCOUNT_RESPONSE_STATUSES = ['active', 'pending', 'refused'] as const;

/** The answer to `POST /accounting/v1/account`: 200 active, 202 pending or 403 refused. */
export type AccountResponse =
  | { status: 'active'; accountId: number; nurl: string }
  | { status: 'pending'; retryAfterSeconds: number }
  | { status: 'refused'; reason: string };

/** The answer to `GET /accounting/v1/account`: the caller's account, its usage and quotas. */
export interface AccountInfo {
  accountId: number;
  nickname: string;
  /** The server's account status word (e.g. `active`, `frozen`); not a closed list on the wire. */
  status: string;
  shares: number;
  bytes: number;
  hardQuotaBytes: number | null;
  softQuotaBytes: number | null;
  leaseDurationSeconds: number;
}

/** Largest canonical account request accepted on the wire; a valid one is well under 300 bytes. */
export const MAX_ACCOUNT_REQUEST_BYTES = 1024;

const signedInvitation = bytes.refine(
  (b) => b.length > 64 && b.length <= MAX_GRID_INVITATION_BYTES,
  { message: `must be 65..${MAX_GRID_INVITATION_BYTES} bytes` },
);

const accountRequestBodySchema = struct({
  request: bytes.refine((b) => b.length > 0 && b.length <= MAX_ACCOUNT_REQUEST_BYTES, {
    message: `must be 1..${MAX_ACCOUNT_REQUEST_BYTES} bytes`,
  }),
  signature: bytes.refine((b) => b.length === 64, { message: 'must be 64 bytes' }),
  invitation: bytes
    .refine((b) => b.length === INVITATION_SECRET_BYTES, {
      message: `must be ${INVITATION_SECRET_BYTES} bytes`,
    })
    .optional(),
  'grid-invitation': signedInvitation.optional(),
  'member-invitation': signedInvitation.optional(),
});

/**
 * The body of `POST /accounting/v1/account`: the signed request, and the secret of an invitation
 * code, or the bytes of a grid invitation, when the client has one (README, "Invitations").
 */
export interface AccountRequestBody extends SignedAccountRequest {
  readonly invitation?: Uint8Array;
  /** A grid invitation as signed (`SignedGridInvitation.bytes`). */
  readonly gridInvitation?: Uint8Array;
  /** A member's invitation as signed (`SignedMemberInvitation.bytes`). */
  readonly memberInvitation?: Uint8Array;
}

/** Encodes the body of `POST /accounting/v1/account`. */
export function encodeAccountRequestBody(body: AccountRequestBody): Uint8Array {
  return send(
    accountRequestBodySchema,
    {
      request: body.request,
      signature: body.signature,
      ...(body.invitation === undefined ? {} : { invitation: body.invitation }),
      ...(body.gridInvitation === undefined ? {} : { 'grid-invitation': body.gridInvitation }),
      ...(body.memberInvitation === undefined
        ? {}
        : { 'member-invitation': body.memberInvitation }),
    },
    'account request body',
  );
}

/** Decodes the body of `POST /accounting/v1/account` (the signature is not checked here). */
export function decodeAccountRequestBody(body: Uint8Array): AccountRequestBody {
  const wire = receive(accountRequestBodySchema, body, 'account request body');
  return {
    request: wire.request,
    signature: wire.signature,
    ...(wire.invitation === undefined ? {} : { invitation: wire.invitation }),
    ...(wire['grid-invitation'] === undefined ? {} : { gridInvitation: wire['grid-invitation'] }),
    ...(wire['member-invitation'] === undefined
      ? {}
      : { memberInvitation: wire['member-invitation'] }),
  };
}

const accountStatusSchema = struct({ status: z.enum(ACCOUNT_RESPONSE_STATUSES) }, false);
const accountResponseSchemas = {
  active: struct({ status: z.literal('active'), 'account-id': uint, nurl: z.string() }, false),
  pending: struct({ status: z.literal('pending'), 'retry-after': uint }, false),
  refused: struct({ status: z.literal('refused'), reason: z.string() }, false),
} as const;

function accountResponseWire(response: AccountResponse): Record<string, unknown> {
  switch (response.status) {
    case 'active':
      return { status: 'active', 'account-id': response.accountId, nurl: response.nurl };
    case 'pending':
      return { status: 'pending', 'retry-after': response.retryAfterSeconds };
    case 'refused':
      return { status: 'refused', reason: response.reason };
    default:
      throw new TypeError('status must be active, pending or refused');
  }
}

/** Encodes the answer to `POST /accounting/v1/account`. */
export function encodeAccountResponse(response: AccountResponse): Uint8Array {
  const status = response.status;
  const schema = accountResponseSchemas[status];
  return send(schema ?? accountStatusSchema, accountResponseWire(response), 'account response');
}

/** Decodes the answer to `POST /accounting/v1/account`. */
export function decodeAccountResponse(body: Uint8Array): AccountResponse {
  const { status } = receive(accountStatusSchema, body, 'account response');
  switch (status) {
    case 'active': {
      const w = receive(accountResponseSchemas.active, body, 'account response');
      return { status, accountId: w['account-id'], nurl: w.nurl };
    }
    case 'pending': {
      const w = receive(accountResponseSchemas.pending, body, 'account response');
      return { status, retryAfterSeconds: w['retry-after'] };
    }
    case 'refused': {
      const w = receive(accountResponseSchemas.refused, body, 'account response');
      return { status, reason: w.reason };
    }
  }
}

const accountInfoSchema = struct(
  {
    'account-id': uint,
    nickname: z.string(),
    status: z.string(),
    shares: uint,
    bytes: uint,
    'hard-quota-bytes': uint.nullable(),
    'soft-quota-bytes': uint.nullable(),
    'lease-duration-seconds': uint,
  },
  false,
);

/** Encodes the answer to `GET /accounting/v1/account`. */
export function encodeAccountInfo(info: AccountInfo): Uint8Array {
  return send(
    accountInfoSchema,
    {
      'account-id': info.accountId,
      nickname: info.nickname,
      status: info.status,
      shares: info.shares,
      bytes: info.bytes,
      'hard-quota-bytes': info.hardQuotaBytes,
      'soft-quota-bytes': info.softQuotaBytes,
      'lease-duration-seconds': info.leaseDurationSeconds,
    },
    'account info',
  );
}

/** Decodes the answer to `GET /accounting/v1/account`. */
export function decodeAccountInfo(body: Uint8Array): AccountInfo {
  const w = receive(accountInfoSchema, body, 'account info');
  return {
    accountId: w['account-id'],
    nickname: w.nickname,
    status: w.status,
    shares: w.shares,
    bytes: w.bytes,
    hardQuotaBytes: w['hard-quota-bytes'],
    softQuotaBytes: w['soft-quota-bytes'],
    leaseDurationSeconds: w['lease-duration-seconds'],
  };
}

/** `PUT /accounting/v1/lease-duration` body. */
export interface LeaseDurationRequest {
  seconds: number;
}

/** `PUT /accounting/v1/lease-duration` answer: the duration the server granted after clamping. */
export interface LeaseDurationResponse {
  leaseDurationSeconds: number;
}

const leaseDurationRequestSchema = struct({ seconds: uint });
const leaseDurationResponseSchema = struct({ 'lease-duration-seconds': uint }, false);

/** Encodes the body of `PUT /accounting/v1/lease-duration`. */
export function encodeLeaseDurationRequest(request: LeaseDurationRequest): Uint8Array {
  return send(leaseDurationRequestSchema, { seconds: request.seconds }, 'lease duration request');
}

/** Decodes the body of `PUT /accounting/v1/lease-duration`. */
export function decodeLeaseDurationRequest(body: Uint8Array): LeaseDurationRequest {
  return { seconds: receive(leaseDurationRequestSchema, body, 'lease duration request').seconds };
}

/** Encodes the answer to `PUT /accounting/v1/lease-duration`. */
export function encodeLeaseDurationResponse(response: LeaseDurationResponse): Uint8Array {
  return send(
    leaseDurationResponseSchema,
    { 'lease-duration-seconds': response.leaseDurationSeconds },
    'lease duration response',
  );
}

/** Decodes the answer to `PUT /accounting/v1/lease-duration`. */
export function decodeLeaseDurationResponse(body: Uint8Array): LeaseDurationResponse {
  const w = receive(leaseDurationResponseSchema, body, 'lease duration response');
  return { leaseDurationSeconds: w['lease-duration-seconds'] };
}

/** `GET /accounting/v1/server`: who the server is and how it grants accounts and leases. */
export interface ServerInfo {
  /** What a signed account request must name: the SPKI hash of the server's TLS key. */
  serverId: string;
  /** `disabled`, `enabled` or `required` (see the accountant's README). */
  accountingMode: string;
  /** `automatic` or `manual`: whether a new account is active at once or pending. */
  approval: string;
  /** How far a request's timestamp may be from the server's clock. */
  requestWindowSeconds: number;
  /** The lease duration a client gets unless it asks for another within the bounds below. */
  leaseDurationSeconds: number;
  minLeaseDurationSeconds: number;
  maxLeaseDurationSeconds: number;
}

const serverInfoSchema = struct(
  {
    'server-id': z.string().min(1).max(256),
    'accounting-mode': z.string(),
    approval: z.string(),
    'request-window-seconds': uint,
    'lease-duration-seconds': uint,
    'min-lease-duration-seconds': uint,
    'max-lease-duration-seconds': uint,
  },
  false,
);

/** Encodes the answer to `GET /accounting/v1/server`. */
export function encodeServerInfo(info: ServerInfo): Uint8Array {
  return send(
    serverInfoSchema,
    {
      'server-id': info.serverId,
      'accounting-mode': info.accountingMode,
      approval: info.approval,
      'request-window-seconds': info.requestWindowSeconds,
      'lease-duration-seconds': info.leaseDurationSeconds,
      'min-lease-duration-seconds': info.minLeaseDurationSeconds,
      'max-lease-duration-seconds': info.maxLeaseDurationSeconds,
    },
    'server info',
  );
}

/** Decodes the answer to `GET /accounting/v1/server`. */
export function decodeServerInfo(body: Uint8Array): ServerInfo {
  const w = receive(serverInfoSchema, body, 'server info');
  return {
    serverId: w['server-id'],
    accountingMode: w['accounting-mode'],
    approval: w.approval,
    requestWindowSeconds: w['request-window-seconds'],
    leaseDurationSeconds: w['lease-duration-seconds'],
    minLeaseDurationSeconds: w['min-lease-duration-seconds'],
    maxLeaseDurationSeconds: w['max-lease-duration-seconds'],
  };
}
