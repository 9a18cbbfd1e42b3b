/** Every code a {@link GsdError} can carry. */
export const GSD_ERROR_CODES = [
  /** A writecap or readcap that is not one: prefix, length, alphabet or checksum. */
  'BAD_CAP',
  /** An introduction text that is not `<readcap>,<nurl>[,<nurl>...]`. */
  'BAD_INTRODUCTION',
  /** Slot data or a document that fails a check; `reason` says which. */
  'BAD_DOCUMENT',
  /** A valid document older than one already seen. */
  'ROLLBACK',
  /** Someone else wrote the slot between our read and our write. */
  'CONFLICT',
  /** No server could be reached. */
  'UNREACHABLE',
  /** No server holds the document. */
  'NOT_FOUND',
  /** A body (directory or announcement) that does not have its kind's shape. */
  'BAD_BODY',
  /** A client state file that cannot be read back (not JSON, or not a state). */
  'BAD_STATE',
] as const;

export type GsdErrorCode = (typeof GSD_ERROR_CODES)[number];

/** Why a document was refused, one word each (`GsdError.reason`), in the order they are checked. */
export const DOCUMENT_REASONS = [
  /** The slot's data is shorter than its header or lacks the `OSTRGSD1` magic. */
  'slot',
  /** Not one well-formed CBOR item. */
  'cbor',
  /** CBOR, but not a document map with exactly the expected fields and types. */
  'shape',
  /** A document version other than 1. */
  'version',
  /** A directory where an announcement was expected, or the reverse. */
  'kind',
  /** The slot header's seqnum differs from the document's. */
  'seqnum',
  /** The `key` field is not the readcap's verifying key. */
  'key',
  /** The Ed25519 signature does not verify. */
  'signature',
  /** AES-256-GCM refuses the ciphertext (tampered, or another read key). */
  'decrypt',
  /** The decrypted body is not CBOR of its kind's shape. */
  'body',
] as const;

export type DocumentReason = (typeof DOCUMENT_REASONS)[number];

/** An operational failure of the grid service directory. */
export class GsdError extends Error {
  override readonly name = 'GsdError';
  readonly code: GsdErrorCode;
  /** For `BAD_DOCUMENT` and `BAD_BODY`: which check failed. */
  readonly reason: DocumentReason | undefined;

  constructor(
    code: GsdErrorCode,
    message: string,
    options: { cause?: unknown; reason?: DocumentReason } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
  }
}

/** What went wrong, in one line, from anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
