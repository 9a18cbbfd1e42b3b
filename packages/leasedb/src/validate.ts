import { isShareNumber, isSharePrefix, isStorageIndex, MAX_SHNUM } from '@ostrom/protocol/facts';

// Validation of every value that reaches SQL from a caller. Misuse is a programming error at the
// boundary, so it throws TypeError/RangeError before any statement runs. What a storage index,
// a share number and a prefix are is Tahoe's, defined once in @ostrom/protocol/facts.

/**
 * Throws unless `value` is a canonical 26-character storage index: rows are keyed by the string,
 * so a second spelling of one index would make a second share.
 */
export function assertStorageIndex(value: unknown): asserts value is string {
  if (!isStorageIndex(value)) {
    throw new TypeError(
      `storage index must be 26 characters of canonical unpadded lowercase base32, got ${JSON.stringify(value)}`,
    );
  }
}

/** The two-character prefix under which a storage index is filed (1024 of them). */
export function prefixOf(storageIndex: string): string {
  return storageIndex.slice(0, 2);
}

/** Throws unless `value` is one of the 1024 two-character prefixes. */
export function assertPrefix(value: unknown): asserts value is string {
  if (!isSharePrefix(value)) {
    throw new TypeError(`prefix must be two base32 characters, got ${JSON.stringify(value)}`);
  }
}

/** Throws unless `value` is a share number, 0–255. */
export function assertShnum(value: unknown): asserts value is number {
  if (!Number.isInteger(value))
    throw new TypeError(`shnum must be an integer, got ${String(value)}`);
  if (!isShareNumber(value)) {
    throw new RangeError(`shnum must be within 0–${MAX_SHNUM}, got ${String(value)}`);
  }
}

/** Throws unless `value` is a safe non-negative integer (a size, a count, a time). */
export function assertNonNegativeInteger(name: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value))
    throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  if ((value as number) < 0)
    throw new RangeError(`${name} must not be negative, got ${String(value)}`);
}

/** Throws unless `value` is a safe integer greater than zero. */
export function assertPositiveInteger(name: string, value: unknown): asserts value is number {
  assertNonNegativeInteger(name, value);
  if (value === 0) throw new RangeError(`${name} must be greater than zero`);
}

/** Throws unless `value` could be an account id. */
export function assertAccountId(value: unknown): asserts value is number {
  assertNonNegativeInteger('account id', value);
}

/**
 * An Ed25519 public key as 64 lowercase hex digits, from 32 bytes or from hex. Keys are stored
 * in one spelling so that the uniqueness of `accounts.public_key` means uniqueness of the key.
 */
export function normalizePublicKey(value: unknown): string {
  if (value instanceof Uint8Array) {
    if (value.length !== 32)
      throw new RangeError(`an Ed25519 public key is 32 bytes, got ${value.length}`);
    return Buffer.from(value).toString('hex');
  }
  if (typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value)) return value.toLowerCase();
  throw new TypeError('public key must be 32 bytes or 64 hex digits');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** Throws unless `value` is a nickname: 1–64 characters with no control characters. */
export function assertNickname(value: unknown): asserts value is string {
  if (
    typeof value !== 'string' ||
    value.length < 1 ||
    value.length > 64 ||
    CONTROL_CHARACTERS.test(value)
  ) {
    throw new TypeError('nickname must be 1–64 characters without control characters');
  }
}

/**
 * The reason given for an operator's action, trimmed: at most 200 characters with no control
 * characters; undefined when none was given or it is blank.
 */
export function normalizeReason(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError('reason must be a string');
  const reason = value.trim();
  if (reason.length > 200 || CONTROL_CHARACTERS.test(reason)) {
    throw new TypeError('reason must be at most 200 characters without control characters');
  }
  return reason === '' ? undefined : reason;
}

/** Returns the page size to use: `limit` if given (1–`max`), else `fallback`. */
export function pageLimit(limit: unknown, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > max) {
    throw new RangeError(`limit must be 1–${max}`);
  }
  return limit as number;
}
