import { AccountantError, type AccountantErrorCode } from '@ostrom/accountant';
import { ProtocolError, type ProtocolErrorCode } from '@ostrom/protocol';

/**
 * The one table from storage-service failures to HTTP statuses. Where Tahoe-LAFS has the case,
 * the status is what `storage/http_server.py` answers, because its client checks codes exactly
 * (docs/TAHOE-COMPATIBILITY.md facts 17 and 31); the other rows are Ostrom's own.
 */
export const ACCOUNTANT_ERROR_STATUS = {
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
} as const satisfies Record<AccountantErrorCode, number>;

/**
 * Malformed input from the wire is 400 (Tahoe: CDDL failure, bad secrets, non-UTF-8
 * Authorization), except ranges: `read_range` and `write_share_data` answer 416.
 */
export const PROTOCOL_ERROR_STATUS = {
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
} as const satisfies Record<ProtocolErrorCode, number>;

/** A failure the handler raises itself with the status to answer and a short reason. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** The status for an error the handler knows, or undefined for anything unexpected (a 500). */
export function statusForError(error: unknown): number | undefined {
  if (error instanceof HttpError) return error.status;
  if (error instanceof AccountantError) return ACCOUNTANT_ERROR_STATUS[error.code];
  if (error instanceof ProtocolError) return PROTOCOL_ERROR_STATUS[error.code];
  return undefined;
}
