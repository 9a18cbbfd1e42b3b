import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Account, Accountant } from '@ostrom/accountant';
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
} from '@ostrom/protocol';
import { createFeedSource, type FeedDb } from './feed.js';
import type { UploadForwarder } from './forward.js';
import {
  acceptsCbor,
  acceptsJson,
  checkCborContentType,
  firstHeader,
  hasBody,
  headerValues,
  isUtf8Header,
  readBody,
} from './request.js';
import { matchRoute, type RouteMatch, type RouteSpec } from './routes.js';
import { HttpError, statusForError } from './status.js';

/** The subset of a (pino) logger the storage API uses. */
export interface StorageApiLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link createStorageApi}. */
export interface StorageApiOptions {
  /** The storage service every request goes to. */
  readonly accountant: Accountant;
  /** The NURL of an account (its own swissnum), sent to a client whose account is active. */
  nurlFor(accountId: number): string;
  readonly logger?: StorageApiLogger;
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
}

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
  /** Reads the body with the route's cap (413 above it). */
  body(limit: number): Promise<Uint8Array>;
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
  if (!Number.isSafeInteger(end)) throw new HttpError(400, 'offsets are too large');
  return end;
}

// ------------------------------------------------------------------------- immutable

const allocate: Handler = async ({ res, match, account, secrets, body }) => {
  const request = decodeAllocateRequest(await body(BODY_LIMITS.allocate));
  const result = await account.allocate(match.storageIndex, {
    renewSecret: secrets['lease-renew-secret']!,
    cancelSecret: secrets['lease-cancel-secret']!,
    uploadSecret: secrets['upload-secret']!,
    shareNumbers: request.shareNumbers,
    allocatedSize: request.allocatedSize,
  });
  sendCbor(res, 200, encodeAllocateResponse(result));
};

const write: Handler = async ({ req, res, match, account, secrets, body, forwarder }) => {
  // `write_share_data`: a missing or unparsable Content-Range, or another unit, is a 416.
  const header = firstHeader(req, 'content-range');
  if (header === undefined) throw new HttpError(416, 'PATCH needs a Content-Range');
  const range = parseContentRange(header);
  const length = range.end - range.begin;
  if (length > MAX_PATCH_BYTES) {
    throw new HttpError(413, `a chunk may hold at most ${MAX_PATCH_BYTES} bytes`);
  }
  const announced = req.headers['content-length'];
  if (announced !== undefined && Number(announced) !== length) {
    throw new HttpError(400, 'the body length differs from the Content-Range');
  }
  const data = await body(MAX_PATCH_BYTES);
  if (data.length !== length) {
    throw new HttpError(400, 'the body length differs from the Content-Range');
  }
  const result = await account
    .writeUpload(match.storageIndex, match.shnum, secrets['upload-secret']!, range.begin, data)
    .catch(async (error: unknown) => {
      if (await forwarder?.forward(error, req, res, data)) return undefined;
      throw error;
    });
  if (result === undefined) return; // answered by the process holding the upload
  // 201 once complete, 200 before; both with `{required}`, which the client decodes (fact 10).
  sendCbor(
    res,
    result.complete ? 201 : 200,
    encodeWriteResponse({ required: result.required.map(({ begin, end }) => ({ begin, end })) }),
  );
};

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
        // first (`read_mutable_chunk`), so there it is a 416.
        if (sharetype === 'immutable') {
          await account.readShare(sharetype, match.storageIndex, match.shnum, {
            offset: 0,
            length: 0,
          });
        }
        throw error;
      }
    }
    const read = await account.readShare(
      sharetype,
      match.storageIndex,
      match.shnum,
      range && { offset: range.begin, length: range.end - range.begin },
    );
    // 200 whole, 206 with `bytes a-b/*`, 204 when the range starts at or past the end; always
    // octet-stream, whatever Accept says (facts 8, 9).
    const plan = planRead(range, read.sizeBytes);
    if (plan.status === 204) return send(res, 204, undefined);
    if (read.data.length !== plan.end - plan.begin) {
      throw new Error(`read ${read.data.length} bytes where ${plan.end - plan.begin} were planned`);
    }
    const headers: Record<string, string> = { 'Content-Type': OCTET_STREAM };
    if (plan.contentRange !== undefined) headers['Content-Range'] = plan.contentRange;
    send(res, plan.status, read.data, headers);
  };
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

const readTestWrite: Handler = async ({ res, match, account, secrets, body }) => {
  const request = decodeReadTestWriteRequest(await body(BODY_LIMITS.readTestWrite));
  for (const vectors of request.testWriteVectors.values()) {
    for (const w of vectors.write) checkedEnd(w.offset, w.data.length);
    for (const t of vectors.test) checkedEnd(t.offset, t.size);
  }
  for (const r of request.readVector) checkedEnd(r.offset, r.size);
  const result = await account.readTestWrite(match.storageIndex, {
    renewSecret: secrets['lease-renew-secret']!,
    cancelSecret: secrets['lease-cancel-secret']!,
    writeEnabler: secrets['write-enabler']!,
    testWriteVectors: request.testWriteVectors,
    readVector: request.readVector,
  });
  // 200 for a failed test too: `success` says whether the writes happened (fact 11).
  sendCbor(res, 200, encodeReadTestWriteResponse(result));
};

// ------------------------------------------------------------------------- accounting

function accountingHandlers(options: StorageApiOptions) {
  const requestAccount: Handler = async ({ res, body }) => {
    const signed = decodeAccountRequestBody(await body(BODY_LIMITS.other));
    const outcome = await options.accountant.requestAccount(signed);
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
    if (seconds <= 0) throw new HttpError(400, 'a lease duration is a positive number of seconds');
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
    if (feed === undefined) throw new HttpError(404, 'the feed is not enabled on this node');
    const { body } = await feed.get();
    send(res, 200, body, { 'Content-Type': JSON_TYPE });
  };

  return { requestAccount, getAccount, setLeaseDuration, getServer, getFeed };
}

// ------------------------------------------------------------------------- dispatch

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
export function createStorageApi(
  options: StorageApiOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (options === null || typeof options !== 'object') throw new TypeError('options are required');
  if (typeof options.accountant?.accountForSwissnum !== 'function') {
    throw new TypeError('options.accountant must be an Accountant');
  }
  if (typeof options.nurlFor !== 'function') throw new TypeError('options.nurlFor is required');
  const { accountant, logger } = options;
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
    if (routing.kind === 'not-found') throw new HttpError(404, 'no such resource');
    if (routing.kind === 'method-not-allowed') {
      throw new HttpError(405, 'method not allowed', { Allow: routing.allow.join(', ') });
    }
    const { match } = routing;
    const spec = match.route;

    // `_authorization_decorator`: the first Authorization header must be exactly
    // "Tahoe-LAFS " + base64(swissnum): missing or different is 401, not UTF-8 is 400.
    const authorization = firstHeader(req, 'authorization');
    if (authorization !== undefined && !isUtf8Header(authorization)) {
      throw new HttpError(400, 'Authorization is not UTF-8');
    }
    const swissnum = parseAuthorization(authorization);
    const account = swissnum === undefined ? undefined : accountant.accountForSwissnum(swissnum);
    if (account === undefined) throw new HttpError(401, 'unknown swissnum');

    // `_extract_secrets` with the exact-set rule: missing, extra or malformed secrets are 400.
    const secrets: Record<string, Uint8Array> = parseSecretHeaders(
      headerValues(req, 'x-tahoe-authorization'),
      ENDPOINT_SECRETS[spec.name],
    );

    // Tahoe checks Accept only when it encodes the answer, after the operation ran; checking
    // first gives the same status without doing work whose answer cannot be sent.
    if (spec.answer === 'cbor' && !acceptsCbor(req)) {
      throw new HttpError(406, 'answers are application/cbor');
    }
    if (spec.answer === 'json' && !acceptsJson(req)) {
      throw new HttpError(406, 'answers are application/json');
    }
    if (spec.body === 'cbor') checkCborContentType(req);

    const ctx: RequestContext = {
      req,
      res,
      match,
      account,
      secrets,
      forwarder: options.forwarder,
      body: async (limit) => {
        const body = await readBody(req, limit);
        state.consumed = true;
        return body;
      },
    };
    await handlers[spec.name](ctx);
  }

  return (req, res) => {
    const state = { consumed: !hasBody(req) };
    // A client that resets the connection must not take the process down.
    req.on('error', (error) => logger?.info({ err: error }, 'request stream failed'));
    res.on('error', (error) => logger?.info({ err: error }, 'response stream failed'));
    handle(req, res, state).catch((error: unknown) => {
      let status = statusForError(error);
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
      }
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const headers: Record<string, string> = {
        'Content-Type': TEXT,
        ...(error instanceof HttpError ? error.headers : {}),
      };
      // An answer given before the body was read: close the connection rather than read
      // (possibly a lot of) bytes nobody wants.
      if (!state.consumed) headers.Connection = 'close';
      send(res, status, Buffer.from(`${message}\n`, 'utf8'), headers);
    });
  };
}
