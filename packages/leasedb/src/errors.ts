/** Every code a {@link LeaseDbError} can carry. */
export const LEASE_DB_ERROR_CODES = [
  /** A share-state change the state machine does not allow (the row is left as it was). */
  'INVALID_STATE_TRANSITION',
  /** No account with that id. */
  'UNKNOWN_ACCOUNT',
  /** An account with that public key exists already. */
  'ACCOUNT_EXISTS',
  /** A named share does not exist (or is being deleted). */
  'SHARE_NOT_FOUND',
  /** The share still has leases, so it may not be marked for deletion. */
  'SHARE_LEASED',
  /** The allocation would take the account past its hard quota. */
  'QUOTA_EXCEEDED',
  /**
   * Another writer kept the database locked (SQLite: another process, past busy_timeout) or
   * PostgreSQL kept reporting deadlocks/serialisation failures after every retry. Safe to retry.
   */
  'BUSY',
  /** The operation exists only on another dialect (e.g. file backups on SQLite). */
  'UNSUPPORTED',
  /**
   * The database cannot be used for now: PostgreSQL away, restarting or refusing connections,
   * the connection cut, or SQLite's file unreadable or its disk full. Nothing the operation
   * meant to change may be assumed done or undone; retry once the database is back.
   */
  'UNAVAILABLE',
  /** Migrating the schema failed; `cause` holds the migration's error. */
  'MIGRATION_FAILED',
  /** A backup given to restore is not a usable lease database. */
  'INVALID_BACKUP',
  /** An invitation with that secret hash exists already. */
  'INVITATION_EXISTS',
] as const;

export type LeaseDbErrorCode = (typeof LEASE_DB_ERROR_CODES)[number];

/** An operational failure of the lease database. Misuse (bad arguments) throws TypeError or RangeError instead. */
export class LeaseDbError extends Error {
  override readonly name = 'LeaseDbError';
  readonly code: LeaseDbErrorCode;
  /** Structured facts about the failure (e.g. the states of a refused transition). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: LeaseDbErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}
