/** Every code a {@link ProtocolError} can carry. */
export const PROTOCOL_ERROR_CODES = [
  /** Bytes that are not exactly one well-formed CBOR item. */
  'MALFORMED_CBOR',
  /**
   * Well-formed CBOR that the protocol refuses before decoding it: a tag other than 258 (shared
   * values and references among them), a simple value other than false, true, null and
   * undefined, an indefinite-length string, or more nesting or items than `decodeCbor` allows.
   */
  'UNSUPPORTED_CBOR',
  /** Well-formed CBOR whose shape is not the message expected; the message names the field. */
  'INVALID_MESSAGE',
  /** `X-Tahoe-Authorization` headers that are malformed, or not exactly the endpoint's set. */
  'INVALID_SECRETS',
  /** An `Authorization` header that is not `Tahoe-LAFS <base64>`. */
  'INVALID_AUTHORIZATION',
  /** A `Range` or `Content-Range` header this protocol does not accept. */
  'INVALID_RANGE',
  /** A NURL or fURL that does not parse. */
  'INVALID_NURL',
  /** A storage index that is not 26 characters of canonical lowercase base32. */
  'INVALID_STORAGE_INDEX',
  /** A signed account request whose content is malformed or not canonical. */
  'INVALID_ACCOUNT_REQUEST',
  /** A signed account request whose Ed25519 signature does not verify. */
  'BAD_SIGNATURE',
  /** A certificate that cannot be parsed. */
  'INVALID_CERTIFICATE',
  /** An invitation code that is malformed or whose checksum does not match. */
  'INVALID_INVITATION',
] as const;

export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

/** Input from the other side of the wire that does not follow the protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Every code a {@link StorageClientError} can carry. */
export const STORAGE_CLIENT_ERROR_CODES = [
  /** The server answered with a status the operation does not accept; see `status` and `body`. */
  'HTTP_STATUS',
  /** The server's certificate does not carry the public key pinned in the NURL. */
  'PIN_MISMATCH',
  /** No complete response arrived within `timeoutMs`. */
  'TIMEOUT',
  /** The connection failed (refused, reset, TLS failure). */
  'NETWORK',
  /** A response with the wrong Content-Type, a length that contradicts its headers or an undecodable body. */
  'BAD_RESPONSE',
] as const;

export type StorageClientErrorCode = (typeof STORAGE_CLIENT_ERROR_CODES)[number];

/**
 * A failed call of a {@link StorageClient}. The client is a second boundary (the network rather
 * than bytes), hence its own class; a malformed body is wrapped with the ProtocolError as `cause`.
 */
export class StorageClientError extends Error {
  override readonly name = 'StorageClientError';
  readonly code: StorageClientErrorCode;
  /** The HTTP status, for `HTTP_STATUS` (and `BAD_RESPONSE` when a response arrived). */
  readonly status: number | undefined;
  /** The response body as text (at most 4 KiB), for `HTTP_STATUS`. */
  readonly body: string | undefined;

  constructor(
    code: StorageClientErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; body?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.body = options.body;
  }
}
