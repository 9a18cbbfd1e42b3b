import { AccountantError, type AccountantErrorCode } from '@ostrom/accountant';
import { ProtocolError, type ProtocolErrorCode } from '@ostrom/protocol';

/** What the handler refuses itself, before or beside the accountant (`HttpError`). */
export const HTTP_ERROR_CODES = [
  // Malformed beside the protocol's own checks: a body cut short or not as long as its
  // Content-Range, offsets past 2^53, a lease of no time, an Authorization that is not UTF-8.
  'BAD_REQUEST',
  // No account has this swissnum (Tahoe: an unknown swissnum is 401 too).
  'UNAUTHORIZED',
  // The account may only read, and a read-test-write would write.
  'FORBIDDEN',
  // No such path, no such upload here, or a feature the node has not enabled.
  'NOT_FOUND',
  // A known path with another method (Tahoe's router: 405); the answer carries `Allow`.
  'METHOD_NOT_SUPPORTED',
  // The client accepts neither CBOR nor JSON where the route answers one of them.
  'NOT_ACCEPTABLE',
  'PAYLOAD_TOO_LARGE',
  // Tahoe: `write_share_data` without a Content-Range is 416, as is any bad range.
  'RANGE_NOT_SATISFIABLE',
  'UNSUPPORTED_MEDIA_TYPE',
  // The node has no memory or spool room for the body now; the answer says when to come back.
  'OVERLOADED',
] as const;

/** A code of {@link HttpError}. */
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

/** The accountant's refusals (`AccountantError`). */
const ACCOUNTANT_STATUS = {
  // An account's status (frozen, disabled, pending, deleted) or the accounting mode refuses the
  // operation. Tahoe has no such case; its client treats any non-2xx as a failed server and moves
  // on to the next one, which is what we want. 403 "understood, refused" fits, with the reason as
  // plain text for the operator reading the client's log.
  FORBIDDEN: 403,
  // Tahoe has no quotas. 403 rather than 507: the server has room, this account may not use it;
  // 507 would tell an operator the disk is full. The client (`allocate_buckets`) raises
  // ClientException for any non-200 and places the share elsewhere, like a full server.
  QUOTA_EXCEEDED: 403,
  // Tahoe: no upload in progress, no such share, lease on an index with no share (404).
  NOT_FOUND: 404,
  // Tahoe: `UploadsInProgress.validate_upload_secret` → 401.
  BAD_UPLOAD_SECRET: 401,
  // Tahoe: `BadWriteEnablerError` → 401; the client says "Unauthorized write" (fact 11).
  BAD_WRITE_ENABLER: 401,
  // Tahoe: `ConflictingWriteError` → 409.
  CONFLICT: 409,
  // Tahoe: abort of an already uploaded share → 405 (`abort_share_upload`).
  ALREADY_COMPLETE: 405,
  // Tahoe lets `DataTooLargeError` escape (a 500, fact 53); the chunk lies outside
  // what was allocated, i.e. the Content-Range cannot be satisfied. Also read vectors asking more
  // than one read-test-write answers (Ostrom's bound): ranges that cannot be satisfied at once.
  OUT_OF_RANGE: 416,
  // The store is full: 507 Insufficient Storage (Tahoe's `NoSpace` on add-lease is a 500).
  NO_SPACE: 507,
  // Accounting extension (packages/protocol README): malformed or unverifiable requests are 400.
  INVALID_ACCOUNT_REQUEST: 400,
  WRONG_SERVER: 400,
  STALE_REQUEST: 400,
  // The request was valid once; replaying it conflicts with the nonce already used.
  REPLAYED_REQUEST: 409,
  INVALID_OPERATION: 409,
  UNKNOWN_ACCOUNT: 404,
  // Backend or database failed or is busy; nothing was acknowledged, so the client may retry.
  UNAVAILABLE: 503,
  // The upload is held by another server process and this one cannot forward to it (the
  // forwarder answers for it otherwise): unavailable here for now, as above.
  UPLOAD_ELSEWHERE: 503,
  // Too many uploads in progress (the node's, the account's or the connection's bound): the
  // node cannot take more for now and says when to try again (Retry-After). Tahoe has no such
  // case; its client takes any status but 200 from allocate as this server failing the upload
  // (fact 17) and places the shares elsewhere.
  UPLOAD_LIMIT: 503,
  // Invitation codes guessed at: the client is told when to try again (Retry-After).
  TOO_MANY_ATTEMPTS: 429,
} as const satisfies Record<AccountantErrorCode, number>;

/**
 * Malformed input from the wire (`ProtocolError`) is 400 (Tahoe: CDDL failure, bad secrets,
 * non-UTF-8 Authorization), except ranges: `read_range` and `write_share_data` answer 416.
 */
const PROTOCOL_STATUS = {
  MALFORMED_CBOR: 400,
  // Shared references, tags other than 258, too deep or too many items: refused before
  // decoding, 400 as a body failing Tahoe's CDDL schema, which has none of these (fact 24).
  UNSUPPORTED_CBOR: 400,
  INVALID_MESSAGE: 400,
  INVALID_SECRETS: 400,
  INVALID_AUTHORIZATION: 400,
  INVALID_RANGE: 416,
  INVALID_NURL: 400,
  INVALID_STORAGE_INDEX: 400,
  INVALID_ACCOUNT_REQUEST: 400,
  BAD_SIGNATURE: 400,
  INVALID_CERTIFICATE: 400,
  INVALID_INVITATION: 400,
} as const satisfies Record<ProtocolErrorCode, number>;

const HTTP_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  NOT_ACCEPTABLE: 406,
  PAYLOAD_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  UNSUPPORTED_MEDIA_TYPE: 415,
  OVERLOADED: 503,
} as const satisfies Record<HttpErrorCode, number>;

/**
 * The one table from the storage API's failures to HTTP statuses, by the class that raised them
 * and its code. Where Tahoe-LAFS has the case, the status is what `storage/http_server.py`
 * answers, because its client checks codes exactly (docs/TAHOE-COMPATIBILITY.md facts 17 and
 * 31); the other rows are Ostrom's own. The admin API has its own table (`ADMIN_ERROR_STATUS`).
 */
export const STORAGE_ERROR_STATUS = {
  http: HTTP_STATUS,
  accountant: ACCOUNTANT_STATUS,
  protocol: PROTOCOL_STATUS,
} as const;

/** Options of {@link HttpError}. */
export interface HttpErrorOptions {
  /** Headers of the answer beside its status (`Allow`, `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * A refusal the storage handler raises itself: a code (its status is the code's row of
 * {@link STORAGE_ERROR_STATUS}) and a short reason, answered as plain text.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: HttpErrorCode;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: HttpErrorCode, message: string, options: HttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.headers = options.headers ?? {};
  }
}

/** The storage API's status for an error it knows, or undefined for anything unexpected (a 500). */
export function storageStatusFor(error: unknown): number | undefined {
  if (error instanceof HttpError) return STORAGE_ERROR_STATUS.http[error.code];
  if (error instanceof AccountantError) return STORAGE_ERROR_STATUS.accountant[error.code];
  if (error instanceof ProtocolError) return STORAGE_ERROR_STATUS.protocol[error.code];
  return undefined;
}
