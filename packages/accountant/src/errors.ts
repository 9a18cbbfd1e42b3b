/** Every code an {@link AccountantError} can carry. The server maps each to one HTTP status. */
export const ACCOUNTANT_ERROR_CODES = [
  /** The account's status or the accounting mode does not allow the operation (Tahoe has no such case). */
  'FORBIDDEN',
  /** The allocation or mutable write would take the account past its hard quota. */
  'QUOTA_EXCEEDED',
  /** No such share, upload or storage index (Tahoe: 404). */
  'NOT_FOUND',
  /** The upload secret does not match the upload's (Tahoe: 401). */
  'BAD_UPLOAD_SECRET',
  /** The write enabler does not match an existing mutable share's (Tahoe: 401). */
  'BAD_WRITE_ENABLER',
  /** A chunk overlaps bytes already written with different bytes (Tahoe: 409). */
  'CONFLICT',
  /** Abort of a share that is already complete (Tahoe: 405). */
  'ALREADY_COMPLETE',
  /**
   * The upload is held by another server process sharing the database (details: `processId`,
   * `url`): the caller forwards the request there.
   */
  'UPLOAD_ELSEWHERE',
  /** A chunk reaches past the allocated size of its upload. */
  'OUT_OF_RANGE',
  /** The store has no room for the write. */
  'NO_SPACE',
  /** A signed account request that is malformed or whose signature does not verify. */
  'INVALID_ACCOUNT_REQUEST',
  /** A signed account request naming another server. */
  'WRONG_SERVER',
  /** A signed account request whose timestamp is outside the accepted window. */
  'STALE_REQUEST',
  /** A signed account request whose nonce was seen before. */
  'REPLAYED_REQUEST',
  /** An operator action that does not apply (e.g. deleting the anonymous account). */
  'INVALID_OPERATION',
  /** No account with that id. */
  'UNKNOWN_ACCOUNT',
  /** The backend or the database failed or is busy; nothing was acknowledged. Safe to retry. */
  'UNAVAILABLE',
  /**
   * The allocation would pass a bound on uploads in progress: this process's, the account's or
   * the connection's count, or the bytes the anonymous account reserves through one connection
   * (details: `scope`, `unit`, `limit`, `inProgress`, `requested`, `retryAfterSeconds`). Nothing
   * was allocated; the same request may succeed once uploads in progress complete or time out.
   */
  'UPLOAD_LIMIT',
  /** Too many invitation codes were refused here lately: none is read for a while (HTTP 429). */
  'TOO_MANY_ATTEMPTS',
] as const;

export type AccountantErrorCode = (typeof ACCOUNTANT_ERROR_CODES)[number];

/** An operational refusal or failure of the storage service. Misuse throws TypeError/RangeError. */
export class AccountantError extends Error {
  override readonly name = 'AccountantError';
  readonly code: AccountantErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: AccountantErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}
