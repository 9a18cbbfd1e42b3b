import { isShareNumber, isSharePrefix, isStorageIndex, MAX_SHNUM } from '@ostrom/protocol/facts';
import { BackendError } from './errors.js';

// Every name a backend turns into a path or an object key is checked here first, so nothing a
// client sends can point outside a backend's root. What a storage index, a share number and a
// prefix are is Tahoe's, defined once in @ostrom/protocol/facts.

const BLOB_NAME = /^[a-z0-9][a-z0-9_.-]*(\/[a-z0-9][a-z0-9_.-]*)*$/;

/**
 * Throws INVALID_KEY unless `value` is a canonical 26-character base32 storage index: directories
 * and object keys are named by the string, so a second spelling of one index would be a second
 * share set.
 */
export function checkStorageIndex(value: unknown): string {
  if (!isStorageIndex(value)) {
    throw new BackendError(
      'INVALID_KEY',
      'storage index must be 26 characters of lowercase base32',
      {
        details: { storageIndex: String(value).slice(0, 64) },
      },
    );
  }
  return value;
}

/** Throws INVALID_KEY unless `value` is a share number 0–255. */
export function checkShnum(value: unknown): number {
  if (!isShareNumber(value)) {
    throw new BackendError('INVALID_KEY', `share number must be an integer 0–${MAX_SHNUM}`, {
      details: { shnum: String(value).slice(0, 32) },
    });
  }
  return value;
}

/** Throws INVALID_KEY unless `value` is one of the 1024 two-character prefixes. */
export function checkPrefix(value: unknown): string {
  if (!isSharePrefix(value)) {
    throw new BackendError('INVALID_KEY', 'prefix must be two base32 characters');
  }
  return value;
}

/**
 * Throws INVALID_KEY unless `value` is a blob name: lowercase path segments of `a-z0-9_.-`
 * separated by `/`, no segment starting with a dot (so no `..`), at most 200 characters.
 */
export function checkBlobName(value: unknown): string {
  if (typeof value !== 'string' || value.length > 200 || !BLOB_NAME.test(value)) {
    throw new BackendError(
      'INVALID_KEY',
      'blob name must be lowercase segments of a-z0-9_.- joined by /',
    );
  }
  return value;
}

/** Throws RangeError unless `value` is a safe non-negative integer. */
export function checkOffset(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new RangeError(`${name} must be a non-negative integer`);
  }
  return value as number;
}
