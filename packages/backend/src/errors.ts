/** Every code a {@link BackendError} can carry. */
export const BACKEND_ERROR_CODES = [
  /** No such share, upload or blob. */
  'NOT_FOUND',
  /** A storage index, share number or blob name that may not name anything in this backend. */
  'INVALID_KEY',
  /** The write contradicts what is there: a share or upload exists, or overlapping bytes differ. */
  'CONFLICT',
  /** Stored bytes cannot be understood (a damaged share container, a blob failing authentication). */
  'CORRUPT',
  /** The store cannot be reached or keeps failing (after retries); nothing was acknowledged. */
  'UNAVAILABLE',
  /** The store has no room for the write. */
  'NO_SPACE',
  /** Any other I/O failure of the underlying store. */
  'IO',
] as const;

export type BackendErrorCode = (typeof BACKEND_ERROR_CODES)[number];

/** An operational failure of a share backend, with the store's original error as `cause`. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly code: BackendErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: BackendErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}
