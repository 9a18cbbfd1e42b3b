/** Every code a {@link ContainerFormatError} can carry. */
export const CONTAINER_ERROR_CODES = [
  /**
   * Not a share container this codec knows: neither mutable magic (v1, v2) nor an immutable
   * version 1 or 2 (Tahoe raises `UnknownImmutableContainerVersionError` /
   * `UnknownMutableContainerVersionError` for the same files).
   */
  'UNKNOWN_CONTAINER',
  /** The file ends before a structure its header promises (header, lease slots, extra leases). */
  'TRUNCATED',
  /**
   * The header contradicts itself or the file size: an immutable lease count that does not fit
   * in the file, a mutable data length reaching past the extra-lease offset.
   */
  'INCONSISTENT',
] as const;

export type ContainerErrorCode = (typeof CONTAINER_ERROR_CODES)[number];

/**
 * A share container is malformed. Misuse of the encoders (bad arguments) throws TypeError or
 * RangeError instead.
 */
export class ContainerFormatError extends Error {
  override readonly name = 'ContainerFormatError';
  readonly code: ContainerErrorCode;
  /** Structured facts about the failure (offsets, sizes, the values read). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ContainerErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}
