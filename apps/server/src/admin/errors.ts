import { AccountantError, type AccountantErrorCode } from '@ostrom/accountant';
import { BackendError } from '@ostrom/backend';
import { isUnavailableError, LeaseDbError, type LeaseDbErrorCode } from '@ostrom/leasedb';

/**
 * A refusal the admin API raises itself, with its status and a reason for the caller. The answer
 * is `{"error": message, ...details}` with `headers`.
 */
export class AdminHttpError extends Error {
  override readonly name = 'AdminHttpError';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Further fields of the JSON answer beside `error` (such as the bad lines of an import). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    status: number,
    message: string,
    headers: Record<string, string> = {},
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.details = details;
  }
}

/**
 * The one table from Accountant and LeaseDb failures to admin API statuses. Unlike the storage
 * table (packages/http/src/status.ts) nothing here follows Tahoe: an operator's tool reads these, so a
 * refusal of the action itself is 409 and a busy store 503 (retry).
 */
export const ADMIN_ERROR_STATUS = {
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
  } satisfies Record<LeaseDbErrorCode, number>,
} as const;

/** The status for a known failure, or undefined for an unexpected one (a 500). */
export function adminStatusFor(error: unknown): number | undefined {
  if (error instanceof AdminHttpError) return error.status;
  if (error instanceof AccountantError) return ADMIN_ERROR_STATUS.accountant[error.code];
  if (error instanceof LeaseDbError) return ADMIN_ERROR_STATUS.leaseDb[error.code];
  // The store failing under an operator's command (a backup, a restore): retry once it is back.
  if (error instanceof BackendError) return 503;
  if (isUnavailableError(error)) return 503;
  // The lease database refuses misuse (a nickname too long, a bad key) with TypeError and
  // RangeError before touching anything: with our own validation first, only input gets here.
  if (error instanceof TypeError || error instanceof RangeError) return 400;
  return undefined;
}

/** Seconds an operator's tool is told to wait when the database or the store is away. */
const RETRY_AFTER_SECONDS = 5;

/**
 * What a failed admin or panel request is answered with: a known refusal's status and message,
 * or for anything else a 500 with `internal` (the cause stays in the log). The database or the
 * store away is a 503 with `Retry-After` and a short reason (never what the failure named: keys,
 * paths, SQL). `log` is called for every 5xx.
 */
export function failureAnswer(
  error: unknown,
  internal: string,
  log: (error: unknown) => void,
): { status: number; message: string; headers: Record<string, string> } {
  const status = adminStatusFor(error);
  if (status === undefined || status >= 500) log(error);
  if (status === undefined) return { status: 500, message: internal, headers: {} };
  const message = error instanceof Error ? error.message : 'error';
  if (status !== 503 || error instanceof AdminHttpError) return { status, message, headers: {} };
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
