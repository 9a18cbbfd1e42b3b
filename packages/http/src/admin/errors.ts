import { AccountantError, type AccountantErrorCode } from '@ostrom/accountant';
import { BackendError } from '@ostrom/backend';
import { isUnavailableError, LeaseDbError, type LeaseDbErrorCode } from '@ostrom/leasedb';

/** What the admin API (and a panel beside it) refuses itself (`AdminHttpError`). */
export const ADMIN_HTTP_ERROR_CODES = [
  // A malformed request target, query, header or body, or a value out of its range.
  'BAD_REQUEST',
  // No valid bearer token (or, in a panel, no session).
  'UNAUTHORIZED',
  // Understood and refused: a panel's form that is stale or not from the panel.
  'FORBIDDEN',
  // No such path, no such account, or a feature the node was not given.
  'NOT_FOUND',
  // A known path with another method; the answer carries `Allow`.
  'METHOD_NOT_SUPPORTED',
  // Well formed but at odds with the state: the NURL of an account that has none.
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  // Writes must be JSON: no HTML form or simple cross-site request can send that.
  'UNSUPPORTED_MEDIA_TYPE',
  // A request naming a host the listener does not answer to (a DNS-rebinding page).
  'MISDIRECTED_REQUEST',
] as const;

/** A code of {@link AdminHttpError}. */
export type AdminHttpErrorCode = (typeof ADMIN_HTTP_ERROR_CODES)[number];

/** Options of {@link AdminHttpError}. */
export interface AdminHttpErrorOptions {
  /** Headers of the answer beside its status (`Allow`, `WWW-Authenticate`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Further fields of the JSON answer beside `error` (such as the bad lines of an import). */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/**
 * A refusal the admin API raises itself: a code (its status is the code's row of
 * {@link ADMIN_ERROR_STATUS}) and a reason for the caller. The answer is
 * `{"error": message, ...details}` with `headers`.
 */
export class AdminHttpError extends Error {
  override readonly name = 'AdminHttpError';
  readonly code: AdminHttpErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: AdminHttpErrorCode, message: string, options: AdminHttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.headers = options.headers ?? {};
    this.details = options.details ?? {};
  }
}

/**
 * The one table from the admin API's failures to HTTP statuses, by the class that raised them
 * and its code. Unlike the storage API's (`STORAGE_ERROR_STATUS`) nothing here follows Tahoe: an
 * operator's tool reads these, so a refusal of the action itself is 409 and a busy store 503
 * (retry).
 */
export const ADMIN_ERROR_STATUS = {
  admin: {
    BAD_REQUEST: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    METHOD_NOT_SUPPORTED: 405,
    CONFLICT: 409,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    MISDIRECTED_REQUEST: 421,
  } satisfies Record<AdminHttpErrorCode, number>,
  accountant: {
    FORBIDDEN: 403,
    QUOTA_EXCEEDED: 409,
    NOT_FOUND: 404,
    BAD_UPLOAD_SECRET: 400,
    BAD_WRITE_ENABLER: 400,
    CONFLICT: 409,
    ALREADY_COMPLETE: 409,
    // An upload held by another process sharing the database: no admin route touches uploads,
    // and were one to, the state conflicts with the request.
    UPLOAD_ELSEWHERE: 409,
    OUT_OF_RANGE: 400,
    NO_SPACE: 507,
    INVALID_ACCOUNT_REQUEST: 400,
    WRONG_SERVER: 400,
    STALE_REQUEST: 400,
    REPLAYED_REQUEST: 409,
    // Approving an account that is not pending, deleting a built-in account, a key that has an
    // account already: the request is well formed but conflicts with the account's state.
    INVALID_OPERATION: 409,
    UNKNOWN_ACCOUNT: 404,
    UNAVAILABLE: 503,
    // Too many uploads in progress: no admin route allocates, and were one to, retry later.
    UPLOAD_LIMIT: 503,
    TOO_MANY_ATTEMPTS: 429,
  } satisfies Record<AccountantErrorCode, number>,
  leaseDb: {
    INVALID_STATE_TRANSITION: 409,
    UNKNOWN_ACCOUNT: 404,
    ACCOUNT_EXISTS: 409,
    SHARE_NOT_FOUND: 404,
    SHARE_LEASED: 409,
    QUOTA_EXCEEDED: 409,
    BUSY: 503,
    UNAVAILABLE: 503,
    UNSUPPORTED: 501,
    MIGRATION_FAILED: 500,
    INVALID_BACKUP: 400,
    INVITATION_EXISTS: 409,
  } satisfies Record<LeaseDbErrorCode, number>,
  // The store failing under an operator's command (a backup, a restore), or the database away
  // as its driver says it: retry once it is back.
  unavailable: 503,
  // The lease database refuses misuse (a nickname too long, a bad key) with TypeError and
  // RangeError before touching anything: with the API's own validation first, only input
  // gets there.
  misuse: 400,
} as const;

/** The admin API's status for a failure it knows, or undefined for an unexpected one (a 500). */
export function adminStatusFor(error: unknown): number | undefined {
  if (error instanceof AdminHttpError) return ADMIN_ERROR_STATUS.admin[error.code];
  if (error instanceof AccountantError) return ADMIN_ERROR_STATUS.accountant[error.code];
  if (error instanceof LeaseDbError) return ADMIN_ERROR_STATUS.leaseDb[error.code];
  if (error instanceof BackendError || isUnavailableError(error)) {
    return ADMIN_ERROR_STATUS.unavailable;
  }
  if (error instanceof TypeError || error instanceof RangeError) return ADMIN_ERROR_STATUS.misuse;
  return undefined;
}

/** Seconds an operator's tool is told to wait when the database or the store is away. */
const RETRY_AFTER_SECONDS = 5;

/** What {@link failureAnswer} answers a failed request with. */
export interface FailureAnswer {
  readonly status: number;
  readonly message: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * What a failed admin (or panel) request is answered with: a known refusal's status and
 * message, or for anything else a 500 with `internal` (the cause stays in the log). The database
 * or the store away is a 503 with `Retry-After` and a short reason (never what the failure
 * named: keys, paths, SQL). `log` is called for every 5xx.
 */
export function failureAnswer(
  error: unknown,
  internal: string,
  log: (error: unknown) => void,
): FailureAnswer {
  const status = adminStatusFor(error);
  if (status === undefined || status >= 500) log(error);
  if (status === undefined) return { status: 500, message: internal, headers: {} };
  const message = error instanceof Error ? error.message : 'error';
  if (error instanceof AdminHttpError) return { status, message, headers: error.headers };
  if (status !== 503) return { status, message, headers: {} };
  const retry = { 'Retry-After': String(RETRY_AFTER_SECONDS) };
  if (error instanceof BackendError) {
    return { status, message: 'the share store is unavailable; try again later', headers: retry };
  }
  if (error instanceof LeaseDbError || !(error instanceof AccountantError)) {
    return {
      status,
      message: 'the lease database is unavailable; try again later',
      headers: retry,
    };
  }
  // The accountant's own: its message is for clients already (and UPLOAD_LIMIT's says when).
  return { status, message, headers: retry };
}
