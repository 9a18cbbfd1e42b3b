import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import {
  type Account,
  type Accountant,
  AccountantError,
  createFeedSource,
  type DependencyHealth,
  type FeedDb,
} from '@ostrom/accountant';
import {
  BODY_LIMITS,
  type ByteRange,
  decodeAccountRequestBody,
  decodeAllocateRequest,
  decodeCorruptionAdvisory,
  decodeLeaseDurationRequest,
  decodeReadTestWriteRequest,
  ENDPOINT_SECRETS,
  encodeAccountInfo,
  encodeAccountResponse,
  encodeAllocateResponse,
  encodeLeaseDurationResponse,
  encodeReadTestWriteResponse,
  encodeServerInfo,
  encodeShareNumbers,
  encodeVersion,
  encodeWriteResponse,
  parseAuthorization,
  parseContentRange,
  parseRangeHeader,
  parseSecretHeaders,
  planRead,
  type RawResponse,
} from '@ostrom/protocol';
import { type ByteBudget, createByteBudget } from './byte-budget.js';
import { clientOf } from './connection-bounds.js';
import type { UploadForwarder } from './forward.js';
import {
  acceptsCbor,
  acceptsJson,
  checkCborContentType,
  contentLength,
  discardBody,
  firstHeader,
  hasBody,
  headerValues,
  isUtf8Header,
  readBody,
  readPieces,
  type SpooledBody,
  spoolBody,
} from './request.js';
import { matchRoute, type RouteMatch, type RouteSpec } from './routes.js';
import { HttpError, storageStatusFor } from './status.js';

/** The subset of a (pino) logger the storage API uses. */
export interface StorageHandlerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link createStorageHandler}. */
export interface StorageHandlerOptions {
  /** The storage service every request goes to. */
  readonly accountant: Accountant;
  /** The NURL of an account (its own swissnum), sent to a client whose account is active. */
  nurlFor(accountId: number): string;
  readonly logger?: StorageHandlerLogger;
  /**
   * Sends chunks and aborts of uploads held by another server process there (several processes
   * sharing one database). Without it such a request is answered 503.
   */
  readonly forwarder?: UploadForwarder;
  /**
   * The public feed (`[accounting] feed`): where it reads the digest and the accounts, and the
   * clock of its period and of its one-minute cache. Without it `GET /accounting/v1/feed` is 404.
   */
  readonly feed?: { readonly leaseDb: FeedDb; readonly now: () => number };
  /** Bounds on request bodies and on what reads return; defaults {@link BODY_LIMIT_DEFAULTS}. */
  readonly limits?: Partial<BodyLimits>;
  /** Told when a request finds the database or the store away (its answer is a 503). */
  readonly health?: Pick<DependencyHealth, 'observe'>;
}

/**
 * What the node holds of request bodies, node-wide, and what one read may return. PATCH bodies
 * and share reads are streamed in pieces of {@link PIECE_BYTES} and need no setting.
 */
export interface BodyLimits {
  /**
   * Bytes of read-test-write bodies held in memory at once, node-wide. A body waits for room
   * (in turn, up to `memoryWaitMs`, then 503 with Retry-After); one larger than the whole budget
   * waits until nothing else is held and then holds all of it, so large mutable writes go one at
   * a time. The backend holds about as much again while it writes the share.
   */
  readonly memoryBytes: number;
  /** How long a received body waits for memory before a 503 (ms). */
  readonly memoryWaitMs: number;
  /**
   * Bytes of read-test-write bodies being received into temporary files at once, node-wide; also
   * the largest such body (413 above it). A body that does not fit now is a 503 with Retry-After,
   * answered before it is read.
   */
  readonly spoolBytes: number;
  /** Where those temporary files go (created and removed per request). */
  readonly spoolDir: string;
  /** Read-test-write bodies up to this size are read straight into memory, not spooled. */
  readonly inMemoryBytes: number;
  /**
   * The most one read-test-write's read vector may return in all, over every existing share
   * (416 above it, before any share is read); undefined for the accountant's default (4 MiB).
   */
  readonly readVectorBytes: number | undefined;
}

/** The defaults of {@link BodyLimits}. */
export const BODY_LIMIT_DEFAULTS: Readonly<BodyLimits> = Object.freeze({
  memoryBytes: 8 * 1024 * 1024,
  memoryWaitMs: 30_000,
  spoolBytes: 1024 * 1024 * 1024,
  spoolDir: tmpdir(),
  inMemoryBytes: 64 * 1024,
  readVectorBytes: undefined,
});

/**
 * Size of the pieces PATCH bodies are written in and shares are sent in: what one request holds
 * of either in memory (a socket's buffers aside).
 */
export const PIECE_BYTES = 1024 * 1024;

/**
 * Largest read-test-write body of an account that may only read (frozen, or anonymous in mode
 * `required`): such a request may hold only read vectors (at most 30 small maps, fact 29), which
 * take a few hundred bytes; a larger body must hold writes and is refused on its headers (403).
 */
export const READ_ONLY_RTW_BYTES = 16 * 1024;

/** Told to clients refused for lack of room for their body (503). */
const RETRY_AFTER_SECONDS = 5;

/**
 * Largest PATCH body accepted. Not Tahoe's 1 MiB cap for "anything else": that cap applies to
 * CBOR bodies (`_read_encoded`), and a Tahoe 1.20 client's first chunk of a large share is
 * 1,048,612 bytes (docs/TAHOE-COMPATIBILITY.md fact 10), so a 1 MiB cap would fail every large
 * upload. The body must also equal its Content-Range, and the accountant refuses chunks past
 * the allocation.
 */
export const MAX_PATCH_BYTES = 16 * 1024 * 1024;

const CBOR = 'application/cbor';
const JSON_TYPE = 'application/json';
const OCTET_STREAM = 'application/octet-stream';
const TEXT = 'text/plain; charset=utf-8';

type Handler = (ctx: RequestContext) => Promise<void>;

interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly match: RouteMatch;
  readonly account: Account;
  readonly secrets: Record<string, Uint8Array>;
  readonly forwarder: UploadForwarder | undefined;
  /** Reads the body with the route's cap (413 above it, or `tooLarge()`). */
  body(limit: number, tooLarge?: () => Error): Promise<Uint8Array>;
  /** Reads the body of `length` bytes in pieces, each handed to `onPiece` before reading on. */
  pieces(
    length: number,
    onPiece: (offset: number, piece: Uint8Array) => Promise<void>,
  ): Promise<void>;
  /** Receives the body into a temporary file (read-test-write; see {@link BodyLimits}). */
  spool(limit: number): Promise<SpooledBody>;
  readonly limits: BodyLimits;
  /** Read-test-write bodies held in memory, node-wide. */
  readonly memory: ByteBudget;
}

function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array | undefined,
  headers: Record<string, string> = {},
): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (status === 204 || body === undefined || body.length === 0) {
    if (status !== 204) res.setHeader('Content-Length', '0');
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(body.length));
  res.end(Buffer.from(body.buffer, body.byteOffset, body.length));
}

function sendCbor(res: ServerResponse, status: number, body: Uint8Array): void {
  send(res, status, body, { 'Content-Type': CBOR });
}

/** A safe integer sum, or a 400: a client may name offsets that overflow together. */
function checkedEnd(offset: number, length: number): number {
  const end = offset + length;
  if (!Number.isSafeInteger(end)) throw new HttpError('BAD_REQUEST', 'offsets are too large');
  return end;
}

// ------------------------------------------------------------------------- immutable

const allocate: Handler = async ({ req, res, match, account, secrets, body }) => {
  const request = decodeAllocateRequest(await body(BODY_LIMITS.allocate));
  const result = await account.allocate(
    match.storageIndex,
    {
      renewSecret: secrets['lease-renew-secret']!,
      cancelSecret: secrets['lease-cancel-secret']!,
      uploadSecret: secrets['upload-secret']!,
      shareNumbers: request.shareNumbers,
      allocatedSize: request.allocatedSize,
    },
    // Uploads in progress and reserved space are bounded per connection too (a shared account's
    // bound alone would let one client block all of its others).
    { connection: req.socket },
  );
  sendCbor(res, 200, encodeAllocateResponse(result));
};

const write: Handler = async ({ req, res, match, account, secrets, pieces, forwarder }) => {
  // `write_share_data`: a missing or unparsable Content-Range, or another unit, is a 416.
  const header = firstHeader(req, 'content-range');
  if (header === undefined)
    throw new HttpError('RANGE_NOT_SATISFIABLE', 'PATCH needs a Content-Range');
  const range = parseContentRange(header);
  const length = range.end - range.begin;
  if (length > MAX_PATCH_BYTES) {
    throw new HttpError('PAYLOAD_TOO_LARGE', `a chunk may hold at most ${MAX_PATCH_BYTES} bytes`);
  }
  const announced = contentLength(req);
  if (announced !== undefined && announced !== length) {
    throw new HttpError('BAD_REQUEST', 'the body length differs from the Content-Range');
  }
  const { storageIndex, shnum } = match;
  const uploadSecret = secrets['upload-secret']!;
  // Everything a chunk could be refused for is known from the headers: check it before reading
  // a byte of the body (an upload that is not this account's, or that does not exist, costs a
  // refusal, not a body).
  let elsewhere: unknown;
  try {
    await account.admitUpload(storageIndex, shnum, uploadSecret, { offset: range.begin, length });
  } catch (error) {
    if (!(forwarder && isUploadElsewhere(error))) throw error;
    elsewhere = error;
  }
  // The chunk is written as it arrives, a piece at a time, so a request holds at most one piece.
  // A chunk that fails half-way leaves the pieces before it written: the upload stays
  // consistent (the bytes are the client's, at their offsets), and the client's retry of the
  // chunk rewrites them with the same bytes, which the backend contract accepts.
  let result: Awaited<ReturnType<Account['writeUpload']>> | undefined;
  let forwarded: RawResponse | undefined;
  await pieces(length, async (offset, piece) => {
    const at = range.begin + offset;
    if (elsewhere === undefined) {
      try {
        result = await account.writeUpload(storageIndex, shnum, uploadSecret, at, piece);
        return;
      } catch (error) {
        // Taken over by another process since the headers were checked: send the rest there.
        if (!(forwarder && isUploadElsewhere(error))) throw error;
        elsewhere = error;
      }
    }
    forwarded = await forwarder!.send(elsewhere, req, {
      contentRange: `bytes ${at}-${at + piece.length - 1}/*`,
      body: piece,
    });
    if (forwarded && forwarded.status !== 200 && forwarded.status !== 201) {
      throw new ForwardedRefusal(forwarded);
    }
  }).catch((error: unknown) => {
    if (!(error instanceof ForwardedRefusal)) throw error;
    // The holder refused a piece: its answer is the client's, and the rest of the body is not
    // read (dropped for a bounded while, then the connection closes).
    forwarded = error.answer;
  });
  if (forwarded !== undefined) return forwarder!.answer(res, forwarded);
  if (result === undefined) throw new Error('a PATCH body ended without a write');
  // 201 once complete, 200 before; both with `{required}`, which the client decodes (fact 10).
  sendCbor(
    res,
    result.complete ? 201 : 200,
    encodeWriteResponse({ required: result.required.map(({ begin, end }) => ({ begin, end })) }),
  );
};

/** A forwarded piece the holding process refused, with its answer. */
class ForwardedRefusal extends Error {
  override readonly name = 'ForwardedRefusal';
  readonly answer: RawResponse;

  constructor(answer: RawResponse) {
    super(`the holding process answered ${answer.status}`);
    this.answer = answer;
  }
}

function isUploadElsewhere(error: unknown): boolean {
  return error instanceof AccountantError && error.code === 'UPLOAD_ELSEWHERE';
}

const abort: Handler = async ({ req, res, match, account, secrets, forwarder }) => {
  try {
    await account.abortUpload(match.storageIndex, match.shnum, secrets['upload-secret']!);
  } catch (error) {
    if (await forwarder?.forward(error, req, res)) return;
    throw error;
  }
  send(res, 200, undefined);
};

// ------------------------------------------------------------------------- shares

function lister(sharetype: 'immutable' | 'mutable'): Handler {
  return async ({ res, match, account }) => {
    const shares = await account.listShares(sharetype, match.storageIndex);
    sendCbor(res, 200, encodeShareNumbers(shares));
  };
}

function reader(sharetype: 'immutable' | 'mutable'): Handler {
  return async ({ req, res, match, account }) => {
    const header = firstHeader(req, 'range');
    let range: ByteRange | undefined;
    if (header !== undefined) {
      try {
        range = parseRangeHeader(header);
      } catch (error) {
        // `read_share_chunk` looks the immutable share up before `read_range` parses the
        // header, so a missing share is a 404 even with a bad Range; the mutable route parses
        // first (`read_mutable_chunk`), so there it is a 416. Looked up by listing, not read:
        // a refused request is not a read in the account's traffic.
        if (sharetype === 'immutable') {
          const held = await account.listShares(sharetype, match.storageIndex);
          if (!held.includes(match.shnum)) {
            throw new AccountantError(
              'NOT_FOUND',
              `no ${sharetype} share ${match.storageIndex}/${match.shnum}`,
            );
          }
        }
        throw error;
      }
    }
    const stream = await account.openShareRead(
      sharetype,
      match.storageIndex,
      match.shnum,
      range && { offset: range.begin, length: range.end - range.begin },
    );
    try {
      // 200 whole, 206 with `bytes a-b/*`, 204 when the range starts at or past the end; always
      // octet-stream, whatever Accept says (facts 8, 9).
      const plan = planRead(range, stream.sizeBytes);
      if (plan.status === 204) return send(res, 204, undefined);
      if (stream.length !== plan.end - plan.begin) {
        throw new Error(`read ${stream.length} bytes where ${plan.end - plan.begin} were planned`);
      }
      res.statusCode = plan.status;
      res.setHeader('Content-Type', OCTET_STREAM);
      if (plan.contentRange !== undefined) res.setHeader('Content-Range', plan.contentRange);
      res.setHeader('Content-Length', String(stream.length));
      // Sent a piece at a time, the next read only once the socket took the last piece: a
      // request holds one piece, however large the share and however slow the client. A piece
      // that fails after the headers went cuts the response short (the dispatcher destroys it),
      // which the client sees as a failed read (fact 9) and retries.
      for (
        let piece = await stream.next(PIECE_BYTES);
        piece;
        piece = await stream.next(PIECE_BYTES)
      ) {
        if (res.destroyed) return;
        if (!res.write(piece)) await drained(res);
      }
      res.end();
    } finally {
      await stream.close();
    }
  };
}

/** Resolves once the response can take more (or is gone: the caller checks). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function advisor(sharetype: 'immutable' | 'mutable'): Handler {
  return async ({ res, match, account, body }) => {
    const { reason } = decodeCorruptionAdvisory(await body(BODY_LIMITS.advisory));
    await account.adviseCorrupt(sharetype, match.storageIndex, match.shnum, reason);
    send(res, 200, undefined);
  };
}

const addOrRenewLease: Handler = async ({ res, match, account, secrets }) => {
  await account.addOrRenewLease(match.storageIndex, {
    renewSecret: secrets['lease-renew-secret']!,
    cancelSecret: secrets['lease-cancel-secret']!,
  });
  // Exactly 204: with 200 the client logs an error and the lease silently lapses (fact 12).
  send(res, 204, undefined);
};

// ------------------------------------------------------------------------- mutable

const readTestWrite: Handler = async (ctx) => {
  const { req, res, match, account, secrets, limits } = ctx;
  const writeEnabler = secrets['write-enabler']!;
  const announced = contentLength(req);
  const small = announced !== undefined && announced <= limits.inMemoryBytes;
  // Before any byte of the body: the account's status and the mode, and for a body worth not
  // reading, the write enabler of the slot (fact 40: a mismatch refuses any request).
  const { mayWrite } = await account.admitReadTestWrite(
    match.storageIndex,
    small ? undefined : writeEnabler,
  );
  let body: Uint8Array;
  let release = () => {};
  if (!mayWrite) {
    // Only reads: a few hundred bytes. A larger body holds writes this account may not make.
    const refused = () =>
      new HttpError(
        'FORBIDDEN',
        'this account may only read: a read-test-write with writes is refused',
      );
    body = await ctx.body(READ_ONLY_RTW_BYTES, refused);
  } else if (small) {
    body = await ctx.body(limits.inMemoryBytes);
  } else {
    // A large body (a whole mutable share, fact 11) goes to a file while it arrives, however
    // slowly, and is read back into memory only when the node's budget for such bodies has room.
    const spooled = await ctx.spool(BODY_LIMITS.readTestWrite);
    try {
      release = await ctx.memory.take(
        spooled.size,
        limits.memoryWaitMs,
        () =>
          new HttpError('OVERLOADED', 'too many large writes at once; try again later', {
            headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
          }),
      );
      body = await spooled.read();
    } catch (error) {
      release();
      throw error;
    } finally {
      await spooled.remove();
    }
  }
  try {
    const request = decodeReadTestWriteRequest(body);
    for (const vectors of request.testWriteVectors.values()) {
      for (const w of vectors.write) checkedEnd(w.offset, w.data.length);
      for (const t of vectors.test) checkedEnd(t.offset, t.size);
    }
    for (const r of request.readVector) checkedEnd(r.offset, r.size);
    const result = await account.readTestWrite(match.storageIndex, {
      renewSecret: secrets['lease-renew-secret']!,
      cancelSecret: secrets['lease-cancel-secret']!,
      writeEnabler,
      testWriteVectors: request.testWriteVectors,
      readVector: request.readVector,
      ...(limits.readVectorBytes === undefined ? {} : { maxReadBytes: limits.readVectorBytes }),
    });
    // 200 for a failed test too: `success` says whether the writes happened (fact 11).
    sendCbor(res, 200, encodeReadTestWriteResponse(result));
  } finally {
    release();
  }
};

// ------------------------------------------------------------------------- accounting

function accountingHandlers(options: StorageHandlerOptions) {
  const requestAccount: Handler = async ({ req, res, body }) => {
    const { invitation, gridInvitation, memberInvitation, ...signed } = decodeAccountRequestBody(
      await body(BODY_LIMITS.other),
    );
    const outcome = await options.accountant.requestAccount(signed, {
      ...(invitation === undefined ? {} : { invitation }),
      ...(gridInvitation === undefined ? {} : { gridInvitation }),
      ...(memberInvitation === undefined ? {} : { memberInvitation }),
      // Invitation guesses are bounded per client: an IPv4 address or an IPv6 /64.
      source: clientOf(req.socket.remoteAddress),
    });
    switch (outcome.status) {
      case 'active': {
        const accountId = outcome.account.id;
        const nurl = options.nurlFor(accountId);
        return sendCbor(res, 200, encodeAccountResponse({ status: 'active', accountId, nurl }));
      }
      case 'pending': {
        const retryAfterSeconds = outcome.retryAfterSeconds;
        res.setHeader('Retry-After', String(retryAfterSeconds));
        return sendCbor(res, 202, encodeAccountResponse({ status: 'pending', retryAfterSeconds }));
      }
      case 'refused':
        return sendCbor(
          res,
          403,
          encodeAccountResponse({ status: 'refused', reason: outcome.reason }),
        );
    }
  };

  const getAccount: Handler = async ({ res, account }) => {
    const info = await account.info();
    sendCbor(
      res,
      200,
      encodeAccountInfo({
        accountId: info.accountId,
        nickname: info.nickname,
        status: info.status,
        shares: info.usage.shares,
        bytes: info.usage.bytes,
        hardQuotaBytes: info.hardQuotaBytes,
        softQuotaBytes: info.softQuotaBytes,
        leaseDurationSeconds: info.leaseDurationSeconds,
      }),
    );
  };

  const setLeaseDuration: Handler = async ({ res, account, body }) => {
    const { seconds } = decodeLeaseDurationRequest(await body(BODY_LIMITS.other));
    if (seconds <= 0)
      throw new HttpError('BAD_REQUEST', 'a lease duration is a positive number of seconds');
    const granted = await account.setLeaseDuration(seconds);
    sendCbor(res, 200, encodeLeaseDurationResponse({ leaseDurationSeconds: granted }));
  };

  // Any member of the grid (any valid swissnum) may read who the server is and its policy: a
  // client learns here what its signed request must name and whether it will be approved.
  const getServer: Handler = async ({ res }) => {
    sendCbor(res, 200, encodeServerInfo(options.accountant.serverInfo()));
  };

  // Members of the grid may read who stores how much, when the operator said so; the body holds
  // nicknames and totals only (FeedSource). A node without it says so with a 404, as for a path
  // it does not serve, after the swissnum was checked: outsiders learn nothing, not even that.
  const feed =
    options.feed &&
    createFeedSource({
      leaseDb: options.feed.leaseDb,
      now: options.feed.now,
      serverId: options.accountant.serverInfo().serverId,
    });
  const getFeed: Handler = async ({ res }) => {
    if (feed === undefined)
      throw new HttpError('NOT_FOUND', 'the feed is not enabled on this node');
    const { body } = await feed.get();
    send(res, 200, body, { 'Content-Type': JSON_TYPE });
  };

  return { requestAccount, getAccount, setLeaseDuration, getServer, getFeed };
}

// ------------------------------------------------------------------------- dispatch

function bodyLimits(given: Partial<BodyLimits> | undefined): BodyLimits {
  const limits = { ...BODY_LIMIT_DEFAULTS, ...given };
  for (const name of ['memoryBytes', 'memoryWaitMs', 'spoolBytes', 'inMemoryBytes'] as const) {
    if (!Number.isSafeInteger(limits[name]) || limits[name] <= 0) {
      throw new RangeError(`limits.${name} must be a positive integer`);
    }
  }
  if (typeof limits.spoolDir !== 'string' || limits.spoolDir === '') {
    throw new TypeError('limits.spoolDir must be a directory');
  }
  const { readVectorBytes } = limits;
  if (
    readVectorBytes !== undefined &&
    (!Number.isSafeInteger(readVectorBytes) || readVectorBytes < 0)
  ) {
    throw new RangeError('limits.readVectorBytes must be a non-negative integer');
  }
  return limits;
}

/**
 * The HTTP layer of an Ostrom node: Tahoe-LAFS's HTTPS storage protocol ("Great Black Swamp",
 * `/storage/v1`) exactly as Tahoe 1.19+ serves it, plus Ostrom's accounting extension
 * (`/accounting/v1`), as a Node request handler for `https.createServer`.
 *
 * Every request is authorised by its swissnum (`Authorization: Tahoe-LAFS <base64>`), which
 * names the account it is charged to. `POST /accounting/v1/account` accepts any swissnum of this
 * node (normally the anonymous one): only members of the grid, who were given a NURL, may ask for
 * an account; the signed request inside names the key.
 */
export function createStorageHandler(
  options: StorageHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (options === null || typeof options !== 'object') throw new TypeError('options are required');
  if (typeof options.accountant?.accountForSwissnum !== 'function') {
    throw new TypeError('options.accountant must be an Accountant');
  }
  if (typeof options.nurlFor !== 'function') throw new TypeError('options.nurlFor is required');
  const { accountant, logger } = options;
  const limits = bodyLimits(options.limits);
  const memory = createByteBudget(limits.memoryBytes);
  const spoolBudget = createByteBudget(limits.spoolBytes);
  const accounting = accountingHandlers(options);

  const handlers: Record<RouteSpec['name'], Handler> = {
    version: async ({ res }) => sendCbor(res, 200, encodeVersion(await accountant.version())),
    allocate,
    write,
    abort,
    listImmutable: lister('immutable'),
    readImmutable: reader('immutable'),
    adviseImmutable: advisor('immutable'),
    addOrRenewLease,
    readTestWrite,
    listMutable: lister('mutable'),
    readMutable: reader('mutable'),
    adviseMutable: advisor('mutable'),
    ...accounting,
  };

  async function handle(req: IncomingMessage, res: ServerResponse, state: { consumed: boolean }) {
    const routing = matchRoute(req.method ?? '', req.url ?? '');
    if (routing.kind === 'not-found') throw new HttpError('NOT_FOUND', 'no such resource');
    if (routing.kind === 'method-not-allowed') {
      throw new HttpError('METHOD_NOT_SUPPORTED', 'method not allowed', {
        headers: { Allow: routing.allow.join(', ') },
      });
    }
    const { match } = routing;
    const spec = match.route;

    // `_authorization_decorator`: the first Authorization header must be exactly
    // "Tahoe-LAFS " + base64(swissnum): missing or different is 401, not UTF-8 is 400.
    const authorization = firstHeader(req, 'authorization');
    if (authorization !== undefined && !isUtf8Header(authorization)) {
      throw new HttpError('BAD_REQUEST', 'Authorization is not UTF-8');
    }
    const swissnum = parseAuthorization(authorization);
    const account = swissnum === undefined ? undefined : accountant.accountForSwissnum(swissnum);
    if (account === undefined) throw new HttpError('UNAUTHORIZED', 'unknown swissnum');

    // `_extract_secrets` with the exact-set rule: missing, extra or malformed secrets are 400.
    const secrets: Record<string, Uint8Array> = parseSecretHeaders(
      headerValues(req, 'x-tahoe-authorization'),
      ENDPOINT_SECRETS[spec.name],
    );

    // Tahoe checks Accept only when it encodes the answer, after the operation ran; checking
    // first gives the same status without doing work whose answer cannot be sent.
    if (spec.answer === 'cbor' && !acceptsCbor(req)) {
      throw new HttpError('NOT_ACCEPTABLE', 'answers are application/cbor');
    }
    if (spec.answer === 'json' && !acceptsJson(req)) {
      throw new HttpError('NOT_ACCEPTABLE', 'answers are application/json');
    }
    if (spec.body === 'cbor') checkCborContentType(req);

    const ctx: RequestContext = {
      req,
      res,
      match,
      account,
      secrets,
      forwarder: options.forwarder,
      limits,
      memory,
      body: async (limit, tooLarge) => {
        const body = await readBody(req, limit, tooLarge);
        state.consumed = true;
        return body;
      },
      pieces: async (length, onPiece) => {
        await readPieces(req, length, PIECE_BYTES, onPiece);
        state.consumed = true;
      },
      spool: async (limit) => {
        const spooled = await spoolBody(req, {
          dir: limits.spoolDir,
          limit: Math.min(limit, limits.spoolBytes),
          budget: spoolBudget,
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        });
        state.consumed = true;
        return spooled;
      },
    };
    await handlers[spec.name](ctx);
    // Answered without reading all of a body (a route that takes none, a refusal passed on from
    // another process): as after an error, drop a bounded part of the rest.
    if (!state.consumed) discardBody(req);
  }

  return (req, res) => {
    const state = { consumed: !hasBody(req) };
    // A client that resets the connection must not take the process down.
    req.on('error', (error) => logger?.info({ err: error }, 'request stream failed'));
    res.on('error', (error) => logger?.info({ err: error }, 'response stream failed'));
    handle(req, res, state).catch((error: unknown) => {
      let status = storageStatusFor(error);
      let message = error instanceof Error ? error.message : 'error';
      if (status === undefined) {
        status = 500;
        message = 'internal server error';
        logger?.error(
          { err: error, method: req.method, url: req.url },
          'unexpected error in the storage API',
        );
      } else if (status >= 500) {
        logger?.warn(
          { err: error, method: req.method, url: req.url, status },
          'storage service unavailable',
        );
        const dependency = error instanceof AccountantError ? error.details.dependency : undefined;
        if (dependency === 'database' || dependency === 'store') {
          options.health?.observe(dependency, false, error);
        }
        // The detail (process names, keys, paths) is the operator's, in the log line above.
        if (error instanceof AccountantError && error.code === 'UPLOAD_ELSEWHERE') {
          message = 'the upload is held by another server process; try again later';
        }
      }
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const headers: Record<string, string> = {
        'Content-Type': TEXT,
        ...(error instanceof HttpError ? error.headers : {}),
        ...retryAfter(error),
      };
      send(res, status, Buffer.from(`${message}\n`, 'utf8'), headers);
      // An answer given before the body was read: drop a bounded part of the rest, then close
      // the connection, rather than read (possibly a lot of) bytes nobody wants.
      if (!state.consumed) discardBody(req);
    });
  };
}

/** `Retry-After` for a refusal that says when to come back (a bound on uploads in progress). */
function retryAfter(error: unknown): Record<string, string> {
  if (!(error instanceof AccountantError)) return {};
  const seconds = error.details.retryAfterSeconds;
  return typeof seconds === 'number' ? { 'Retry-After': String(seconds) } : {};
}
